using Storage.Json.Internal;
using Storage.Json.Tests.Infrastructure;
using Xunit.Abstractions;

namespace Storage.Json.Tests;

/// <summary>
/// I/O errors (ENOSPC, EIO on fsync, failed renames, torn writes) at every step of every kind of
/// write: the caller always gets a <see cref="StorageException"/> carrying the error — never
/// success — the write is there entirely or not at all, and the store keeps working.
/// </summary>
public sealed class IoErrorTests(ITestOutputHelper output)
{
    private const string Value = """{"v":1}""";

    [Theory]
    [MemberData(nameof(FaultScenarios.Names), MemberType = typeof(FaultScenarios))]
    public async Task An_io_error_at_any_step_of_a_write_fails_it_leaves_it_all_or_nothing_and_the_store_keeps_working(string scenario)
    {
        var result = await FaultChecks.FailEachStepAsync(FaultScenarios.Named(scenario));

        Violations.AssertNone(output, result);
    }

    [Fact]
    public async Task A_failed_fsync_of_the_file_is_never_reported_as_a_successful_write()
    {
        var fs = FaultChecks.NewFileSystem();
        await using var store = FaultChecks.Open(fs);
        var version = await store.PutAsync(FaultScenarios.Alice, FaultScenarios.Notes, "k", Value);
        fs.InjectFault(FileSystemOperation.Sync, error: Errno.Error(Errno.EIO, "fsync: Input/output error"));

        var error = await Assert.ThrowsAnyAsync<StorageException>(() => store.PutAsync(FaultScenarios.Alice, FaultScenarios.Notes, "k", """{"v":2}""").AsTask());

        Assert.True(FaultChecks.CarriesErrno(error, Errno.EIO), $"The error does not carry the EIO: {error}");
        var document = await store.GetAsync(FaultScenarios.Alice, FaultScenarios.Notes, "k");
        Assert.Equal((version, Value), (document!.Version, document.GetJsonText()));
    }

    [Fact]
    public async Task A_failed_fsync_of_the_directory_is_never_reported_as_a_successful_write()
    {
        var fs = FaultChecks.NewFileSystem();
        await using var store = FaultChecks.Open(fs);
        await store.PutAsync(FaultScenarios.Alice, FaultScenarios.Notes, "k", Value);
        fs.InjectFault(FileSystemOperation.SyncDirectory);

        var error = await Assert.ThrowsAnyAsync<StorageException>(() => store.PutAsync(FaultScenarios.Alice, FaultScenarios.Notes, "k", """{"v":2}""").AsTask());

        Assert.True(FaultChecks.CarriesErrno(error, Errno.EIO), $"The error does not carry the EIO: {error}");
    }

    [Fact]
    public async Task After_a_disk_full_error_the_next_write_succeeds_and_survives_power_loss()
    {
        var fs = FaultChecks.NewFileSystem();
        long version;
        await using (var store = FaultChecks.Open(fs))
        {
            await store.PutAsync(FaultScenarios.Alice, FaultScenarios.Notes, "k", Value);
            fs.InjectFault(FileSystemOperation.Write, tornLength: 5);
            var error = await Assert.ThrowsAnyAsync<StorageException>(() => store.PutAsync(FaultScenarios.Alice, FaultScenarios.Notes, "k", """{"v":2}""").AsTask());
            Assert.True(FaultChecks.CarriesErrno(error, Errno.ENOSPC), $"The error does not carry the ENOSPC: {error}");

            version = await store.PutAsync(FaultScenarios.Alice, FaultScenarios.Notes, "k", """{"v":3}""");
        }

        fs.SimulatePowerLoss();

        await using var reopened = FaultChecks.Open(fs);
        var document = await reopened.GetAsync(FaultScenarios.Alice, FaultScenarios.Notes, "k");
        Assert.Equal((version, """{"v":3}"""), (document!.Version, document.GetJsonText()));
    }

    [Fact]
    public async Task A_read_error_fails_the_read_and_is_never_taken_for_a_missing_partition()
    {
        var fs = FaultChecks.NewFileSystem();
        await using (var setup = FaultChecks.Open(fs))
        {
            await setup.PutAsync(FaultScenarios.Alice, FaultScenarios.Notes, "k", Value);
        }

        await using var store = FaultChecks.Open(fs);
        fs.InjectFault(FileSystemOperation.ReadAllBytes);
        var readError = await Assert.ThrowsAnyAsync<StorageException>(() => store.GetAsync(FaultScenarios.Alice, FaultScenarios.Notes, "k").AsTask());
        Assert.True(FaultChecks.CarriesErrno(readError, Errno.EIO), $"The error does not carry the EIO: {readError}");

        // A write that cannot read the partition must not write a partition that lacks the old data.
        fs.InjectFault(FileSystemOperation.ReadAllBytes);
        await Assert.ThrowsAnyAsync<StorageException>(() => store.PutAsync(FaultScenarios.Alice, FaultScenarios.Notes, "other", Value).AsTask());

        Assert.Equal(Value, (await store.GetAsync(FaultScenarios.Alice, FaultScenarios.Notes, "k"))?.GetJsonText());
    }

