using System.Collections.Concurrent;
using System.Globalization;
using System.Security.Cryptography;
using Microsoft.Extensions.Time.Testing;
using Storage.Conformance;
using Storage.CrashWriter;
using Storage.Internal;
using Storage.Json.Internal;
using Storage.Json.Tests.Infrastructure;
using Storage.Testing;

namespace Storage.Json.Tests;

/// <summary>
/// A store opened as a reader (<see cref="JsonStoreAccess.Reader"/>) beside its owner — in this process
/// and in another: every read of a partition is one whole state the owner committed (the workload of
/// <see cref="Generations"/>, and the owner's export digest of each state), reads see the owner's
/// writes at once (nothing cached), and the reader takes no lock and changes nothing in the directory:
/// not at open, not on reads, not when a write is tried (each refused with InvalidOperationException).
/// </summary>
public sealed class ReaderTests
{
    private static readonly TimeSpan s_timeout = TimeSpan.FromSeconds(120);

    private static JsonStoreOptions ReaderOptions(string directory) => new() { Directory = directory, Access = JsonStoreAccess.Reader };

    [Fact]
    public async Task A_reader_in_a_second_process_reads_whole_partitions_while_the_owner_writes()
    {
        using var temp = new TempDirectory();
        await JsonStore.Open(new JsonStoreOptions { Directory = temp.Path }).DisposeAsync();
        using var owner = ChildProcess.Start([.. CrashWriterProcess.Arguments(temp.Path, "generations", seed: 7, run: "1"), "--operations", "300"]);
        await using var reader = JsonStore.Open(ReaderOptions(temp.Path));

        var reads = new ReadChecks(reader);
        while (!owner.HasExited && !owner.Lines.Contains(Generations.Done))
        {
            await reads.RoundAsync();
        }

        // Its last lines are all read once it has exited and been waited for.
        Assert.True(await owner.WaitForExitAsync(s_timeout));
        Assert.True(owner.ExitCode == 0 && owner.Lines.Contains(Generations.Done), "the owner failed: " + string.Join('\n', owner.Lines) + owner.StandardError);
        var committed = owner.Lines.Where(l => l.StartsWith(Generations.State + " ", StringComparison.Ordinal)).Select(Generations.ParseState).ToList();
        await reads.VerifyAsync(committed);
    }

    [Fact]
    public async Task A_reader_in_the_owners_process_reads_whole_partitions_while_the_owner_writes()
    {
        using var temp = new TempDirectory();
        await using var owner = JsonStore.Open(new JsonStoreOptions { Directory = temp.Path });
        await using var reader = JsonStore.Open(ReaderOptions(temp.Path));
        var committed = new ConcurrentQueue<(string Partition, long Revision, string Digest)>();
        var writing = Task.Run(async () =>
        {
            var random = new Random(11);
            var generations = new Dictionary<string, long>(StringComparer.Ordinal);
            for (var i = 0; i < 300; i++)
            {
                var partition = CrashKeySpace.Partitions[random.Next(CrashKeySpace.Partitions.Count)];
                var generation = generations[partition] = generations.GetValueOrDefault(partition) + 1;
                await owner.CommitAsync(partition, Generations.Batch(generation, random));
                committed.Enqueue(Generations.ParseState(Generations.FormatState((await owner.ExportPartitionAsync(partition))!)));
            }
        });

        var reads = new ReadChecks(reader);
        while (!writing.IsCompleted)
        {
            await reads.RoundAsync();
        }

        await writing;
        await reads.VerifyAsync([.. committed]);
        Assert.All(CrashKeySpace.Partitions, p => Assert.Null(reader.CachedSnapshot(p)));
    }

