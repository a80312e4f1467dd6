using Microsoft.Extensions.Time.Testing;
using Storage.Internal;
using static Storage.Conformance.StoreAssert;
using static Storage.Conformance.TestData;

namespace Storage.Conformance;

/// <summary>Expired documents are invisible everywhere, exactly as if deleted, on the store's injected clock; purging removes them.</summary>
/// <typeparam name="TFixture">The backend's fixture.</typeparam>
public abstract class ExpiryTests<TFixture>(TFixture fixture) : StoreTestBase<TFixture>(fixture)
    where TFixture : StoreFixture
{
    // Start (…05.678 + 0.9123 ms) + 10 s + 0.7 ms, given in another offset: stored as …15.679 UTC.
    private static readonly DateTimeOffset s_expiresAt = Start.AddSeconds(10).AddTicks(7_000).ToOffset(TimeSpan.FromHours(2));
    private static readonly DateTimeOffset s_storedExpiry = new(2030, 1, 2, 3, 4, 15, 679, TimeSpan.Zero);

    [Fact]
    public async Task Document_before_its_expiry_is_visible_with_the_expiry_in_utc_milliseconds()
    {
        var time = new FakeTimeProvider(Start);
        var store = await CreateStoreAsync(time);
        await store.PutAsync("p", Collection, "k", "1", expiresAt: s_expiresAt);

        time.SetUtcNow(s_storedExpiry.AddTicks(-1));

        var document = Document(await store.GetAsync("p", Collection, "k"), "p", Collection, "k", "1", 1);
        Assert.Equal(s_storedExpiry, document.ExpiresAt);
        Assert.Equal(TimeSpan.Zero, document.ExpiresAt!.Value.Offset);
        SameDocument(document, Assert.Single(await ListAllAsync(store, "p", Collection)));
        Assert.Equal(s_storedExpiry, WriteOperation.Put(Collection, "k", "1", expiresAt: s_expiresAt).ExpiresAt);
    }

    [Fact]
    public async Task Document_at_exactly_its_expiry_is_invisible_to_get_and_list()
    {
        var time = new FakeTimeProvider(Start);
        var store = await CreateStoreAsync(time);
        await store.PutAsync("p", Collection, "a", "1");
        await store.PutAsync("p", Collection, "k", "1", expiresAt: s_expiresAt);
        await store.PutAsync("p", Collection, "z", "1");

        time.SetUtcNow(s_storedExpiry);

        Assert.Null(await store.GetAsync("p", Collection, "k"));
        Assert.Equal(["a", "z"], await ListKeysAsync(store, "p", Collection));
        Assert.Equal(["a", "z"], await ListKeysAsync(store, "p", Collection, new ListOptions { Limit = 1 }));
        Assert.Equal(["z", "a"], await ListKeysAsync(store, "p", Collection, new ListOptions { Limit = 1, Descending = true }));
        Assert.Empty(await ListKeysAsync(store, "p", Collection, new ListOptions { Prefix = "k" }));
        Assert.Empty(await ListKeysAsync(store, "p", Collection, new ListOptions { StartKey = "k", EndKey = "l" }));

        time.Advance(TimeSpan.FromDays(1));
        Assert.Null(await store.GetAsync("p", Collection, "k"));
        Assert.Equal(["a", "z"], await ListKeysAsync(store, "p", Collection));
    }

    [Fact]
    public async Task Must_not_exist_put_over_an_expired_document_succeeds_as_a_new_document()
    {
        var time = new FakeTimeProvider(Start);
        var store = await CreateStoreAsync(time);
        await store.PutAsync("p", Collection, "k", "1", expiresAt: s_expiresAt);
        time.SetUtcNow(s_storedExpiry.AddSeconds(1));

        var result = await store.CommitAsync("p", [WriteOperation.Put(Collection, "k", "2", WriteCondition.MustNotExist)]);

        Assert.Equal([new(false, 2)], result.Outcomes);
        var document = Document(await store.GetAsync("p", Collection, "k"), "p", Collection, "k", "2", 2);
        Assert.Equal(s_storedExpiry.AddSeconds(1), document.CreatedAt);
        Assert.Equal(document.CreatedAt, document.UpdatedAt);
        Assert.Null(document.ExpiresAt);
    }

    [Fact]
    public async Task Plain_put_over_an_expired_document_reports_it_did_not_exist()
    {
        var time = new FakeTimeProvider(Start);
        var store = await CreateStoreAsync(time);
        await store.PutAsync("p", Collection, "k", "1", expiresAt: s_expiresAt);
        time.SetUtcNow(s_storedExpiry);

        var result = await store.CommitAsync("p", [WriteOperation.Put(Collection, "k", "2")]);

        Assert.Equal([new(false, 2)], result.Outcomes);
        Assert.Equal(s_storedExpiry, (await store.GetAsync("p", Collection, "k"))!.CreatedAt);
    }

    [Fact]
    public async Task Expired_document_fails_a_version_condition_with_no_actual_version()
    {
        var time = new FakeTimeProvider(Start);
        var store = await CreateStoreAsync(time);
        var version = await store.PutAsync("p", Collection, "k", "1", expiresAt: s_expiresAt);
        time.SetUtcNow(s_storedExpiry);

        await ConflictAsync(async () => await store.PutAsync("p", Collection, "k", "2", WriteCondition.MustMatchVersion(version)), "p", Collection, "k", WriteCondition.MustMatchVersion(version), actualVersion: null);
        await ConflictAsync(async () => await store.DeleteAsync("p", Collection, "k", WriteCondition.MustMatchVersion(version)), "p", Collection, "k", WriteCondition.MustMatchVersion(version), actualVersion: null);

        Assert.Null(await store.GetAsync("p", Collection, "k"));
        Assert.Equal(1, await RevisionAsync(store, "p"));
    }

    [Fact]
    public async Task Delete_of_an_expired_document_returns_false_and_takes_no_revision()
    {
        var time = new FakeTimeProvider(Start);
        var store = await CreateStoreAsync(time);
        await store.PutAsync("p", Collection, "k", "1", expiresAt: s_expiresAt);
        time.SetUtcNow(s_storedExpiry);

        var result = await store.CommitAsync("p", [WriteOperation.Delete(Collection, "k")]);
        var mustNotExist = await store.CommitAsync("p", [WriteOperation.Delete(Collection, "k", WriteCondition.MustNotExist)]);

        Assert.False(result.Changed);
        Assert.Equal(1, result.Revision);
        Assert.Equal([new(false, null)], result.Outcomes);
        Assert.False(mustNotExist.Changed);
        Assert.Equal(1, await RevisionAsync(store, "p"));
    }

    [Fact]
    public async Task Put_without_expiry_over_an_expiring_document_clears_the_expiry()
    {
        var time = new FakeTimeProvider(Start);
        var store = await CreateStoreAsync(time);
        await store.PutAsync("p", Collection, "k", "1", expiresAt: s_expiresAt);

        await store.PutAsync("p", Collection, "k", "2", WriteCondition.MustMatchVersion(1));
        time.SetUtcNow(s_storedExpiry.AddYears(1));

        var document = Document(await store.GetAsync("p", Collection, "k"), "p", Collection, "k", "2", 2);
        Assert.Null(document.ExpiresAt);
        Assert.Equal(Start.AddTicks(-9_123), document.CreatedAt);
        Assert.Equal(0, await store.PurgeExpiredAsync());
    }

    [Fact]
    public async Task Put_with_a_later_expiry_extends_the_document()
    {
        var time = new FakeTimeProvider(Start);
        var store = await CreateStoreAsync(time);
        await store.PutAsync("p", Collection, "k", "1", expiresAt: s_expiresAt);

        await store.PutAsync("p", Collection, "k", "2", expiresAt: s_expiresAt.AddMinutes(1));
        time.SetUtcNow(s_storedExpiry.AddSeconds(59));

        Assert.Equal(s_storedExpiry.AddMinutes(1), (await store.GetAsync("p", Collection, "k"))!.ExpiresAt);
        time.SetUtcNow(s_storedExpiry.AddMinutes(1));
        Assert.Null(await store.GetAsync("p", Collection, "k"));
    }

    [Fact]
    public async Task Expiry_at_or_before_now_makes_the_document_invisible_at_once()
    {
        var time = new FakeTimeProvider(Start);
        var store = await CreateStoreAsync(time);

        var result = await store.CommitAsync("p",
        [
            WriteOperation.Put(Collection, "past", "1", expiresAt: Start.AddMinutes(-1)),
            WriteOperation.Put(Collection, "now", "1", expiresAt: Start),
            WriteOperation.Put(Collection, "soon", "1", expiresAt: Start.AddMilliseconds(1)),
            WriteOperation.Put(Collection, "epoch", "1", expiresAt: StoreLimits.MinExpiry),
        ]);

        Assert.True(result.Changed);
        Assert.Equal([new(false, 1), new(false, 1), new(false, 1), new(false, 1)], result.Outcomes);
        Assert.Null(await store.GetAsync("p", Collection, "past"));
        Assert.Null(await store.GetAsync("p", Collection, "now"));
        Assert.Null(await store.GetAsync("p", Collection, "epoch"));
        Assert.Equal(["soon"], await ListKeysAsync(store, "p", Collection));
    }

    [Fact]
    public async Task Expiry_at_the_range_limits_is_accepted()
    {
        var time = new FakeTimeProvider(Start);
        var store = await CreateStoreAsync(time);

        await store.PutAsync("p", Collection, "max", "1", expiresAt: StoreLimits.MaxExpiry);
        await store.PutAsync("p", Collection, "min", "1", expiresAt: StoreLimits.MinExpiry);

        Assert.Equal(StoreLimits.MaxExpiry, (await store.GetAsync("p", Collection, "max"))!.ExpiresAt);
        Assert.Null(await store.GetAsync("p", Collection, "min"));
    }

    public static TheoryData<DateTimeOffset> ExpiriesOutOfRange { get; } = new()
    {
        StoreLimits.MinExpiry.AddTicks(-1),
        new DateTimeOffset(1969, 12, 31, 23, 59, 59, TimeSpan.Zero),
        DateTimeOffset.MinValue,
        StoreLimits.MaxExpiry.AddTicks(1),
        DateTimeOffset.MaxValue,
    };

    [Theory]
    [MemberData(nameof(ExpiriesOutOfRange))]
    public async Task Expiry_out_of_range_is_rejected(DateTimeOffset expiresAt)
    {
        var time = new FakeTimeProvider(Start);
        var store = await CreateStoreAsync(time);
        await store.PutAsync("p", Collection, "k", "1");
        var before = await store.GetAsync("p", Collection, "k");

        var e = Assert.Throws<ArgumentOutOfRangeException>(() => WriteOperation.Put(Collection, "k", "2", expiresAt: expiresAt));
        await Assert.ThrowsAsync<ArgumentOutOfRangeException>(async () => await store.PutAsync("p", Collection, "k", "2", expiresAt: expiresAt));

        Assert.StartsWith(ErrorMessages.InvalidExpiry(expiresAt), e.Message, StringComparison.Ordinal);
        await UnchangedAsync(store, before!);
    }

    [Fact]
    public async Task Purge_removes_expired_documents_of_every_partition_and_returns_their_count()
    {
        var time = new FakeTimeProvider(Start);
        var store = await CreateStoreAsync(time);
        for (var i = 0; i < 3; i++)
        {
            await store.PutAsync("p1", Collection, $"e{i}", "1", expiresAt: Start.AddSeconds(i + 1));
        }

        await store.PutAsync("p1", Collection, "forever", "1");
        await store.CommitAsync("p2", [WriteOperation.Put(OtherCollection, "e", "1", expiresAt: Start.AddSeconds(1)), WriteOperation.Put(Collection, "e", "1", expiresAt: Start.AddSeconds(2))]);
        await store.PutAsync("p3", Collection, "later", "1", expiresAt: Start.AddHours(1));
        var forever = await store.GetAsync("p1", Collection, "forever");
        var later = await store.GetAsync("p3", Collection, "later");
        var partitions = await ListAllPartitionsAsync(store);
        time.Advance(TimeSpan.FromMinutes(1));

        Assert.Equal(5, await store.PurgeExpiredAsync());
        Assert.Equal(0, await store.PurgeExpiredAsync());

        await UnchangedAsync(store, forever!);
        await UnchangedAsync(store, later!);
        Assert.Equal(["forever"], await ListKeysAsync(store, "p1", Collection));
        Assert.Empty(await ListKeysAsync(store, "p2", Collection));
        Assert.Empty(await ListKeysAsync(store, "p2", OtherCollection));
        Assert.Equal(partitions, await ListAllPartitionsAsync(store));

        time.Advance(TimeSpan.FromHours(1));
        Assert.Equal(1, await store.PurgeExpiredAsync());
        Assert.Equal(0, await store.PurgeExpiredAsync());
        Assert.Null(await store.GetAsync("p3", Collection, "later"));
    }

    [Fact]
    public async Task Purge_of_a_store_without_expired_documents_returns_0()
    {
        var time = new FakeTimeProvider(Start);
        var store = await CreateStoreAsync(time);

        Assert.Equal(0, await store.PurgeExpiredAsync());
        await store.PutAsync("p", Collection, "k", "1", expiresAt: Start.AddSeconds(1));
        Assert.Equal(0, await store.PurgeExpiredAsync());
        Assert.NotNull(await store.GetAsync("p", Collection, "k"));
    }

    [Fact]
    public async Task Partition_whose_documents_all_expired_still_exists_with_its_revision()
    {
        var time = new FakeTimeProvider(Start);
        var store = await CreateStoreAsync(time);
        await store.PutAsync("p", Collection, "k", "1", expiresAt: Start.AddSeconds(1));
        time.Advance(TimeSpan.FromSeconds(2));

        Assert.Equal([new PartitionInfo("p", 1)], await ListAllPartitionsAsync(store));
        Assert.Equal(2, await store.PutAsync("p", Collection, "j", "1"));
        Assert.True(await store.DeletePartitionAsync("p"));
    }
}
