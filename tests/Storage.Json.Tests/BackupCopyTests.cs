using System.Diagnostics;
using Storage.Json.IO;
using Storage.Json.Tests.Infrastructure;

namespace Storage.Json.Tests;

/// <summary>
/// The backup docs/json-backend.md offers: a copy of an open store's directory, made with ordinary
/// tools (.NET's File.Copy of every file, cp -r, tar), succeeds while the store keeps its lock, and
/// opens as a store with the data — while the original is still open.
/// </summary>
public sealed class BackupCopyTests
{
    private const string Notes = "notes";
    private static readonly string s_hashedKey = "long/" + new string('h', 220);
    private static readonly TimeSpan s_toolTimeout = TimeSpan.FromSeconds(60);

    [Fact]
    public async Task File_Copy_of_every_file_of_an_open_store_makes_a_copy_that_opens_with_the_data()
    {
        using var source = new TempDirectory();
        using var target = new TempDirectory();
        await using var store = JsonStore.Open(new JsonStoreOptions { Directory = source.Path });
        var revision = await WriteAsync(store);
        var leftover = LeaveTempFile(source.Path);

        // .NET opens each source with a shared flock: the store's lock must not conflict with it.
        foreach (var directory in Directory.EnumerateDirectories(source.Path, "*", SearchOption.AllDirectories))
        {
            Directory.CreateDirectory(Path.Combine(target.Path, Path.GetRelativePath(source.Path, directory)));
        }

        foreach (var file in Directory.EnumerateFiles(source.Path, "*", SearchOption.AllDirectories))
        {
            File.Copy(file, Path.Combine(target.Path, Path.GetRelativePath(source.Path, file)));
        }

        await AssertCopyOpensWithTheDataAsync(target.Path, Path.Combine(target.Path, Path.GetRelativePath(source.Path, leftover)), revision);
        Assert.Equal(revision + 1, await store.PutAsync("alice", Notes, "k", "3"));
    }

    [Theory]
    [InlineData("cp")]
    [InlineData("tar")]
    public async Task Copying_an_open_store_with_a_command_line_tool_makes_a_copy_that_opens_with_the_data(string tool)
    {
        using var source = new TempDirectory();
        using var target = new TempDirectory();
        await using var store = JsonStore.Open(new JsonStoreOptions { Directory = source.Path });
        var revision = await WriteAsync(store);
        var leftover = LeaveTempFile(source.Path);

        var command = tool == "cp"
            ? $"cp -r '{source.Path}/.' '{target.Path}/'"
            : $"tar -C '{source.Path}' -cf - . | tar -C '{target.Path}' -xf -";
        await RunAsync(command);

        await AssertCopyOpensWithTheDataAsync(target.Path, Path.Combine(target.Path, Path.GetRelativePath(source.Path, leftover)), revision);
        Assert.Equal(revision + 1, await store.PutAsync("alice", Notes, "k", "3"));
    }

    [Fact]
    public async Task A_store_opens_while_a_reader_holds_its_lock_file_open()
    {
        // What File.Copy of storage.lock holds while a backup runs: a read handle, with .NET's shared flock.
        using var temp = new TempDirectory();
        var options = new JsonStoreOptions { Directory = temp.Path };
        await JsonStore.Open(options).DisposeAsync();
        using var reader = File.OpenRead(Path.Combine(temp.Path, "storage.lock"));

        await using var store = JsonStore.Open(options);

        Assert.Equal(1, await store.PutAsync("alice", Notes, "k", "1"));
        Assert.Throws<StoreLockedException>(() => JsonStore.Open(options));
    }

    [Fact]
    public void A_temp_file_being_written_can_be_copied()
    {
        // A copy made while a commit runs may meet its temp file, open for writing.
        using var temp = new TempDirectory();
        var path = Path.Combine(temp.Path, "p-alice.json.0123456789abcdef.tmp");
        using var file = new PosixFileSystem().CreateNew(path);
        file.Write("{\"half\": "u8, 0);

        File.Copy(path, Path.Combine(temp.Path, "copy"));

        Assert.Equal("{\"half\": ", File.ReadAllText(Path.Combine(temp.Path, "copy")));
    }

    /// <summary>Writes documents, a sequence and an event to a direct, an escaped and a hashed partition; returns alice's revision.</summary>
    private static async Task<long> WriteAsync(JsonStore store)
    {
        await store.PutAsync("alice", Notes, "k", "1");
        await store.PutAsync("alice", Notes, "k", "2");
        await store.PutAsync("Bob", Notes, "k", """{"b":true}""");
        await store.PutAsync(s_hashedKey, Notes, "k", "\"hashed\"");
        await store.IncrementSequenceAsync("alice", "ids", 5);
        await store.CommitAsync("alice", [WriteOperation.Append("audit", [EventData.Create("signed-in", "{}")])]);
        return (await store.ListPartitionsAsync()).Items.Single(p => p.Partition == "alice").Revision;
    }

    /// <summary>A half-written temp file, as a copy taken during a commit may hold.</summary>
    private static string LeaveTempFile(string directory)
    {
        var path = Path.Combine(directory, "partitions", PartitionFileNames.Encode("alice") + ".0123456789abcdef.tmp");
        File.WriteAllText(path, "{\"half\": ");
        return path;
    }

    private static async Task AssertCopyOpensWithTheDataAsync(string copy, string copiedLeftover, long revision)
    {
        Assert.True(File.Exists(copiedLeftover), "The temp file was not copied, so the test does not show what open does with it.");
        await using var opened = JsonStore.Open(new JsonStoreOptions { Directory = copy });

        Assert.False(File.Exists(copiedLeftover), "The copied temp file was not removed at open.");
        Assert.Equal(new[] { "Bob", "alice", s_hashedKey }.Order(StringComparer.Ordinal), (await opened.ListPartitionsAsync()).Items.Select(p => p.Partition));
        Assert.Equal("2", (await opened.GetAsync("alice", Notes, "k"))?.GetJsonText());
        Assert.Equal("""{"b":true}""", (await opened.GetAsync("Bob", Notes, "k"))?.GetJsonText());
        Assert.Equal("\"hashed\"", (await opened.GetAsync(s_hashedKey, Notes, "k"))?.GetJsonText());
        Assert.Equal(5, await opened.GetSequenceAsync("alice", "ids"));
        Assert.Equal("signed-in", Assert.Single((await opened.ReadStreamAsync("alice", "audit")).Items).Type);

        // The copy carries on from the copied revision: no version is repeated.
        Assert.Equal(revision + 1, await opened.PutAsync("alice", Notes, "k", "3"));
    }

    private static async Task RunAsync(string command)
    {
        var start = new ProcessStartInfo("sh") { RedirectStandardError = true, RedirectStandardOutput = true };
        start.ArgumentList.Add("-c");
        start.ArgumentList.Add(command);
        using var process = Process.Start(start)!;
        using var timeout = new CancellationTokenSource(s_toolTimeout);
        var errors = process.StandardError.ReadToEndAsync(timeout.Token);
        await process.StandardOutput.ReadToEndAsync(timeout.Token);
        await process.WaitForExitAsync(timeout.Token);
        Assert.True(process.ExitCode == 0, $"'{command}' exited with {process.ExitCode}: {await errors}");
    }
}
