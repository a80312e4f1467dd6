using System.Globalization;
using Microsoft.Data.Sqlite;
using Xunit.Abstractions;

namespace Storage.Sqlite.Tests;

/// <summary>
/// What the conformance suite cannot see of the SQLite bulk import: a partition that does not exist
/// is written by plain inserts (no tombstone is looked for), one that exists as a must-not-exist
/// batch; a new partition's unique values still meet the other partitions' entries; and a process
/// killed in the middle of an import leaves every partition whole or absent.
/// </summary>
public sealed class ImportTests(ITestOutputHelper output) : IDisposable
{
    private const string Docs = "docs";
    private const string Users = "users";
    private static readonly IndexDefinition s_email = new(Users, "email", "email", IndexValueType.String, unique: true, IndexScope.Global);
    private static readonly IndexDefinition s_handle = new(Users, "handle", "handle", IndexValueType.String, unique: true, IndexScope.Partition);
    private readonly TestDatabase _db = new();

    public void Dispose() => _db.Dispose();

    [Fact]
    public async Task A_new_partition_is_written_by_plain_inserts_and_an_existing_one_as_a_must_not_exist_batch()
    {
        await using var store = _db.Open();

        // A deleted partition raises the revision floor to 2.
        await store.PutAsync("gone", Docs, "a", "1");
        await store.PutAsync("gone", Docs, "a", "2");
        Assert.True(await store.DeletePartitionAsync("gone"));

        // "old" exists (revision 5): an expired document and a tombstone under keys the import writes.
        await store.PutAsync("old", Docs, "expired", "1", expiresAt: _db.Clock.GetUtcNow().AddMinutes(1));
        await store.PutAsync("old", Docs, "deleted", "1");
        Assert.True(await store.DeleteAsync("old", Docs, "deleted"));
        _db.Clock.Advance(TimeSpan.FromMinutes(2));

        // "new" has no row, so it holds nothing; a tombstone row planted by hand under a key the import
        // writes shows which path ran: the batch path would delete it, plain inserts never look for it.
        using (var connection = _db.Connect())
        {
            TestDatabase.Execute(connection, "INSERT INTO tombstones (partition, collection, key, revision, deleted_at) VALUES ('new', 'docs', 'a', 1, 0)");
        }

        var now = _db.Clock.GetUtcNow();
        var expiry = now.AddHours(1);
        var result = await ImportAsync(
            store,
            new("old", [WriteOperation.Put(Docs, "expired", "2"), WriteOperation.Put(Docs, "deleted", "2"), WriteOperation.Put(Docs, "fresh", "2")]),
            new("new", [WriteOperation.Put(Docs, "a", "3", expiresAt: expiry), WriteOperation.Put(Docs, "b", "4")]),
            new("clean", [WriteOperation.Put(Docs, "c", "5")]));

        Assert.Equal(new ImportResult(3, 6), result);

        // The batch path: the partition's next revision, the expired document replaced (created anew), the tombstone gone.
        foreach (var key in new[] { "expired", "deleted", "fresh" })
        {
            var document = await store.GetAsync("old", Docs, key);
            Assert.NotNull(document);
            Assert.Equal((6L, now, now, (DateTimeOffset?)null), (document.Version, document.CreatedAt, document.UpdatedAt, document.ExpiresAt));
        }

        Assert.Equal(0L, Count("SELECT count(*) FROM tombstones WHERE partition = 'old'"));

        // Plain inserts: the floor + 1, created and updated now, the expiry as given; the planted tombstone untouched.
        var a = await store.GetAsync("new", Docs, "a");
        Assert.NotNull(a);
        Assert.Equal(("3", 3L, now, now, (DateTimeOffset?)expiry), (a.GetJsonText(), a.Version, a.CreatedAt, a.UpdatedAt, a.ExpiresAt));
        var b = await store.GetAsync("new", Docs, "b");
        Assert.NotNull(b);
        Assert.Equal(("4", 3L, now, now, (DateTimeOffset?)null), (b.GetJsonText(), b.Version, b.CreatedAt, b.UpdatedAt, b.ExpiresAt));
        Assert.Equal(1L, Count("SELECT count(*) FROM tombstones WHERE partition = 'new' AND key = 'a'"));

        Assert.Equal(
            [new PartitionInfo("clean", 3), new PartitionInfo("new", 3), new PartitionInfo("old", 6)],
            (await store.ListPartitionsAsync()).Items);

        // A new partition's feed shows its puts, and resumes from its first revision.
        var changes = await store.ReadChangesAsync("clean", 0);
        var change = Assert.Single(changes.Items);
        Assert.Equal((ChangeKind.Put, 3L, "c", "5"), (change.Kind, change.Revision, change.Key, change.Document!.GetJsonText()));
        Assert.Equal(3L, Count("SELECT oldest_resumable FROM partitions WHERE partition = 'clean'"));

        // The next write continues the new partition's revisions.
        Assert.Equal(4, await store.PutAsync("new", Docs, "c", "6"));
    }

