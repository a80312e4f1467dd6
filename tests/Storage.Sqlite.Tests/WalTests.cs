using Xunit.Abstractions;

namespace Storage.Sqlite.Tests;

/// <summary>The write-ahead log stays bounded under readers that never all stop at once.</summary>
public sealed class WalTests(ITestOutputHelper output) : IDisposable
{
    private const long Limit = 1 << 20;
    private readonly TestDatabase _db = new();

    public void Dispose() => _db.Dispose();

    [Fact]
    public async Task The_wal_stays_under_its_limit_while_overlapping_readers_are_always_active()
    {
        var largest = await WriteUnderConstantReaders(boundWal: true);

        output.WriteLine($"largest -wal: {largest:N0} bytes (limit {Limit:N0})");
        Assert.True(largest < Limit + (512 * 1024), $"the -wal file reached {largest:N0} bytes; the limit is {Limit:N0}");
    }

    [Fact]
    public async Task Without_the_bound_the_same_readers_make_the_wal_grow_past_it()
    {
        // The control experiment: proves the readers above really starve SQLite's own checkpoints.
        var largest = await WriteUnderConstantReaders(boundWal: false);

        output.WriteLine($"largest -wal: {largest:N0} bytes");
        Assert.True(largest > 3 * Limit, $"the -wal file only reached {largest:N0} bytes");
    }

    [Fact]
    public async Task Small_commits_do_not_look_at_the_wal_size_each_time()
    {
        // The default limit (64 MiB) is far from what 300 small puts write: the store looks once a
        // second at most, not after every commit (a stat costs a third of a small commit's CPU).
        var store = _db.Open();
        var clock = System.Diagnostics.Stopwatch.StartNew();
        for (var i = 0; i < 300; i++)
        {
            await store.PutAsync("p", "c", $"k{i % 10}", """{"n":1}""");
        }

        var seconds = clock.Elapsed.TotalSeconds;
        output.WriteLine($"{store.WalSizeLooks} looks at the WAL size in {seconds:F1} s");
        Assert.InRange(store.WalSizeLooks, 0, (int)Math.Ceiling(seconds) + 1);
        await store.DisposeAsync();
    }

    private async Task<long> WriteUnderConstantReaders(bool boundWal)
    {
        var store = _db.Open(o => o.WalSizeLimit = Limit);
        store.BoundWal = boundWal;
        await store.PutAsync("p", "c", "seed", "0");

        // Two readers of our own (as another part of the app or another process would be), each holding
        // a read transaction for 20 ms, staggered so that one is always open.
        using var stop = new CancellationTokenSource();
        var readers = Enumerable.Range(0, 2).Select(r => Task.Factory.StartNew(
            () =>
            {
                using var connection = _db.Connect();
                Thread.Sleep(r * 10);
                while (!stop.IsCancellationRequested)
                {
                    TestDatabase.Execute(connection, "BEGIN");
                    TestDatabase.Scalar(connection, "SELECT count(*) FROM documents");
                    Thread.Sleep(20);
                    TestDatabase.Execute(connection, "COMMIT");
                }
            },
            CancellationToken.None,
            TaskCreationOptions.LongRunning,
            TaskScheduler.Default)).ToList();

        long largest = 0;
        var value = $"{{\"pad\":\"{new string('x', 16 * 1024)}\"}}";
        try
        {
            for (var i = 0; i < 400; i++)
            {
                await store.PutAsync("p", "c", $"k{i % 100}", value);
                largest = Math.Max(largest, new FileInfo(_db.Path + "-wal").Length);
            }
        }
        finally
        {
            stop.Cancel();
            await Task.WhenAll(readers);
            await store.DisposeAsync();
        }

        output.WriteLine($"checkpoints: {store.TruncatedCheckpoints} truncated, {store.BlockedCheckpoints} held off");

        return largest;
    }
}
