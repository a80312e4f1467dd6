using System.Reflection;
using System.Reflection.Emit;
using SQLitePCL;
using Storage.Sqlite.Internal;

namespace Storage.Sqlite.Tests;

/// <summary>
/// Issue 16: the batch decision is written once, in the engine's <see cref="PartitionWriter"/>, and
/// every backend persists what it decides. Behaviour cannot tell a faithful copy of the rules from the
/// engine's, so this reads the compiled SQLite backend: it must call the writer for batches and
/// increments, and must not check a condition, plan an append, add to a sequence or raise a version
/// conflict itself. A copy of the rules that comes back fails here.
/// </summary>
public sealed class WritePathTests
{
    private const BindingFlags Declared = BindingFlags.Public | BindingFlags.NonPublic | BindingFlags.Instance | BindingFlags.Static | BindingFlags.DeclaredOnly;

    private static readonly Dictionary<short, OpCode> s_opCodes = typeof(OpCodes)
        .GetFields(BindingFlags.Public | BindingFlags.Static)
        .Select(f => (OpCode)f.GetValue(null)!)
        .ToDictionary(o => o.Value);

    [Fact]
    public void Batches_and_increments_are_decided_by_the_engines_PartitionWriter()
    {
        var called = CalledMethods(typeof(SqliteStore).Assembly);

        Assert.Contains(called, m => m.DeclaringType == typeof(PartitionWriter) && m.Name == nameof(PartitionWriter.ApplyBatch));
        Assert.Contains(called, m => m.DeclaringType == typeof(PartitionWriter) && m.Name == nameof(PartitionWriter.Increment));
        Assert.DoesNotContain(called, m => m.DeclaringType == typeof(WriteCondition) && m.Name == nameof(WriteCondition.IsSatisfiedBy));
        Assert.DoesNotContain(called, m => m.DeclaringType == typeof(AppendPlan));
        Assert.DoesNotContain(called, m => m.DeclaringType == typeof(Batches) && m.Name == nameof(Batches.AddToSequence));
        Assert.DoesNotContain(called, m => m is ConstructorInfo && m.DeclaringType == typeof(VersionConflictException));
    }

    /// <summary>
    /// Which index entries a batch moves is decided once, by the engine's <see cref="IndexEntryChanges"/>;
    /// SQLite only applies it, with its unique index deciding races (it must not walk the claims of a
    /// batch itself: <see cref="IndexEntries.UniqueClaims"/> is the order the engine's decision gives).
    /// </summary>
    [Fact]
    public void Index_entry_changes_are_decided_by_the_engines_IndexEntryChanges()
    {
        var called = CalledMethods(typeof(SqliteStore).Assembly);

        Assert.Contains(called, m => m.DeclaringType == typeof(IndexEntryChanges) && m.Name == nameof(IndexEntryChanges.Of));
        Assert.DoesNotContain(called, m => m.DeclaringType == typeof(IndexEntries) && m.Name == nameof(IndexEntries.UniqueClaims));
    }

    /// <summary>
    /// What the engine's writer costs a put: the statements of its request are those SQLite's own
    /// decision ran — the partition's revision (and the floor for a new one), the document's state,
    /// the row, the tombstone for a key that had no row, the new revision and position, and for a partition
    /// it creates the mark of an earlier incarnation (the store-wide cursor) — and no more.
    /// </summary>
    [Fact]
    public async Task A_put_runs_the_statements_of_a_read_and_a_write_of_its_document_and_partition()
    {
        using var database = new TestDatabase();
        await using var store = database.Open();
        var (create, update) = await CreateAndUpdateAsync(store, "{}", "{}", null);

        Assert.Equal(["DeleteMark", "DeleteTombstone", "GetDocumentState", "GetMeta", "GetPartitionRevision", "PutDocument", "SetPartitionRevision"], create.Order(StringComparer.Ordinal));
        Assert.Equal(["GetDocumentState", "GetPartitionRevision", "PutDocument", "SetPartitionRevision"], update.Order(StringComparer.Ordinal));
    }