    [Fact]
    public async Task A_global_unique_value_held_in_another_partition_refuses_the_new_partition_whole()
    {
        await using var store = _db.Open(o => o.Indexes = [s_email, s_handle]);
        await store.PutAsync("holder", Users, "h", """{"email":"taken@x"}""");

        var e = await Assert.ThrowsAsync<UniqueConstraintException>(() => ImportAsync(
            store,
            new("p1", [WriteOperation.Put(Users, "u1", """{"email":"a@x"}""")]),
            new("p2", [WriteOperation.Put(Users, "u2", """{"email":"b@x","handle":"h"}"""), WriteOperation.Put(Users, "u3", """{"email":"taken@x"}"""), WriteOperation.Put(Users, "u4", """{"email":"c@x"}""")])));

        Assert.Equal(("p2", "email", IndexValue.Of("taken@x"), 1), (e.Partition, e.Index, e.Value, e.OperationIndex));
        Assert.Equal(["holder/h"], await EmailHoldersAsync(store, "taken@x"));
        Assert.Equal(["p1/u1"], await EmailHoldersAsync(store, "a@x"));
        Assert.Empty(await EmailHoldersAsync(store, "b@x"));
        Assert.Equal(0, await store.CountAsync(new IndexQuery(Users, "handle") { Equal = "h" }));
        Assert.Equal(["holder", "p1"], (await store.ListPartitionsAsync()).Items.Select(p => p.Partition));
        Assert.Equal(0L, Count("SELECT count(*) FROM documents WHERE partition = 'p2'"));
        Assert.Equal(0L, Count("SELECT count(*) FROM index_entries WHERE partition = 'p2'"));
    }

    [Fact]
    public async Task A_new_partition_releases_a_unique_value_an_expired_document_holds_and_refuses_one_it_takes_twice()
    {
        await using var store = _db.Open(o => o.Indexes = [s_email, s_handle]);
        await store.PutAsync("holder", Users, "e", """{"email":"expired@x","handle":"h"}""", expiresAt: _db.Clock.GetUtcNow().AddMinutes(1));
        _db.Clock.Advance(TimeSpan.FromMinutes(2));

        await ImportAsync(store, new ImportedPartition("p1", [WriteOperation.Put(Users, "u1", """{"email":"expired@x","handle":"h"}""")]));

        Assert.Equal(["p1/u1"], await EmailHoldersAsync(store, "expired@x"));
        Assert.Equal(0L, Count("SELECT count(*) FROM index_entries WHERE partition = 'holder'"));

        // Two documents of one new partition with one partition-scoped unique value: the second is refused, the partition absent.
        var e = await Assert.ThrowsAsync<UniqueConstraintException>(() => ImportAsync(
            store,
            new ImportedPartition("p2", [WriteOperation.Put(Users, "u1", """{"email":"x@x","handle":"same"}"""), WriteOperation.Put(Users, "u2", """{"email":"y@x","handle":"same"}""")])));

        Assert.Equal(("p2", "handle", 1), (e.Partition, e.Index, e.OperationIndex));
        Assert.Equal(["holder", "p1"], (await store.ListPartitionsAsync()).Items.Select(p => p.Partition));
        Assert.Equal(0L, Count("SELECT count(*) FROM index_entries WHERE partition = 'p2'"));
    }

