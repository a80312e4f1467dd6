using System.Globalization;
using System.Runtime.InteropServices;
using Storage.CrashWriter;
using Storage.Json.Tests.Infrastructure;

namespace Storage.Json.Tests;

/// <summary>One store owns a directory at a time, in this process or across processes; a second gets a clear error at once.</summary>
public sealed class LockTests
{
    private static readonly TimeSpan s_startTimeout = TimeSpan.FromSeconds(60);

    [Fact]
    public async Task A_second_open_in_the_same_process_throws_StoreLockedException_naming_the_lock_file()
    {
        using var temp = new TempDirectory();
        await using var first = JsonStore.Open(new JsonStoreOptions { Directory = temp.Path });

        var error = Assert.Throws<StoreLockedException>(() => JsonStore.Open(new JsonStoreOptions { Directory = temp.Path }));

        Assert.Equal(Path.Combine(temp.Path, "storage.lock"), error.Path);
    }

    [Fact]
    public async Task After_dispose_the_directory_opens_again_with_its_data()
    {
        using var temp = new TempDirectory();
        var options = new JsonStoreOptions { Directory = temp.Path };
        await using (var first = JsonStore.Open(options))
        {
            await first.PutAsync("alice", "notes", "k", """{"v":1}""");
        }

        await using var second = JsonStore.Open(options);

        Assert.Equal("""{"v":1}""", (await second.GetAsync("alice", "notes", "k"))?.GetJsonText());
    }

    [Fact]
    public async Task A_disposed_store_releases_the_lock_even_while_a_copy_of_its_descriptor_is_open()
    {
        // A child process forked (by any thread) while the store is open holds a copy of the lock's
        // descriptor until it execs; disposing the store in that window must still release the lock.
        using var temp = new TempDirectory();
        var options = new JsonStoreOptions { Directory = temp.Path };
        var store = JsonStore.Open(options);
        var copy = DuplicateDescriptorOf(Path.Combine(temp.Path, "storage.lock"));
        try
        {
            await store.DisposeAsync();

            await JsonStore.Open(options).DisposeAsync();
        }
        finally
        {
            Close(copy);
        }
    }

    [Fact]
    public async Task A_store_held_by_another_process_cannot_be_opened_until_that_process_dies()
    {
        using var temp = new TempDirectory();
        using var holder = CrashWriterProcess.Start(temp.Path, mode: "hold-lock");
        Assert.True(await holder.WaitForLineAsync(s_startTimeout, CrashLog.Ready) is not null, $"The holder did not get ready: {string.Join('\n', holder.Lines)}\n{holder.StandardError}");

        var error = Assert.Throws<StoreLockedException>(() => JsonStore.Open(new JsonStoreOptions { Directory = temp.Path }));
        Assert.Equal(Path.Combine(temp.Path, "storage.lock"), error.Path);

        holder.Kill();
        await JsonStore.Open(new JsonStoreOptions { Directory = temp.Path }).DisposeAsync();
    }

    [Fact]
    public async Task Another_process_cannot_open_a_store_this_process_holds()
    {
        using var temp = new TempDirectory();
        await using var store = JsonStore.Open(new JsonStoreOptions { Directory = temp.Path });

        using var second = CrashWriterProcess.Start(temp.Path, mode: "hold-lock");
        Assert.True(second.WaitForExit(s_startTimeout), "The second process neither failed nor exited.");

        Assert.Equal(CrashLog.ExitLocked, second.ExitCode);
        Assert.StartsWith(CrashLog.Locked, Assert.Single(second.Lines));
    }

    [Fact]
    public async Task Another_process_with_dotnet_file_locking_disabled_still_cannot_open_a_held_store()
    {
        // DOTNET_SYSTEM_IO_DISABLEFILELOCKING turns FileShare.None into nothing: the lock must not rely on it.
        using var temp = new TempDirectory();
        await using var store = JsonStore.Open(new JsonStoreOptions { Directory = temp.Path });

        using var second = CrashWriterProcess.Start(temp.Path, mode: "hold-lock", environment: new Dictionary<string, string> { ["DOTNET_SYSTEM_IO_DISABLEFILELOCKING"] = "1" });
        Assert.True(second.WaitForExit(s_startTimeout), "The second process neither failed nor exited.");

        Assert.DoesNotContain(CrashLog.Ready, second.Lines);
        Assert.Equal(CrashLog.ExitLocked, second.ExitCode);
    }

    [Fact]
    public async Task A_process_with_dotnet_file_locking_disabled_still_keeps_others_out()
    {
        using var temp = new TempDirectory();
        using var holder = CrashWriterProcess.Start(temp.Path, mode: "hold-lock", environment: new Dictionary<string, string> { ["DOTNET_SYSTEM_IO_DISABLEFILELOCKING"] = "1" });
        Assert.True(await holder.WaitForLineAsync(s_startTimeout, CrashLog.Ready) is not null, $"The holder did not get ready: {string.Join('\n', holder.Lines)}\n{holder.StandardError}");

        Assert.Throws<StoreLockedException>(() => JsonStore.Open(new JsonStoreOptions { Directory = temp.Path }));

        holder.CloseInput();
        Assert.True(holder.WaitForExit(s_startTimeout));
        Assert.Equal(0, holder.ExitCode);
        await JsonStore.Open(new JsonStoreOptions { Directory = temp.Path }).DisposeAsync();
    }

    /// <summary>A duplicate of the descriptor this process has open on <paramref name="path"/>: what a forked child holds.</summary>
    private static int DuplicateDescriptorOf(string path)
    {
        var open = Directory.EnumerateFileSystemEntries("/proc/self/fd").Where(fd => new FileInfo(fd).LinkTarget == path).ToList();
        var copy = Dup(int.Parse(Path.GetFileName(Assert.Single(open)), CultureInfo.InvariantCulture));
        Assert.True(copy >= 0, $"dup failed: errno {Marshal.GetLastPInvokeError()}");
        return copy;
    }

    [DllImport("libc", EntryPoint = "dup", SetLastError = true)]
    private static extern int Dup(int fd);

    [DllImport("libc", EntryPoint = "close")]
    private static extern int Close(int fd);
}