    [Fact]
    public async Task Concurrent_writes_in_a_group_commit_that_fails_all_fail_and_the_acknowledged_ones_survive_power_loss()
    {
        var fs = FaultChecks.NewFileSystem();
        var acknowledged = new Dictionary<string, long>();
        var failed = 0;
        await using (var store = FaultChecks.Open(fs))
        {
            // The second file sync fails: whichever writes were grouped into that commit must all fail.
            fs.InjectFault(FileSystemOperation.Sync, nth: 2);
            var puts = Enumerable.Range(0, 40).Select(i => (Key: $"k{i}", Task: store.PutAsync(FaultScenarios.Alice, FaultScenarios.Notes, $"k{i}", $$"""{"i":{{i}}}""").AsTask())).ToList();
            foreach (var (key, task) in puts)
            {
                try
                {
                    acknowledged[key] = await task;
                }
                catch (StorageException e) when (FaultChecks.CarriesErrno(e, Errno.EIO))
                {
                    failed++;
                }
            }
        }

        Assert.True(failed > 0, "The injected fsync failure failed no write.");
        fs.SimulatePowerLoss();

        await using var reopened = FaultChecks.Open(fs);
        foreach (var (key, version) in acknowledged)
        {
            var document = await reopened.GetAsync(FaultScenarios.Alice, FaultScenarios.Notes, key);
            Assert.True(document?.Version == version, $"{key} (version {version}) was acknowledged but is {(document is null ? "missing" : $"at version {document.Version}")} after power loss.");
        }
    }

    [Fact]
    public void Opening_on_a_file_system_that_cannot_lock_fails_closed_and_writes_nothing()
    {
        var fs = FaultChecks.NewFileSystem();
        fs.LockingUnsupported = true;

        var error = Assert.ThrowsAny<StorageException>(() => FaultChecks.Open(fs));

        Assert.True(FaultChecks.CarriesErrno(error, Errno.ENOLCK) || error is StoreLockedException, $"The error does not say the lock failed: {error}");
        Assert.DoesNotContain(fs.AllFiles(), f => f.EndsWith("/storage.json", StringComparison.Ordinal) || f.Contains("/partitions/", StringComparison.Ordinal));
    }

    [Fact]
    public async Task An_open_that_fails_releases_the_lock_so_the_next_open_succeeds()
    {
        var fs = FaultChecks.NewFileSystem();
        await FaultChecks.Open(fs).DisposeAsync();
        fs.InjectFault(FileSystemOperation.ReadAllBytes);

        var error = Assert.ThrowsAny<StorageException>(() => FaultChecks.Open(fs));
        Assert.True(FaultChecks.CarriesErrno(error, Errno.EIO), $"The error does not carry the EIO: {error}");

        await FaultChecks.Open(fs).DisposeAsync();
    }

    [Fact]
    public void A_disk_full_error_while_creating_the_manifest_says_so()
    {
        var fs = FaultChecks.NewFileSystem();
        fs.InjectFault(FileSystemOperation.Write, error: Errno.Error(Errno.ENOSPC, "Injected fault: No space left on device."));

        var error = Assert.ThrowsAny<StorageException>(() => FaultChecks.Open(fs));

        Assert.Equal(JsonErrors.CreatingManifestFailed(FaultChecks.DataDirectory + "/storage.json"), error.Message);
        Assert.True(FaultChecks.CarriesErrno(error, Errno.ENOSPC), $"The error does not carry the ENOSPC: {error}");
    }

