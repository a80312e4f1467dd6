using System.Text;
using Microsoft.Extensions.Time.Testing;
using Storage.Json.IO;
using Storage.Json.Tests.Infrastructure;

namespace Storage.Json.Tests;

/// <summary>
/// How the JSON backend writes a restore: the partition's whole file from the restored state, in the
/// partition's turn and only over the revision the engine read; its index entries and store-wide unique
/// values replaced with it; the revision floor raised durably in the manifest; both refused by the
/// read-only fence checked with the write. (What a restore means is the conformance suite's.) The
/// restore's I/O errors and power losses at every step are <see cref="FaultScenarios"/>' restore scenarios.
/// </summary>
public sealed class RestoreWriteTests
{
    private const string Users = "users";

    private static IndexDefinition Email => new(Users, "email", "email", IndexValueType.String, unique: true, IndexScope.Global);

    private static IndexDefinition Tags => new(Users, "tags", "tags", IndexValueType.String);

    private static IReadOnlyList<IndexDefinition> All => [Email, Tags];

    [Fact]
    public async Task A_restored_partition_exports_as_it_was_given_and_reads_the_same_after_reopening()
    {
        var fs = FaultChecks.NewFileSystem();
        var state = await ExportOfAsync(SourceAsync);
        var store = Open(fs);
        try
        {
            Assert.Equal(RestoreOutcome.Created, await store.RestorePartitionAsync(state));

            await AssertHoldsAsync(store, state);
            Assert.Equal(["me"], (await store.QueryAsync(new IndexQuery(Users, "email") { Equal = "a@x" })).Items.Select(m => m.Document.Key));
            var indexes = await IndexState.QueryAsync(store, All);
            Assert.Equal(await IndexState.ExpectedAsync(store, All), indexes);

            await store.DisposeAsync();
            store = Open(fs);
            await AssertHoldsAsync(store, state);
            Assert.Equal(indexes, await IndexState.QueryAsync(store, All));
            Assert.Equal(RestoreOutcome.Unchanged, await store.RestorePartitionAsync(state));
        }
        finally
        {
            await store.DisposeAsync();
        }
    }

    [Fact]
    public async Task A_replace_over_a_larger_partition_leaves_none_of_its_documents_streams_sequences_or_index_entries()
    {
        var fs = FaultChecks.NewFileSystem();
        var state = await ExportOfAsync(SourceAsync);
        var store = Open(fs);
        try
        {
            // The partition holds more of everything than the state, and values the state does not have.
            for (var i = 0; i < 20; i++)
            {
                await store.PutAsync("alice", Users, $"old{i:D2}", $$"""{"email":"old{{i}}@x","tags":["old","t{{i}}"]}""");
                await store.IncrementSequenceAsync("alice", $"seq{i}");
                await store.AppendAsync("alice", $"old-stream-{i}", [EventData.Create("noted", "{}")]);
            }

            await store.PutAsync("alice", "notes", "gone", "{}");
            await store.DeleteAsync("alice", "notes", "gone");

            Assert.Equal(RestoreOutcome.Replaced, await store.RestorePartitionAsync(state, RestoreMode.Replace));

            await AssertHoldsAsync(store, state);
            Assert.Equal(0, await store.CountAsync(new IndexQuery(Users, "tags") { Equal = "old" }));
            Assert.Equal(0, await store.CountAsync(new IndexQuery(Users, "tags") { Partition = "alice", Equal = "old" }));
            Assert.Equal(await IndexState.ExpectedAsync(store, All), await IndexState.QueryAsync(store, All));

            // The store-wide unique values go with the old documents, and come with the restored ones.
            await store.PutAsync("bob", Users, "me", """{"email":"old3@x"}""", WriteCondition.MustNotExist);
            var taken = await Assert.ThrowsAsync<UniqueConstraintException>(() => store.PutAsync("carol", Users, "me", """{"email":"a@x"}""").AsTask());
            Assert.Equal("email", taken.Index);

            await store.DisposeAsync();
            store = Open(fs);
            await AssertHoldsAsync(store, state);
            Assert.Equal(await IndexState.ExpectedAsync(store, All), await IndexState.QueryAsync(store, All));
        }
        finally
        {
            await store.DisposeAsync();
        }
    }