    /// <summary>
    /// The index entries a put moves (<see cref="IndexEntryChanges"/>): a new document reads no old
    /// entries and inserts its values; an update reads its document's entries once, and one that keeps
    /// its values writes no entry, only moving their expiry when the document's moved.
    /// </summary>
    [Fact]
    public async Task An_indexed_put_reads_no_entries_when_new_and_an_update_that_keeps_its_values_writes_none()
    {
        using var database = new TestDatabase();
        await using var store = database.Open(o => o.Indexes = [new IndexDefinition("c", "tag", "tag", IndexValueType.String, unique: true)]);
        var (create, update) = await CreateAndUpdateAsync(store, """{"tag":"a"}""", """{"tag":"a"}""", database.Clock.GetUtcNow().AddDays(1));

        Assert.Equal(["DeleteMark", "DeleteTombstone", "GetDocumentState", "GetMeta", "GetPartitionRevision", "InsertEntry", "PutDocument", "SetPartitionRevision"], create.Order(StringComparer.Ordinal));
        Assert.Equal(["GetDocumentState", "GetPartitionRevision", "PutDocument", "ReadDocumentEntries", "SetEntriesExpiry", "SetPartitionRevision"], update.Order(StringComparer.Ordinal));
    }

    /// <summary>The statements of the request's savepoint of a put that creates a document, then of one that updates it.</summary>
    private static async Task<(List<string> Create, List<string> Update)> CreateAndUpdateAsync(SqliteStore store, string created, string updated, DateTimeOffset? updatedExpiry)
    {
        var names = typeof(Sql).GetFields(BindingFlags.Public | BindingFlags.Static)
            .Where(f => f.FieldType == typeof(Statement))
            .ToDictionary(f => ((Statement)f.GetValue(null)!).Sql, f => f.Name);
        var ran = new List<string>();
        await store.WithWriterAsync(c => Profile(c, (_, sql, _) => ran.Add(names.GetValueOrDefault(sql, sql))));

        await store.PutAsync("p", "c", "k", created);
        var create = Request(ran);
        ran.Clear();
        await store.PutAsync("p", "c", "k", updated, expiresAt: updatedExpiry);
        var update = Request(ran);
        await store.WithWriterAsync(c => Profile(c, null));
        return (create, update);

        // The statements of the request's savepoint: what the put itself ran.
        static List<string> Request(List<string> ran)
            => [.. ran.SkipWhile(n => n != nameof(Sql.Savepoint)).Skip(1).TakeWhile(n => n != nameof(Sql.ReleaseSavepoint))];

        // SQLite calls it as each statement finishes, with the statement's text.
        static bool Profile(Microsoft.Data.Sqlite.SqliteConnection connection, strdelegate_profile? callback)
        {
            raw.sqlite3_profile(connection.Handle, callback, null);
            return true;
        }
    }

    /// <summary>Every method and constructor the assembly's code calls, creates with, or takes a delegate to (read from each method body's IL).</summary>
    private static HashSet<MethodBase> CalledMethods(Assembly assembly)
    {
        var called = new HashSet<MethodBase>();
        foreach (var type in assembly.GetTypes())
        {
            foreach (var method in type.GetMethods(Declared).Cast<MethodBase>().Concat(type.GetConstructors(Declared)))
            {
                if (method.GetMethodBody()?.GetILAsByteArray() is not { } il)
                {
                    continue;
                }

                var typeArguments = type.IsGenericType ? type.GetGenericArguments() : null;
                var methodArguments = method.IsGenericMethod ? method.GetGenericArguments() : null;
                for (var i = 0; i < il.Length;)
                {
                    var code = il[i] == 0xFE ? s_opCodes[unchecked((short)(0xFE00 | il[i + 1]))] : s_opCodes[il[i]];
                    i += code.Size;
                    if (code.OperandType == OperandType.InlineMethod)
                    {
                        called.Add(method.Module.ResolveMethod(BitConverter.ToInt32(il, i), typeArguments, methodArguments)!);
                    }

                    i += code.OperandType switch
                    {
                        OperandType.InlineNone => 0,
                        OperandType.ShortInlineBrTarget or OperandType.ShortInlineI or OperandType.ShortInlineVar => 1,
                        OperandType.InlineVar => 2,
                        OperandType.InlineI8 or OperandType.InlineR => 8,
                        OperandType.InlineSwitch => 4 + (4 * BitConverter.ToInt32(il, i)),
                        _ => 4,
                    };
                }
            }
        }

        return called;
    }
}