    [Fact]
    public async Task A_disk_full_error_at_any_step_of_creating_a_store_says_what_was_being_done_and_the_next_open_succeeds()
    {
        const string Root = FaultChecks.DataDirectory;
        const string Partitions = Root + "/partitions";
        const string Manifest = Root + "/storage.json";
        const string LockFile = Root + "/storage.lock";
        var creatingRoot = JsonErrors.CreatingDirectoryFailed(Root);
        var creatingPartitions = JsonErrors.CreatingDirectoryFailed(Partitions);
        var creatingManifest = JsonErrors.CreatingManifestFailed(Manifest);
        const string Journal = Root + "/" + ChangeJournal.FileName;
        var openingJournal = JsonErrors.OpeningJournalFailed(Journal);

        // Every step of opening a new store, in order, and what its failure must say.
        (FileSystemOperation Operation, string Path, string Message)[] expected =
        [
            (FileSystemOperation.DirectoryExists, Root, creatingRoot),
            (FileSystemOperation.DirectoryExists, "/data", creatingRoot),
            (FileSystemOperation.CreateDirectory, Root, creatingRoot),
            (FileSystemOperation.SyncDirectory, "/data", creatingRoot),
            (FileSystemOperation.LockExclusive, LockFile, JsonErrors.OpeningLockFileFailed(LockFile)),
            (FileSystemOperation.FileExists, Manifest, JsonErrors.ReadFailed(Manifest)),
            (FileSystemOperation.DirectoryExists, Partitions, JsonErrors.ListingFailed(Partitions)),
            (FileSystemOperation.DirectoryExists, Partitions, creatingPartitions),
            (FileSystemOperation.DirectoryExists, Root, creatingPartitions),
            (FileSystemOperation.CreateDirectory, Partitions, creatingPartitions),
            (FileSystemOperation.SyncDirectory, Root, creatingPartitions),
            (FileSystemOperation.CreateNew, Manifest + ".*.tmp", creatingManifest),
            (FileSystemOperation.Write, Manifest + ".*.tmp", creatingManifest),
            (FileSystemOperation.Sync, Manifest + ".*.tmp", creatingManifest),
            (FileSystemOperation.Close, Manifest + ".*.tmp", creatingManifest),
            (FileSystemOperation.Rename, Manifest + ".*.tmp", creatingManifest),
            (FileSystemOperation.SyncDirectory, Root, creatingManifest),
            (FileSystemOperation.ListFiles, Root, JsonErrors.RemovingTempFilesFailed(Root)),
            (FileSystemOperation.ListFiles, Partitions, JsonErrors.RemovingTempFilesFailed(Partitions)),
            (FileSystemOperation.ListFiles, Partitions, JsonErrors.ListingFailed(Partitions)),
            (FileSystemOperation.ReadAllBytes, Journal, openingJournal),
            (FileSystemOperation.CreateNew, Journal + ".*.tmp", openingJournal),
            (FileSystemOperation.Write, Journal + ".*.tmp", openingJournal),
            (FileSystemOperation.Sync, Journal + ".*.tmp", openingJournal),
            (FileSystemOperation.Rename, Journal + ".*.tmp", openingJournal),
            (FileSystemOperation.SyncDirectory, Root, openingJournal),
        ];
        var probe = FaultChecks.NewFileSystem(createDataDirectory: false);
        var mark = probe.Calls.Count;
        var opened = FaultChecks.Open(probe);
        var steps = probe.CallsSince(mark);
        await opened.DisposeAsync();
        Assert.True(
            steps.Count == expected.Length && steps.Zip(expected).All(p => p.First.Operation == p.Second.Operation && Matches(p.First.Path, p.Second.Path)),
            $"The steps of opening a new store changed; update this test's table:\n{string.Join('\n', steps)}");

        var failures = new List<string>();
        for (var i = 0; i < expected.Length; i++)
        {
            var fs = FaultChecks.NewFileSystem(createDataDirectory: false);
            fs.InjectFault(null, nth: i + 1, Errno.Error(Errno.ENOSPC, "Injected fault: No space left on device."));
            var error = await Record.ExceptionAsync(async () => await FaultChecks.Open(fs).DisposeAsync());
            var step = $"step {i + 1} ({steps[i]})";
            if (error is not StorageException || error.Message != expected[i].Message || !FaultChecks.CarriesErrno(error, Errno.ENOSPC))
            {
                failures.Add($"{step}: expected a StorageException \"{expected[i].Message}\" carrying the ENOSPC, got {error?.GetType().Name}: {error?.Message}");
            }

            try
            {
                await using var reopened = FaultChecks.Open(fs);
                Assert.Equal(1, await reopened.PutAsync("alice", "notes", "k", Value));
            }
            catch (Exception e)
            {
                failures.Add($"{step}: the next open failed: {e.GetType().Name}: {e.Message}");
            }
        }

        Assert.True(failures.Count == 0, string.Join('\n', failures));

        static bool Matches(string path, string pattern) => pattern.EndsWith(".*.tmp", StringComparison.Ordinal)
            ? path.StartsWith(pattern[..^".*.tmp".Length] + ".", StringComparison.Ordinal) && path.EndsWith(".tmp", StringComparison.Ordinal)
            : path == pattern;
    }

    [Fact]
    public async Task Random_workloads_raise_every_injected_io_error_and_stay_all_or_nothing()
    {
        await RandomWorkload.RunManyAsync(output, w => w.FaultAtRandomCallAsync());
    }
}
