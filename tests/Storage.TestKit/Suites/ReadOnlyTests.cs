using Microsoft.Extensions.Time.Testing;
using Storage.Internal;
using static Storage.Conformance.StoreAssert;
using static Storage.Conformance.TestData;

namespace Storage.Conformance;

/// <summary>
/// The read-only fence (<see cref="IStoreFence"/>): while it is set, every write — commit, increment,
/// partition delete, import, purge — fails with <see cref="StoreReadOnlyException"/> and changes
/// nothing; reads work; it is kept in the store (another instance and a reopened one see it); clearing
/// it lets writes resume.
/// </summary>
/// <typeparam name="TFixture">The backend's fixture.</typeparam>
public abstract class ReadOnlyTests<TFixture>(TFixture fixture) : StoreTestBase<TFixture>(fixture)
    where TFixture : StoreFixture
{
    private const string Users = "users";

    private static IndexDefinition Name => new(Users, "name", "name", IndexValueType.String);

    [Fact]
    public async Task A_new_store_is_not_read_only()
    {
        var store = await CreateStoreAsync();

        Assert.False(await Fence(store).IsReadOnlyAsync());
        await store.PutAsync("p", Users, "k", "1");
    }

    [Fact]
    public async Task Every_kind_of_write_fails_while_the_fence_is_set_and_changes_nothing()
    {
        var time = new FakeTimeProvider(Start);
        var store = await CreateStoreAsync(time, indexes: [Name]);
        var before = await SeedAsync(store, time);
        var put = (await store.GetAsync("p", Users, "ann"))!;

        await Fence(store).SetReadOnlyAsync(true);

        Assert.True(await Fence(store).IsReadOnlyAsync());
        await RefusedAsync(() => store.PutAsync("p", Users, "new", """{"name":"Cy"}"""));
        await RefusedAsync(() => store.PutAsync("p", Users, "ann", """{"name":"Ann"}""", WriteCondition.MustMatchVersion(put.Version)));
        await RefusedAsync(() => store.PutAsync("p", Users, "ann", """{"name":"Ann"}""", WriteCondition.MustMatchVersion(put.Version + 7)));
        await RefusedAsync(() => store.PutAsync("new-partition", Users, "k", "1"));
        await RefusedAsync(() => store.DeleteAsync("p", Users, "ann"));
        await RefusedAsync(() => store.CommitAsync("p", [WriteOperation.Append("s", [NewEvent(10)])]));
        await RefusedAsync(() => store.IncrementSequenceAsync("p", "seq"));
        await RefusedAsync(() => store.DeletePartitionAsync("p"));
        await RefusedAsync(() => store.DeletePartitionAsync("absent"));
        await RefusedAsync(() => store.PurgeExpiredAsync());
        if (store is IBulkImport bulk)
        {
            await RefusedAsync(() => bulk.ImportAsync(Partitions(new ImportedPartition("imported", [WriteOperation.Put(Users, "k", "1")]))));
            await RefusedAsync(() => bulk.ImportAsync(Partitions()));
        }

        Assert.Equal(before, await StateAsync(store));

        // A purge with something to remove is refused too: the expired document is still there to purge after.
        time.Advance(TimeSpan.FromHours(1));
        var expired = await StateAsync(store);
        await RefusedAsync(() => store.PurgeExpiredAsync());
        Assert.Equal(expired, await StateAsync(store));
        await Fence(store).SetReadOnlyAsync(false);
        Assert.Equal(1, await store.PurgeExpiredAsync());
    }

    [Fact]
    public async Task Reads_work_while_the_fence_is_set()
    {
        var time = new FakeTimeProvider(Start);
        var store = await CreateStoreAsync(time, indexes: [Name]);
        var before = await SeedAsync(store, time);

        await Fence(store).SetReadOnlyAsync(true);

        Assert.Equal(before, await StateAsync(store));
        Assert.Equal(["ann"], (await store.QueryAsync(new IndexQuery(Users, "name") { Equal = "Ann" })).Items.Select(m => m.Document.Key));
        Assert.Equal(1, await store.CountAsync(new IndexQuery(Users, "name") { Equal = "Ann" }));
    }

    [Fact]
    public async Task Argument_errors_come_before_the_fence()
    {
        var store = await CreateStoreAsync();
        await Fence(store).SetReadOnlyAsync(true);

        await ThrowsArgumentAsync(() => store.CommitAsync("p", []).AsTask());
        await ThrowsArgumentAsync(() => store.IncrementSequenceAsync("p", "seq", 0).AsTask());
        await ThrowsArgumentAsync(() => store.DeletePartitionAsync(string.Empty).AsTask());
    }

    [Fact]
    public async Task Clearing_the_fence_lets_writes_resume_at_the_next_revision()
    {
        var store = await CreateStoreAsync();
        var first = await store.PutAsync("p", Users, "k", "1");
        await Fence(store).SetReadOnlyAsync(true);
        await RefusedAsync(() => store.PutAsync("p", Users, "k", "2"));

        await Fence(store).SetReadOnlyAsync(false);

        Assert.False(await Fence(store).IsReadOnlyAsync());
        var second = await store.PutAsync("p", Users, "k", "2");
        Assert.Equal(first + 1, second);
        Assert.Equal(1, await store.IncrementSequenceAsync("p", "seq"));
        Assert.True(await store.DeletePartitionAsync("p"));
    }

    [Fact]
    public async Task Setting_or_clearing_twice_changes_nothing()
    {
        var store = await CreateStoreAsync();

        await Fence(store).SetReadOnlyAsync(false);
        Assert.False(await Fence(store).IsReadOnlyAsync());
        await Fence(store).SetReadOnlyAsync(true);
        await Fence(store).SetReadOnlyAsync(true);
        Assert.True(await Fence(store).IsReadOnlyAsync());
        await Fence(store).SetReadOnlyAsync(false);
        await Fence(store).SetReadOnlyAsync(false);
        Assert.False(await Fence(store).IsReadOnlyAsync());
        await store.PutAsync("p", Users, "k", "1");
    }

    [Fact]
    public async Task The_fence_is_kept_in_the_store_and_a_reopened_instance_refuses_writes()
    {
        var name = StoreFixture.NewStoreName();
        var store = await Fixture.OpenAsync(name);
        await store.PutAsync("p", Users, "k", "1");
        await Fence(store).SetReadOnlyAsync(true);
        await store.DisposeAsync();

        var reopened = await Fixture.OpenAsync(name);

        Assert.True(await Fence(reopened).IsReadOnlyAsync());
        await RefusedAsync(() => reopened.PutAsync("p", Users, "k", "2"));
        Assert.Equal("1", (await reopened.GetAsync("p", Users, "k"))!.GetJsonText());
        await Fence(reopened).SetReadOnlyAsync(false);
        await reopened.PutAsync("p", Users, "k", "2");
    }

    [Fact]
    public async Task Another_open_instance_sees_the_fence_at_once()
    {
        if (!Fixture.SupportsConcurrentInstances)
        {
            // One owner at a time (JSON): the backend's own tests set the fence from another process.
            return;
        }

        var name = StoreFixture.NewStoreName();
        var first = await Fixture.OpenAsync(name);
        var second = await Fixture.OpenAsync(name);
        var version = await second.PutAsync("p", Users, "k", "1");

        await Fence(first).SetReadOnlyAsync(true);

        Assert.True(await Fence(second).IsReadOnlyAsync());
        await RefusedAsync(() => second.PutAsync("p", Users, "k", "2"));
        await RefusedAsync(() => second.IncrementSequenceAsync("p", "seq"));
        Assert.Equal(version, (await first.GetAsync("p", Users, "k"))!.Version);

        await Fence(second).SetReadOnlyAsync(false);

        Assert.Equal(version + 1, await first.PutAsync("p", Users, "k", "2"));
    }

    private static IStoreFence Fence(IStore store) => Assert.IsAssignableFrom<IStoreFence>(store);

    private static async Task RefusedAsync<T>(Func<ValueTask<T>> write)
    {
        var e = await Assert.ThrowsAsync<StoreReadOnlyException>(async () => await write());
        Assert.Equal(ErrorMessages.ReadOnly, e.Message);
        Assert.True(e.IsTransient);
    }

    private static async IAsyncEnumerable<ImportedPartition> Partitions(params ImportedPartition[] partitions)
    {
        await Task.Yield();
        foreach (var partition in partitions)
        {
            yield return partition;
        }
    }

    /// <summary>A document, an expiring one, a tombstone, a stream and a sequence in "p"; returns the state.</summary>
    private static async Task<string> SeedAsync(IStore store, FakeTimeProvider time)
    {
        await store.PutAsync("p", Users, "ann", """{"name":"Ann"}""");
        await store.PutAsync("p", Users, "bob", """{"name":"Bob"}""");
        await store.CommitAsync("p", [WriteOperation.Put(Users, "brief", """{"name":"Brief"}""", expiresAt: Start.AddMinutes(30))]);
        await store.DeleteAsync("p", Users, "bob");
        await store.CommitAsync("p", [WriteOperation.Append("s", NewEvents(1, 2))]);
        await store.IncrementSequenceAsync("p", "seq", 5);
        await store.PutAsync("q", Users, "k", "1");
        time.Advance(TimeSpan.FromMinutes(1));
        return await StateAsync(store);
    }

    /// <summary>Everything a reader sees, as one string: partitions and revisions, documents, streams, sequences, the change feed.</summary>
    private static async Task<string> StateAsync(IStore store)
    {
        var lines = new List<string>();
        foreach (var partition in await ListAllPartitionsAsync(store))
        {
            lines.Add($"partition {partition.Partition} @{partition.Revision}");
            lines.AddRange((await ListAllAsync(store, partition.Partition, Users)).Select(d => $"doc {d.Key} v{d.Version} {d.GetJsonText()} {d.ExpiresAt:O}"));
            lines.AddRange((await ListAllStreamsAsync(store, partition.Partition)).Select(s => $"stream {s.Stream} v{s.Version}"));
            lines.AddRange((await ReadAllEventsAsync(store, partition.Partition, "s")).Select(e => $"event {e.Version} r{e.Revision}"));
            lines.Add($"seq {await store.GetSequenceAsync(partition.Partition, "seq")}");
            var (changes, last) = await ReadAllChangesAsync(store, partition.Partition);
            lines.AddRange(changes.Select(Describe));
            lines.Add($"feed @{last}");
        }

        return string.Join('\n', lines);
    }
}
