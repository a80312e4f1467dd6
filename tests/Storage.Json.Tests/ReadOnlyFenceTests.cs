using Storage.CrashWriter;
using Storage.Json.IO;
using Storage.Json.Tests.Infrastructure;

namespace Storage.Json.Tests;

/// <summary>
/// The read-only fence set from another process while this one owns the directory and writes: once the
/// setter returns, no write of the owner commits; clearing it lets writes resume. And the fence byte
/// matters: a commit in flight when the fence file appears holds the setter until it has written.
/// </summary>
public sealed class ReadOnlyFenceTests
{
    private static readonly TimeSpan s_timeout = TimeSpan.FromSeconds(60);

    [Fact]
    public async Task A_second_process_sets_the_fence_while_this_one_writes_in_a_loop_and_no_write_commits_after_it_returns()
    {
        using var temp = new TempDirectory();
        await using var store = JsonStore.Open(new JsonStoreOptions { Directory = temp.Path });
        using var stop = new CancellationTokenSource();
        var loop = WriteLoopAsync(store, stop.Token);
        await WaitForAsync(() => loop.Committed >= 20);

        await RunFenceAsync(temp.Path, "fence-set", CrashLog.Fenced);
        var counter = await store.GetSequenceAsync("p", "counter");
        var document = await store.GetAsync("p", "docs", "k");

        var refusedBefore = loop.Refused;
        await WaitForAsync(() => loop.Refused >= refusedBefore + 50);
        Assert.Equal(counter, await store.GetSequenceAsync("p", "counter"));
        Assert.Equal(document!.Version, (await store.GetAsync("p", "docs", "k"))!.Version);

        await RunFenceAsync(temp.Path, "fence-clear", CrashLog.Cleared);
        var committed = loop.Committed;
        await WaitForAsync(() => loop.Committed >= committed + 20);
        stop.Cancel();
        await loop.Task;
        Assert.True(await store.GetSequenceAsync("p", "counter") > counter);
        Assert.Null(loop.Unexpected);
    }

    [Fact]
    public async Task A_commit_in_flight_when_the_fence_file_appears_holds_the_setter_until_it_has_written()
    {
        // The commit below checks the fence, then waits (its file creation held) with the fence byte
        // shared; the setter creates the fence file, then must wait for the byte. Without that wait the
        // setter would return while the commit is still to land.
        using var temp = new TempDirectory();
        var files = new GatedFileSystem(new PosixFileSystem());
        await using var store = JsonStore.Open(new JsonStoreOptions { Directory = temp.Path }, files);
        await store.PutAsync("p", "docs", "k", "1");
        files.HoldNextCreate("partitions");
        var inFlight = Task.Run(async () => await store.PutAsync("p", "docs", "k", "2"));
        await files.WaitUntilHeldAsync();

        using var setter = CrashWriterProcess.Start(temp.Path, "fence-set");
        await WaitForAsync(() => File.Exists(Path.Combine(temp.Path, ReadOnlyFence.FileName)));
        var returnedEarly = await setter.WaitForExitAsync(TimeSpan.FromSeconds(1));

        files.Release();
        var version = await inFlight;
        Assert.True(await setter.WaitForExitAsync(s_timeout), "the setter never returned: " + setter.StandardError);
        Assert.False(returnedEarly, "the setter returned while a commit that had missed the fence was still to land");
        Assert.Equal(0, setter.ExitCode);
        Assert.Equal(version, (await store.GetAsync("p", "docs", "k"))!.Version);
        await Assert.ThrowsAsync<StoreReadOnlyException>(async () => await store.PutAsync("p", "docs", "k", "3"));
        Assert.Equal(version, (await store.GetAsync("p", "docs", "k"))!.Version);
    }

