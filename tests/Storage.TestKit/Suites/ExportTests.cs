using System.Text;
using Microsoft.Extensions.Time.Testing;
using Storage.Conformance.Reference;
using static Storage.Conformance.StoreAssert;
using static Storage.Conformance.TestData;

namespace Storage.Conformance;

/// <summary>
/// The export of a store's exact state (<see cref="IStoreExport"/>) and its digest
/// (<see cref="ExportDigest"/>, docs/upgrade-path.md): an export carries every field that reads
/// return, plus what they hide (expired documents not yet purged, tombstones, revisions); the same
/// seeded workload gives the same export, field for field, and the same digests as the reference
/// model — so every backend's digests are equal for equal content — and the library's digest agrees
/// with a second implementation of the spec (<see cref="CanonicalDigest"/>).
/// </summary>
/// <typeparam name="TFixture">The backend's fixture.</typeparam>
public abstract class ExportTests<TFixture>(TFixture fixture) : StoreTestBase<TFixture>(fixture)
    where TFixture : StoreFixture
{
    // Fixed seeds: every backend runs exactly the same workloads, so their digests are all the reference model's.
    private const int WorkloadSeed = 18_001;
    private const int WorkloadOperations = 1_500;

    [Fact]
    public async Task A_random_workload_exports_what_the_reference_model_holds_with_equal_digests()
    {
        var (store, model, _) = await RunWorkloadAsync(WorkloadSeed, WorkloadOperations);
        var export = Export(store);

        var info = await export.GetExportInfoAsync();
        var modelInfo = await model.GetExportInfoAsync();
        Assert.Equal(modelInfo.RevisionFloor, info.RevisionFloor);
        Assert.Equal(modelInfo.Indexes, info.Indexes);

        var partitions = await ToListAsync(export.ExportAsync());
        var expected = await ToListAsync(model.ExportAsync());
        Assert.Equal(expected.Select(p => p.Partition), partitions.Select(p => p.Partition));
        Assert.NotEmpty(partitions);
        for (var i = 0; i < expected.Count; i++)
        {
            SameExport(expected[i], partitions[i]);
            var digest = ExportDigest.Compute(partitions[i]);
            Assert.Equal(CanonicalDigest.Partition(expected[i]), digest);
            Assert.Equal(CanonicalDigest.Partition(partitions[i]), digest);
            Assert.Equal(digest, ExportDigest.Compute((await export.ExportPartitionAsync(partitions[i].Partition))!));
        }

        // The workload met what an export must carry beyond the live documents.
        Assert.Contains(partitions, p => p.Tombstones.Count > 0);
        Assert.Contains(partitions, p => p.Streams.Count > 0);
        Assert.Contains(partitions, p => p.Sequences.Count > 0);
        Assert.Contains(partitions, p => p.OldestResumable > 1);
        Assert.True(info.RevisionFloor > 0);

        var storeDigest = await StoreDigest.ComputeAsync(export.ExportAsync());
        Assert.Equal(CanonicalDigest.Store(expected), storeDigest);
        Assert.Equal(await StoreDigest.ComputeAsync(model.ExportAsync()), storeDigest);
        Assert.Empty(await ToListAsync(ExportComparison.CompareAsync(export.ExportAsync(), model.ExportAsync())));
    }

    [Fact]
    public async Task An_export_carries_exactly_what_reads_return()
    {
        var (store, _, time) = await RunWorkloadAsync(WorkloadSeed + 1, WorkloadOperations / 2);
        var now = time.GetUtcNow();
        var partitions = await ToListAsync(Export(store).ExportAsync());

        Assert.Equal(
            (await ListAllPartitionsAsync(store)).Select(p => (p.Partition, p.Revision)),
            partitions.Select(p => (p.Partition, p.Revision)));
        foreach (var partition in partitions)
        {
            var key = partition.Partition;
            foreach (var collection in new[] { "c", "D" })
            {
                var live = partition.Documents.Where(d => d.Collection == collection && !(d.ExpiresAt <= now)).ToList();
                var listed = await ListAllAsync(store, key, collection);
                Assert.Equal(live.Count, listed.Count);
                for (var i = 0; i < live.Count; i++)
                {
                    SameDocument(live[i], listed[i]);
                }
            }

            foreach (var document in partition.Documents)
            {
                Assert.Equal(key, document.Partition);
                var read = await store.GetAsync(key, document.Collection, document.Key);
                if (document.ExpiresAt <= now)
                {
                    Assert.Null(read);
                }
                else
                {
                    SameDocument(document, read);
                }
            }

            foreach (var sequence in partition.Sequences)
            {
                Assert.Equal(sequence.Value, await store.GetSequenceAsync(key, sequence.Name));
            }

            Assert.Equal(
                (await ListAllStreamsAsync(store, key)).Select(s => (s.Stream, s.Version)),
                partition.Streams.Select(s => (s.Stream, s.Version)));
            foreach (var stream in partition.Streams)
            {
                var events = await ReadAllEventsAsync(store, key, stream.Stream);
                Assert.Equal(stream.Events.Count, events.Count);
                for (var i = 0; i < events.Count; i++)
                {
                    Assert.Equal(i + 1, stream.Events[i].Version);
                    SameEvent(events[i], stream.Events[i]);
                }
            }

            // The feed from the start shows every tombstone and every sequence at its revision.
            var (changes, last) = await ReadAllChangesAsync(store, key);
            Assert.Equal(partition.Revision, last);
            Assert.Equal(
                partition.Tombstones.Select(t => (t.Collection, t.Key, t.Revision)).Order(),
                changes.Where(c => c.Kind == ChangeKind.Delete).Select(c => (c.Collection!, c.Key!, c.Revision)).Order());
            Assert.Equal(
                partition.Sequences.Select(s => (s.Name, s.Value, s.Revision)).Order(),
                changes.Where(c => c.Kind == ChangeKind.Sequence).Select(c => (c.SequenceName!, c.SequenceValue, c.Revision)).Order());

            // The oldest resumable revision is where the feed stops refusing to resume.
            if (partition.OldestResumable > 1)
            {
                await TruncatedAsync(() => store.ReadChangesAsync(key, partition.OldestResumable - 1).AsTask(), key, partition.OldestResumable - 1, partition.OldestResumable);
            }

            await store.ReadChangesAsync(key, partition.OldestResumable);
        }
    }

    [Fact]
    public async Task Expired_documents_and_old_tombstones_are_exported_until_purged_and_the_digest_ignores_the_clock()
    {
        var time = new FakeTimeProvider(Start);
        var store = await CreateStoreAsync(time, tombstoneRetention: TimeSpan.FromSeconds(10));
        var export = Export(store);
        await store.PutAsync("p", Collection, "live", "1");
        await store.PutAsync("p", Collection, "expiring", "2", expiresAt: Start.AddSeconds(5));
        await store.PutAsync("p", Collection, "deleted", "3");
        await store.DeleteAsync("p", Collection, "deleted");
        var before = (await export.ExportPartitionAsync("p"))!;

        time.Advance(TimeSpan.FromMinutes(1));
        var after = (await export.ExportPartitionAsync("p"))!;
        Assert.Null(await store.GetAsync("p", Collection, "expiring"));
        Assert.Equal(new[] { "expiring", "live" }, after.Documents.Select(d => d.Key));
        Assert.Equal("deleted", Assert.Single(after.Tombstones).Key);
        Assert.Equal(ExportDigest.Compute(before), ExportDigest.Compute(after));

        Assert.Equal(1, await store.PurgeExpiredAsync());
        var purged = (await export.ExportPartitionAsync("p"))!;
        Assert.Equal("live", Assert.Single(purged.Documents).Key);
        Assert.Empty(purged.Tombstones);
        Assert.Equal(after.Revision, purged.Revision);
        Assert.Equal(4, purged.OldestResumable);
        Assert.NotEqual(ExportDigest.Compute(after), ExportDigest.Compute(purged));
        Assert.Equal(CanonicalDigest.Partition(purged), ExportDigest.Compute(purged));
    }

    [Fact]
    public async Task A_changed_export_changes_the_digest_and_the_comparison_names_the_item()
    {
        var time = new FakeTimeProvider(Start);
        var store = await CreateStoreAsync(time);
        await store.CommitAsync("p", [WriteOperation.Put(Collection, "a", """{"x":1}""", expiresAt: Start.AddDays(1)), WriteOperation.Put(Collection, "b", "2")]);
        time.Advance(TimeSpan.FromMilliseconds(3));
        await store.DeleteAsync("p", Collection, "b");
        await store.IncrementSequenceAsync("p", "next_id", 5);
        await store.AppendAsync("p", "audit", [EventData.Create("created", "{}", """{"by":"me"}""", Id(1)), EventData.Create("changed", "[1]", id: Id(2))]);
        var original = (await Export(store).ExportPartitionAsync("p"))!;
        var digest = ExportDigest.Compute(original);
        Assert.Equal(CanonicalDigest.Partition(original), digest);

        var document = original.Documents[0];
        var tombstone = original.Tombstones[0];
        var sequence = original.Sequences[0];
        var stream = original.Streams[0];
        var first = stream.Events[0];
        var changes = new (string What, PartitionExport Changed, ExportItem Item)[]
        {
            ("revision off by one", With(original, revision: original.Revision + 1), new(ExportItemKind.Partition, null, "Revision")),
            ("oldest resumable off by one", With(original, oldestResumable: original.OldestResumable + 1), new(ExportItemKind.Partition, null, "OldestResumable")),
            ("document version off by one", With(original, documents: [Copy(document, version: document.Version + 1)]), new(ExportItemKind.Document, Collection, "a")),
            ("a byte of a value", With(original, documents: [Copy(document, value: Encoding.UTF8.GetBytes("""{"x":2}"""))]), new(ExportItemKind.Document, Collection, "a")),
            ("creation time a millisecond later", With(original, documents: [Copy(document, createdAt: document.CreatedAt.AddMilliseconds(1))]), new(ExportItemKind.Document, Collection, "a")),
            ("update time a microsecond later", With(original, documents: [Copy(document, updatedAt: document.UpdatedAt.AddTicks(10))]), new(ExportItemKind.Document, Collection, "a")),
            ("expiry dropped", With(original, documents: [Copy(document, expires: false)]), new(ExportItemKind.Document, Collection, "a")),
            ("document dropped", With(original, documents: []), new(ExportItemKind.Document, Collection, "a")),
            ("tombstone revision off by one", With(original, tombstones: [new(tombstone.Collection, tombstone.Key, tombstone.Revision + 1, tombstone.DeletedAt)]), new(ExportItemKind.Tombstone, Collection, "b")),
            ("tombstone deleted a millisecond later", With(original, tombstones: [new(tombstone.Collection, tombstone.Key, tombstone.Revision, tombstone.DeletedAt.AddMilliseconds(1))]), new(ExportItemKind.Tombstone, Collection, "b")),
            ("sequence value off by one", With(original, sequences: [new(sequence.Name, sequence.Value + 1, sequence.Revision)]), new(ExportItemKind.Sequence, null, "next_id")),
            ("sequence revision off by one", With(original, sequences: [new(sequence.Name, sequence.Value, sequence.Revision - 1)]), new(ExportItemKind.Sequence, null, "next_id")),
            ("event dropped", With(original, streams: [new(stream.Stream, [first])]), new(ExportItemKind.Stream, null, "audit")),
            ("event id changed", With(original, streams: [new(stream.Stream, [CopyEvent(first, id: Id(3)), stream.Events[1]])]), new(ExportItemKind.Stream, null, "audit")),
            ("event type changed", With(original, streams: [new(stream.Stream, [CopyEvent(first, type: "Created"), stream.Events[1]])]), new(ExportItemKind.Stream, null, "audit")),
            ("a byte of an event's metadata", With(original, streams: [new(stream.Stream, [CopyEvent(first, metadata: Encoding.UTF8.GetBytes("""{"by":"mE"}""")), stream.Events[1]])]), new(ExportItemKind.Stream, null, "audit")),
            ("metadata moved into the data", With(original, streams: [new(stream.Stream, [CopyEvent(first, data: Encoding.UTF8.GetBytes("""{}{"by":"me"}"""), metadata: ReadOnlyMemory<byte>.Empty), stream.Events[1]])]), new(ExportItemKind.Stream, null, "audit")),
            ("event revision off by one", With(original, streams: [new(stream.Stream, [CopyEvent(first, revision: first.Revision + 1), stream.Events[1]])]), new(ExportItemKind.Stream, null, "audit")),
        };

        foreach (var (what, changed, item) in changes)
        {
            var changedDigest = ExportDigest.Compute(changed);
            Assert.True(!digest.AsSpan().SequenceEqual(changedDigest), $"The digest did not see: {what}.");
            Assert.True(CanonicalDigest.Partition(changed).AsSpan().SequenceEqual(changedDigest), $"The two implementations disagree after: {what}.");
            Assert.Equal(new[] { item }, ExportComparison.Compare(original, changed));
        }

        Assert.Empty(ExportComparison.Compare(original, With(original)));
        Assert.Equal(digest, ExportDigest.Compute(With(original)));
    }

    [Fact]
    public async Task Comparing_two_stores_names_the_partitions_and_keys_that_differ()
    {
        var time = new FakeTimeProvider(Start);
        var source = await CreateStoreAsync(time);
        var destination = await CreateStoreAsync(time);
        foreach (var store in new[] { source, destination })
        {
            await store.PutAsync("same", Collection, "k", "1");
            await store.PutAsync("changed", Collection, "k", "1");
            await store.PutAsync("changed", Collection, "other", "1");
        }

        await source.PutAsync("only-in-source", Collection, "k", "1");
        await destination.PutAsync("changed", Collection, "k", "2", WriteCondition.MustMatchVersion(1));
        await source.PutAsync("changed", Collection, "k", "2", WriteCondition.MustMatchVersion(1));
        await destination.PutAsync("changed", Collection, "extra", "1");
        await destination.IncrementSequenceAsync("only-in-destination", "n");

        var differences = await ToListAsync(ExportComparison.CompareAsync(Export(source).ExportAsync(), Export(destination).ExportAsync()));

        Assert.Equal(
            new[] { ("changed", true, true), ("only-in-destination", false, true), ("only-in-source", true, false) },
            differences.Select(d => (d.Partition, d.InSource, d.InDestination)));
        Assert.Equal(
            new[] { new ExportItem(ExportItemKind.Partition, null, "Revision"), new ExportItem(ExportItemKind.Document, Collection, "extra") },
            differences[0].Items);
    }

    [Fact]
    public async Task Export_lists_every_partition_in_key_order_page_after_page_and_leaves_out_deleted_ones()
    {
        var store = await CreateStoreAsync(new FakeTimeProvider(Start));
        var keys = Enumerable.Range(0, 300).Select(i => $"p{i:D3}").Concat(["Z", "é", "😀", "\uFFFD"]).ToList();
        foreach (var chunk in keys.Chunk(50))
        {
            await Task.WhenAll(chunk.Select(key => store.PutAsync(key, Collection, "k", "1").AsTask()));
        }

        Assert.True(await store.DeletePartitionAsync("p007"));
        var export = Export(store);
        var exported = await ToListAsync(export.ExportAsync());

        var expected = keys.Where(k => k != "p007").Order(StorageKeyComparer.Instance).ToList();
        Assert.Equal(expected, exported.Select(p => p.Partition));
        Assert.All(exported, p => Assert.Equal("k", Assert.Single(p.Documents).Key));
        Assert.Null(await export.ExportPartitionAsync("p007"));
        Assert.Null(await export.ExportPartitionAsync("never"));
        Assert.Equal((await StoreAssert.RevisionAsync(store, "p008"))!.Value, (await export.ExportPartitionAsync("p008"))!.Revision);
        Assert.Equal(1, (await export.GetExportInfoAsync()).RevisionFloor);
        await ThrowsArgumentAsync(() => export.ExportPartitionAsync("a\0b").AsTask());
    }

    [Fact]
    public async Task An_empty_store_exports_nothing_and_its_digest_is_the_empty_stores()
    {
        var store = await CreateStoreAsync(new FakeTimeProvider(Start), indexes: DifferentialRun.Indexes);
        var export = Export(store);

        Assert.Empty(await ToListAsync(export.ExportAsync()));
        var info = await export.GetExportInfoAsync();
        Assert.Equal(0, info.RevisionFloor);
        Assert.Equal(DifferentialRun.Indexes, info.Indexes);
        Assert.Equal(CanonicalDigest.Store(Array.Empty<PartitionExport>()), await StoreDigest.ComputeAsync(export.ExportAsync()));
    }

    private static IStoreExport Export(IStore store) => Assert.IsAssignableFrom<IStoreExport>(store);


    private static void SameExport(PartitionExport expected, PartitionExport actual)
    {
        var p = expected.Partition;
        Assert.Equal(p, actual.Partition);
        Assert.True(expected.Revision == actual.Revision, $"{p}: revision {actual.Revision}, expected {expected.Revision}.");
        Assert.True(expected.OldestResumable == actual.OldestResumable, $"{p}: oldest resumable {actual.OldestResumable}, expected {expected.OldestResumable}.");
        Assert.Equal(expected.Documents.Select(d => (d.Collection, d.Key)), actual.Documents.Select(d => (d.Collection, d.Key)));
        for (var i = 0; i < expected.Documents.Count; i++)
        {
            SameDocument(expected.Documents[i], actual.Documents[i]);
        }

        Assert.Equal(expected.Tombstones, actual.Tombstones);
        Assert.Equal(expected.Sequences, actual.Sequences);
        Assert.Equal(expected.Streams.Select(s => (s.Stream, s.Version)), actual.Streams.Select(s => (s.Stream, s.Version)));
        for (var i = 0; i < expected.Streams.Count; i++)
        {
            for (var j = 0; j < expected.Streams[i].Events.Count; j++)
            {
                SameEvent(expected.Streams[i].Events[j], actual.Streams[i].Events[j]);
            }
        }
    }

    private static PartitionExport With(PartitionExport p, long? revision = null, long? oldestResumable = null, StoredDocument[]? documents = null, ExportedTombstone[]? tombstones = null, ExportedSequence[]? sequences = null, ExportedStream[]? streams = null)
        => new(
            p.Partition,
            revision ?? p.Revision,
            oldestResumable ?? p.OldestResumable,
            documents is null ? p.Documents : [.. documents, .. p.Documents.Skip(1)],
            tombstones ?? p.Tombstones,
            sequences ?? p.Sequences,
            streams ?? p.Streams);

    private static StoredDocument Copy(StoredDocument d, long? version = null, byte[]? value = null, DateTimeOffset? createdAt = null, DateTimeOffset? updatedAt = null, bool expires = true)
        => new(d.Partition, d.Collection, d.Key, value ?? d.Value, version ?? d.Version, createdAt ?? d.CreatedAt, updatedAt ?? d.UpdatedAt, expires ? d.ExpiresAt : null);

    private static StoredEvent CopyEvent(StoredEvent e, long? revision = null, Guid? id = null, string? type = null, ReadOnlyMemory<byte>? data = null, ReadOnlyMemory<byte>? metadata = null)
        => new(e.Partition, e.Stream, e.Version, revision ?? e.Revision, id ?? e.Id, type ?? e.Type, data ?? e.Data, metadata ?? e.Metadata, e.CommittedAt);
}
