using Microsoft.Extensions.Time.Testing;
using static Storage.Conformance.StoreAssert;
using static Storage.Conformance.TestData;

namespace Storage.Conformance;

/// <summary>
/// Following a live store (docs/upgrade-path.md, "Following a live store"): the store-wide cursor
/// reports every partition that changed — written, restored, imported or deleted — once, in position
/// order, resumable without a miss; marks of deleted partitions go with the tombstone retention and a
/// cursor behind them is refused; a page of another store's change feed applies version-gated, so a
/// replay changes nothing; and a follower built on both keeps a copy equal to its source, digest for
/// digest, while the source goes on.
/// </summary>
/// <typeparam name="TFixture">The backend's fixture.</typeparam>
public abstract class FollowTests<TFixture>(TFixture fixture) : StoreTestBase<TFixture>(fixture)
    where TFixture : StoreFixture
{
    private const int WorkloadSeed = 18_003;
    private const int WorkloadOperations = 900;

    [Fact]
    public async Task The_cursor_reports_each_changed_partition_once_in_position_order_and_resumes_without_a_miss()
    {
        var time = new FakeTimeProvider(Start);
        var store = await CreateStoreAsync(time);
        await store.PutAsync("a", Collection, "k", "1");
        await store.PutAsync("b", Collection, "k", "1");
        await store.PutAsync("a", Collection, "k", "2");
        await store.PutAsync("c", Collection, "k", "1");

        var first = await Export(store).ReadChangedPartitionsAsync(0);

        Assert.False(first.HasMore);
        Assert.Equal(["b", "a", "c"], first.Items.Select(c => c.Partition));
        Assert.All(first.Items, c => Assert.False(c.Deleted));
        Assert.Equal([1, 2, 1], first.Items.Select(c => c.Revision));
        InPositionOrder(first.Items);
        Assert.True(first.LastPosition >= first.Items[^1].Position);

        var none = await Export(store).ReadChangedPartitionsAsync(first.LastPosition);
        Assert.Empty(none.Items);
        Assert.False(none.HasMore);
        Assert.True(none.LastPosition >= first.LastPosition);

        await store.PutAsync("b", Collection, "k", "2");
        Assert.True(await store.DeletePartitionAsync("c"));
        await store.PutAsync("d", Collection, "k", "1");

        var next = await Export(store).ReadChangedPartitionsAsync(none.LastPosition);

        Assert.Equal(["b", "c", "d"], next.Items.Select(c => c.Partition));
        Assert.Equal([false, true, false], next.Items.Select(c => c.Deleted));
        Assert.Equal(2, next.Items[0].Revision);
        Assert.Equal(1, next.Items[1].Revision);
        Assert.All(next.Items, c => Assert.True(c.Position > none.LastPosition));
        InPositionOrder(next.Items);
        Assert.Equal(1, next.RevisionFloor);
        Assert.Empty((await Export(store).ReadChangedPartitionsAsync(next.LastPosition)).Items);
    }

    [Fact]
    public async Task Pages_follow_one_another_to_every_partition_and_the_last_says_there_is_no_more()
    {
        var store = await CreateStoreAsync();
        var keys = Enumerable.Range(0, 23).Select(i => $"p{i:D2}").ToList();
        foreach (var key in keys)
        {
            await store.PutAsync(key, Collection, "k", "1");
        }

        var seen = new List<PartitionChange>();
        long after = 0;
        var pages = 0;
        while (true)
        {
            var page = await Export(store).ReadChangedPartitionsAsync(after, limit: 5);
            pages++;
            Assert.True(page.Items.Count >= 1);
            seen.AddRange(page.Items);
            Assert.Equal(page.HasMore ? page.Items[^1].Position : page.LastPosition, page.LastPosition);
            after = page.LastPosition;
            if (!page.HasMore)
            {
                break;
            }
        }

        Assert.Equal(keys, seen.Select(c => c.Partition).Order(StorageKeyComparer.Instance));
        Assert.Equal(keys.Count, seen.Select(c => c.Partition).Distinct().Count());
        InPositionOrder(seen);
        Assert.InRange(pages, 2, 5);
    }

    [Fact]
    public async Task Every_kind_of_change_moves_a_partition_and_a_purge_does_not()
    {
        var time = new FakeTimeProvider(Start);
        var store = await CreateStoreAsync(time);
        var source = await CreateStoreAsync(time);
        await source.PutAsync("restored", Collection, "k", "1");
        var restored = (await Export(source).ExportPartitionAsync("restored"))!;
        var after = (await Export(store).ReadChangedPartitionsAsync(0)).LastPosition;

        async Task MovesAsync(string partition, Func<Task> change, bool deleted = false)
        {
            await change();
            var page = await Export(store).ReadChangedPartitionsAsync(after);
            var moved = Assert.Single(page.Items);
            Assert.Equal(partition, moved.Partition);
            Assert.Equal(deleted, moved.Deleted);
            Assert.Equal(deleted ? moved.Revision : (await RevisionAsync(store, partition))!.Value, moved.Revision);
            after = page.LastPosition;
        }

        await MovesAsync("p", () => store.PutAsync("p", Collection, "k", "1", expiresAt: Start.AddSeconds(1)).AsTask());
        await MovesAsync("p", () => store.IncrementSequenceAsync("p", "n").AsTask());
        await MovesAsync("p", () => store.AppendAsync("p", "s", NewEvents(1, 1)).AsTask());
        await MovesAsync("q", () => ((IBulkImport)store).ImportAsync(One(new ImportedPartition("q", [WriteOperation.Put(Collection, "k", Utf8("1"))]))).AsTask());
        await MovesAsync("restored", () => Restore(store).RestorePartitionAsync(restored).AsTask());
        await MovesAsync("p", () => store.DeletePartitionAsync("p").AsTask(), deleted: true);

        // A batch that changes nothing and a purge move nothing.
        await store.PutAsync("r", Collection, "k", "1", expiresAt: Start.AddSeconds(1));
        after = (await Export(store).ReadChangedPartitionsAsync(after)).LastPosition;
        Assert.False(await store.DeleteAsync("q", Collection, "missing"));
        time.Advance(TimeSpan.FromSeconds(2));
        Assert.Equal(1, await store.PurgeExpiredAsync());
        Assert.Empty((await Export(store).ReadChangedPartitionsAsync(after)).Items);
    }

    [Fact]
    public async Task A_partition_created_again_is_reported_live_once_and_its_mark_is_gone()
    {
        var store = await CreateStoreAsync();
        await store.PutAsync("p", Collection, "k", "1");
        await store.DeletePartitionAsync("p");
        var deleted = Assert.Single((await Export(store).ReadChangedPartitionsAsync(0)).Items);
        Assert.True(deleted.Deleted);

        await store.PutAsync("p", Collection, "k", "2");

        var again = Assert.Single((await Export(store).ReadChangedPartitionsAsync(0)).Items);
        Assert.False(again.Deleted);
        Assert.Equal(2, again.Revision);
        Assert.True(again.Position > deleted.Position);
    }

    [Fact]
    public async Task Marks_of_deleted_partitions_go_with_the_tombstone_retention_and_a_cursor_behind_them_is_refused()
    {
        var time = new FakeTimeProvider(Start);
        var store = await CreateStoreAsync(time, tombstoneRetention: TimeSpan.FromHours(1));
        await store.PutAsync("gone", Collection, "k", "1");
        await store.PutAsync("kept", Collection, "k", "1");
        var before = (await Export(store).ReadChangedPartitionsAsync(0)).LastPosition;
        await store.DeletePartitionAsync("gone");
        var mark = Assert.Single((await Export(store).ReadChangedPartitionsAsync(before)).Items);
        Assert.True(mark.Deleted);

        time.Advance(TimeSpan.FromMinutes(59));
        await store.PurgeExpiredAsync();
        Assert.Single((await Export(store).ReadChangedPartitionsAsync(before)).Items);

        time.Advance(TimeSpan.FromMinutes(2));
        await store.PurgeExpiredAsync();

        var refused = await Assert.ThrowsAsync<ChangedPartitionsTruncatedException>(() => Export(store).ReadChangedPartitionsAsync(before).AsTask());
        Assert.Equal(before, refused.AfterPosition);
        Assert.True(refused.OldestResumablePosition >= mark.Position);
        Assert.Equal(["kept"], (await Export(store).ReadChangedPartitionsAsync(0)).Items.Select(c => c.Partition));
        Assert.Empty((await Export(store).ReadChangedPartitionsAsync(refused.OldestResumablePosition)).Items);
    }

    [Fact]
    public async Task A_listing_from_0_read_page_by_page_after_marks_were_dropped_reaches_its_end_and_lists_every_partition()
    {
        var time = new FakeTimeProvider(Start);
        var store = await CreateStoreAsync(time, tombstoneRetention: TimeSpan.FromHours(1));
        await store.PutAsync("gone", Collection, "k", "1");
        foreach (var partition in new[] { "a", "b", "c", "d", "e" })
        {
            await store.PutAsync(partition, Collection, "k", "1");
        }

        await store.DeletePartitionAsync("gone");
        time.Advance(TimeSpan.FromHours(2));
        await store.PurgeExpiredAsync();
        await store.PutAsync("f", Collection, "k", "1");
        await store.PutAsync("g", Collection, "k", "1");

        // Pages of 2: a reader that lists from 0 must be able to go on from every page's last position.
        var listed = new List<string>();
        long after = 0;
        for (var pages = 0; ; pages++)
        {
            Assert.True(pages < 10, "The listing did not end.");
            var page = await Export(store).ReadChangedPartitionsAsync(after, 2);
            listed.AddRange(page.Items.Select(c => c.Partition));
            after = page.LastPosition;
            if (!page.HasMore)
            {
                break;
            }
        }

        Assert.Equal(["a", "b", "c", "d", "e", "f", "g"], listed.Order(StringComparer.Ordinal));
        Assert.Empty((await Export(store).ReadChangedPartitionsAsync(after)).Items);
        await store.PutAsync("a", Collection, "k", "2");
        Assert.Equal(["a"], (await Export(store).ReadChangedPartitionsAsync(after)).Items.Select(c => c.Partition));
    }

    [Fact]
    public async Task The_cursor_and_the_partition_lookup_check_their_arguments()
    {
        var store = await CreateStoreAsync();
        await Assert.ThrowsAsync<ArgumentOutOfRangeException>(() => Export(store).ReadChangedPartitionsAsync(-1).AsTask());
        await Assert.ThrowsAsync<ArgumentOutOfRangeException>(() => Export(store).ReadChangedPartitionsAsync(0, 0).AsTask());
        await Assert.ThrowsAsync<ArgumentOutOfRangeException>(() => Export(store).ReadChangedPartitionsAsync(0, StoreLimits.MaxPageSize + 1).AsTask());
        await ThrowsArgumentAsync(() => Export(store).GetPartitionAsync("").AsTask());

        Assert.Null(await Export(store).GetPartitionAsync("p"));
        await store.PutAsync("p", Collection, "k", "1");
        await store.PutAsync("p", Collection, "k", "2");
        Assert.Equal(new PartitionInfo("p", 2), await Export(store).GetPartitionAsync("p"));
    }

    [Fact]
    public async Task The_feed_applied_page_by_page_gives_an_equal_partition_and_a_replay_changes_nothing()
    {
        var (source, _, time) = await RunWorkloadAsync(WorkloadSeed, WorkloadOperations);

        // The feed hides expired documents, and purges are not carried: compare at a purged state.
        await source.PurgeExpiredAsync();
        var destination = await CreateStoreAsync(time, DifferentialRun.TombstoneRetention, DifferentialRun.Indexes);
        foreach (var state in await ToListAsync(Export(source).ExportAsync()))
        {
            long after = 0;
            while (true)
            {
                var page = await source.ReadChangesAsync(state.Partition, after, limit: 7);
                var applied = await Restore(destination).ApplyChangesAsync(state.Partition, after, page);
                Assert.Equal(page.Items.Count, applied.Applied + applied.Skipped);
                Assert.Equal(page.LastRevision, applied.Revision);

                // The same page again, and the page before it: nothing is written.
                var copy = ExportDigest.Compute((await Export(destination).ExportPartitionAsync(state.Partition))!);
                Assert.Equal(new ApplyResult(0, page.Items.Count, page.LastRevision), await Restore(destination).ApplyChangesAsync(state.Partition, after, page));
                Assert.Equal(copy, ExportDigest.Compute((await Export(destination).ExportPartitionAsync(state.Partition))!));
                after = page.LastRevision;
                if (!page.HasMore)
                {
                    break;
                }
            }

            var copied = (await Export(destination).ExportPartitionAsync(state.Partition))!;
            Assert.True(ExportComparison.Compare(state, copied) is { Count: 0 } same, $"{state.Partition}: {string.Join(", ", ExportComparison.Compare(state, copied))}");
        }
    }

    [Fact]
    public async Task Changes_apply_after_the_revision_the_copy_reached_and_a_gap_is_refused()
    {
        var time = new FakeTimeProvider(Start);
        var source = await CreateStoreAsync(time);
        var destination = await CreateStoreAsync(time);
        await source.PutAsync("p", Collection, "a", "1");
        await source.PutAsync("p", Collection, "b", "1");
        await Restore(destination).ApplyChangesAsync("p", 0, await source.ReadChangesAsync("p", 0));

        time.Advance(TimeSpan.FromSeconds(1));
        await source.DeleteAsync("p", Collection, "a");
        await source.AppendAsync("p", "s", NewEvents(1, 2));
        await source.IncrementSequenceAsync("p", "n", 5);
        var skipped = await source.ReadChangesAsync("p", 3);
        var gap = await ThrowsArgumentAsync(() => Restore(destination).ApplyChangesAsync("p", 3, skipped).AsTask());
        Assert.Contains("revision 2", gap.Message, StringComparison.Ordinal);

        var result = await Restore(destination).ApplyChangesAsync("p", 2, await source.ReadChangesAsync("p", 2));

        Assert.Equal(new ApplyResult(4, 0, 5), result);
        Assert.Empty(ExportComparison.Compare((await Export(source).ExportPartitionAsync("p"))!, (await Export(destination).ExportPartitionAsync("p"))!));
        Assert.Equal(6, await destination.PutAsync("p", Collection, "c", "1"));
    }

    [Fact]
    public async Task A_change_that_does_not_fit_is_refused_and_nothing_is_written()
    {
        var source = await CreateStoreAsync();
        var destination = await CreateStoreAsync();
        await source.PutAsync("p", Collection, "k", "1");
        var page = await source.ReadChangesAsync("p", 0);

        await ThrowsArgumentAsync(() => Restore(destination).ApplyChangesAsync("other", 0, page).AsTask());
        await ThrowsArgumentAsync(() => Restore(destination).ApplyChangesAsync("p", 0, new ChangePage([Change.Delete(1, Collection, "k")], 1, false)).AsTask());
        await ThrowsArgumentAsync(() => Restore(destination).ApplyChangesAsync("p", 0, page with { LastRevision = 0 }).AsTask());
        await ThrowsArgumentAsync(() => Restore(destination).ApplyChangesAsync("p", 1, page).AsTask());
        await ThrowsArgumentAsync(() => Restore(destination).ApplyChangesAsync("p", 0, new ChangePage([Change.Append(new StoredEvent("p", "s", 2, 1, Id(1), "t", Utf8("1"), default, Start))], 1, false)).AsTask());
        await EmptyAsync(destination);
    }

    [Fact]
    public async Task A_partition_delete_applies_only_over_the_life_it_deleted_and_raises_the_floor()
    {
        var store = await CreateStoreAsync();
        for (var i = 0; i < 3; i++)
        {
            await store.PutAsync("p", Collection, "k", $"{i}");
        }

        Assert.False(await Restore(store).ApplyPartitionDeleteAsync("p", 2));
        Assert.Equal(3, await RevisionAsync(store, "p"));
        Assert.True((await Export(store).GetExportInfoAsync()).RevisionFloor >= 2);

        Assert.True(await Restore(store).ApplyPartitionDeleteAsync("p", 3));
        Assert.Null(await RevisionAsync(store, "p"));
        Assert.False(await Restore(store).ApplyPartitionDeleteAsync("p", 3));
        Assert.False(await Restore(store).ApplyPartitionDeleteAsync("never", 9));
        Assert.Equal(9, (await Export(store).GetExportInfoAsync()).RevisionFloor);
    }

    [Fact]
    public async Task An_applied_document_holding_a_unique_value_taken_elsewhere_is_refused()
    {
        var unique = new IndexDefinition(Collection, "name", "name", IndexValueType.String, unique: true, IndexScope.Global);
        var source = await CreateStoreAsync(indexes: [unique]);
        var destination = await CreateStoreAsync(indexes: [unique]);
        await destination.PutAsync("other", Collection, "k", """{"name":"x"}""");
        await source.PutAsync("p", Collection, "k", """{"name":"x"}""");

        await Assert.ThrowsAsync<UniqueConstraintException>(() => Restore(destination).ApplyChangesAsync("p", 0, source.ReadChangesAsync("p", 0).AsTask().Result).AsTask());

        Assert.Null(await RevisionAsync(destination, "p"));
    }

    [Fact]
    public async Task A_follower_keeps_a_copy_equal_to_its_source_while_the_source_goes_on()
    {
        var (source, model, time) = await RunWorkloadAsync(WorkloadSeed + 1, WorkloadOperations);
        var destination = await CreateStoreAsync(time, DifferentialRun.TombstoneRetention, DifferentialRun.Indexes);

        var first = await StoreFollower.CatchUpAsync(source, destination);
        await SameStoresAsync(source, destination);
        Assert.True(first.PartitionsCreated > 0);

        // The workload goes on (writes, deletes of partitions, expiry, purges at its own moments) and the
        // follower catches up from where it was, pass after pass.
        var run = new DifferentialRun(WorkloadSeed + 2, source, model, time);
        var position = first.Position;
        for (var round = 0; round < 4; round++)
        {
            for (var i = 0; i < WorkloadOperations / 4; i++)
            {
                await run.StepAsync();
            }

            var pass = await StoreFollower.CatchUpAsync(source, destination, position);
            Assert.True(pass.Position >= position);
            position = pass.Position;
        }

        await SameStoresAsync(source, destination);
        var idle = await StoreFollower.CatchUpAsync(source, destination, position);
        Assert.Equal((0, 0, 0, 0), (idle.PartitionsCreated, idle.PartitionsUpdated, idle.PartitionsUnchanged, idle.PartitionsDeleted));

        // From 0 it goes over everything, finds it equal, and drops what the source no longer has.
        await ((IStore)destination).PutAsync("only-in-the-copy", Collection, "k", "1");
        var again = await StoreFollower.CatchUpAsync(source, destination);
        Assert.Equal(0, again.PartitionsCreated + again.PartitionsUpdated);
        Assert.Equal(1, again.PartitionsDeleted);

        // The copy handed out a revision of its own to the partition it deleted: its floor is rightly higher.
        await SameStoresAsync(source, destination, sameFloor: false);
    }

    // Equal once both are purged at one clock: the feed does not carry documents that expired unread, nor purges.
    private static async Task SameStoresAsync(IStore source, IStore destination, bool sameFloor = true)
    {
        await source.PurgeExpiredAsync();
        await destination.PurgeExpiredAsync();
        var differences = await ToListAsync(ExportComparison.CompareAsync(Export(source).ExportAsync(), Export(destination).ExportAsync()));
        if (differences.Count > 0)
        {
            var d = differences[0];
            var item = d.Items[0];
            var a = item.Kind == ExportItemKind.Document ? await source.GetAsync(d.Partition, item.Collection!, item.Name) : null;
            var ea = (await Export(source).ExportPartitionAsync(d.Partition))?.Documents.FirstOrDefault(x => x.Collection == item.Collection && x.Key == item.Name);
            var eb = (await Export(destination).ExportPartitionAsync(d.Partition))?.Documents.FirstOrDefault(x => x.Collection == item.Collection && x.Key == item.Name);
            Assert.Fail($"{differences.Count} partitions differ; {d.Partition}: {string.Join(", ", d.Items)}; source v{ea?.Version} exp {ea?.ExpiresAt:O} upd {ea?.UpdatedAt:O}; copy v{eb?.Version} exp {eb?.ExpiresAt:O} upd {eb?.UpdatedAt:O}");
        }
        Assert.Equal(await StoreDigest.ComputeAsync(Export(source).ExportAsync()), await StoreDigest.ComputeAsync(Export(destination).ExportAsync()));
        var (sourceFloor, copyFloor) = ((await Export(source).GetExportInfoAsync()).RevisionFloor, (await Export(destination).GetExportInfoAsync()).RevisionFloor);
        Assert.True(sameFloor ? copyFloor == sourceFloor : copyFloor >= sourceFloor, $"The source's floor is {sourceFloor}, the copy's {copyFloor}.");
    }

    private static void InPositionOrder(IReadOnlyList<PartitionChange> changes)
    {
        for (var i = 1; i < changes.Count; i++)
        {
            Assert.True(
                changes[i - 1].Position < changes[i].Position
                || (changes[i - 1].Position == changes[i].Position && StorageKeyComparer.Instance.Compare(changes[i - 1].Partition, changes[i].Partition) < 0),
                $"{changes[i - 1]} comes before {changes[i]}.");
        }
    }

    private static async IAsyncEnumerable<ImportedPartition> One(ImportedPartition partition)
    {
        await Task.Yield();
        yield return partition;
    }

    private static IStoreExport Export(IStore store) => Assert.IsAssignableFrom<IStoreExport>(store);

    private static IStoreRestore Restore(IStore store) => Assert.IsAssignableFrom<IStoreRestore>(store);
}
