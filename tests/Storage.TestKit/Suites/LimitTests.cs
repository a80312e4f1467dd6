using Storage.Internal;
using static Storage.Conformance.StoreAssert;
using static Storage.Conformance.TestData;

namespace Storage.Conformance;

/// <summary>Value size and nesting depth, at the limit and one past it. (Key, name, batch and page limits are tested with their subjects.)</summary>
/// <typeparam name="TFixture">The backend's fixture.</typeparam>
public abstract class LimitTests<TFixture>(TFixture fixture) : StoreTestBase<TFixture>(fixture)
    where TFixture : StoreFixture
{
    private const int MaxDepth = 64;

    [Fact]
    public async Task Value_of_exactly_MaxValueBytes_round_trips()
    {
        var store = await CreateStoreAsync();
        var value = JsonStringOfSize(StoreLimits.MaxValueBytes);

        await store.PutAsync("p", Collection, "k", value.AsMemory());

        Assert.Equal(value, (await store.GetAsync("p", Collection, "k"))!.Value.ToArray());
        Assert.Equal(value, Assert.Single(await ListAllAsync(store, "p", Collection)).Value.ToArray());
    }

    [Fact]
    public async Task Value_of_MaxValueBytes_with_surrounding_white_space_is_accepted()
    {
        var store = await CreateStoreAsync();
        var value = JsonStringOfSize(StoreLimits.MaxValueBytes);
        byte[] padded = [(byte)' ', (byte)'\n', .. value, (byte)'\r', (byte)'\n', (byte)'\t'];

        await store.PutAsync("p", Collection, "k", padded.AsMemory());

        Assert.Equal(value, (await store.GetAsync("p", Collection, "k"))!.Value.ToArray());
    }

    [Fact]
    public async Task Value_one_byte_past_MaxValueBytes_is_rejected_and_the_stored_value_kept()
    {
        var store = await CreateStoreAsync();
        await store.PutAsync("p", Collection, "k", "1");
        var before = await store.GetAsync("p", Collection, "k");
        var value = JsonStringOfSize(StoreLimits.MaxValueBytes + 1);

        var e = Assert.ThrowsAny<ArgumentException>(() => WriteOperation.Put(Collection, "k", value.AsMemory()));
        await ThrowsArgumentAsync(async () => await store.PutAsync("p", Collection, "k", value.AsMemory()));

        Assert.StartsWith(ErrorMessages.ValueTooLarge(StoreLimits.MaxValueBytes + 1), e.Message, StringComparison.Ordinal);
        await UnchangedAsync(store, before!);
    }

    [Fact]
    public async Task Multi_byte_value_of_exactly_MaxValueBytes_round_trips()
    {
        var store = await CreateStoreAsync();
        var json = "\"" + OfUtf8Length("😀", StoreLimits.MaxValueBytes - 2) + "\"";
        Assert.Equal(StoreLimits.MaxValueBytes, Utf8(json).Length);

        await store.PutAsync("p", Collection, "k", json);

        Document(await store.GetAsync("p", Collection, "k"), "p", Collection, "k", json, 1);
    }

    [Fact]
    public async Task Value_nested_MaxDepth_deep_round_trips()
    {
        var store = await CreateStoreAsync();
        var json = new string('[', MaxDepth) + new string(']', MaxDepth);

        await store.PutAsync("p", Collection, "k", json);

        Document(await store.GetAsync("p", Collection, "k"), "p", Collection, "k", json, 1);
    }

    [Fact]
    public async Task Value_nested_one_level_past_MaxDepth_is_rejected()
    {
        var store = await CreateStoreAsync();
        var json = new string('[', MaxDepth + 1) + new string(']', MaxDepth + 1);

        var e = await ThrowsArgumentAsync(async () => await store.PutAsync("p", Collection, "k", json));

        Assert.StartsWith(ErrorMessages.InvalidJson(string.Empty), e.Message, StringComparison.Ordinal);
        await EmptyAsync(store);
    }
}
