using Storage.CrashWriter;
using Storage.Postgres.Internal;
using Storage.Testing;

namespace Storage.Postgres.Tests;

/// <summary>
/// The read-only fence set by another instance with a data source of its own (another machine, in
/// effect) while this one writes: no write commits after the setter returns, and a write in flight
/// holds the setter until it has committed.
/// </summary>
public sealed class ReadOnlyFenceTests
{
    private static readonly TimeSpan s_timeout = TimeSpan.FromSeconds(60);

    [Fact]
    public async Task Another_instance_sets_the_fence_while_this_one_writes_in_a_loop_and_no_write_commits_after_it_returns()
    {
        await using var schema = await TestSchema.CreateAsync("fence");
        var writer = await schema.OpenAsync();
        var setter = await schema.OpenAsync();
        var refused = 0;
        var acknowledged = 0;
        using var stop = new CancellationTokenSource();
        var loop = Task.Run(async () =>
        {
            while (!stop.IsCancellationRequested)
            {
                try
                {
                    await writer.IncrementSequenceAsync("p", "counter");
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

        await setter.SetReadOnlyAsync(true);
        var counter = await setter.GetSequenceAsync("p", "counter");
        var refusedAtSet = Volatile.Read(ref refused);
        await Until(() => Volatile.Read(ref refused) >= refusedAtSet + 50);
        Assert.Equal(counter, await writer.GetSequenceAsync("p", "counter"));

        await setter.SetReadOnlyAsync(false);
        var acknowledgedAtClear = Volatile.Read(ref acknowledged);
        await Until(() => Volatile.Read(ref acknowledged) >= acknowledgedAtClear + 20);
        stop.Cancel();
        await loop;
        Assert.True(await writer.GetSequenceAsync("p", "counter") >= counter + 20);
    }

    [Fact]
    public async Task Another_process_sets_and_clears_the_fence_while_this_one_writes_and_no_write_commits_in_between()
    {
        await using var schema = await TestSchema.CreateAsync("fenceproc");
        var writer = await schema.OpenAsync();
        var refused = 0;
        var acknowledged = 0;
        using var stop = new CancellationTokenSource();
        var loop = Task.Run(async () =>
        {
            while (!stop.IsCancellationRequested)
            {
                try
                {
                    await writer.IncrementSequenceAsync("p", "counter");
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

        await RunSetterAsync(schema, "fence-set", CrashLog.Fenced);
        var counter = await writer.GetSequenceAsync("p", "counter");
        var refusedAtSet = Volatile.Read(ref refused);
        await Until(() => Volatile.Read(ref refused) >= refusedAtSet + 50);
        Assert.Equal(counter, await writer.GetSequenceAsync("p", "counter"));
        Assert.True(await writer.IsReadOnlyAsync());

        await RunSetterAsync(schema, "fence-clear", CrashLog.Cleared);
        var acknowledgedAtClear = Volatile.Read(ref acknowledged);
        await Until(() => Volatile.Read(ref acknowledged) >= acknowledgedAtClear + 20);
        stop.Cancel();
        await loop;
        Assert.True(await writer.GetSequenceAsync("p", "counter") >= counter + 20);
    }

    // The crash writer opens the store with a data source of its own, in a process of its own, and sets or clears the fence.
    private static async Task RunSetterAsync(TestSchema schema, string mode, string done)
    {
        using var setter = ChildProcess.Start([ChildProcess.ProgramPath(typeof(ReadOnlyFenceTests).Assembly, "CrashWriterPath"), "--backend", "postgres", "--path", schema.Server.ConnectionString, "--schema", schema.Name, "--mode", mode]);
        Assert.True(await setter.WaitForExitAsync(s_timeout), "The setter never returned: " + setter.StandardError);
        Assert.True(setter.ExitCode == 0 && setter.Lines.Contains(done), $"The setter failed ({setter.ExitCode}): {string.Join(" | ", setter.Lines)} {setter.StandardError}");
    }

    [Fact]
    public async Task A_write_in_flight_holds_the_setter_until_it_has_committed()
    {
        await using var schema = await TestSchema.CreateAsync("fenceflight");
        var writer = await schema.OpenAsync();
        var setter = await schema.OpenAsync();
        await writer.PutAsync("p", "docs", "k", "1");
        var held = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var release = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        writer.FaultInjector = async (stage, _) =>
        {
            // After the write has read the fence (not set) and before it sends its writes.
            if (stage == CommitStage.BeforeWrite && held.TrySetResult())
            {
                await release.Task;
            }
        };
        var inFlight = writer.PutAsync("p", "docs", "k", "2").AsTask();
        await held.Task.WaitAsync(s_timeout);

        var set = setter.SetReadOnlyAsync(true).AsTask();
        var returnedEarly = await Task.WhenAny(set, Task.Delay(TimeSpan.FromSeconds(1))) == set;

        release.SetResult();
        var version = await inFlight;
        await set.WaitAsync(s_timeout);
        Assert.False(returnedEarly, "the setter returned while a write that had read no fence was still to commit");
        Assert.Equal(version, (await setter.GetAsync("p", "docs", "k"))!.Version);
        await Assert.ThrowsAsync<StoreReadOnlyException>(async () => await writer.PutAsync("p", "docs", "k", "3"));
        Assert.Equal(version, (await setter.GetAsync("p", "docs", "k"))!.Version);
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
