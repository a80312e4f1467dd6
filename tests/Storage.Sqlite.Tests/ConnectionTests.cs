using System.Diagnostics;
using Microsoft.Data.Sqlite;

namespace Storage.Sqlite.Tests;

/// <summary>Pragmas on every connection, busy handling, and the store's ownership of its connections.</summary>
public sealed class ConnectionTests : IDisposable
{
    private readonly TestDatabase _db = new();

    public void Dispose() => _db.Dispose();

    [Theory]
    [InlineData(DurabilityMode.Full, 2)]
    [InlineData(DurabilityMode.Relaxed, 1)]
    public async Task Every_connection_of_the_store_carries_the_durability_pragmas(DurabilityMode durability, long synchronous)
    {
        await using var store = _db.Open(o =>
        {
            o.Durability = durability;
            o.BusyTimeout = TimeSpan.FromMilliseconds(1500);
            o.WalSizeLimit = 1 << 20;
        });
        await store.PutAsync("p", "c", "k", "1");

        var readings = new List<(long Synchronous, string JournalMode, long BusyTimeout, long JournalSizeLimit)>
        {
            await store.WithWriterAsync(Read),
        };

        // Hold readers inside each other so the store must open (or reuse from its pool) three distinct connections.
        var connections = new HashSet<SqliteConnection>();
        store.WithReader(a =>
        {
            connections.Add(a);
            readings.Add(Read(a));
            return store.WithReader(b =>
            {
                connections.Add(b);
                readings.Add(Read(b));
                return store.WithReader(c =>
                {
                    connections.Add(c);
                    readings.Add(Read(c));
                    return 0;
                });
            });
        });

        // Again, now from the pool.
        store.WithReader(a =>
        {
            readings.Add(Read(a));
            return 0;
        });

        Assert.Equal(3, connections.Count);
        Assert.All(readings, r => Assert.Equal((synchronous, "wal", 1500L, 1L << 20), r));

        static (long, string, long, long) Read(SqliteConnection c) => (
            (long)TestDatabase.Scalar(c, "PRAGMA synchronous")!,
            (string)TestDatabase.Scalar(c, "PRAGMA journal_mode")!,
            (long)TestDatabase.Scalar(c, "PRAGMA busy_timeout")!,
            (long)TestDatabase.Scalar(c, "PRAGMA journal_size_limit")!);
    }

    [Fact]
    public async Task Durability_defaults_to_full()
    {
        Assert.Equal(DurabilityMode.Full, new SqliteStoreOptions().Durability);
        await using var store = _db.Open();
        Assert.Equal(2L, await store.WithWriterAsync(c => (long)TestDatabase.Scalar(c, "PRAGMA synchronous")!));
    }

    [Fact]
    public async Task Disposing_the_store_closes_every_connection_so_the_files_can_be_deleted()
    {
        var store = _db.Open();
        await store.PutAsync("p", "c", "k", "1");
        await Task.WhenAll(Enumerable.Range(0, 8).Select(i => Task.Run(async () => await store.GetAsync("p", "c", "k"))));
        Assert.NotEmpty(TestDatabase.OpenDescriptorsOf(_db.Path));

        await store.DisposeAsync();

        Assert.Empty(TestDatabase.OpenDescriptorsOf(_db.Path));
        File.Delete(_db.Path);
        File.Delete(_db.Path + "-wal");
        File.Delete(_db.Path + "-shm");
        await using var fresh = _db.Open();
        Assert.Null(await fresh.GetAsync("p", "c", "k"));
        Assert.Empty((await fresh.ListPartitionsAsync()).Items);
    }

    [Fact]
    public async Task Two_stores_on_two_files_in_one_process_are_independent()
    {
        var first = _db.Open();
        await using var second = SqliteStore.Open(_db.Options(Path.Combine(_db.Directory, "second.db")));
        await first.PutAsync("p", "c", "k", "\"first\"");
        await second.PutAsync("p", "c", "k", "\"second\"");

        await first.DisposeAsync();

        Assert.Equal("\"second\"", (await second.GetAsync("p", "c", "k"))!.GetJsonText());
        await second.PutAsync("p", "c", "k2", "2");
        Assert.Empty(TestDatabase.OpenDescriptorsOf(_db.Path));
        Assert.NotEmpty(TestDatabase.OpenDescriptorsOf(second.Path));
    }

