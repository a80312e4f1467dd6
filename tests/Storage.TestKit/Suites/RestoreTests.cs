using System.Text;
using Microsoft.Extensions.Time.Testing;
using Storage.Conformance.Reference;
using static Storage.Conformance.StoreAssert;
using static Storage.Conformance.TestData;

namespace Storage.Conformance;

/// <summary>
/// The restore of an exported state (<see cref="IStoreRestore"/>, docs/upgrade-path.md): a store
/// restored from another answers every read as its source did — the same versions, times, revisions,
/// streams, sequences and change feed — and goes on answering as the reference model does; a restore
/// repeated changes nothing; a partition holding something else is refused unless replaced; the
/// revision floor is carried; unique values are enforced; a state no store could hold is refused,
/// naming the item, before anything is written.
/// </summary>
/// <typeparam name="TFixture">The backend's fixture.</typeparam>
public abstract class RestoreTests<TFixture>(TFixture fixture) : StoreTestBase<TFixture>(fixture)
    where TFixture : StoreFixture
{
    private const int WorkloadSeed = 18_002;
    private const int WorkloadOperations = 1_200;

    private static IndexDefinition UniqueName => new(Collection, "name", "name", IndexValueType.String, unique: true, IndexScope.Global);

    [Fact]
    public async Task A_store_restored_from_an_export_answers_every_read_as_its_source_and_goes_on_alike()
    {
        var (source, model, time) = await RunWorkloadAsync(WorkloadSeed, WorkloadOperations);
        var destination = await CreateStoreAsync(time, DifferentialRun.TombstoneRetention, DifferentialRun.Indexes);
        var info = await Export(source).GetExportInfoAsync();
        var partitions = await ToListAsync(Export(source).ExportAsync());

        var result = await Restore(destination).RestoreAsync(info, Export(source).ExportAsync());

        Assert.Equal(new RestoreResult(partitions.Count, 0, 0, partitions.Sum(p => p.Documents.Count), partitions.Sum(p => p.Streams.Sum(s => (long)s.Events.Count))), result);
        Assert.Empty(await ToListAsync(ExportComparison.CompareAsync(Export(source).ExportAsync(), Export(destination).ExportAsync())));
        Assert.Equal(await StoreDigest.ComputeAsync(Export(source).ExportAsync()), await StoreDigest.ComputeAsync(Export(destination).ExportAsync()));
        Assert.Equal(info.RevisionFloor, (await Export(destination).GetExportInfoAsync()).RevisionFloor);
        Assert.True(info.RevisionFloor > 0);

        // Every read answers as the model (which ran the source's workload), then the workload goes on
        // against the restored store: versions, revisions, the feed and the floor continue where they were.
        var run = new DifferentialRun(WorkloadSeed + 1, destination, model, time);
        await run.CompareAllAsync();
        for (var i = 0; i < WorkloadOperations / 2; i++)
        {
            await run.StepAsync();
        }

        await run.CompareAllAsync();
        Assert.Empty(await ToListAsync(ExportComparison.CompareAsync(model.ExportAsync(), Export(destination).ExportAsync())));
    }

    [Fact]
    public async Task Restoring_the_same_state_again_changes_nothing()
    {
        var (source, _, time) = await RunWorkloadAsync(WorkloadSeed + 2, WorkloadOperations / 3);
        var destination = await CreateStoreAsync(time, DifferentialRun.TombstoneRetention, DifferentialRun.Indexes);
        var info = await Export(source).GetExportInfoAsync();
        var first = await Restore(destination).RestoreAsync(info, Export(source).ExportAsync());
        var before = await ToListAsync(Export(destination).ExportAsync());

        var again = await Restore(destination).RestoreAsync(info, Export(source).ExportAsync());

        Assert.Equal(new RestoreResult(0, 0, first.Created, 0, 0), again);
        Assert.Equal(
            before.Select(ExportDigest.Compute),
            (await ToListAsync(Export(destination).ExportAsync())).Select(ExportDigest.Compute));
        Assert.Equal(RestoreOutcome.Unchanged, await Restore(destination).RestorePartitionAsync(before[0], RestoreMode.Replace));
    }

    [Fact]
    public async Task A_version_a_client_holds_still_matches_and_the_next_write_continues_after_the_revision()
    {
        var time = new FakeTimeProvider(Start);
        var source = await CreateStoreAsync(time);
        var held = await source.PutAsync("p", Collection, "k", "1");
        time.Advance(TimeSpan.FromMilliseconds(7));
        await source.PutAsync("p", Collection, "other", "2");
        await source.DeleteAsync("p", Collection, "other");
        await source.AppendAsync("p", "audit", NewEvents(1, 2));
        await source.IncrementSequenceAsync("p", "next_id", 41);
        var state = (await Export(source).ExportPartitionAsync("p"))!;
        var destination = await CreateStoreAsync(time);

        Assert.Equal(RestoreOutcome.Created, await Restore(destination).RestorePartitionAsync(state));

        SameDocument((await source.GetAsync("p", Collection, "k"))!, await destination.GetAsync("p", Collection, "k"));
        Assert.Equal(41, await destination.GetSequenceAsync("p", "next_id"));
        for (var after = 0L; after <= state.Revision; after++)
        {
            SameChangePage(await source.ReadChangesAsync("p", after), await destination.ReadChangesAsync("p", after));
        }

        time.Advance(TimeSpan.FromSeconds(1));
        foreach (var store in new[] { source, destination })
        {
            Assert.Equal(state.Revision + 1, await store.PutAsync("p", Collection, "k", "3", WriteCondition.MustMatchVersion(held)));
            Assert.Equal(42, await store.IncrementSequenceAsync("p", "next_id"));
            Assert.Equal(state.Revision + 2, await RevisionAsync(store, "p"));
        }

        Assert.Equal(ExportDigest.Compute((await Export(source).ExportPartitionAsync("p"))!), ExportDigest.Compute((await Export(destination).ExportPartitionAsync("p"))!));
    }

    [Fact]
    public async Task The_source_revision_floor_is_carried_and_never_lowered()
    {
        var time = new FakeTimeProvider(Start);
        var source = await CreateStoreAsync(time);
        for (var i = 0; i < 5; i++)
        {
            await source.PutAsync("gone", Collection, "k", $"{i}");
        }

        Assert.True(await source.DeletePartitionAsync("gone"));
        await source.PutAsync("kept", Collection, "k", "1");
        var info = await Export(source).GetExportInfoAsync();
        Assert.Equal(5, info.RevisionFloor);
        var destination = await CreateStoreAsync(time);

        await Restore(destination).RestoreAsync(info, Export(source).ExportAsync());
        await Restore(destination).RaiseRevisionFloorAsync(2);

        Assert.Equal(5, (await Export(destination).GetExportInfoAsync()).RevisionFloor);
        Assert.Equal(await source.PutAsync("new", Collection, "k", "1"), await destination.PutAsync("new", Collection, "k", "1"));
        Assert.Equal(6, (await RevisionAsync(destination, "new"))!.Value);
        await Restore(destination).RaiseRevisionFloorAsync(100);
        Assert.Equal(101, await destination.PutAsync("newer", Collection, "k", "1"));
        await Assert.ThrowsAsync<ArgumentOutOfRangeException>(() => Restore(destination).RaiseRevisionFloorAsync(-1).AsTask());
    }

    [Fact]
    public async Task A_partition_holding_something_else_is_refused_unless_replaced_and_a_replace_leaves_nothing_of_it()
    {
        var time = new FakeTimeProvider(Start);
        var source = await CreateStoreAsync(time, indexes: [UniqueName]);
        await source.PutAsync("p", Collection, "new", """{"name":"b"}""");
        var state = (await Export(source).ExportPartitionAsync("p"))!;
        var destination = await CreateStoreAsync(time, indexes: [UniqueName]);
        await destination.CommitAsync("p", [WriteOperation.Put(Collection, "old", """{"name":"a"}"""), WriteOperation.Put(Collection, "older", "1", expiresAt: Start.AddSeconds(1))]);
        await destination.DeleteAsync("p", Collection, "older");
        await destination.AppendAsync("p", "s", NewEvents(1, 3));
        await destination.IncrementSequenceAsync("p", "n");
        await destination.PutAsync("p", "Other", "x", "1");
        var stored = (await Export(destination).ExportPartitionAsync("p"))!;

        var conflict = await Assert.ThrowsAsync<RestoreConflictException>(() => Restore(destination).RestorePartitionAsync(state).AsTask());

        Assert.Equal("p", conflict.Partition);
        Assert.Equal(ExportComparison.Compare(state, stored), conflict.Differences);
        Assert.Contains(new ExportItem(ExportItemKind.Document, Collection, "old"), conflict.Differences);
        Assert.Contains("'p'", conflict.Message, StringComparison.Ordinal);
        Assert.Empty(ExportComparison.Compare(stored, (await Export(destination).ExportPartitionAsync("p"))!));

        Assert.Equal(RestoreOutcome.Replaced, await Restore(destination).RestorePartitionAsync(state, RestoreMode.Replace));

        Assert.Empty(ExportComparison.Compare(state, (await Export(destination).ExportPartitionAsync("p"))!));
        Assert.Null(await destination.GetAsync("p", Collection, "old"));
        Assert.Empty(await ListAllAsync(destination, "p", "Other"));
        Assert.Empty(await ListAllStreamsAsync(destination, "p"));
        Assert.Equal(0, await destination.GetSequenceAsync("p", "n"));
        Assert.Equal(0, await destination.CountAsync(new IndexQuery(Collection, "name") { Equal = "a" }));
        Assert.Equal("new", Assert.Single((await destination.QueryAsync(new IndexQuery(Collection, "name") { Equal = "b" })).Items).Document.Key);

        // The value the replaced document held is free again; the restored one's is taken.
        await destination.PutAsync("q", Collection, "k", """{"name":"a"}""");
        await Assert.ThrowsAsync<UniqueConstraintException>(() => destination.PutAsync("q", Collection, "k2", """{"name":"b"}""").AsTask());
    }

    [Fact]
    public async Task Unique_values_are_enforced_against_other_partitions_and_within_the_state()
    {
        var time = new FakeTimeProvider(Start);
        var destination = await CreateStoreAsync(time, indexes: [UniqueName]);
        await destination.PutAsync("holder", Collection, "k", """{"name":"taken"}""");

        var taken = State("p", 1, Document("p", "a", """{"name":"taken"}""", 1));
        var e = await Assert.ThrowsAsync<UniqueConstraintException>(() => Restore(destination).RestorePartitionAsync(taken).AsTask());
        Assert.Equal("name", e.Index);
        Assert.Null(await Export(destination).ExportPartitionAsync("p"));

        var twice = State("p", 2, Document("p", "a", """{"name":"x"}""", 1), Document("p", "b", """{"name":"x"}""", 2));
        await Assert.ThrowsAsync<UniqueConstraintException>(() => Restore(destination).RestorePartitionAsync(twice).AsTask());
        Assert.Null(await Export(destination).ExportPartitionAsync("p"));

        // An expired document holds nothing: it is restored as stored, and the value stays free.
        var expired = State("p", 2, Document("p", "a", """{"name":"taken"}""", 1, expiresAt: Start.AddSeconds(-1)), Document("p", "b", """{"name":"free"}""", 2));
        Assert.Equal(RestoreOutcome.Created, await Restore(destination).RestorePartitionAsync(expired));
        Assert.Null(await destination.GetAsync("p", Collection, "a"));
        Assert.Equal("b", Assert.Single((await destination.QueryAsync(new IndexQuery(Collection, "name") { Equal = "free" })).Items).Document.Key);
        Assert.Empty(ExportComparison.Compare(expired, (await Export(destination).ExportPartitionAsync("p"))!));
    }

    [Fact]
    public async Task A_state_no_store_could_hold_is_refused_naming_the_item_and_nothing_is_written()
    {
        var time = new FakeTimeProvider(Start);
        var destination = await CreateStoreAsync(time);
        var ok = Document("p", "a", "1", 2);
        var at = ok.CreatedAt;
        var broken = new (string What, PartitionExport State)[]
        {
            ("revision", State("p", 0)),
            ("oldest resumable", new PartitionExport("p", 2, 3, [ok], [], [], [])),
            ("version", State("p", 1, ok)),
            ("version", State("p", 2, Document("p", "a", "1", 0))),
            ("finer than a millisecond", State("p", 2, new StoredDocument("p", Collection, "a", Utf8("1"), 1, at.AddTicks(1), at, null))),
            ("white space", State("p", 2, Document("p", "a", " 1", 1))),
            ("not valid", State("p", 2, Document("p", "a", "{", 1))),
            ("belongs to the partition 'q'", State("p", 2, Document("q", "a", "1", 1))),
            ("a document or a tombstone", new PartitionExport("p", 2, 1, [ok], [new ExportedTombstone(Collection, "a", 1, at)], [], [])),
            ("tombstone", new PartitionExport("p", 2, 1, [], [new ExportedTombstone(Collection, "a", 3, at)], [], [])),
            ("sequence", new PartitionExport("p", 2, 1, [], [], [new ExportedSequence("n", 0, 1)], [])),
            ("without gaps", new PartitionExport("p", 2, 1, [], [], [], [new ExportedStream("s", [new StoredEvent("p", "s", 2, 2, Id(1), "made", Utf8("{}"), ReadOnlyMemory<byte>.Empty, at)])])),
            ("names the stream", new PartitionExport("p", 2, 1, [], [], [], [new ExportedStream("s", [new StoredEvent("p", "t", 1, 2, Id(1), "made", Utf8("{}"), ReadOnlyMemory<byte>.Empty, at)])])),
            ("no events", new PartitionExport("p", 2, 1, [], [], [], [new ExportedStream("s", [])])),
            ("appears twice", new PartitionExport("p", 2, 1, [ok, ok], [], [], [])),
        };

        Assert.Equal(RestoreOutcome.Created, await Restore(destination).RestorePartitionAsync(State("ok", 2, Document("ok", "a", "1", 2))));
        foreach (var (what, state) in broken)
        {
            var error = await ThrowsArgumentAsync(() => Restore(destination).RestorePartitionAsync(state).AsTask());
            Assert.Contains(what, error.Message, StringComparison.Ordinal);
            Assert.Contains("'p'", error.Message, StringComparison.Ordinal);
            Assert.Null(await Export(destination).ExportPartitionAsync("p"));
        }

        await Assert.ThrowsAsync<ArgumentNullException>(() => Restore(destination).RestorePartitionAsync(null!).AsTask());
        await Assert.ThrowsAsync<ArgumentOutOfRangeException>(() => Restore(destination).RestorePartitionAsync(State("ok", 2), (RestoreMode)7).AsTask());
    }

    [Fact]
    public async Task A_whole_restore_refuses_a_partition_given_twice()
    {
        var time = new FakeTimeProvider(Start);
        var destination = await CreateStoreAsync(time);
        var a = State("a", 1, Document("a", "k", "1", 1));

        var error = await ThrowsArgumentAsync(() => Restore(destination).RestoreAsync(new StoreExportInfo(0, []), Yield(a, State("b", 1), a)).AsTask());

        Assert.Contains("twice", error.Message, StringComparison.Ordinal);
        Assert.NotNull(await Export(destination).ExportPartitionAsync("a"));
    }

    [Fact]
    public async Task A_whole_restore_stops_at_the_first_partition_that_fails_and_a_rerun_with_replace_completes_it()
    {
        var time = new FakeTimeProvider(Start);
        var destination = await CreateStoreAsync(time);
        var states = Enumerable.Range(0, 5).Select(i => State("p" + i, 2, Document("p" + i, "a", "1", 1), Document("p" + i, "b", "2", 2))).ToArray();
        await destination.PutAsync("p2", Collection, "other", "3");

        var conflict = await Assert.ThrowsAsync<RestoreConflictException>(() => Restore(destination).RestoreAsync(new StoreExportInfo(0, []), Yield(states)).AsTask());

        // The partitions before it are restored whole; the one that failed is as it was.
        Assert.Equal("p2", conflict.Partition);
        Assert.Empty(ExportComparison.Compare(states[0], (await Export(destination).ExportPartitionAsync("p0"))!));
        Assert.Empty(ExportComparison.Compare(states[1], (await Export(destination).ExportPartitionAsync("p1"))!));
        Assert.Equal("other", Assert.Single((await destination.ListAsync("p2", Collection)).Items).Key);

        var rerun = await Restore(destination).RestoreAsync(new StoreExportInfo(0, []), Yield(states), RestoreMode.Replace);

        Assert.Equal(1, rerun.Replaced);
        Assert.Equal(5, rerun.Created + rerun.Replaced + rerun.Unchanged);
        Assert.True(rerun.Unchanged >= 2);
        Assert.Empty(await ToListAsync(ExportComparison.CompareAsync(Yield(states), Export(destination).ExportAsync())));
    }

    [Fact]
    public async Task A_whole_restore_enforces_unique_values_between_the_partitions_it_restores()
    {
        var time = new FakeTimeProvider(Start);
        var destination = await CreateStoreAsync(time, indexes: [UniqueName]);

        // An expired document holds nothing: a later partition takes its value.
        var first = State("a", 2, Document("a", "k", """{"name":"x"}""", 1), Document("a", "old", """{"name":"y"}""", 2, expiresAt: Start.AddSeconds(-1)));
        var second = State("b", 1, Document("b", "k", """{"name":"y"}""", 1));
        var third = State("c", 1, Document("c", "k", """{"name":"x"}""", 1));
        var fourth = State("d", 1, Document("d", "k", """{"name":"z"}""", 1));

        var e = await Assert.ThrowsAsync<UniqueConstraintException>(() => Restore(destination).RestoreAsync(new StoreExportInfo(0, []), Yield(first, second, third, fourth)).AsTask());

        // Partitions in flight at once race for the value: one of the two holds it, whole, the other is absent.
        Assert.Equal("name", e.Index);
        var holder = Assert.Single((await destination.QueryAsync(new IndexQuery(Collection, "name") { Equal = "x" })).Items).Document.Partition;
        var (won, lost) = holder == "a" ? (first, third) : (third, first);
        Assert.Empty(ExportComparison.Compare(won, (await Export(destination).ExportPartitionAsync(won.Partition))!));
        Assert.Null(await Export(destination).ExportPartitionAsync(lost.Partition));
        Assert.Empty(ExportComparison.Compare(second, (await Export(destination).ExportPartitionAsync("b"))!));
        Assert.Equal("b", Assert.Single((await destination.QueryAsync(new IndexQuery(Collection, "name") { Equal = "y" })).Items).Document.Partition);
    }

    [Fact]
    public async Task Every_restore_is_refused_while_the_store_is_read_only()
    {
        var time = new FakeTimeProvider(Start);
        var destination = await CreateStoreAsync(time);
        var fence = Assert.IsAssignableFrom<IStoreFence>(destination);
        await fence.SetReadOnlyAsync(true);
        var state = State("p", 1, Document("p", "k", "1", 1));

        await Assert.ThrowsAsync<StoreReadOnlyException>(() => Restore(destination).RestorePartitionAsync(state).AsTask());
        await Assert.ThrowsAsync<StoreReadOnlyException>(() => Restore(destination).RestoreAsync(new StoreExportInfo(3, []), Yield(state)).AsTask());
        await Assert.ThrowsAsync<StoreReadOnlyException>(() => Restore(destination).RaiseRevisionFloorAsync(3).AsTask());

        Assert.Null(await Export(destination).ExportPartitionAsync("p"));
        Assert.Equal(0, (await Export(destination).GetExportInfoAsync()).RevisionFloor);
        await fence.SetReadOnlyAsync(false);
        Assert.Equal(RestoreOutcome.Created, await Restore(destination).RestorePartitionAsync(state));
    }

    [Fact]
    public async Task Restores_and_writes_of_one_partition_racing_each_other_leave_one_of_the_states_whole()
    {
        var time = new FakeTimeProvider(Start);
        var destination = await CreateStoreAsync(time);
        var state = State("p", 50, Enumerable.Range(1, 20).Select(i => Document("p", $"k{i:D2}", $"{i}", i)).ToArray());

        var writes = Enumerable.Range(0, 20).Select(i => Task.Run(async () =>
        {
            if (i % 2 == 0)
            {
                await Restore(destination).RestorePartitionAsync(state, RestoreMode.Replace);
            }
            else
            {
                await destination.CommitAsync("p", [WriteOperation.Put(Collection, "k01", "0"), WriteOperation.Put(Collection, $"w{i}", "0")]);
            }
        }));
        await Task.WhenAll(writes);

        // Whatever the order, the partition is the restored state, possibly followed by whole batches.
        var final = (await Export(destination).ExportPartitionAsync("p"))!;
        Assert.True(final.Revision >= 50);
        var written = final.Documents.Where(d => d.Key.StartsWith('w')).ToList();
        Assert.Equal(final.Revision - 50, written.Count);
        Assert.All(written, d => Assert.True(d.Version > 50));
        Assert.Equal(20, final.Documents.Count(d => d.Key.StartsWith('k')));
        Assert.Equal(final.Revision == 50 ? RestoreOutcome.Unchanged : RestoreOutcome.Replaced, await Restore(destination).RestorePartitionAsync(state, RestoreMode.Replace));
        Assert.Empty(ExportComparison.Compare(state, (await Export(destination).ExportPartitionAsync("p"))!));
    }

    [Fact]
    public async Task A_restore_never_overwrites_a_write_that_committed_after_it_looked()
    {
        var time = new FakeTimeProvider(Start);
        var destination = await CreateStoreAsync(time);
        var outcomes = new Dictionary<string, int>();
        for (var round = 0; round < 200; round++)
        {
            var key = $"p{round}";
            var state = State(key, 50, Enumerable.Range(1, 200).Select(i => Document(key, $"k{i:D3}", $"{i}", 1 + (i % 50))).ToArray());
            using var start = new Barrier(2);
            // One of the two starts up to 9 ms late, by round: the restore on even rounds, the write on odd
            // ones, so that each wins some races on any backend and any load (a restore that reads nothing
            // first, in memory, would otherwise always win; one that reads over the network would always lose).
            var late = TimeSpan.FromMilliseconds(round % 10);
            var restore = Task.Run(async () =>
            {
                start.SignalAndWait();
                await Task.Delay(round % 2 == 0 ? late : TimeSpan.Zero);
                try
                {
                    return (await Restore(destination).RestorePartitionAsync(state)).ToString();
                }
                catch (RestoreConflictException)
                {
                    return "conflict";
                }
            });
            var write = Task.Run(async () =>
            {
                start.SignalAndWait();
                await Task.Delay(round % 2 == 1 ? late : TimeSpan.Zero);
                return await destination.PutAsync(key, Collection, "w", "0");
            });
            var outcome = await restore;
            var version = await write;
            outcomes[outcome] = outcomes.GetValueOrDefault(outcome) + 1;

            // The write succeeded, so it is kept: a restore that did not see it refused instead of replacing it.
            var stored = await destination.GetAsync(key, Collection, "w");
            Assert.True(stored is not null && stored.Version == version, $"Round {round}: the write of version {version} was lost to a restore that answered {outcome}.");
        }

        Assert.True(outcomes.GetValueOrDefault("conflict") > 0 && outcomes.GetValueOrDefault(nameof(RestoreOutcome.Created)) > 0, string.Join(", ", outcomes));
    }

    private static IStoreExport Export(IStore store) => Assert.IsAssignableFrom<IStoreExport>(store);

    private static IStoreRestore Restore(IStore store) => Assert.IsAssignableFrom<IStoreRestore>(store);

    /// <summary>A document of the default collection, written at <see cref="TestData.Start"/> (to the millisecond).</summary>
    private static StoredDocument Document(string partition, string key, string json, long version, DateTimeOffset? expiresAt = null)
    {
        var at = DateTimeOffset.FromUnixTimeMilliseconds(Start.ToUnixTimeMilliseconds());
        return new StoredDocument(partition, Collection, key, Encoding.UTF8.GetBytes(json), version, at, at, expiresAt is { } e ? DateTimeOffset.FromUnixTimeMilliseconds(e.ToUnixTimeMilliseconds()) : null);
    }

    private static PartitionExport State(string partition, long revision, params StoredDocument[] documents)
        => new(partition, revision, 1, documents, [], [], []);

    private static async IAsyncEnumerable<PartitionExport> Yield(params PartitionExport[] partitions)
    {
        foreach (var partition in partitions)
        {
            await Task.Yield();
            yield return partition;
        }
    }
}
