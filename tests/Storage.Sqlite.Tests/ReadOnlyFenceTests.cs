using Storage.CrashWriter;

namespace Storage.Sqlite.Tests;

/// <summary>The read-only fence set by another process (its own store instance) while this one writes: no write commits after the setter returns; clearing it lets writes resume.</summary>
public sealed class ReadOnlyFenceTests
{
    private static readonly TimeSpan s_timeout = TimeSpan.FromSeconds(60);

    [Fact]
    public async Task A_second_process_sets_the_fence_while_this_one_writes_in_a_loop_and_no_write_commits_after_it_returns()
    {
        using var database = new TestDatabase();
        await using var store = database.Open();
        var refused = 0;
        var acknowledged = 0;
        using var stop = new CancellationTokenSource();
        var writer = Task.Run(async () =>
        {
            while (!stop.IsCancellationRequested)
            {
                try
                {
                    await store.IncrementSequenceAsync("p", "counter");
                    Interlocked.Increment(ref acknowledged);
                }
                catch (StoreReadOnlyException)
                {
                    Interlocked.Increment(ref refused);
                    await Task.Delay(1);
                }
            }
        });
        await Until(() => Volatile.Read(ref acknowledged) >= 20);

        await FenceAsync(database.Path, "fence-set", CrashLog.Fenced);
        var counter = await store.GetSequenceAsync("p", "counter");
        var refusedAtSet = Volatile.Read(ref refused);
        await Until(() => Volatile.Read(ref refused) >= refusedAtSet + 50);
        Assert.Equal(counter, await store.GetSequenceAsync("p", "counter"));
        Assert.True(await store.IsReadOnlyAsync());

        await FenceAsync(database.Path, "fence-clear", CrashLog.Cleared);
        var acknowledgedAtClear = Volatile.Read(ref acknowledged);
        await Until(() => Volatile.Read(ref acknowledged) >= acknowledgedAtClear + 20);
        stop.Cancel();
        await writer;
        Assert.True(await store.GetSequenceAsync("p", "counter") >= counter + 20);
    }

    private static async Task FenceAsync(string path, string mode, string done)
    {
        using var child = TestPrograms.CrashWriter("--backend", "sqlite", "--path", path, "--mode", mode);
        Assert.True(await child.WaitForLineAsync(s_timeout, done) is not null, string.Join('\n', child.Lines) + child.StandardError);
        Assert.True(await child.WaitForExitAsync(s_timeout));
        Assert.Equal(0, child.ExitCode);
    }

    private static async Task Until(Func<bool> condition)
    {
        var deadline = DateTime.UtcNow + s_timeout;
        while (!condition())
        {
            Assert.True(DateTime.UtcNow < deadline, "timed out");
            await Task.Delay(10);
        }
    }
}