    [Fact]
    public async Task Two_stores_on_one_file_see_each_others_commits_and_never_reuse_a_version()
    {
        await using var first = _db.Open();
        await using var second = _db.Open();
        var v1 = await first.PutAsync("p", "c", "k", "1");
        var v2 = await second.PutAsync("p", "c", "k", "2", WriteCondition.MustMatchVersion(v1));

        await Assert.ThrowsAsync<VersionConflictException>(async () => await first.PutAsync("p", "c", "k", "3", WriteCondition.MustMatchVersion(v1)));
        Assert.Equal("2", (await first.GetAsync("p", "c", "k"))!.GetJsonText());
        Assert.Equal(v1 + 1, v2);
    }

    [Fact]
    public async Task A_write_blocked_past_the_busy_timeout_raises_StoreUnavailableException_and_writes_nothing()
    {
        await using var store = _db.Open(o => o.BusyTimeout = TimeSpan.FromMilliseconds(200));
        await store.PutAsync("p", "c", "k", "1");
        using var holder = _db.Connect();
        TestDatabase.Execute(holder, "BEGIN IMMEDIATE");

        var watch = Stopwatch.StartNew();
        var e = await Assert.ThrowsAsync<StoreUnavailableException>(async () => await store.PutAsync("p", "c", "k", "2"));
        watch.Stop();

        Assert.True(e.IsTransient);
        Assert.Equal(5, Assert.IsType<SqliteException>(e.InnerException).SqliteErrorCode & 0xFF);
        Assert.InRange(watch.Elapsed, TimeSpan.FromMilliseconds(150), TimeSpan.FromSeconds(5));
        TestDatabase.Execute(holder, "ROLLBACK");
        Assert.Equal("1", (await store.GetAsync("p", "c", "k"))!.GetJsonText());
        Assert.Equal(2, await store.PutAsync("p", "c", "k", "3"));
    }

    [Fact]
    public async Task A_writer_waits_for_a_lock_held_shorter_than_the_busy_timeout()
    {
        await using var store = _db.Open(o => o.BusyTimeout = TimeSpan.FromSeconds(10));
        using var holder = _db.Connect();
        TestDatabase.Execute(holder, "BEGIN IMMEDIATE");
        var release = Task.Run(async () =>
        {
            await Task.Delay(300);
            TestDatabase.Execute(holder, "COMMIT");
        });

        var watch = Stopwatch.StartNew();
        Assert.Equal(1, await store.PutAsync("p", "c", "k", "1"));
        Assert.True(watch.Elapsed >= TimeSpan.FromMilliseconds(250), $"the write went through after {watch.Elapsed} while the lock was held");
        await release;
    }

    [Fact]
    public async Task Opening_a_database_another_connection_holds_exclusively_raises_StoreUnavailableException_within_the_budget()
    {
        await using (var store = _db.Open())
        {
            await store.PutAsync("p", "c", "k", "1");
        }

        // Someone switched the file to a rollback journal (sqlite3 can) and holds it exclusively:
        // switching it back to WAL must wait, then give up.
        using var holder = _db.Connect();
        TestDatabase.Execute(holder, "PRAGMA journal_mode = DELETE");
        TestDatabase.Execute(holder, "BEGIN EXCLUSIVE");
        TestDatabase.Execute(holder, "UPDATE documents SET value = '2'");

        var watch = Stopwatch.StartNew();
        var e = Assert.Throws<StoreUnavailableException>(() => _db.Open(o => o.BusyTimeout = TimeSpan.FromMilliseconds(200)));

        Assert.IsType<SqliteException>(e.InnerException);
        Assert.InRange(watch.Elapsed, TimeSpan.FromMilliseconds(150), TimeSpan.FromSeconds(5));
        TestDatabase.Execute(holder, "ROLLBACK");
        await using var reopened = _db.Open();
        Assert.Equal("1", (await reopened.GetAsync("p", "c", "k"))!.GetJsonText());
    }
}