    [Fact]
    public async Task The_fence_is_set_without_an_owner_and_the_next_owner_refuses_writes()
    {
        using var temp = new TempDirectory();
        await JsonStore.Open(new JsonStoreOptions { Directory = temp.Path }).DisposeAsync();

        await JsonStore.SetReadOnlyAsync(temp.Path, true);

        await using var store = JsonStore.Open(new JsonStoreOptions { Directory = temp.Path });
        Assert.True(await store.IsReadOnlyAsync());
        await Assert.ThrowsAsync<StoreReadOnlyException>(async () => await store.PutAsync("p", "docs", "k", "1"));
        await JsonStore.SetReadOnlyAsync(temp.Path, false);
        Assert.False(File.Exists(Path.Combine(temp.Path, ReadOnlyFence.FileName)));
        await store.PutAsync("p", "docs", "k", "1");
    }

    [Fact]
    public async Task Setting_the_fence_of_a_directory_without_a_store_fails_and_creates_nothing()
    {
        using var temp = new TempDirectory();

        await Assert.ThrowsAsync<StorageException>(async () => await JsonStore.SetReadOnlyAsync(temp.Path, true));

        Assert.Empty(Directory.GetFileSystemEntries(temp.Path));
    }

    [Fact]
    public void The_fence_check_reports_a_path_it_cannot_check_instead_of_answering_that_no_fence_is_there()
    {
        using var temp = new TempDirectory();
        var loop = Path.Combine(temp.Path, "loop");
        File.CreateSymbolicLink(loop, loop);
        var unreadable = Path.Combine(loop, ReadOnlyFence.FileName);
        var files = new PosixFileSystem();

        // File.Exists, which the check used before, answers "no fence" when it cannot look (ELOOP here):
        // a commit would have gone ahead. The file layer fails closed instead.
        Assert.False(File.Exists(unreadable));
        var e = Assert.Throws<IOException>(() => files.FileExists(unreadable));
        Assert.Contains(unreadable, e.Message, StringComparison.Ordinal);

        Assert.False(files.FileExists(Path.Combine(temp.Path, ReadOnlyFence.FileName)));
        Assert.False(files.FileExists(Path.Combine(temp.Path, "missing", ReadOnlyFence.FileName)));
        Assert.False(files.FileExists(temp.Path));
        File.WriteAllBytes(Path.Combine(temp.Path, "present"), []);
        Assert.True(files.FileExists(Path.Combine(temp.Path, "present")));
    }

    private static async Task RunFenceAsync(string directory, string mode, string done)
    {
        using var child = CrashWriterProcess.Start(directory, mode);
        Assert.NotNull(await child.WaitForLineAsync(s_timeout, done));
        Assert.True(await child.WaitForExitAsync(s_timeout));
        Assert.Equal(0, child.ExitCode);
    }

    private static async Task WaitForAsync(Func<bool> condition)
    {
        var deadline = DateTime.UtcNow + s_timeout;
        while (!condition())
        {
            Assert.True(DateTime.UtcNow < deadline, "timed out");
            await Task.Delay(10);
        }
    }

    private static WriteLoop WriteLoopAsync(IStore store, CancellationToken stop)
    {
        var loop = new WriteLoop();
        loop.Task = Task.Run(async () =>
        {
            while (!stop.IsCancellationRequested)
            {
                try
                {
                    await store.IncrementSequenceAsync("p", "counter");
                    await store.PutAsync("p", "docs", "k", "{}");
                    Interlocked.Increment(ref loop.Committed);
                }
                catch (StoreReadOnlyException)
                {
                    Interlocked.Increment(ref loop.Refused);
                    await Task.Delay(1);
                }
                catch (Exception e)
                {
                    loop.Unexpected = e;
                    return;
                }
            }
        }, CancellationToken.None);
        return loop;
    }

    /// <summary>A writer looping on a counter and a document; it counts what committed and what the fence refused.</summary>
    private sealed class WriteLoop
    {
        public int Committed;
        public int Refused;

        public Task Task { get; set; } = Task.CompletedTask;

        public Exception? Unexpected { get; set; }
    }
}
