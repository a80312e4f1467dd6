using System.Reflection;
using SQLitePCL;
using Storage.Sqlite.Internal;

namespace Storage.Sqlite.Tests;

/// <summary>
/// The store's statements stay prepared: binding new parameter values must not make SQLite compile a
/// statement again. SQLite re-prepares a statement whose LIMIT is a bare parameter each time that
/// parameter is bound, which costs more than a point read; SQLite's own counter
/// (SQLITE_STMTSTATUS_REPREPARE) tells.
/// </summary>
public sealed class StatementTests
{
    /// <summary>SQLITE_STMTSTATUS_REPREPARE in sqlite3.h (SQLitePCLRaw does not name it).</summary>
    private const int StatusReprepare = 5;

    /// <summary>Every read the store runs after open (writes run once per request inside a transaction).</summary>
    public static TheoryData<string> Reads()
    {
        var data = new TheoryData<string>();
        foreach (var field in typeof(Sql).GetFields(BindingFlags.Public | BindingFlags.Static).Where(f => f.FieldType == typeof(Statement)))
        {
            if (((Statement)field.GetValue(null)!).Sql.TrimStart().StartsWith("SELECT", StringComparison.OrdinalIgnoreCase))
            {
                data.Add(field.Name);
            }
        }

        return data;
    }

    [Theory]
    [MemberData(nameof(Reads))]
    public async Task Binding_new_values_does_not_recompile_a_read(string name)
    {
        var statement = (Statement)typeof(Sql).GetField(name)!.GetValue(null)!;
        using var database = new TestDatabase();
        await database.Open().DisposeAsync();
        Assert.Equal(0, Reprepares(database, statement.Sql));
    }

    [Fact]
    public async Task A_bare_LIMIT_parameter_is_recompiled_at_every_bind()
    {
        // The control: this is what the counter sees when the trap is there.
        using var database = new TestDatabase();
        await database.Open().DisposeAsync();
        Assert.True(Reprepares(database, "SELECT key FROM documents WHERE partition = @partition ORDER BY key LIMIT @limit") >= 2);
        Assert.Equal(0, Reprepares(database, "SELECT key FROM documents WHERE partition = @partition ORDER BY key LIMIT @limit + 0"));
    }

    /// <summary>Prepares <paramref name="sql"/> once, then binds and runs it three times with new values; returns SQLite's re-prepare count.</summary>
    private static int Reprepares(TestDatabase database, string sql)
    {
        using var connection = database.Connect();
        Assert.Equal(raw.SQLITE_OK, raw.sqlite3_prepare_v2(connection.Handle, sql, out var statement));
        using (statement)
        {
            for (var run = 0; run < 3; run++)
            {
                for (var i = 1; i <= raw.sqlite3_bind_parameter_count(statement); i++)
                {
                    // Small integers fit every parameter the statements take (ids, limits, times, and text columns compare with them).
                    raw.sqlite3_bind_int64(statement, i, 10 + run);
                }

                int step;
                while ((step = raw.sqlite3_step(statement)) == raw.SQLITE_ROW)
                {
                }

                Assert.Equal(raw.SQLITE_DONE, step);
                raw.sqlite3_reset(statement);
            }

            return raw.sqlite3_stmt_status(statement, StatusReprepare, 0);
        }
    }
}