    [Fact]
    public async Task A_reader_sees_each_write_of_the_owner_at_once_and_caches_nothing()
    {
        using var temp = new TempDirectory();
        await using var owner = JsonStore.Open(new JsonStoreOptions { Directory = temp.Path });
        await using var reader = JsonStore.Open(ReaderOptions(temp.Path));
        var hashed = "long/" + new string('h', 220);
        Assert.Equal(JsonStoreAccess.Reader, reader.Access);
        Assert.Equal(JsonStoreAccess.Owner, owner.Access);
        Assert.Null(await reader.GetAsync("alice", "notes", "k"));
        Assert.Empty((await reader.ListPartitionsAsync()).Items);

        var first = await owner.PutAsync("alice", "notes", "k", """{"n":1}""");
        Assert.Equal(first, (await reader.GetAsync("alice", "notes", "k"))!.Version);
        var second = await owner.PutAsync("alice", "notes", "k", """{"n":2}""");
        Assert.Equal("""{"n":2}""", (await reader.GetAsync("alice", "notes", "k"))!.GetJsonText());
        Assert.Equal(second, (await reader.ReadChangesAsync("alice", 0)).LastRevision);
        await owner.IncrementSequenceAsync("alice", "ids", 5);
        Assert.Equal(5, await reader.GetSequenceAsync("alice", "ids"));
        await owner.AppendAsync(hashed, "audit", [EventData.Create("created", "{}")]);
        Assert.Equal(1, (await reader.ReadStreamAsync(hashed, "audit")).StreamVersion);
        Assert.Equal(["alice", hashed], (await reader.ListPartitionsAsync()).Items.Select(p => p.Partition));
        var expected = (await StoreAssert.ToListAsync(owner.ExportAsync())).Select(ExportDigest.Compute);
        Assert.Equal(expected, (await StoreAssert.ToListAsync(reader.ExportAsync())).Select(ExportDigest.Compute));

        await owner.DeletePartitionAsync("alice");
        Assert.Null(await reader.ExportPartitionAsync("alice"));
        Assert.Null(await reader.GetAsync("alice", "notes", "k"));
        Assert.Equal([hashed], (await reader.ListPartitionsAsync()).Items.Select(p => p.Partition));
        Assert.Equal((await owner.GetExportInfoAsync()).RevisionFloor, (await reader.GetExportInfoAsync()).RevisionFloor);
        Assert.True((await reader.GetExportInfoAsync()).RevisionFloor >= second);

        Assert.False(await reader.IsReadOnlyAsync());
        await owner.SetReadOnlyAsync(true);
        Assert.True(await reader.IsReadOnlyAsync());
        await owner.SetReadOnlyAsync(false);
        Assert.False(await reader.IsReadOnlyAsync());

        Assert.Null(reader.CachedSnapshot("alice"));
        Assert.Null(reader.CachedSnapshot(hashed));
    }

