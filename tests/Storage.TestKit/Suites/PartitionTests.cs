using Storage.Internal;
using static Storage.Conformance.StoreAssert;
using static Storage.Conformance.TestData;

namespace Storage.Conformance;

/// <summary>Listing partitions with their revisions, and deleting a whole partition.</summary>
/// <typeparam name="TFixture">The backend's fixture.</typeparam>
public abstract class PartitionTests<TFixture>(TFixture fixture) : StoreTestBase<TFixture>(fixture)
    where TFixture : StoreFixture
{
    [Fact]
    public async Task Empty_store_lists_no_partitions()
    {
        var store = await CreateStoreAsync();

        var page = await store.ListPartitionsAsync();

        Assert.Empty(page.Items);
        Assert.Null(page.ContinuationToken);
    }

    [Fact]
    public async Task Partitions_are_listed_in_code_point_order_with_their_revisions()
    {
        var store = await CreateStoreAsync();
        string[] expected = ["B", "a", "b", "\u00e9", "\uE000", "\uFFFD", "\U00010000", "😀"];
        foreach (var (partition, i) in expected.Select((p, i) => (p, i)).OrderBy(x => x.p, StringComparer.Ordinal))
        {
            for (var commit = 0; commit <= i; commit++)
            {
                await store.PutAsync(partition, Collection, $"k{commit}", "1");
            }
        }

        var all = await ListAllPartitionsAsync(store);

        Assert.Equal(expected.Select((p, i) => new PartitionInfo(p, i + 1)), all);
        Assert.Equal(all, await ListAllPartitionsAsync(store, limit: 1));
        Assert.Equal(all, await ListAllPartitionsAsync(store, limit: 3));
        Assert.Equal(all, await ListAllPartitionsAsync(store, limit: StoreLimits.MaxPageSize));
    }

    [Fact]
    public async Task Partition_listing_pages_with_continuation_tokens()
    {
        var store = await CreateStoreAsync();
        for (var i = 0; i < 7; i++)
        {
            await store.PutAsync($"p{i}", Collection, "k", "1");
        }

        var first = await store.ListPartitionsAsync(new PartitionListOptions { Limit = 3 });
        var second = await store.ListPartitionsAsync(new PartitionListOptions { Limit = 3, ContinuationToken = first.ContinuationToken });
        var third = await store.ListPartitionsAsync(new PartitionListOptions { Limit = 3, ContinuationToken = second.ContinuationToken });

        Assert.Equal(["p0", "p1", "p2"], first.Items.Select(p => p.Partition));
        Assert.Equal(["p3", "p4", "p5"], second.Items.Select(p => p.Partition));
        Assert.Equal(["p6"], third.Items.Select(p => p.Partition));
        Assert.NotNull(first.ContinuationToken);
        Assert.NotNull(second.ContinuationToken);
        Assert.Null(third.ContinuationToken);
    }

    [Fact]
    public async Task Partition_listing_without_a_page_size_returns_DefaultPageSize_items()
    {
        var store = await CreateStoreAsync();
        for (var i = 0; i < StoreLimits.DefaultPageSize + 1; i++)
        {
            await store.IncrementSequenceAsync($"p{i:D3}", "seq");
        }

        var first = await store.ListPartitionsAsync();

        Assert.Equal(StoreLimits.DefaultPageSize, first.Items.Count);
        Assert.NotNull(first.ContinuationToken);
        Assert.Equal(StoreLimits.DefaultPageSize + 1, (await ListAllPartitionsAsync(store)).Count);
    }

    [Theory]
    [InlineData(0)]
    [InlineData(-1)]
    [InlineData(StoreLimits.MaxPageSize + 1)]
    public async Task Partition_page_size_out_of_range_is_rejected(int limit)
    {
        var store = await CreateStoreAsync();
        await store.PutAsync("p", Collection, "k", "1");

        var e = await Assert.ThrowsAsync<ArgumentOutOfRangeException>(async () => await store.ListPartitionsAsync(new PartitionListOptions { Limit = limit }));

        Assert.StartsWith(ErrorMessages.InvalidLimit(limit), e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Continuation_token_of_a_document_listing_is_rejected_by_the_partition_listing()
    {
        var store = await CreateStoreAsync();
        await store.CommitAsync("p", [WriteOperation.Put(Collection, "a", "1"), WriteOperation.Put(Collection, "b", "1")]);
        var token = (await store.ListAsync("p", Collection, new ListOptions { Limit = 1 })).ContinuationToken;

        var e = await ThrowsArgumentAsync(async () => await store.ListPartitionsAsync(new PartitionListOptions { ContinuationToken = token }));

        Assert.StartsWith(ErrorMessages.InvalidContinuationToken, e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Partition_whose_documents_were_all_deleted_still_exists_with_its_revision()
    {
        var store = await CreateStoreAsync();
        await store.PutAsync("p", Collection, "k", "1");
        await store.DeleteAsync("p", Collection, "k");

        Assert.Equal([new PartitionInfo("p", 2)], await ListAllPartitionsAsync(store));
        Assert.True(await store.DeletePartitionAsync("p"));
        await EmptyAsync(store);
    }

    [Fact]
    public async Task Commit_that_changes_nothing_creates_no_partition()
    {
        var store = await CreateStoreAsync();

        await store.CommitAsync("p", [WriteOperation.Delete(Collection, "k")]);
        await store.GetAsync("q", Collection, "k");
        await store.ListAsync("r", Collection);
        await store.GetSequenceAsync("s", "seq");

        await EmptyAsync(store);
        Assert.False(await store.DeletePartitionAsync("p"));
    }

    [Fact]
    public async Task Delete_partition_removes_its_documents_and_sequences_and_leaves_the_others()
    {
        var store = await CreateStoreAsync();
        await store.CommitAsync("p", [WriteOperation.Put(Collection, "a", "1"), WriteOperation.Put(OtherCollection, "b", "2")]);
        await store.IncrementSequenceAsync("p", "seq", 3);
        await store.CommitAsync("alice", [WriteOperation.Put(Collection, "a", "3")]);
        await store.CommitAsync("Alice", [WriteOperation.Put(Collection, "a", "4")]);
        await store.IncrementSequenceAsync("Alice", "seq", 9);
        await store.PutAsync("p2", Collection, "a", "5");
        var aliceUpper = await store.GetAsync("Alice", Collection, "a");
        var p2 = await store.GetAsync("p2", Collection, "a");

        Assert.True(await store.DeletePartitionAsync("p"));
        Assert.True(await store.DeletePartitionAsync("alice"));

        Assert.Null(await store.GetAsync("p", Collection, "a"));
        Assert.Null(await store.GetAsync("p", OtherCollection, "b"));
        Assert.Empty(await ListAllAsync(store, "p", Collection));
        Assert.Empty(await ListAllAsync(store, "p", OtherCollection));
        Assert.Equal(0, await store.GetSequenceAsync("p", "seq"));
        Assert.Null(await store.GetAsync("alice", Collection, "a"));
        await UnchangedAsync(store, aliceUpper!);
        await UnchangedAsync(store, p2!);
        Assert.Equal(9, await store.GetSequenceAsync("Alice", "seq"));
        Assert.Equal([new PartitionInfo("Alice", 2), new PartitionInfo("p2", 1)], await ListAllPartitionsAsync(store));
    }

    [Fact]
    public async Task Delete_partition_returns_true_once_and_then_false()
    {
        var store = await CreateStoreAsync();
        await store.PutAsync("p", Collection, "a", "1");

        Assert.True(await store.DeletePartitionAsync("p"));
        Assert.False(await store.DeletePartitionAsync("p"));
        Assert.False(await store.DeletePartitionAsync("never"));

        await EmptyAsync(store);
    }

    [Fact]
    public async Task Deleted_partition_can_be_written_again_and_is_listed_again()
    {
        var store = await CreateStoreAsync();
        await store.PutAsync("p", Collection, "a", "1");
        await store.PutAsync("p", Collection, "a", "2");
        await store.DeletePartitionAsync("p");

        var version = await store.PutAsync("p", Collection, "b", "3");

        Assert.True(version > 2, $"The re-created partition took revision {version}; it had reached 2.");
        var listed = Assert.Single(await ListAllPartitionsAsync(store));
        Assert.Equal(new PartitionInfo("p", version), listed);
        Assert.Equal(["b"], await ListKeysAsync(store, "p", Collection));
        Assert.Null(await store.GetAsync("p", Collection, "a"));
    }

    [Fact]
    public async Task Deleted_partition_with_tricky_keys_leaves_its_look_alikes()
    {
        var store = await CreateStoreAsync();
        foreach (var key in TrickyKeys)
        {
            await store.PutAsync(key, Collection, "k", "1");
        }

        foreach (var key in TrickyKeys.Where((_, i) => i % 2 == 0))
        {
            Assert.True(await store.DeletePartitionAsync(key));
        }

        var survivors = TrickyKeys.Where((_, i) => i % 2 == 1).Order(StorageKeyComparer.Instance).ToList();
        Assert.Equal(survivors, (await ListAllPartitionsAsync(store)).Select(p => p.Partition));
        foreach (var key in TrickyKeys)
        {
            Assert.Equal(survivors.Contains(key), await store.GetAsync(key, Collection, "k") is not null);
        }
    }
}
