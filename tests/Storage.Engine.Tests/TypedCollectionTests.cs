using System.Text.Json;
using System.Text.Json.Serialization;

namespace Storage.Engine.Tests;

/// <summary>
/// The typed API (<see cref="DocumentCollection{T}"/>, <see cref="StoreExtensions.ListAllAsync"/>):
/// a partition, a collection and a value type bound once; listings that page by themselves.
/// </summary>
public abstract class TypedCollectionTests<TStores>(TStores stores) : IClassFixture<TStores>
    where TStores : Stores
{
    [Fact]
    public async Task A_typed_collection_puts_and_gets_values_with_their_key_and_version()
    {
        await using var store = stores.Open();
        var orders = store.GetCollection("alice", "orders", TestJson.Default.Order);

        var version = await orders.PutAsync("o-1", new Order("tea", 3));
        var read = await orders.GetAsync("o-1");

        Assert.NotNull(read);
        Assert.Equal(new Order("tea", 3), read.Value);
        Assert.Equal("o-1", read.Key);
        Assert.Equal(version, read.Version);
        Assert.Null(await orders.GetAsync("o-2"));

        // The same document as the untyped API sees it: the partition and collection it was bound to.
        var stored = await store.GetAsync("alice", "orders", "o-1");
        Assert.Equal("""{"item":"tea","quantity":3}""", stored!.GetJsonText());
        Assert.Equal(("alice", "orders"), (orders.Partition, orders.Collection));
    }

    [Fact]
    public async Task Conditional_writes_refuse_a_stale_version_and_keep_the_stored_value()
    {
        await using var store = stores.Open();
        var orders = store.GetCollection("alice", "orders", TestJson.Default.Order);
        var created = await orders.PutAsync("o-1", new Order("tea", 1), WriteCondition.MustNotExist);

        var duplicate = await Assert.ThrowsAsync<VersionConflictException>(async () => await orders.PutAsync("o-1", new Order("coffee", 1), WriteCondition.MustNotExist));
        Assert.Equal(created, duplicate.ActualVersion);

        var updated = await orders.PutAsync("o-1", new Order("tea", 2), WriteCondition.MustMatchVersion(created));
        var stale = await Assert.ThrowsAsync<VersionConflictException>(async () => await orders.PutAsync("o-1", new Order("tea", 9), WriteCondition.MustMatchVersion(created)));
        Assert.Equal((created, updated), (stale.ExpectedVersion, stale.ActualVersion));
        await Assert.ThrowsAsync<VersionConflictException>(async () => await orders.DeleteAsync("o-1", WriteCondition.MustMatchVersion(created)));
        Assert.Equal(new Order("tea", 2), (await orders.GetAsync("o-1"))!.Value);

        Assert.True(await orders.DeleteAsync("o-1", WriteCondition.MustMatchVersion(updated)));
        Assert.False(await orders.DeleteAsync("o-1"));
        Assert.Null(await orders.GetAsync("o-1"));
    }

    [Fact]
    public async Task A_typed_batch_commits_all_or_nothing_in_the_bound_partition()
    {
        await using var store = stores.Open();
        var orders = store.GetCollection("alice", "orders", TestJson.Default.Order);
        await orders.PutAsync("o-1", new Order("tea", 1));

        await Assert.ThrowsAsync<VersionConflictException>(async () => await orders.CommitAsync([orders.Put("o-2", new Order("cake", 1)), orders.Delete("o-1", WriteCondition.MustNotExist)]));
        Assert.Null(await orders.GetAsync("o-2"));

        var result = await orders.CommitAsync([orders.Put("o-2", new Order("cake", 1)), orders.Delete("o-1"), WriteOperation.Put("notes", "n-1", "\"hi\"")]);
        Assert.Equal([result.Revision, result.Revision, result.Revision], result.Outcomes.Select(o => o.Version ?? result.Revision));
        Assert.Null(await orders.GetAsync("o-1"));
        Assert.Equal(new Order("cake", 1), (await orders.GetAsync("o-2"))!.Value);
        Assert.NotNull(await store.GetAsync("alice", "notes", "n-1"));
        Assert.Null(await store.GetAsync("bob", "orders", "o-2"));
    }

    [Fact]
    public async Task Binding_checks_the_partition_and_the_collection_once_up_front()
    {
        await using var store = stores.Open();

        Assert.Throws<ArgumentException>(() => store.GetCollection("", "orders", TestJson.Default.Order));
        Assert.Throws<ArgumentException>(() => store.GetCollection("alice", "not a name", TestJson.Default.Order));
        Assert.Throws<ArgumentNullException>(() => store.GetCollection<Order>("alice", "orders", null!));
        Assert.Throws<ArgumentNullException>(() => ((IStore)null!).GetCollection("alice", "orders", TestJson.Default.Order));
    }

    [Fact]
    public async Task Listing_all_pages_by_itself_in_key_order()
    {
        await using var store = stores.Open();
        var orders = store.GetCollection("alice", "orders", TestJson.Default.Order);
        var keys = Enumerable.Range(0, 23).Select(i => $"o-{i:D2}").ToList();
        foreach (var key in keys)
        {
            await orders.PutAsync(key, new Order(key, 1));
        }

        await orders.Store.PutAsync("alice", "other", "o-99", "{}");

        var all = await ToListAsync(orders.ListAllAsync(new ListOptions { Limit = 4 }));
        Assert.Equal(keys, all.Select(d => d.Key));
        Assert.Equal(keys, all.Select(d => d.Value.Item));

        var descending = await ToListAsync(orders.ListAllAsync(new ListOptions { Limit = 5, Prefix = "o-1", Descending = true }));
        Assert.Equal(keys.Where(k => k.StartsWith("o-1", StringComparison.Ordinal)).Reverse(), descending.Select(d => d.Key));

        var untyped = await ToListAsync(store.ListAllAsync("alice", "orders", new ListOptions { Limit = 7 }));
        Assert.Equal(keys, untyped.Select(d => d.Key));
        Assert.Empty(await ToListAsync(store.ListAllAsync("bob", "orders")));
    }

    [Fact]
    public async Task Listing_all_resumes_from_a_page_token_and_pages_match_the_enumeration()
    {
        await using var store = stores.Open();
        var orders = store.GetCollection("alice", "orders", TestJson.Default.Order);
        for (var i = 0; i < 10; i++)
        {
            await orders.PutAsync($"o-{i}", new Order("tea", i));
        }

        var first = await orders.ListPageAsync(new ListOptions { Limit = 3 });
        Assert.Equal(["o-0", "o-1", "o-2"], first.Items.Select(d => d.Key));
        Assert.Equal([0, 1, 2], first.Items.Select(d => d.Value.Quantity));
        Assert.NotNull(first.ContinuationToken);

        var rest = await ToListAsync(orders.ListAllAsync(new ListOptions { Limit = 3, ContinuationToken = first.ContinuationToken }));
        Assert.Equal(Enumerable.Range(3, 7).Select(i => $"o-{i}"), rest.Select(d => d.Key));

        var last = await orders.ListPageAsync(new ListOptions { Limit = 20 });
        Assert.Equal(10, last.Items.Count);
        Assert.Null(last.ContinuationToken);
    }

    [Fact]
    public async Task Listing_all_stays_correct_while_others_write_between_pages()
    {
        await using var store = stores.Open();
        var orders = store.GetCollection("alice", "orders", TestJson.Default.Order);
        for (var i = 0; i < 10; i++)
        {
            await orders.PutAsync($"o-{i}", new Order("tea", i));
        }

        var seen = new List<string>();
        await foreach (var order in orders.ListAllAsync(new ListOptions { Limit = 2 }))
        {
            seen.Add(order.Key);
            if (order.Key == "o-3")
            {
                // Behind the listing (never returned twice), and ahead of it (deleted: never returned).
                await orders.PutAsync("o-0", new Order("coffee", 0));
                await orders.PutAsync("o-00", new Order("coffee", 0));
                await orders.DeleteAsync("o-8");
            }
        }

        Assert.Equal(["o-0", "o-1", "o-2", "o-3", "o-4", "o-5", "o-6", "o-7", "o-9"], seen);
    }

    [Fact]
    public async Task Listing_all_stops_when_cancelled_also_inside_a_page()
    {
        await using var store = stores.Open();
        var orders = store.GetCollection("alice", "orders", TestJson.Default.Order);
        for (var i = 0; i < 10; i++)
        {
            await orders.PutAsync($"o-{i}", new Order("tea", i));
        }

        using var cancel = new CancellationTokenSource();
        var seen = new List<string>();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(async () =>
        {
            await foreach (var order in orders.ListAllAsync(new ListOptions { Limit = 5 }).WithCancellation(cancel.Token))
            {
                seen.Add(order.Key);
                if (seen.Count == 2)
                {
                    await cancel.CancelAsync();
                }
            }
        });
        Assert.Equal(["o-0", "o-1"], seen);

        await Assert.ThrowsAnyAsync<OperationCanceledException>(async () => await ToListAsync(store.ListAllAsync("alice", "orders", cancellationToken: cancel.Token)));
    }

    [Fact]
    public async Task Listing_all_reports_invalid_arguments_when_the_first_page_is_read()
    {
        await using var store = stores.Open();

        var listing = store.ListAllAsync("alice", "not a name");

        await Assert.ThrowsAsync<ArgumentException>(async () => await ToListAsync(listing));
        await Assert.ThrowsAsync<ArgumentException>(async () => await ToListAsync(store.ListAllAsync("alice", "orders", new ListOptions { ContinuationToken = "garbage" })));
        Assert.Throws<ArgumentNullException>(() => ((IStore)null!).ListAllAsync("alice", "orders"));
    }

    [Fact]
    public async Task A_stored_value_that_does_not_fit_the_type_fails_the_read_with_JsonException()
    {
        await using var store = stores.Open();
        await store.PutAsync("alice", "orders", "o-1", """{"item":"tea","quantity":"three"}""");
        var orders = store.GetCollection("alice", "orders", TestJson.Default.Order);

        await Assert.ThrowsAsync<JsonException>(async () => await orders.GetAsync("o-1"));
        await Assert.ThrowsAsync<JsonException>(async () => await ToListAsync(orders.ListAllAsync()));
    }

    private static async Task<List<T>> ToListAsync<T>(IAsyncEnumerable<T> items)
    {
        var list = new List<T>();
        await foreach (var item in items)
        {
            list.Add(item);
        }

        return list;
    }
}

public sealed record Order(string Item, int Quantity);

[JsonSerializable(typeof(Order))]
[JsonSourceGenerationOptions(PropertyNamingPolicy = JsonKnownNamingPolicy.CamelCase)]
public sealed partial class TestJson : JsonSerializerContext;

[Trait("Backend", "Memory")]
public sealed class MemoryTypedCollectionTests(MemoryStores stores) : TypedCollectionTests<MemoryStores>(stores);

[Trait("Backend", "Sqlite")]
public sealed class SqliteTypedCollectionTests(SqliteStores stores) : TypedCollectionTests<SqliteStores>(stores);