    [Fact]
    public async Task Writes_through_a_reader_are_refused_and_change_nothing_in_the_directory()
    {
        using var temp = new TempDirectory();
        var clock = new FakeTimeProvider(new DateTimeOffset(2026, 12, 7, 12, 0, 0, TimeSpan.Zero));
        await using var owner = JsonStore.Open(new JsonStoreOptions { Directory = temp.Path, TimeProvider = clock });
        await owner.PutAsync("alice", "notes", "k", """{"n":1}""");
        await owner.PutAsync("alice", "notes", "gone", """{"n":0}""");
        await owner.DeleteAsync("alice", "notes", "gone");
        await owner.PutAsync("alice", "notes", "expiring", """{"n":2}""", expiresAt: clock.GetUtcNow().AddMinutes(1));
        await owner.AppendAsync("alice", "audit", [EventData.Create("created", "{}")]);
        await owner.IncrementSequenceAsync("alice", "ids");
        clock.Advance(TimeSpan.FromDays(30));

        await using var reader = JsonStore.Open(new JsonStoreOptions { Directory = temp.Path, Access = JsonStoreAccess.Reader, TimeProvider = clock });
        var before = DirectoryState(temp.Path);
        var info = await reader.GetExportInfoAsync();
        var alice = (await reader.ExportPartitionAsync("alice"))!;
        var changes = await reader.ReadChangesAsync("alice", 0);
        var puts = new[] { WriteOperation.Put("notes", "new", "{}"u8.ToArray()) };

        // The restore of the partition's own state, the empty import and the purge would each write
        // nothing in an owner: a reader refuses them all the same, before it reads anything.
        Func<Task>[] writes =
        [
            () => reader.PutAsync("alice", "notes", "k", """{"n":9}""").AsTask(),
            () => reader.CommitAsync("bob", puts).AsTask(),
            () => reader.DeleteAsync("alice", "notes", "k").AsTask(),
            () => reader.AppendAsync("alice", "audit", [EventData.Create("more", "{}")]).AsTask(),
            () => reader.IncrementSequenceAsync("alice", "ids").AsTask(),
            () => reader.DeletePartitionAsync("alice").AsTask(),
            () => reader.DeletePartitionAsync("nobody").AsTask(),
            () => reader.PurgeExpiredAsync().AsTask(),
            () => reader.ImportAsync(Async(new ImportedPartition("bob", puts))).AsTask(),
            () => reader.ImportAsync(Async<ImportedPartition>()).AsTask(),
            () => reader.RestorePartitionAsync(alice).AsTask(),
            () => reader.RestorePartitionAsync(alice, RestoreMode.Replace).AsTask(),
            () => reader.RestoreAsync(info, Async(alice)).AsTask(),
            () => reader.RaiseRevisionFloorAsync(0).AsTask(),
            () => reader.RaiseRevisionFloorAsync(1_000).AsTask(),
            () => reader.ApplyChangesAsync("alice", 0, changes).AsTask(),
            () => reader.ApplyPartitionDeleteAsync("alice", alice.Revision).AsTask(),
            () => reader.SetReadOnlyAsync(true).AsTask(),
            () => reader.SetReadOnlyAsync(false).AsTask(),
        ];
        for (var i = 0; i < writes.Length; i++)
        {
            var error = await Assert.ThrowsAsync<InvalidOperationException>(writes[i]);
            Assert.True(ErrorMessages.Reader == error.Message, $"write {i}: {error.Message}");
        }

        Assert.Equal(before, DirectoryState(temp.Path));
        Assert.Equal(ExportDigest.Compute(alice), ExportDigest.Compute((await owner.ExportPartitionAsync("alice"))!));
        Assert.Null(await owner.GetAsync("bob", "notes", "new"));
        Assert.False(await owner.IsReadOnlyAsync());

        // The owner still writes (the reader held nothing).
        await owner.PutAsync("alice", "notes", "k", """{"n":3}""");
        Assert.Equal("""{"n":3}""", (await reader.GetAsync("alice", "notes", "k"))!.GetJsonText());
    }

    [Fact]
    public async Task A_reader_takes_no_lock_and_opening_reading_and_disposing_it_changes_nothing()
    {
        using var temp = new TempDirectory();
        await using (var writer = JsonStore.Open(new JsonStoreOptions { Directory = temp.Path }))
        {
            await writer.PutAsync("alice", "notes", "k", """{"n":1}""");
        }

        // A commit's temp file, as a reader sees it beside an owner that writes: an owner's open would remove it.
        var leftover = Path.Combine(temp.Path, "partitions", PartitionFileNames.Encode("alice") + ".0123456789abcdef.tmp");
        await File.WriteAllTextAsync(leftover, "half a file");
        var before = DirectoryState(temp.Path);

        await using (var reader = JsonStore.Open(ReaderOptions(temp.Path)))
        {
            await using (var second = JsonStore.Open(ReaderOptions(temp.Path)))
            {
                Assert.Equal(["alice"], (await second.ListPartitionsAsync()).Items.Select(p => p.Partition));
            }

            Assert.Equal(["alice"], (await reader.ListPartitionsAsync()).Items.Select(p => p.Partition));
            Assert.NotNull(await reader.GetAsync("alice", "notes", "k"));
            Assert.Single(await StoreAssert.ToListAsync(reader.ExportAsync()));
            Assert.Equal(before, DirectoryState(temp.Path));

            // An owner opens beside the reader: the reader holds no lock.
            File.Delete(leftover);
            await using var owner = JsonStore.Open(new JsonStoreOptions { Directory = temp.Path });
            await owner.PutAsync("alice", "notes", "k", """{"n":2}""");
            Assert.Equal("""{"n":2}""", (await reader.GetAsync("alice", "notes", "k"))!.GetJsonText());
        }

        // And a reader opens beside an owner (which holds the lock).
        await using var holder = JsonStore.Open(new JsonStoreOptions { Directory = temp.Path });
        await using var late = JsonStore.Open(ReaderOptions(temp.Path));
        Assert.Equal("""{"n":2}""", (await late.GetAsync("alice", "notes", "k"))!.GetJsonText());
    }

