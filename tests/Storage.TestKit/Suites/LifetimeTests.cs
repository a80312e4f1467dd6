using static Storage.Conformance.TestData;

namespace Storage.Conformance;

/// <summary>A disposed store refuses work, and disposing twice is harmless.</summary>
/// <typeparam name="TFixture">The backend's fixture.</typeparam>
public abstract class LifetimeTests<TFixture>(TFixture fixture) : StoreTestBase<TFixture>(fixture)
    where TFixture : StoreFixture
{
    [Fact]
    public async Task Every_call_on_a_disposed_store_throws_ObjectDisposedException()
    {
        var store = await CreateStoreAsync();
        await store.PutAsync("p", Collection, "k", "1");

        await store.DisposeAsync();

        await Assert.ThrowsAsync<ObjectDisposedException>(async () => await store.GetAsync("p", Collection, "k"));
        await Assert.ThrowsAsync<ObjectDisposedException>(async () => await store.PutAsync("p", Collection, "k", "2"));
        await Assert.ThrowsAsync<ObjectDisposedException>(async () => await store.ListAsync("p", Collection));
        await Assert.ThrowsAsync<ObjectDisposedException>(async () => await store.IncrementSequenceAsync("p", "seq"));
        await Assert.ThrowsAsync<ObjectDisposedException>(async () => await store.GetSequenceAsync("p", "seq"));
        await Assert.ThrowsAsync<ObjectDisposedException>(async () => await store.ListPartitionsAsync());
        await Assert.ThrowsAsync<ObjectDisposedException>(async () => await store.DeletePartitionAsync("p"));
        await Assert.ThrowsAsync<ObjectDisposedException>(async () => await store.PurgeExpiredAsync());
    }

    [Fact]
    public async Task The_disposed_message_is_the_same_on_every_backend_and_names_the_contract_not_the_class()
    {
        var store = await CreateStoreAsync();
        await store.DisposeAsync();

        var e = await Assert.ThrowsAsync<ObjectDisposedException>(async () => await store.GetAsync("p", Collection, "k"));

        Assert.Equal(nameof(IStore), e.ObjectName);
        Assert.Equal(new ObjectDisposedException(nameof(IStore), Storage.Internal.ErrorMessages.Disposed).Message, e.Message);
        Assert.DoesNotContain(store.GetType().Name, e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Disposing_twice_is_harmless()
    {
        var store = await CreateStoreAsync();
        await store.PutAsync("p", Collection, "k", "1");

        await store.DisposeAsync();
        await store.DisposeAsync();

        await Assert.ThrowsAsync<ObjectDisposedException>(async () => await store.GetAsync("p", Collection, "k"));
    }
}
