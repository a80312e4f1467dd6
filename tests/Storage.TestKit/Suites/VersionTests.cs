using Microsoft.Extensions.Time.Testing;
using static Storage.Conformance.StoreAssert;
using static Storage.Conformance.TestData;

namespace Storage.Conformance;

/// <summary>Partition revisions, document versions and the created/updated timestamps.</summary>
/// <typeparam name="TFixture">The backend's fixture.</typeparam>
public abstract class VersionTests<TFixture>(TFixture fixture) : StoreTestBase<TFixture>(fixture)
    where TFixture : StoreFixture
{
    [Fact]
    public async Task Each_commit_takes_the_next_revision_of_its_partition()
    {
        var store = await CreateStoreAsync();

        Assert.Equal(1, await store.PutAsync("p", Collection, "a", "1"));
        Assert.Equal(2, await store.PutAsync("p", Collection, "b", "1"));
        Assert.Equal(3, await store.PutAsync("p", Collection, "a", "2"));
        Assert.Equal(4, await store.PutAsync("p", OtherCollection, "a", "1"));
        var delete = await store.CommitAsync("p", [WriteOperation.Delete(Collection, "b")]);
        Assert.Equal(5, delete.Revision);
        Assert.True(delete.Changed);
        Assert.Equal(6, await store.PutAsync("p", Collection, "c", "1"));

        Assert.Equal(3, (await store.GetAsync("p", Collection, "a"))!.Version);
        Assert.Equal(4, (await store.GetAsync("p", OtherCollection, "a"))!.Version);
        Assert.Equal(6, (await store.GetAsync("p", Collection, "c"))!.Version);
        Assert.Equal(6, await RevisionAsync(store, "p"));
    }

    [Fact]
    public async Task Every_document_of_a_batch_takes_the_commit_revision()
    {
        var store = await CreateStoreAsync();
        await store.PutAsync("p", Collection, "a", "1");
        await store.PutAsync("p", Collection, "x", "1");

        var result = await store.CommitAsync("p",
        [
            WriteOperation.Put(Collection, "a", "2"),
            WriteOperation.Put(Collection, "b", "2"),
            WriteOperation.Delete(Collection, "x"),
            WriteOperation.Put(OtherCollection, "a", "2"),
            WriteOperation.Delete(Collection, "missing"),
        ]);

        Assert.Equal(3, result.Revision);
        Assert.True(result.Changed);
        Assert.Equal([new(true, 3), new(false, 3), new(true, null), new(false, 3), new(false, null)], result.Outcomes);
        Document(await store.GetAsync("p", Collection, "a"), "p", Collection, "a", "2", 3);
        Document(await store.GetAsync("p", Collection, "b"), "p", Collection, "b", "2", 3);
        Document(await store.GetAsync("p", OtherCollection, "a"), "p", OtherCollection, "a", "2", 3);
        Assert.Null(await store.GetAsync("p", Collection, "x"));
        Assert.Equal(3, await RevisionAsync(store, "p"));
    }

    [Fact]
    public async Task Deleting_and_recreating_a_document_gives_it_a_higher_version()
    {
        var store = await CreateStoreAsync();
        var first = await store.PutAsync("p", Collection, "k", "1");
        Assert.True(await store.DeleteAsync("p", Collection, "k"));

        var second = await store.PutAsync("p", Collection, "k", "2");

        Assert.Equal(1, first);
        Assert.Equal(3, second);
        Document(await store.GetAsync("p", Collection, "k"), "p", Collection, "k", "2", 3);
    }

    [Fact]
    public async Task Stale_version_of_a_recreated_document_does_not_match()
    {
        var store = await CreateStoreAsync();
        var stale = await store.PutAsync("p", Collection, "k", "1");
        await store.DeleteAsync("p", Collection, "k");
        await store.PutAsync("p", Collection, "k", "2");
        var before = await store.GetAsync("p", Collection, "k");

        await ConflictAsync(async () => await store.PutAsync("p", Collection, "k", "3", WriteCondition.MustMatchVersion(stale)), "p", Collection, "k", WriteCondition.MustMatchVersion(stale), before!.Version);
        await ConflictAsync(async () => await store.DeleteAsync("p", Collection, "k", WriteCondition.MustMatchVersion(stale)), "p", Collection, "k", WriteCondition.MustMatchVersion(stale), before.Version);

        await UnchangedAsync(store, before);
        Assert.Equal(3, await RevisionAsync(store, "p"));
    }

    [Fact]
    public async Task Partitions_count_their_revisions_independently()
    {
        var store = await CreateStoreAsync();

        Assert.Equal(1, await store.PutAsync("p1", Collection, "k", "1"));
        Assert.Equal(2, await store.PutAsync("p1", Collection, "k", "2"));
        Assert.Equal(1, await store.PutAsync("p2", Collection, "k", "1"));
        Assert.Equal(3, await store.PutAsync("p1", Collection, "k", "3"));
        Assert.Equal(1, await store.PutAsync("P1", Collection, "k", "1"));

        Assert.Equal([new("P1", 1), new("p1", 3), new("p2", 1)], await ListAllPartitionsAsync(store));
    }

    [Fact]
    public async Task After_a_partition_is_deleted_its_new_versions_are_above_every_old_one()
    {
        var store = await CreateStoreAsync();
        for (var i = 0; i < 5; i++)
        {
            await store.PutAsync("p", Collection, $"k{i}", "1");
        }

        await store.IncrementSequenceAsync("p", "seq");
        var old = await store.GetAsync("p", Collection, "k4");
        Assert.True(await store.DeletePartitionAsync("p"));

        var recreated = await store.PutAsync("p", Collection, "k4", "2");
        var next = await store.PutAsync("p", Collection, "k0", "2");

        Assert.True(recreated > 6, $"The re-created partition took revision {recreated}; its old revision was 6.");
        Assert.True(next > recreated);
        var current = await store.GetAsync("p", Collection, "k4");
        await ConflictAsync(async () => await store.PutAsync("p", Collection, "k4", "3", WriteCondition.MustMatchVersion(old!.Version)), "p", Collection, "k4", WriteCondition.MustMatchVersion(old!.Version), recreated);
        for (var version = 1; version <= 6; version++)
        {
            await ConflictAsync(async () => await store.DeleteAsync("p", Collection, "k4", WriteCondition.MustMatchVersion(version)), "p", Collection, "k4", WriteCondition.MustMatchVersion(version), recreated);
        }

        await UnchangedAsync(store, current!);
        Assert.Equal(next, await RevisionAsync(store, "p"));
    }

    [Fact]
    public async Task Partitions_created_after_a_deletion_start_above_the_deleted_revision()
    {
        var store = await CreateStoreAsync();
        await store.PutAsync("old", Collection, "k", "1");
        for (var i = 0; i < 5; i++)
        {
            await store.PutAsync("deleted", Collection, "k", $"{i}");
        }

        Assert.True(await store.DeletePartitionAsync("deleted"));

        Assert.Equal(6, await store.PutAsync("new", Collection, "k", "1"));
        Assert.Equal(6, await store.PutAsync("deleted", Collection, "k", "1"));
        Assert.Equal(2, await store.PutAsync("old", Collection, "k", "2"));
        Assert.Equal(7, await store.PutAsync("new", Collection, "k", "2"));
        Assert.Equal([new("deleted", 6), new("new", 7), new("old", 2)], await ListAllPartitionsAsync(store));
    }

    [Fact]
    public async Task Revision_floor_is_the_highest_revision_of_any_deleted_partition()
    {
        var store = await CreateStoreAsync();
        for (var i = 0; i < 4; i++)
        {
            await store.IncrementSequenceAsync("high", "seq");
        }

        await store.IncrementSequenceAsync("low", "seq");
        await store.DeletePartitionAsync("high");
        await store.DeletePartitionAsync("low");

        Assert.Equal(5, await store.PutAsync("low", Collection, "k", "1"));
        Assert.Equal(5, await store.PutAsync("high", Collection, "k", "1"));
        Assert.Equal(1, await store.IncrementSequenceAsync("other", "seq"));
        Assert.Equal([new("high", 5), new("low", 5), new("other", 5)], await ListAllPartitionsAsync(store));
    }

    [Fact]
    public async Task Commit_that_changes_nothing_in_a_deleted_partition_reports_revision_0()
    {
        var store = await CreateStoreAsync();
        await store.PutAsync("p", Collection, "k", "1");
        await store.PutAsync("p", Collection, "k", "2");
        await store.DeletePartitionAsync("p");

        var result = await store.CommitAsync("p", [WriteOperation.Delete(Collection, "k")]);

        Assert.False(result.Changed);
        Assert.Equal(0, result.Revision);
        Assert.Equal([new(false, null)], result.Outcomes);
        await EmptyAsync(store);
    }

    [Fact]
    public async Task Rejected_commit_takes_no_revision()
    {
        var store = await CreateStoreAsync();
        await store.PutAsync("p", Collection, "k", "1");

        await Assert.ThrowsAsync<VersionConflictException>(async () => await store.PutAsync("p", Collection, "k", "2", WriteCondition.MustNotExist));
        await Assert.ThrowsAsync<VersionConflictException>(async () => await store.PutAsync("p", Collection, "k", "2", WriteCondition.MustMatchVersion(7)));

        Assert.Equal(1, await RevisionAsync(store, "p"));
        Assert.Equal(2, await store.PutAsync("p", Collection, "other", "1"));
    }

    [Fact]
    public async Task Commit_that_changes_nothing_takes_no_revision_and_reports_the_current_one()
    {
        var store = await CreateStoreAsync();

        var onEmpty = await store.CommitAsync("p", [WriteOperation.Delete(Collection, "missing")]);
        Assert.Equal(0, onEmpty.Revision);
        Assert.False(onEmpty.Changed);
        Assert.Equal([new(false, null)], onEmpty.Outcomes);
        await EmptyAsync(store);

        await store.PutAsync("p", Collection, "k", "1");
        await store.PutAsync("p", Collection, "k", "2");
        var onExisting = await store.CommitAsync("p", [WriteOperation.Delete(Collection, "missing"), WriteOperation.Delete(OtherCollection, "k")]);

        Assert.Equal(2, onExisting.Revision);
        Assert.False(onExisting.Changed);
        Assert.Equal([new(false, null), new(false, null)], onExisting.Outcomes);
        Assert.Equal(2, await RevisionAsync(store, "p"));
        Assert.Equal(3, await store.PutAsync("p", Collection, "k", "3"));
    }

    [Fact]
    public async Task CreatedAt_is_kept_and_UpdatedAt_moves_with_each_write_both_utc_milliseconds()
    {
        var time = new FakeTimeProvider(Start);
        var store = await CreateStoreAsync(time);
        var created = new DateTimeOffset(2030, 1, 2, 3, 4, 5, 678, TimeSpan.Zero);

        await store.PutAsync("p", Collection, "k", "1");
        var first = Document(await store.GetAsync("p", Collection, "k"), "p", Collection, "k", "1", 1);
        Assert.Equal(created, first.CreatedAt);
        Assert.Equal(created, first.UpdatedAt);
        Assert.Null(first.ExpiresAt);

        time.Advance(TimeSpan.FromTicks(15_000));
        await store.PutAsync("p", Collection, "k", "2", WriteCondition.MustMatchVersion(1));
        var second = Document(await store.GetAsync("p", Collection, "k"), "p", Collection, "k", "2", 2);
        Assert.Equal(created, second.CreatedAt);
        Assert.Equal(new DateTimeOffset(2030, 1, 2, 3, 4, 5, 680, TimeSpan.Zero), second.UpdatedAt);

        time.Advance(TimeSpan.FromDays(400) + TimeSpan.FromTicks(1));
        await store.PutAsync("p", Collection, "k", "3");
        var third = Document(await store.GetAsync("p", Collection, "k"), "p", Collection, "k", "3", 3);
        Assert.Equal(created, third.CreatedAt);
        Assert.Equal(new DateTimeOffset(2031, 2, 6, 3, 4, 5, 680, TimeSpan.Zero), third.UpdatedAt);
        var listed = Assert.Single(await ListAllAsync(store, "p", Collection));
        SameDocument(third, listed);
    }

    [Fact]
    public async Task Recreated_document_gets_a_new_CreatedAt()
    {
        var time = new FakeTimeProvider(Start);
        var store = await CreateStoreAsync(time);
        await store.PutAsync("p", Collection, "k", "1");
        await store.DeleteAsync("p", Collection, "k");
        time.Advance(TimeSpan.FromSeconds(3));

        await store.PutAsync("p", Collection, "k", "2");

        var document = Document(await store.GetAsync("p", Collection, "k"), "p", Collection, "k", "2", 3);
        Assert.Equal(new DateTimeOffset(2030, 1, 2, 3, 4, 8, 678, TimeSpan.Zero), document.CreatedAt);
        Assert.Equal(document.CreatedAt, document.UpdatedAt);
    }

    [Fact]
    public async Task All_documents_of_a_batch_share_one_timestamp()
    {
        var time = new FakeTimeProvider(Start);
        var store = await CreateStoreAsync(time);
        await store.PutAsync("p", Collection, "a", "1");
        time.Advance(TimeSpan.FromMinutes(1));

        await store.CommitAsync("p", [WriteOperation.Put(Collection, "a", "2"), WriteOperation.Put(Collection, "b", "2")]);

        var a = await store.GetAsync("p", Collection, "a");
        var b = await store.GetAsync("p", Collection, "b");
        Assert.Equal(new DateTimeOffset(2030, 1, 2, 3, 5, 5, 678, TimeSpan.Zero), a!.UpdatedAt);
        Assert.Equal(a.UpdatedAt, b!.UpdatedAt);
        Assert.Equal(b.UpdatedAt, b.CreatedAt);
        Assert.Equal(new DateTimeOffset(2030, 1, 2, 3, 4, 5, 678, TimeSpan.Zero), a.CreatedAt);
    }
}