    [Fact]
    public async Task Opening_a_reader_where_no_store_is_fails_naming_the_directory_and_creates_nothing()
    {
        using var temp = new TempDirectory();
        var missing = Path.Combine(temp.Path, "missing");

        var empty = Assert.Throws<StorageException>(() => JsonStore.Open(ReaderOptions(temp.Path)));
        var absent = await Assert.ThrowsAsync<StorageException>(async () => await JsonStore.OpenAsync(ReaderOptions(missing)));

        Assert.Equal(JsonErrors.NoStore(temp.Path), empty.Message);
        Assert.Equal(JsonErrors.NoStore(missing), absent.Message);
        Assert.Empty(Directory.GetFileSystemEntries(temp.Path));
    }

    [Fact]
    public async Task A_reader_with_declared_indexes_is_refused_at_open()
    {
        using var temp = new TempDirectory();
        await JsonStore.Open(new JsonStoreOptions { Directory = temp.Path }).DisposeAsync();
        var options = ReaderOptions(temp.Path);
        options.Indexes = [new IndexDefinition("notes", "by-email", "$.email", IndexValueType.String)];

        var error = Assert.Throws<ArgumentException>(() => JsonStore.Open(options));

        Assert.StartsWith(JsonErrors.ReaderIndexes, error.Message, StringComparison.Ordinal);
    }

    /// <summary>Every file and directory under <paramref name="root"/>: its size, modification time and (files) content hash.</summary>
    private static SortedDictionary<string, string> DirectoryState(string root)
    {
        var state = new SortedDictionary<string, string>(StringComparer.Ordinal);
        foreach (var path in Directory.GetFileSystemEntries(root, "*", SearchOption.AllDirectories).Append(root))
        {
            var relative = Path.GetRelativePath(root, path);
            state[relative] = File.Exists(path)
                ? string.Create(CultureInfo.InvariantCulture, $"{new FileInfo(path).Length} {File.GetLastWriteTimeUtc(path).Ticks} {Convert.ToHexStringLower(SHA256.HashData(File.ReadAllBytes(path)))}")
                : string.Create(CultureInfo.InvariantCulture, $"dir {Directory.GetLastWriteTimeUtc(path).Ticks}");
        }

        return state;
    }

#pragma warning disable CS1998 // An async iterator without awaits: the inputs are in memory.
    private static async IAsyncEnumerable<T> Async<T>(params T[] items)
    {
        foreach (var item in items)
        {
            yield return item;
        }
    }
#pragma warning restore CS1998

    /// <summary>
    /// The reads a reader repeats while the owner writes the <see cref="Generations"/> workload — get,
    /// list, the change feed, a stream read, a partition's export, the whole store's export and a
    /// listing of partitions — each checked to be one whole state and never older than one read
    /// before it; the exported states are kept, to be found among the owner's commits at the end.
    /// </summary>
    private sealed class ReadChecks(JsonStore reader)
    {
        private readonly Dictionary<string, long> _newest = new(StringComparer.Ordinal);
        private readonly List<(string Partition, long Revision, string Digest)> _exported = [];