    /// <summary>
    /// kill -9 of a process in the middle of an import (tests/Storage.Sqlite.Worker import): after each
    /// kill the database passes the integrity check and every partition is whole — all its documents,
    /// each with its index entry, at the partition's revision — or absent. A third of the partitions
    /// exist before the import (the batch path), the others are new (plain inserts).
    /// </summary>
    [Fact]
    public async Task Killing_an_importing_process_leaves_every_partition_whole_or_absent()
    {
        const int Partitions = 3000;
        const int Documents = 20;
        const int Kills = 6;
        var seed = Random.Shared.Next();
        output.WriteLine($"seed {seed}");
        var random = new Random(seed);
        var cut = 0;
        for (var kill = 0; kill < Kills; kill++)
        {
            using var db = new TestDatabase();
            await using (var store = db.Open(o => o.Indexes = [s_email]))
            {
                await ImportAsync(store, [.. Enumerable.Range(0, Partitions).Where(p => p % 3 == 0).Select(p => new ImportedPartition(
                    Partition(p), [WriteOperation.Put(Users, "seed", $$"""{"email":"seed-{{p}}@x"}""")]))]);
            }

            using (var worker = TestPrograms.Worker("import", db.Path, Partitions.ToString(CultureInfo.InvariantCulture), Documents.ToString(CultureInfo.InvariantCulture)))
            {
                Assert.True(await worker.WaitForLineAsync(TimeSpan.FromSeconds(60), "ready") is not null, $"The worker never opened the store: {worker.StandardError}");

                // Killed once its import has committed a first transaction (on a loaded machine its start
                // alone can take longer than any fixed delay), then at a random moment of the import.
                await UntilImportStartedAsync(db, seeded: Partitions / 3, worker);
                await Task.Delay(random.Next(0, 200));
                worker.Kill();
            }

            await using (SqliteStore.Open(new SqliteStoreOptions { Path = db.Path, CheckIntegrityOnOpen = true, Indexes = [s_email] }))
            {
            }

            using var connection = db.Connect();
            var imported = 0;
            using (var command = connection.CreateCommand())
            {
                command.CommandText = """
                    SELECT p.partition, p.revision,
                        (SELECT count(*) FROM documents AS d WHERE d.partition = p.partition AND d.key <> 'seed'),
                        (SELECT count(*) FROM documents AS d WHERE d.partition = p.partition AND d.key <> 'seed' AND d.version <> p.revision),
                        (SELECT count(*) FROM index_entries AS e WHERE e.partition = p.partition AND e.key <> 'seed')
                    FROM partitions AS p
                    """;
                using var reader = command.ExecuteReader();
                while (reader.Read())
                {
                    var (partition, revision, documents, otherVersion, entries) = (reader.GetString(0), reader.GetInt64(1), reader.GetInt64(2), reader.GetInt64(3), reader.GetInt64(4));
                    var label = $"kill {kill} (seed {seed}): partition {partition} (revision {revision})";
                    Assert.True(documents is 0 or Documents, $"{label} holds {documents} of its {Documents} imported documents.");
                    Assert.True(otherVersion == 0, $"{label}: {otherVersion} imported documents are not at the partition's revision.");
                    Assert.True(entries == documents, $"{label}: {documents} imported documents but {entries} index entries.");
                    imported += documents == Documents ? 1 : 0;
                }
            }

            Assert.Equal(0L, (long)TestDatabase.Scalar(connection, "SELECT count(*) FROM documents WHERE partition NOT IN (SELECT partition FROM partitions)")!);
            output.WriteLine($"kill {kill}: {imported} of {Partitions} partitions imported");
            cut += imported is > 0 and < Partitions ? 1 : 0;
        }

        // Otherwise the kills all came before or after the import, and the test proved nothing.
        Assert.True(cut > 0, $"No kill landed in the middle of an import (seed {seed}).");
    }

    private static string Partition(int p) => "i" + p.ToString("D6", CultureInfo.InvariantCulture);

    // Polls the database (WAL: a reader never waits for the importer) until it holds more partitions than were seeded.
    private static async Task UntilImportStartedAsync(TestDatabase db, int seeded, Storage.Testing.ChildProcess worker)
    {
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(60);
        using var connection = db.Connect();
        while ((long)TestDatabase.Scalar(connection, "SELECT count(*) FROM partitions")! <= seeded)
        {
            Assert.True(DateTime.UtcNow < deadline && !worker.HasExited, $"The import never committed a partition: {worker.StandardError}");
            await Task.Delay(5);
        }
    }

    private static async Task<ImportResult> ImportAsync(IBulkImport store, params ImportedPartition[] partitions)
        => await store.ImportAsync(Stream(partitions));

    private static async IAsyncEnumerable<ImportedPartition> Stream(IEnumerable<ImportedPartition> partitions)
    {
        foreach (var partition in partitions)
        {
            await Task.Yield();
            yield return partition;
        }
    }

    private static async Task<List<string>> EmailHoldersAsync(IStore store, string email)
        => [.. (await store.QueryAsync(new IndexQuery(Users, "email") { Equal = email })).Items.Select(m => $"{m.Document.Partition}/{m.Document.Key}")];

    private long Count(string sql)
    {
        using var connection = _db.Connect();
        return (long)TestDatabase.Scalar(connection, sql)!;
    }
}
