using System.Runtime.CompilerServices;
using Microsoft.Extensions.Time.Testing;
using Storage.Internal;
using static Storage.Conformance.StoreAssert;
using static Storage.Conformance.TestData;

namespace Storage.Conformance;

/// <summary>
/// Bulk import (<see cref="IBulkImport"/>): each partition commits as one batch of must-not-exist puts
/// would — whole or not at all, one new revision, created and updated at the clock's now, index entries
/// and change feed included — validation before anything of a partition is written, and failures that
/// leave every partition whole or absent.
/// </summary>
/// <typeparam name="TFixture">The backend's fixture.</typeparam>
public abstract class ImportTests<TFixture>(TFixture fixture) : StoreTestBase<TFixture>(fixture)
    where TFixture : StoreFixture
{
    private const string Users = "users";

    private static IndexDefinition Email => new(Users, "email", "email", IndexValueType.String, unique: true, IndexScope.Global);

    private static IndexDefinition Handle => new(Users, "handle", "handle", IndexValueType.String, unique: true, IndexScope.Partition);

    private static IndexDefinition Age => new(Users, "age", "age", IndexValueType.Int64);

    [Fact]
    public async Task The_store_offers_bulk_import_as_its_fixture_declares()
    {
        var store = await CreateStoreAsync();

        Assert.Equal(Fixture.SupportsBulkImport, store is IBulkImport);
    }

    [Fact]
    public async Task Imported_partitions_read_back_as_must_not_exist_batches_would_write_them()
    {
        var time = new FakeTimeProvider(Start);
        var store = await CreateStoreAsync(time);
        var expiry = Start.AddHours(1);

        var result = await ImportAsync(store,
        [
            new("p1", [Put(Collection, "b", """{"n":2}"""), Put(Collection, "a", """{"n":1.0}"""), Put(OtherCollection, "a", "[1, 2]", expiry)]),
            new("p2", [Put(Collection, "x", "\"x\"")]),
        ]);

        Assert.Equal(new ImportResult(2, 4), result);
        var now = Start.AddTicks(-(Start.UtcTicks % TimeSpan.TicksPerMillisecond));
        var a = Document(await store.GetAsync("p1", Collection, "a"), "p1", Collection, "a", """{"n":1.0}""", 1);
        Assert.Equal(now, a.CreatedAt);
        Assert.Equal(now, a.UpdatedAt);
        Assert.Null(a.ExpiresAt);
        var other = Document(await store.GetAsync("p1", OtherCollection, "a"), "p1", OtherCollection, "a", "[1, 2]", 1);
        Assert.Equal(expiry.AddTicks(-(expiry.UtcTicks % TimeSpan.TicksPerMillisecond)), other.ExpiresAt);
        Document(await store.GetAsync("p2", Collection, "x"), "p2", Collection, "x", "\"x\"", 1);
        Assert.Equal(["a", "b"], await ListKeysAsync(store, "p1", Collection));
        Assert.Equal([new PartitionInfo("p1", 1), new PartitionInfo("p2", 1)], await ListAllPartitionsAsync(store));
        Assert.Equal(0, await store.GetSequenceAsync("p1", "ids"));

        var changes = await store.ReadChangesAsync("p1", 0);
        Assert.Equal([(Collection, "a"), (Collection, "b"), (OtherCollection, "a")], changes.Items.Select(c => (c.Collection!, c.Key!)));
        Assert.All(changes.Items, c => Assert.Equal(ChangeKind.Put, c.Kind));
        Assert.All(changes.Items, c => Assert.Equal(1, c.Revision));
        Assert.Equal(1, changes.LastRevision);
        SameDocument(a, changes.Items[0].Document);

        // The next write continues the partition's revisions.
        Assert.Equal(2, await store.PutAsync("p1", Collection, "c", "3"));
    }

    [Fact]
    public async Task An_empty_import_writes_nothing()
    {
        var store = await CreateStoreAsync();

        Assert.Equal(new ImportResult(0, 0), await ImportAsync(store, []));
        Assert.Empty(await ListAllPartitionsAsync(store));
    }

    [Fact]
    public async Task Import_into_a_partition_with_other_documents_takes_its_next_revision_and_keeps_them()
    {
        var store = await CreateStoreAsync();
        await store.PutAsync("p", Collection, "old", "1");
        await store.PutAsync("p", Collection, "old2", "2");
        await store.IncrementSequenceAsync("p", "ids");
        var before = await store.GetAsync("p", Collection, "old");

        await ImportAsync(store, [new("p", [Put(Collection, "new", "3"), Put(Collection, "a", "4")])]);

        await UnchangedAsync(store, before!);
        Document(await store.GetAsync("p", Collection, "new"), "p", Collection, "new", "3", 4);
        Document(await store.GetAsync("p", Collection, "a"), "p", Collection, "a", "4", 4);
        Assert.Equal(4, await RevisionAsync(store, "p"));
        Assert.Equal(1, await store.GetSequenceAsync("p", "ids"));
        var changes = await store.ReadChangesAsync("p", 3);
        Assert.Equal(["a", "new"], changes.Items.Select(c => c.Key));
    }

    [Fact]
    public async Task Import_after_a_deleted_partition_continues_above_the_revision_floor()
    {
        var store = await CreateStoreAsync();
        await store.PutAsync("gone", Collection, "a", "1");
        await store.PutAsync("gone", Collection, "a", "2");
        await store.PutAsync("gone", Collection, "a", "3");
        Assert.True(await store.DeletePartitionAsync("gone"));

        await ImportAsync(store, [new("gone", [Put(Collection, "a", "4")]), new("fresh", [Put(Collection, "a", "5")])]);

        Document(await store.GetAsync("gone", Collection, "a"), "gone", Collection, "a", "4", 4);
        Document(await store.GetAsync("fresh", Collection, "a"), "fresh", Collection, "a", "5", 4);
    }

    [Fact]
    public async Task A_live_document_under_an_imported_key_fails_its_partition_as_must_not_exist_does()
    {
        var store = await CreateStoreAsync();
        await store.PutAsync("p2", Collection, "taken", "1");
        await store.PutAsync("p2", Collection, "other", "1");
        var before = await store.GetAsync("p2", Collection, "taken");

        await ConflictAsync(
            () => ImportAsync(store,
            [
                new("p1", [Put(Collection, "a", "1")]),
                new("p2", [Put(Collection, "free", "2"), Put(Collection, "taken", "2"), Put(Collection, "free2", "2")]),
            ]),
            "p2",
            Collection,
            "taken",
            WriteCondition.MustNotExist,
            actualVersion: 1,
            operationIndex: 1);

        Document(await store.GetAsync("p1", Collection, "a"), "p1", Collection, "a", "1", 1);
        await UnchangedAsync(store, before!);
        Assert.Equal(["other", "taken"], await ListKeysAsync(store, "p2", Collection));
        Assert.Equal(2, await RevisionAsync(store, "p2"));
    }

    [Fact]
    public async Task An_expired_document_under_an_imported_key_is_replaced()
    {
        var time = new FakeTimeProvider(Start);
        var store = await CreateStoreAsync(time);
        await store.PutAsync("p", Collection, "a", "1", expiresAt: Start.AddMinutes(1));
        time.Advance(TimeSpan.FromMinutes(2));

        await ImportAsync(store, [new("p", [Put(Collection, "a", "2")])]);

        var a = Document(await store.GetAsync("p", Collection, "a"), "p", Collection, "a", "2", 2);
        Assert.Equal(a.UpdatedAt, a.CreatedAt);
        Assert.True(a.CreatedAt > Start.AddMinutes(1));
        Assert.Null(a.ExpiresAt);
        Assert.Equal(0, await store.PurgeExpiredAsync());
    }

    [Fact]
    public async Task A_unique_value_a_live_document_holds_fails_the_importing_partition()
    {
        var store = await CreateStoreAsync(indexes: [Email, Handle, Age]);
        await store.PutAsync("p0", Users, "u", """{"email":"ann@x"}""");

        var e = await Assert.ThrowsAsync<UniqueConstraintException>(() => ImportAsync(store,
        [
            new("p1", [Put(Users, "a", """{"email":"bob@x","age":3}""")]),
            new("p2", [Put(Users, "b", """{"email":"cid@x"}"""), Put(Users, "c", """{"email":"ann@x"}""")]),
        ]));

        Assert.Equal(("p2", Users, "email", IndexScope.Global, IndexValue.Of("ann@x"), 1), (e.Partition, e.Collection, e.Index, e.Scope, e.Value, e.OperationIndex));
        Assert.Equal(ErrorMessages.UniqueViolation(Users, "email", IndexScope.Global, IndexValue.Of("ann@x")), e.Message);
        Assert.Null(await store.GetAsync("p2", Users, "b"));
        Assert.Null(await RevisionAsync(store, "p2"));
        Assert.Equal(["p1"], (await store.QueryAsync(new IndexQuery(Users, "email") { Equal = "bob@x" })).Items.Select(m => m.Document.Partition));
        Assert.Equal(1, await store.CountAsync(new IndexQuery(Users, "age") { Equal = 3L }));
        Assert.Empty((await store.QueryAsync(new IndexQuery(Users, "email") { Equal = "cid@x" })).Items);
        Assert.Equal(["p0"], (await store.QueryAsync(new IndexQuery(Users, "email") { Equal = "ann@x" })).Items.Select(m => m.Document.Partition));
    }

    [Fact]
    public async Task A_unique_value_taken_twice_within_the_import_is_written_once()
    {
        var store = await CreateStoreAsync(indexes: [Email, Handle]);

        await Assert.ThrowsAsync<UniqueConstraintException>(() => ImportAsync(store,
        [
            new("p1", [Put(Users, "a", """{"email":"ann@x"}""")]),
            new("p2", [Put(Users, "b", """{"email":"ann@x"}""")]),
        ]));

        // Partitions may commit concurrently: exactly one of the two holds the value, the other is absent.
        var holders = (await store.QueryAsync(new IndexQuery(Users, "email") { Equal = "ann@x" })).Items.Select(m => m.Document.Partition).ToList();
        var holder = Assert.Single(holders);
        Assert.Equal([holder], (await ListAllPartitionsAsync(store)).Select(p => p.Partition));

        var e = await Assert.ThrowsAsync<UniqueConstraintException>(() => ImportAsync(store,
            [new("p3", [Put(Users, "a", """{"handle":"h"}"""), Put(Users, "b", """{"handle":"h"}""")])]));
        Assert.Equal(("p3", "handle", 1), (e.Partition, e.Index, e.OperationIndex));
        Assert.Null(await RevisionAsync(store, "p3"));

        // Per-partition values may repeat in other partitions.
        await ImportAsync(store, [new("p4", [Put(Users, "a", """{"handle":"h"}""")]), new("p5", [Put(Users, "a", """{"handle":"h"}""")])]);
        Assert.Equal(2, await store.CountAsync(new IndexQuery(Users, "handle") { Equal = "h" }));
    }

    public static TheoryData<string> InvalidPartitionCases { get; } =
    [
        "null partition", "invalid key", "no puts", "too many puts", "too many bytes", "a document twice", "a null put",
        "a delete", "an append", "a must-not-exist condition", "a version condition", "a wrong index value type", "a partition twice",
    ];

    [Theory]
    [MemberData(nameof(InvalidPartitionCases))]
    public async Task An_invalid_partition_fails_before_anything_of_it_is_written(string label)
    {
        var store = await CreateStoreAsync(indexes: [Age]);
        var (bad, message) = Invalid(label);

        var e = await ThrowsArgumentAsync(() => ImportAsync(store, [new("first", [Put(Collection, "a", "1")]), bad!]));

        if (message is not null)
        {
            Assert.StartsWith(message, e.Message, StringComparison.Ordinal);
        }

        Document(await store.GetAsync("first", Collection, "a"), "first", Collection, "a", "1", 1);
        var partitions = (await ListAllPartitionsAsync(store)).Select(p => p.Partition).ToList();
        Assert.Equal(["first"], partitions);
    }

    [Fact]
    public async Task A_failing_partition_leaves_every_partition_whole_or_absent_and_those_before_it_imported()
    {
        var store = await CreateStoreAsync();
        await store.PutAsync(Part(20), Collection, Key(3), "0");

        var e = await Assert.ThrowsAsync<VersionConflictException>(() => ImportAsync(store, Enumerable.Range(0, 50).Select(p => Partition(p, 5))));

        Assert.Equal((Part(20), Key(3), 3), (e.Partition, e.Key, e.OperationIndex));
        for (var p = 0; p < 50; p++)
        {
            var keys = await ListKeysAsync(store, Part(p), Collection);
            if (p == 20)
            {
                Assert.Equal([Key(3)], keys);
            }
            else if (p < 20)
            {
                Assert.Equal(Enumerable.Range(0, 5).Select(Key), keys);
            }
            else
            {
                Assert.True(keys.Count is 0 or 5, $"Partition {p} holds {keys.Count} of its 5 documents.");
            }
        }
    }

    [Fact]
    public async Task A_failing_partition_lets_at_most_the_window_less_one_after_it_be_imported_on_a_starved_thread_pool()
    {
        // The fourth partition fails. The source yields without ever waiting (as a buffered reader mostly
        // does) and the thread pool is starved: work queued on it runs late and, on one thread, newest
        // first, so a window that counts running commits instead of sliding by input position goes on
        // importing past the failure (up to every partition).
        const int Failing = 3;
        var runs = ImportBoundRuns;
        var stores = new List<IStore>(runs);
        using (var starvation = await ThreadPoolStarvation.StartAsync())
        {
            for (var run = 0; run < runs; run++)
            {
                var store = await CreateStoreAsync();
                await store.PutAsync(Part(Failing), Collection, Key(1), "0");

                // The threads the pool added during the last import would be free to run this one's oldest work.
                starvation.Tighten();
                var e = await Assert.ThrowsAsync<VersionConflictException>(() => ((IBulkImport)store).ImportAsync(Enumerable.Range(0, 300).Select(p => Partition(p, 2)).ToAsyncEnumerable()).AsTask());
                Assert.Equal((Part(Failing), Key(1)), (e.Partition, e.Key));
                stores.Add(store);
            }
        }

        var after = new List<int>(runs);
        foreach (var store in stores)
        {
            var partitions = (await ListAllPartitionsAsync(store, limit: 1000)).Select(p => p.Partition).ToList();
            Assert.Equal(Enumerable.Range(0, Failing + 1).Select(Part), partitions.Take(Failing + 1));
            Assert.Equal([Key(1)], await ListKeysAsync(store, Part(Failing), Collection));
            after.Add(partitions.Count - (Failing + 1));
        }

        Assert.True(
            after.Max() <= Fixture.ImportWindow - 1,
            $"Partitions imported after the failing one, in each of {runs} imports: {string.Join(", ", after)}; the window of {Fixture.ImportWindow} allows at most {Fixture.ImportWindow - 1}.");
    }

    [Fact]
    public async Task A_large_import_crossing_chunk_boundaries_writes_every_partition_whole()
    {
        var store = await CreateStoreAsync();

        var result = await ImportAsync(store, Enumerable.Range(0, 300).Select(p => Partition(p, 1 + (p % 13))));

        Assert.Equal(new ImportResult(300, Enumerable.Range(0, 300).Sum(p => 1 + (p % 13))), result);
        var partitions = await ListAllPartitionsAsync(store, limit: 1000);
        Assert.Equal(Enumerable.Range(0, 300).Select(Part), partitions.Select(p => p.Partition));
        Assert.All(partitions, p => Assert.Equal(1, p.Revision));
        for (var p = 0; p < 300; p += 7)
        {
            var documents = await ListAllAsync(store, Part(p), Collection);
            Assert.Equal(Enumerable.Range(0, 1 + (p % 13)).Select(Key), documents.Select(d => d.Key));
            Assert.All(documents, d => Assert.Equal(1, d.Version));
            Assert.All(documents, d => Assert.Equal($"{{\"p\":{p},\"k\":\"{d.Key}\"}}", System.Text.Encoding.UTF8.GetString(d.Value.Span)));
        }
    }

    [Fact]
    public async Task A_source_that_refills_one_list_for_every_partition_imports_each_partition_as_it_was_yielded()
    {
        var store = await CreateStoreAsync();

        var result = await ((IBulkImport)store).ImportAsync(RefillingOneList(300));

        Assert.Equal(new ImportResult(300, Enumerable.Range(0, 300).Sum(p => 1 + (p % 5))), result);
        for (var p = 0; p < 300; p++)
        {
            var documents = await ListAllAsync(store, Part(p), Collection);
            Assert.Equal(Enumerable.Range(0, 1 + (p % 5)).Select(Key), documents.Select(d => d.Key));
            Assert.All(documents, d => Assert.Equal($"{{\"p\":{p},\"k\":\"{d.Key}\"}}", System.Text.Encoding.UTF8.GetString(d.Value.Span)));
        }
    }

    [Fact]
    public async Task A_cancelled_import_leaves_every_partition_whole_or_absent()
    {
        var store = await CreateStoreAsync();
        using var cancel = new CancellationTokenSource();

        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => ((IBulkImport)store).ImportAsync(CancelAfter(Enumerable.Range(0, 40).Select(p => Partition(p, 3)), 20, cancel), cancel.Token).AsTask());

        for (var p = 0; p < 40; p++)
        {
            var keys = await ListKeysAsync(store, Part(p), Collection);
            Assert.True(keys.Count is 0 or 3, $"Partition {p} holds {keys.Count} of its 3 documents.");
        }

        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => ((IBulkImport)store).ImportAsync(Stream([Partition(99, 1)]), cancel.Token).AsTask());
        Assert.Null(await RevisionAsync(store, Part(99)));
    }

    [Fact]
    public async Task Import_into_a_disposed_store_throws_object_disposed()
    {
        var store = await CreateStoreAsync();
        await store.DisposeAsync();

        await Assert.ThrowsAsync<ObjectDisposedException>(() => ImportAsync(store, [Partition(0, 1)]));
    }

    /// <summary>How many imports the failure-bound test runs: <c>STORAGE_IMPORT_BOUND_RUNS</c>, 10 by default (a soak run raises it).</summary>
    private static int ImportBoundRuns
        => int.TryParse(Environment.GetEnvironmentVariable("STORAGE_IMPORT_BOUND_RUNS"), System.Globalization.NumberStyles.Integer, System.Globalization.CultureInfo.InvariantCulture, out var runs) && runs > 0 ? runs : 10;

    private static string Part(int p) => "part" + p.ToString("D4", System.Globalization.CultureInfo.InvariantCulture);

    private static string Key(int k) => "k" + k.ToString("D3", System.Globalization.CultureInfo.InvariantCulture);

    private static ImportedPartition Partition(int p, int documents)
        => new(Part(p), [.. Enumerable.Range(0, documents).Select(k => Put(Collection, Key(k), $"{{\"p\":{p},\"k\":\"{Key(k)}\"}}"))]);

    private static WriteOperation Put(string collection, string key, string json, DateTimeOffset? expiresAt = null)
        => WriteOperation.Put(collection, key, json, expiresAt: expiresAt);

    private static (ImportedPartition? Partition, string? Message) Invalid(string label) => label switch
    {
        "null partition" => (null, ErrorMessages.NullImportedPartition(1)),
        "invalid key" => (new("a\0b", [Put(Collection, "a", "1")]), null),
        "no puts" => (new("bad", []), ErrorMessages.EmptyBatch),
        "too many puts" => (new("bad", [.. Enumerable.Range(0, StoreLimits.MaxBatchOperations + 1).Select(i => Put(Collection, "k" + i, "1"))]), ErrorMessages.BatchTooLarge(StoreLimits.MaxBatchOperations + 1)),
        "too many bytes" => (new("bad", [.. Enumerable.Range(0, 9).Select(i => WriteOperation.Put(Collection, "k" + i, "\"" + new string('x', StoreLimits.MaxValueBytes - 2) + "\""))]), ErrorMessages.BatchTooManyBytes(9L * StoreLimits.MaxValueBytes)),
        "a document twice" => (new("bad", [Put(Collection, "a", "1"), Put(Collection, "a", "2")]), ErrorMessages.DuplicateInBatch(Collection, "a", 0, 1)),
        "a null put" => (new("bad", [Put(Collection, "a", "1"), null!]), ErrorMessages.NullOperation(1)),
        "a delete" => (new("bad", [Put(Collection, "a", "1"), WriteOperation.Delete(Collection, "b")]), ErrorMessages.ImportNotPut(1, WriteOperationKind.Delete)),
        "an append" => (new("bad", [WriteOperation.Append("s", [EventData.Create("t", "1"u8.ToArray())])]), ErrorMessages.ImportNotPut(0, WriteOperationKind.Append)),
        "a must-not-exist condition" => (new("bad", [Put(Collection, "a", "1"), WriteOperation.Put(Collection, "b", "1", WriteCondition.MustNotExist)]), ErrorMessages.ImportCondition(1)),
        "a version condition" => (new("bad", [WriteOperation.Put(Collection, "b", "1", WriteCondition.MustMatchVersion(1))]), ErrorMessages.ImportCondition(0)),
        "a wrong index value type" => (new("bad", [Put(Collection, "a", "1"), Put(Users, "u", """{"age":"old"}""")]), null),
        "a partition twice" => (new("first", [Put(Collection, "b", "1")]), ErrorMessages.DuplicateImportedPartition("first", 0, 1)),
        _ => throw new ArgumentOutOfRangeException(nameof(label), label, "Unknown case."),
    };

    private static async Task<ImportResult> ImportAsync(IStore store, IEnumerable<ImportedPartition> partitions)
    {
        var import = Assert.IsAssignableFrom<IBulkImport>(store);
        return await import.ImportAsync(Stream(partitions));
    }

    private static async IAsyncEnumerable<ImportedPartition> Stream(IEnumerable<ImportedPartition> partitions)
    {
        foreach (var partition in partitions)
        {
            await Task.Yield();
            yield return partition;
        }
    }

    // A streaming reader that saves allocations: one list, cleared and refilled once the import asks for the next partition.
    private static async IAsyncEnumerable<ImportedPartition> RefillingOneList(int partitions)
    {
        var puts = new List<WriteOperation>();
        for (var p = 0; p < partitions; p++)
        {
            puts.Clear();
            puts.AddRange(Partition(p, 1 + (p % 5)).Puts);
            await Task.Yield();
            yield return new ImportedPartition(Part(p), puts);
        }
    }

    private static async IAsyncEnumerable<ImportedPartition> CancelAfter(IEnumerable<ImportedPartition> partitions, int count, CancellationTokenSource cancel, [EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        var n = 0;
        foreach (var partition in partitions)
        {
            if (n++ == count)
            {
                await cancel.CancelAsync();
            }

            cancellationToken.ThrowIfCancellationRequested();
            await Task.Yield();
            yield return partition;
        }
    }
}
