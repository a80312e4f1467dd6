using System.Collections.Concurrent;
using Storage.Internal;
using static Storage.Conformance.StoreAssert;
using static Storage.Conformance.TestData;

namespace Storage.Conformance;

/// <summary>Listing: code-point order, prefixes, ranges, descending order, page sizes and continuation tokens, also under concurrent writes.</summary>
/// <typeparam name="TFixture">The backend's fixture.</typeparam>
public abstract class ListingTests<TFixture>(TFixture fixture) : StoreTestBase<TFixture>(fixture)
    where TFixture : StoreFixture
{
    // Written out by hand in code-point (UTF-8 byte) order. UTF-16 ordinal order would put the
    // non-BMP keys (surrogate pairs, D800–DBFF) before U+E000–U+FFFF.
    private static readonly string[] s_codePointOrder =
    [
        "Z", "a", "ab", "z", "\u00e9", "\uE000", "\uFF21", "\uFFFD", "\U00010000", "😀", "\U0010FFFF",
    ];

    [Fact]
    public async Task Keys_are_listed_in_code_point_order_not_utf16_order()
    {
        var store = await CreateStoreAsync();
        await PutAllAsync(store, "p", Enumerable.Reverse(s_codePointOrder));

        Assert.Equal(s_codePointOrder, await ListKeysAsync(store, "p", Collection));
        Assert.Equal(s_codePointOrder, await ListKeysAsync(store, "p", Collection, new ListOptions { Limit = 1 }));
        Assert.Equal(Enumerable.Reverse(s_codePointOrder), await ListKeysAsync(store, "p", Collection, new ListOptions { Descending = true }));
        Assert.Equal(Enumerable.Reverse(s_codePointOrder), await ListKeysAsync(store, "p", Collection, new ListOptions { Descending = true, Limit = 2 }));
        Assert.NotEqual(s_codePointOrder, s_codePointOrder.Order(StringComparer.Ordinal));
        Assert.Equal(s_codePointOrder, s_codePointOrder.Order(StorageKeyComparer.Instance));
    }

    [Fact]
    public async Task Range_bounds_compare_in_code_point_order()
    {
        var store = await CreateStoreAsync();
        await PutAllAsync(store, "p", s_codePointOrder);

        Assert.Equal(["\uFFFD", "\U00010000", "😀"], await ListKeysAsync(store, "p", Collection, new ListOptions { StartKey = "\uFFFD", EndKey = "\U0010FFFF" }));
        Assert.Equal(["\U00010000", "😀", "\U0010FFFF"], await ListKeysAsync(store, "p", Collection, new ListOptions { StartKey = "\uFFFF" }));
        Assert.Equal(["Z", "a", "ab", "z", "\u00e9", "\uE000", "\uFF21", "\uFFFD"], await ListKeysAsync(store, "p", Collection, new ListOptions { EndKey = "\U00010000" }));
        Assert.Equal(["\uFFFD", "\uFF21", "\uE000"], await ListKeysAsync(store, "p", Collection, new ListOptions { StartKey = "\uE000", EndKey = "\U00010000", Descending = true, Limit = 2 }));
    }

    [Fact]
    public async Task Listing_returns_documents_with_their_values_and_metadata()
    {
        var store = await CreateStoreAsync();
        await store.PutAsync("p", Collection, "a", """{"b":1,"a":2}""");
        await store.PutAsync("p", Collection, "b", "1.0");

        var page = await store.ListAsync("p", Collection);

        Assert.Null(page.ContinuationToken);
        Assert.Equal(2, page.Items.Count);
        SameDocument((await store.GetAsync("p", Collection, "a"))!, page.Items[0]);
        SameDocument((await store.GetAsync("p", Collection, "b"))!, page.Items[1]);
        Document(page.Items[0], "p", Collection, "a", """{"b":1,"a":2}""", 1);
    }

    [Fact]
    public async Task Listing_an_unknown_partition_or_collection_returns_an_empty_last_page()
    {
        var store = await CreateStoreAsync();
        await store.PutAsync("p", Collection, "a", "1");

        var unknownPartition = await store.ListAsync("q", Collection);
        var unknownCollection = await store.ListAsync("p", OtherCollection);

        Assert.Empty(unknownPartition.Items);
        Assert.Null(unknownPartition.ContinuationToken);
        Assert.Empty(unknownCollection.Items);
        Assert.Null(unknownCollection.ContinuationToken);
        Assert.Equal(["p"], (await ListAllPartitionsAsync(store)).Select(p => p.Partition));
    }

    [Fact]
    public async Task Listing_shows_only_its_own_collection_and_partition()
    {
        var store = await CreateStoreAsync();
        await store.CommitAsync("p", [WriteOperation.Put(Collection, "a", "1"), WriteOperation.Put(OtherCollection, "b", "1"), WriteOperation.Put("items2", "c", "1"), WriteOperation.Put("Items", "d", "1")]);
        await store.PutAsync("P", Collection, "e", "1");

        Assert.Equal(["a"], await ListKeysAsync(store, "p", Collection));
        Assert.Equal(["b"], await ListKeysAsync(store, "p", OtherCollection));
        Assert.Equal(["c"], await ListKeysAsync(store, "p", "items2"));
        Assert.Equal(["d"], await ListKeysAsync(store, "p", "Items"));
        Assert.Equal(["e"], await ListKeysAsync(store, "P", Collection));
    }

    [Fact]
    public async Task Prefix_selects_keys_that_start_with_it()
    {
        var store = await CreateStoreAsync();
        await PutAllAsync(store, "p", ["a", "ab", "abc", "abd", "abd\U00010000", "ac", "b", "😀", "😀a", "😀😀", "\U0001F601", "caf\u00e9", "cafe\u0301"]);

        Assert.Equal(["ab", "abc", "abd", "abd\U00010000"], await ListKeysAsync(store, "p", Collection, new ListOptions { Prefix = "ab" }));
        Assert.Equal(["abc"], await ListKeysAsync(store, "p", Collection, new ListOptions { Prefix = "abc" }));
        Assert.Equal(["abd", "abd\U00010000"], await ListKeysAsync(store, "p", Collection, new ListOptions { Prefix = "abd" }));
        Assert.Equal(["😀", "😀a", "😀😀"], await ListKeysAsync(store, "p", Collection, new ListOptions { Prefix = "😀" }));
        Assert.Equal(["😀😀"], await ListKeysAsync(store, "p", Collection, new ListOptions { Prefix = "😀😀" }));
        Assert.Equal(["cafe\u0301"], await ListKeysAsync(store, "p", Collection, new ListOptions { Prefix = "cafe" }));
        Assert.Equal(["cafe\u0301", "caf\u00e9"], await ListKeysAsync(store, "p", Collection, new ListOptions { Prefix = "caf" }));
        Assert.Empty(await ListKeysAsync(store, "p", Collection, new ListOptions { Prefix = "zz" }));
        Assert.Empty(await ListKeysAsync(store, "p", Collection, new ListOptions { Prefix = "abcd" }));
        Assert.Empty(await ListKeysAsync(store, "p", Collection, new ListOptions { Prefix = "A" }));
        Assert.Equal(["abd\U00010000", "abd", "abc", "ab"], await ListKeysAsync(store, "p", Collection, new ListOptions { Prefix = "ab", Descending = true, Limit = 1 }));
        Assert.Equal(["😀😀", "😀a", "😀"], await ListKeysAsync(store, "p", Collection, new ListOptions { Prefix = "😀", Descending = true }));
    }

    [Fact]
    public async Task Range_start_is_inclusive_and_end_exclusive()
    {
        var store = await CreateStoreAsync();
        await PutAllAsync(store, "p", ["k1", "k3", "k5", "k7"]);

        Assert.Equal(["k3", "k5"], await ListKeysAsync(store, "p", Collection, new ListOptions { StartKey = "k3", EndKey = "k7" }));
        Assert.Equal(["k3", "k5"], await ListKeysAsync(store, "p", Collection, new ListOptions { StartKey = "k2", EndKey = "k6" }));
        Assert.Equal(["k5", "k7"], await ListKeysAsync(store, "p", Collection, new ListOptions { StartKey = "k5" }));
        Assert.Equal(["k5", "k7"], await ListKeysAsync(store, "p", Collection, new ListOptions { StartKey = "k4" }));
        Assert.Equal(["k1", "k3"], await ListKeysAsync(store, "p", Collection, new ListOptions { EndKey = "k5" }));
        Assert.Equal(["k1", "k3", "k5", "k7"], await ListKeysAsync(store, "p", Collection, new ListOptions { StartKey = "a", EndKey = "z" }));
        Assert.Equal(["k1", "k3", "k5", "k7"], await ListKeysAsync(store, "p", Collection, new ListOptions { StartKey = "k1", EndKey = "k70" }));
        Assert.Equal(["k5", "k3"], await ListKeysAsync(store, "p", Collection, new ListOptions { StartKey = "k3", EndKey = "k7", Descending = true }));
        Assert.Equal(["k5", "k3"], await ListKeysAsync(store, "p", Collection, new ListOptions { StartKey = "k3", EndKey = "k7", Descending = true, Limit = 1 }));
        Assert.Empty(await ListKeysAsync(store, "p", Collection, new ListOptions { StartKey = "k3", EndKey = "k3" }));
        Assert.Empty(await ListKeysAsync(store, "p", Collection, new ListOptions { StartKey = "k4", EndKey = "k4" }));
        Assert.Empty(await ListKeysAsync(store, "p", Collection, new ListOptions { StartKey = "k5", EndKey = "k3" }));
        Assert.Empty(await ListKeysAsync(store, "p", Collection, new ListOptions { StartKey = "k5", EndKey = "k3", Descending = true }));
        Assert.Empty(await ListKeysAsync(store, "p", Collection, new ListOptions { StartKey = "k8" }));
        Assert.Empty(await ListKeysAsync(store, "p", Collection, new ListOptions { EndKey = "k1" }));
        Assert.Equal(["k3"], await ListKeysAsync(store, "p", Collection, new ListOptions { StartKey = "k3", EndKey = "k4" }));
    }

    [Fact]
    public async Task Prefix_and_range_combine()
    {
        var store = await CreateStoreAsync();
        await PutAllAsync(store, "p", ["a1", "a2", "a3", "b1", "b2"]);

        Assert.Equal(["a2", "a3"], await ListKeysAsync(store, "p", Collection, new ListOptions { Prefix = "a", StartKey = "a2" }));
        Assert.Equal(["a1", "a2"], await ListKeysAsync(store, "p", Collection, new ListOptions { Prefix = "a", EndKey = "a3" }));
        Assert.Equal(["b1"], await ListKeysAsync(store, "p", Collection, new ListOptions { Prefix = "b", StartKey = "a", EndKey = "b2" }));
        Assert.Equal(["a3", "a2"], await ListKeysAsync(store, "p", Collection, new ListOptions { Prefix = "a", StartKey = "a2", EndKey = "b", Descending = true, Limit = 1 }));
        Assert.Empty(await ListKeysAsync(store, "p", Collection, new ListOptions { Prefix = "a", StartKey = "b" }));
        Assert.Empty(await ListKeysAsync(store, "p", Collection, new ListOptions { Prefix = "b", EndKey = "b1" }));
    }

    [Fact]
    public async Task Page_size_1_and_MaxPageSize_are_honoured()
    {
        var store = await CreateStoreAsync();
        var keys = Enumerable.Range(0, StoreLimits.MaxPageSize + 1).Select(i => $"k{i:D4}").ToList();
        await store.CommitAsync("p", [.. keys.Take(StoreLimits.MaxBatchOperations).Select(k => WriteOperation.Put(Collection, k, "1"))]);
        await store.CommitAsync("p", [.. keys.Skip(StoreLimits.MaxBatchOperations).Select(k => WriteOperation.Put(Collection, k, "2"))]);

        var one = await store.ListAsync("p", Collection, new ListOptions { Limit = 1 });
        var max = await store.ListAsync("p", Collection, new ListOptions { Limit = StoreLimits.MaxPageSize });
        var rest = await store.ListAsync("p", Collection, new ListOptions { Limit = StoreLimits.MaxPageSize, ContinuationToken = max.ContinuationToken });

        Assert.Equal(["k0000"], one.Items.Select(d => d.Key));
        Assert.NotNull(one.ContinuationToken);
        Assert.Equal(keys.Take(StoreLimits.MaxPageSize), max.Items.Select(d => d.Key));
        Assert.NotNull(max.ContinuationToken);
        Assert.Equal([keys[^1]], rest.Items.Select(d => d.Key));
        Assert.Null(rest.ContinuationToken);
    }

    [Fact]
    public async Task Listing_without_a_page_size_returns_DefaultPageSize_items()
    {
        var store = await CreateStoreAsync();
        var keys = Enumerable.Range(0, StoreLimits.DefaultPageSize + 5).Select(i => $"k{i:D4}").ToList();
        await store.CommitAsync("p", [.. keys.Select(k => WriteOperation.Put(Collection, k, "1"))]);

        var first = await store.ListAsync("p", Collection);
        var second = await store.ListAsync("p", Collection, new ListOptions { ContinuationToken = first.ContinuationToken });

        Assert.Equal(keys.Take(StoreLimits.DefaultPageSize), first.Items.Select(d => d.Key));
        Assert.Equal(keys.Skip(StoreLimits.DefaultPageSize), second.Items.Select(d => d.Key));
        Assert.Null(second.ContinuationToken);
    }

    [Fact]
    public async Task Last_full_page_may_carry_a_token_but_the_next_page_is_then_empty_and_final()
    {
        var store = await CreateStoreAsync();
        await PutAllAsync(store, "p", ["a", "b", "c", "d"]);

        var first = await store.ListAsync("p", Collection, new ListOptions { Limit = 2 });
        var second = await store.ListAsync("p", Collection, new ListOptions { Limit = 2, ContinuationToken = first.ContinuationToken });

        Assert.Equal(["a", "b"], first.Items.Select(d => d.Key));
        Assert.Equal(["c", "d"], second.Items.Select(d => d.Key));
        if (second.ContinuationToken is not null)
        {
            var third = await store.ListAsync("p", Collection, new ListOptions { Limit = 2, ContinuationToken = second.ContinuationToken });
            Assert.Empty(third.Items);
            Assert.Null(third.ContinuationToken);
        }
    }

    [Theory]
    [InlineData(0)]
    [InlineData(-1)]
    [InlineData(int.MinValue)]
    [InlineData(StoreLimits.MaxPageSize + 1)]
    [InlineData(int.MaxValue)]
    public async Task Page_size_out_of_range_is_rejected(int limit)
    {
        var store = await CreateStoreAsync();

        var e = await Assert.ThrowsAsync<ArgumentOutOfRangeException>(async () => await store.ListAsync("p", Collection, new ListOptions { Limit = limit }));

        Assert.StartsWith(ErrorMessages.InvalidLimit(limit), e.Message, StringComparison.Ordinal);
        await EmptyAsync(store);
    }

    [Theory]
    [InlineData(1, false)]
    [InlineData(2, false)]
    [InlineData(3, true)]
    [InlineData(7, false)]
    [InlineData(7, true)]
    public async Task Paging_through_everything_yields_exactly_the_full_listing(int limit, bool descending)
    {
        var store = await CreateStoreAsync();
        string[] keys = [.. TrickyKeys, .. LongKeys, .. s_codePointOrder.Except(TrickyKeys)];
        await PutAllAsync(store, "p", keys);
        var expected = descending ? Enumerable.Reverse(keys.Order(StorageKeyComparer.Instance)) : keys.Order(StorageKeyComparer.Instance);

        Assert.Equal(expected, await ListKeysAsync(store, "p", Collection, new ListOptions { Limit = limit, Descending = descending }));
        Assert.Equal(expected, await ListKeysAsync(store, "p", Collection, new ListOptions { Limit = StoreLimits.MaxPageSize, Descending = descending }));
    }

    [Fact]
    public async Task Continuation_token_of_another_listing_is_rejected()
    {
        var store = await CreateStoreAsync();
        await PutAllAsync(store, "p", ["a1", "a2", "a3", "b1", "b2"]);
        await PutAllAsync(store, "p", ["a1", "a2", "a3"], OtherCollection);
        await PutAllAsync(store, "q", ["a1", "a2", "a3"]);
        var options = new ListOptions { Prefix = "a", Limit = 1 };
        var token = (await store.ListAsync("p", Collection, options)).ContinuationToken;
        Assert.NotNull(token);

        await AssertTokenRejectedAsync(() => store.ListAsync("p", OtherCollection, options with { ContinuationToken = token }));
        await AssertTokenRejectedAsync(() => store.ListAsync("q", Collection, options with { ContinuationToken = token }));
        await AssertTokenRejectedAsync(() => store.ListAsync("p", Collection, options with { Prefix = "b", ContinuationToken = token }));
        await AssertTokenRejectedAsync(() => store.ListAsync("p", Collection, options with { Prefix = null, ContinuationToken = token }));
        await AssertTokenRejectedAsync(() => store.ListAsync("p", Collection, options with { Descending = true, ContinuationToken = token }));
        await AssertTokenRejectedAsync(() => store.ListAsync("p", Collection, options with { StartKey = "a", ContinuationToken = token }));
        await AssertTokenRejectedAsync(() => store.ListAsync("p", Collection, options with { EndKey = "b", ContinuationToken = token }));
        await AssertTokenRejectedAsync(() => store.ListPartitionsAsync(new PartitionListOptions { Limit = 1, ContinuationToken = token }));

        var same = await store.ListAsync("p", Collection, options with { ContinuationToken = token });
        Assert.Equal(["a2"], same.Items.Select(d => d.Key));
    }

    [Fact]
    public async Task Continuation_token_of_the_partition_listing_is_rejected_by_a_document_listing()
    {
        var store = await CreateStoreAsync();
        await store.PutAsync("p", Collection, "a", "1");
        await store.PutAsync("q", Collection, "a", "1");
        var token = (await store.ListPartitionsAsync(new PartitionListOptions { Limit = 1 })).ContinuationToken;
        Assert.NotNull(token);

        await AssertTokenRejectedAsync(() => store.ListAsync("p", Collection, new ListOptions { ContinuationToken = token }));
    }

    [Theory]
    [InlineData("")]
    [InlineData("garbage")]
    [InlineData("!!!!")]
    [InlineData("AAAAAAAAAAAAAAAAAAAA")]
    [InlineData("AQAAAAAAAAAAYQ")]
    [InlineData("not a token at all, with spaces")]
    [InlineData("%00")]
    public async Task Garbage_continuation_token_is_rejected(string token)
    {
        var store = await CreateStoreAsync();
        await PutAllAsync(store, "p", ["a", "b"]);

        await AssertTokenRejectedAsync(() => store.ListAsync("p", Collection, new ListOptions { ContinuationToken = token }));
        await AssertTokenRejectedAsync(() => store.ListPartitionsAsync(new PartitionListOptions { ContinuationToken = token }));
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task Paging_stays_correct_while_another_task_inserts_and_deletes(bool descending)
    {
        var store = await CreateStoreAsync();
        var initial = Enumerable.Range(0, 200).Select(i => $"k{i:D3}").ToList();
        await store.CommitAsync("p", [.. initial.Select(k => WriteOperation.Put(Collection, k, "0"))]);
        var random = new Random(20240607);
        var deletable = new Queue<string>(initial.Where((_, i) => i % 3 == 0).OrderBy(_ => random.Next()));
        var deleted = new ConcurrentBag<string>();
        var inserted = new ConcurrentBag<string>();
        var writes = 0;
        var pages = 0;
        using var stop = new CancellationTokenSource();

        // Writer and pager run at the same time, but neither gets far ahead of the other: the pager
        // waits for a write after each page and the writer for a page after every three writes, so
        // they interleave even on a backend that never yields.
        var writer = Task.Run(async () =>
        {
            for (var i = 0; i < 1000 && !stop.IsCancellationRequested; i++)
            {
                while (Volatile.Read(ref writes) >= (3 * Volatile.Read(ref pages)) + 3 && !stop.IsCancellationRequested)
                {
                    await Task.Delay(1);
                }

                if (i % 2 == 0 && deletable.Count > 0)
                {
                    var key = deletable.Dequeue();
                    deleted.Add(key);
                    Assert.True(await store.DeleteAsync("p", Collection, key));
                }
                else
                {
                    var key = $"k{random.Next(200):D3}+{i}";
                    inserted.Add(key);
                    await store.PutAsync("p", Collection, key, $"{i}");
                }

                Interlocked.Increment(ref writes);
            }
        });

        var seen = new List<string>();
        string? token = null;
        do
        {
            var page = await store.ListAsync("p", Collection, new ListOptions { Limit = 7, Descending = descending, ContinuationToken = token });
            seen.AddRange(page.Items.Select(d => d.Key));
            token = page.ContinuationToken;
            var pagesRead = Interlocked.Increment(ref pages);
            while (token is not null && Volatile.Read(ref writes) < pagesRead && !writer.IsCompleted)
            {
                await Task.Delay(1);
            }
        }
        while (token is not null);

        await stop.CancelAsync();
        await writer;

        Assert.True(Volatile.Read(ref writes) >= pages - 1, $"Only {writes} writes happened during {pages} pages.");
        Assert.Equal(seen.Count, seen.Distinct(StringComparer.Ordinal).Count());
        var ordered = seen.Order(StorageKeyComparer.Instance).ToList();
        Assert.Equal(descending ? Enumerable.Reverse(ordered) : ordered, seen);
        foreach (var key in initial.Except(deleted))
        {
            Assert.Contains(key, seen);
        }

        Assert.All(seen, key => Assert.True(initial.Contains(key) || inserted.Contains(key), $"'{key}' was never written."));
    }

    private static async Task PutAllAsync(IStore store, string partition, IEnumerable<string> keys, string collection = Collection)
        => await store.CommitAsync(partition, [.. keys.Select((k, i) => WriteOperation.Put(collection, k, $"{i}"))]);

    private static async Task AssertTokenRejectedAsync<T>(Func<ValueTask<T>> listing)
    {
        var e = await Assert.ThrowsAnyAsync<ArgumentException>(async () => await listing());
        Assert.StartsWith(ErrorMessages.InvalidContinuationToken, e.Message, StringComparison.Ordinal);
    }
}