        public async Task RoundAsync()
        {
            foreach (var info in (await reader.ListPartitionsAsync()).Items)
            {
                Assert.Contains(info.Partition, CrashKeySpace.Partitions);
                Seen(info.Partition, info.Revision);
            }

            await foreach (var state in reader.ExportAsync())
            {
                Exported(state);
            }

            foreach (var partition in CrashKeySpace.Partitions)
            {
                if (await reader.ExportPartitionAsync(partition) is { } state)
                {
                    Exported(state);
                }

                var page = await reader.ListAsync(partition, CrashKeySpace.Collection);
                if (page.Items.Count > 0)
                {
                    Assert.Equal(CrashKeySpace.Keys.Count, page.Items.Count);
                    var version = page.Items[0].Version;
                    Assert.All(page.Items, d => Assert.True(d.Version == version && Generations.Of(d.Value) == version, $"{partition}/{d.Key}: version {d.Version}, generation {Generations.Of(d.Value)} in a listing at {version}"));
                    Seen(partition, version);
                }

                if (await reader.GetAsync(partition, CrashKeySpace.Collection, CrashKeySpace.Keys[^1]) is { } document)
                {
                    Assert.Equal(document.Version, Generations.Of(document.Value));
                    Seen(partition, document.Version);
                }

                var stream = await reader.ReadStreamAsync(partition, CrashKeySpace.Stream, new ReadStreamOptions { Backwards = true, Limit = 1 });
                if (stream.StreamVersion > 0)
                {
                    Assert.Equal(stream.StreamVersion, Generations.Of(Assert.Single(stream.Items).Data));
                    Seen(partition, stream.StreamVersion);
                }

                var changes = await reader.ReadChangesAsync(partition, 0, StoreLimits.MaxPageSize);
                if (changes.Items.Count > 0)
                {
                    var documents = changes.Items.Where(c => c.Document is not null).Select(c => c.Document!).ToList();
                    var events = changes.Items.Count(c => c.Event is not null);
                    Assert.Equal(CrashKeySpace.Keys.Count, documents.Count);
                    Assert.All(documents, d => Assert.True(d.Version == changes.LastRevision && Generations.Of(d.Value) == changes.LastRevision, $"{partition}/{d.Key} at {d.Version} in a feed page up to {changes.LastRevision}"));
                    Assert.Equal(changes.LastRevision, events);
                    Seen(partition, changes.LastRevision);
                }
            }
        }

        /// <summary>Every state read was one the owner committed (same revision, same digest), and the last reads saw the owner's last states.</summary>
        public async Task VerifyAsync(IReadOnlyList<(string Partition, long Revision, string Digest)> committed)
        {
            var states = committed.ToDictionary(c => (c.Partition, c.Revision), c => c.Digest);
            Assert.All(_exported, read => Assert.True(
                states.TryGetValue((read.Partition, read.Revision), out var digest) && digest == read.Digest,
                $"{read.Partition} at revision {read.Revision} read with a digest the owner never committed"));

            // The reads ran while the owner wrote: more than one state of some partition was read.
            Assert.True(_exported.DistinctBy(e => (e.Partition, e.Revision)).Count() > CrashKeySpace.Partitions.Count, $"only {_exported.Count} exports read");

            foreach (var last in committed.GroupBy(c => c.Partition).Select(g => g.MaxBy(c => c.Revision)))
            {
                Assert.Equal(last.Digest, Convert.ToHexStringLower(ExportDigest.Compute((await reader.ExportPartitionAsync(last.Partition))!)));
            }
        }

        private void Exported(PartitionExport state)
        {
            Assert.True(Generations.Whole(state) is null, $"{state.Partition}: {Generations.Whole(state)}");
            Seen(state.Partition, state.Revision);
            _exported.Add((state.Partition, state.Revision, Convert.ToHexStringLower(ExportDigest.Compute(state))));
        }

        // Each read reads the file as it is now: a later read never sees an older state.
        private void Seen(string partition, long revision)
        {
            Assert.True(revision >= _newest.GetValueOrDefault(partition), $"{partition} read at revision {revision} after {_newest.GetValueOrDefault(partition)}");
            _newest[partition] = revision;
        }
    }
}