    [Fact]
    public async Task A_restore_over_a_partition_written_after_the_engine_read_it_is_not_written_over_that_write()
    {
        var fs = new GatedFileSystem(FaultChecks.NewFileSystem());
        var state = await ExportOfAsync(SourceAsync);
        await using var store = Open(fs);

        // A put creating the partition holds its turn at its file write; the restore reads the
        // partition (it does not exist), then waits for its turn behind the put.
        var restore = await RestoreBehindHeldWriteAsync(fs, "alice", () => store.PutAsync("alice", "notes", "racer", "{}").AsTask(), () => store.RestorePartitionAsync(state).AsTask());

        // In its turn the partition exists: the restore writes nothing, and the engine, looking again, finds it different.
        await Assert.ThrowsAsync<RestoreConflictException>(() => restore);
        Assert.NotNull(await store.GetAsync("alice", "notes", "racer"));
        Assert.Null(await store.GetAsync("alice", Users, "me"));
        Assert.Equal(0, await store.CountAsync(new IndexQuery(Users, "email")));
    }

    [Fact]
    public async Task A_restore_meeting_a_unique_value_another_partitions_commit_reserved_waits_for_it_and_is_refused_once_it_holds()
    {
        var fs = new GatedFileSystem(FaultChecks.NewFileSystem());
        var state = await ExportOfAsync(SourceAsync);
        await using var store = Open(fs);

        // Bob's commit reserves a@x and is held at its file write; the restore meets the reservation:
        // left out, not refused for a commit whose outcome is unknown.
        var restore = await RestoreBehindHeldWriteAsync(fs, "bob", () => store.PutAsync("bob", Users, "me", """{"email":"a@x"}""").AsTask(), () => store.RestorePartitionAsync(state).AsTask());
        var error = await Assert.ThrowsAsync<UniqueConstraintException>(() => restore);
        Assert.Equal("email", error.Index);
        Assert.Null(await store.ExportPartitionAsync("alice"));
        Assert.Equal(["bob"], (await store.QueryAsync(new IndexQuery(Users, "email") { Equal = "a@x" })).Items.Select(m => m.Document.Partition));
    }

    [Fact]
    public async Task The_raised_revision_floor_survives_a_power_loss_and_is_never_lowered()
    {
        var fs = FaultChecks.NewFileSystem();
        await using (var store = Open(fs))
        {
            await store.RaiseRevisionFloorAsync(100);
            await store.RaiseRevisionFloorAsync(50);
            Assert.Equal(100, (await store.GetExportInfoAsync()).RevisionFloor);
            await FaultChecks.DisposeOrCrashAsync(fs, store);
        }

        fs.SimulatePowerLoss();

        await using var reopened = Open(fs);
        Assert.Equal(100, (await reopened.GetExportInfoAsync()).RevisionFloor);
        Assert.Equal(101, await reopened.PutAsync("new", "notes", "k", "{}"));
    }

    [Fact]
    public async Task The_fence_set_after_the_engines_own_check_refuses_a_restore_and_a_floor_raise_writing_nothing()
    {
        var fs = new FenceRaceFileSystem(FaultChecks.NewFileSystem());
        var state = await ExportOfAsync(SourceAsync);
        await using var store = Open(fs);
        await store.PutAsync("bob", "notes", "k", "{}");
        var before = await ExportAllAsync(store);

        // Each time, the engine's check finds no fence, and the fence is there when the backend writes.
        await JsonStore.SetReadOnlyAsync(FaultChecks.DataDirectory, true, fs, CancellationToken.None);
        fs.HideFenceOnce();
        await Assert.ThrowsAsync<StoreReadOnlyException>(() => store.RestorePartitionAsync(state).AsTask());
        fs.HideFenceOnce();
        await Assert.ThrowsAsync<StoreReadOnlyException>(() => store.RaiseRevisionFloorAsync(500).AsTask());
        await JsonStore.SetReadOnlyAsync(FaultChecks.DataDirectory, false, fs, CancellationToken.None);

        Assert.Equal(before, await ExportAllAsync(store));
        Assert.Equal(0, (await store.GetExportInfoAsync()).RevisionFloor);
    }

    /// <summary>
    /// Runs <paramref name="write"/> held at the creation of <paramref name="partition"/>'s new file,
    /// starts <paramref name="restore"/> meanwhile (it must not end while the write is held), lets
    /// the write go and waits for it.
    /// </summary>
    private static async Task<Task<RestoreOutcome>> RestoreBehindHeldWriteAsync(GatedFileSystem fs, string partition, Func<Task> write, Func<Task<RestoreOutcome>> restore)
    {
        Task held;
        Task<RestoreOutcome> restoring;
        try
        {
            fs.HoldNextCreate(PartitionFileNames.Encode(partition));
            held = Task.Run(write);
            await fs.WaitUntilHeldAsync();
            restoring = restore();
            Assert.False(restoring.IsCompleted, restoring.IsFaulted ? $"The restore failed while {partition}'s write was held: {restoring.Exception!.InnerException!.Message}" : $"The restore ended while {partition}'s write was held.");
        }
        finally
        {
            // A failing assertion must not leave the write held (the store's dispose waits for it).
            fs.Release();
        }

        await held;
        return restoring;
    }

    private static JsonStore Open(IFileSystem fs)
        => JsonStore.Open(new JsonStoreOptions { Directory = FaultChecks.DataDirectory, TimeProvider = new FakeTimeProvider(FaultChecks.Epoch), Indexes = All }, fs);

    /// <summary>Alice's state in a source store: indexed documents (one expired), a tombstone, sequences and streams.</summary>
    private static async Task SourceAsync(JsonStore source, FakeTimeProvider time)
    {
        await source.PutAsync("alice", Users, "me", """{"email":"a@x","tags":["new","a"]}""");
        await source.PutAsync("alice", Users, "twin", """{"email":"t@x","tags":["new"]}""", expiresAt: time.GetUtcNow().AddDays(1));
        await source.PutAsync("alice", Users, "lapsed", """{"email":"l@x","tags":["lapsed"]}""", expiresAt: time.GetUtcNow().AddMinutes(1));
        await source.PutAsync("alice", "notes", "gone", """{"n":1}""");
        await source.DeleteAsync("alice", "notes", "gone");
        await source.IncrementSequenceAsync("alice", "ids", 7);
        await source.AppendAsync("alice", "audit", [EventData.Create("created", """{"by":"me"}""", """{"m":1}"""), EventData.Create("noted", "[1,2]")]);
        time.Advance(TimeSpan.FromMinutes(5));
        await source.AppendAsync("alice", "audit", [EventData.Create("noted", "3")]);
    }

    /// <summary>Alice's exported state after <paramref name="write"/> in a store of its own (the clock then stands where the destination's does).</summary>
    private static async Task<PartitionExport> ExportOfAsync(Func<JsonStore, FakeTimeProvider, Task> write)
    {
        var time = new FakeTimeProvider(FaultChecks.Epoch.AddMinutes(-5));
        await using var source = JsonStore.Open(new JsonStoreOptions { Directory = FaultChecks.DataDirectory, TimeProvider = time, Indexes = All }, FaultChecks.NewFileSystem());
        await write(source, time);
        var state = (await source.ExportPartitionAsync("alice"))!;
        Assert.Contains(state.Documents, d => d.Key == "lapsed");
        return state;
    }

    private static async Task AssertHoldsAsync(JsonStore store, PartitionExport state)
    {
        var stored = await store.ExportPartitionAsync(state.Partition);
        Assert.NotNull(stored);
        Assert.Empty(ExportComparison.Compare(state, stored));
        Assert.Equal(ExportDigest.Compute(state), ExportDigest.Compute(stored));
        Assert.Contains(state.Partition, (await store.ListPartitionsAsync()).Items.Select(p => p.Partition));
    }

    private static async Task<List<string>> ExportAllAsync(JsonStore store)
    {
        var digests = new List<string>();
        await foreach (var partition in store.ExportAsync())
        {
            digests.Add(partition.Partition + " " + ExportDigest.Compute(partition));
        }

        return digests;
    }

    /// <summary>
    /// A file layer whose next look at the fence file, once armed, finds none: the engine's own check
    /// passes, as if another process set the fence right after it, and only the backend's check with
    /// its write can refuse.
    /// </summary>
    private sealed class FenceRaceFileSystem(IFileSystem inner) : IFileSystem
    {
        private int _hide;

        public void HideFenceOnce() => Volatile.Write(ref _hide, 1);

        public bool FileExists(string path)
            => (!path.EndsWith(ReadOnlyFence.FileName, StringComparison.Ordinal) || Interlocked.Exchange(ref _hide, 0) == 0) && inner.FileExists(path);

        public void CreateDirectory(string path) => inner.CreateDirectory(path);

        public bool DirectoryExists(string path) => inner.DirectoryExists(path);

        public IReadOnlyList<string> ListFiles(string directory) => inner.ListFiles(directory);

        public byte[] ReadAllBytes(string path) => inner.ReadAllBytes(path);

        public IWritableFile CreateNew(string path) => inner.CreateNew(path);

        public void Rename(string source, string destination) => inner.Rename(source, destination);

        public void Delete(string path) => inner.Delete(path);

        public void SyncDirectory(string path) => inner.SyncDirectory(path);

        public IDirectoryLock LockExclusive(string path) => inner.LockExclusive(path);

        public IDisposable WaitForCommits(string path) => inner.WaitForCommits(path);
    }
}
