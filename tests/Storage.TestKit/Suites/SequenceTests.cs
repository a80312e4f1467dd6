using Storage.Internal;
using static Storage.Conformance.StoreAssert;
using static Storage.Conformance.TestData;

namespace Storage.Conformance;

/// <summary>Named counters of a partition: start at 0, increment atomically, never overflow silently.</summary>
/// <typeparam name="TFixture">The backend's fixture.</typeparam>
public abstract class SequenceTests<TFixture>(TFixture fixture) : StoreTestBase<TFixture>(fixture)
    where TFixture : StoreFixture
{
    [Fact]
    public async Task Sequence_starts_at_0_and_reading_it_creates_nothing()
    {
        var store = await CreateStoreAsync();

        Assert.Equal(0, await store.GetSequenceAsync("p", "seq"));

        await EmptyAsync(store);
    }

    [Fact]
    public async Task Increment_returns_the_new_value()
    {
        var store = await CreateStoreAsync();

        Assert.Equal(1, await store.IncrementSequenceAsync("p", "seq"));
        Assert.Equal(2, await store.IncrementSequenceAsync("p", "seq"));
        Assert.Equal(3, await store.IncrementSequenceAsync("p", "seq", 1));

        Assert.Equal(3, await store.GetSequenceAsync("p", "seq"));
    }

    [Fact]
    public async Task Increment_by_a_larger_delta_reserves_a_block()
    {
        var store = await CreateStoreAsync();

        Assert.Equal(10, await store.IncrementSequenceAsync("p", "seq", 10));
        Assert.Equal(15, await store.IncrementSequenceAsync("p", "seq", 5));
        Assert.Equal(16, await store.IncrementSequenceAsync("p", "seq"));

        Assert.Equal(16, await store.GetSequenceAsync("p", "seq"));
    }

    [Theory]
    [InlineData(0)]
    [InlineData(-1)]
    [InlineData(long.MinValue)]
    public async Task Delta_below_1_is_rejected_and_changes_nothing(long delta)
    {
        var store = await CreateStoreAsync();

        var e = await Assert.ThrowsAsync<ArgumentOutOfRangeException>(async () => await store.IncrementSequenceAsync("p", "seq", delta));

        Assert.StartsWith(ErrorMessages.InvalidDelta(delta), e.Message, StringComparison.Ordinal);
        await EmptyAsync(store);
        await store.IncrementSequenceAsync("p", "seq", 4);
        await Assert.ThrowsAsync<ArgumentOutOfRangeException>(async () => await store.IncrementSequenceAsync("p", "seq", delta));
        Assert.Equal(4, await store.GetSequenceAsync("p", "seq"));
        Assert.Equal(1, await RevisionAsync(store, "p"));
    }

    [Fact]
    public async Task Overflow_throws_and_keeps_the_value_and_the_revision()
    {
        var store = await CreateStoreAsync();
        Assert.Equal(long.MaxValue - 1, await store.IncrementSequenceAsync("p", "seq", long.MaxValue - 1));

        var e = await Assert.ThrowsAsync<OverflowException>(async () => await store.IncrementSequenceAsync("p", "seq", 2));

        Assert.Equal(ErrorMessages.SequenceOverflow("seq", long.MaxValue - 1, 2), e.Message);
        Assert.Equal(long.MaxValue - 1, await store.GetSequenceAsync("p", "seq"));
        Assert.Equal(1, await RevisionAsync(store, "p"));
        Assert.Equal(long.MaxValue, await store.IncrementSequenceAsync("p", "seq"));
        await Assert.ThrowsAsync<OverflowException>(async () => await store.IncrementSequenceAsync("p", "seq"));
        await Assert.ThrowsAsync<OverflowException>(async () => await store.IncrementSequenceAsync("p", "seq", long.MaxValue));
        Assert.Equal(long.MaxValue, await store.GetSequenceAsync("p", "seq"));
        Assert.Equal(2, await RevisionAsync(store, "p"));
    }

    [Fact]
    public async Task Increment_by_long_MaxValue_from_0_reaches_exactly_the_maximum()
    {
        var store = await CreateStoreAsync();

        Assert.Equal(long.MaxValue, await store.IncrementSequenceAsync("p", "seq", long.MaxValue));

        await Assert.ThrowsAsync<OverflowException>(async () => await store.IncrementSequenceAsync("p", "seq"));
    }

    [Fact]
    public async Task Sequences_are_independent_per_partition_and_name()
    {
        var store = await CreateStoreAsync();

        await store.IncrementSequenceAsync("p", "seq", 5);
        await store.IncrementSequenceAsync("p", "Seq", 7);
        await store.IncrementSequenceAsync("P", "seq", 11);
        await store.IncrementSequenceAsync("p", "other", 13);

        Assert.Equal(5, await store.GetSequenceAsync("p", "seq"));
        Assert.Equal(7, await store.GetSequenceAsync("p", "Seq"));
        Assert.Equal(11, await store.GetSequenceAsync("P", "seq"));
        Assert.Equal(13, await store.GetSequenceAsync("p", "other"));
        Assert.Equal(0, await store.GetSequenceAsync("P", "other"));
        Assert.Equal(0, await store.GetSequenceAsync("q", "seq"));
    }

    [Fact]
    public async Task Sequence_and_collection_of_the_same_name_are_unrelated()
    {
        var store = await CreateStoreAsync();

        await store.IncrementSequenceAsync("p", Collection, 3);

        Assert.Empty(await ListAllAsync(store, "p", Collection));
        await store.PutAsync("p", Collection, "k", "1");
        Assert.Equal(3, await store.GetSequenceAsync("p", Collection));
    }

    [Fact]
    public async Task Increment_takes_the_next_revision_of_the_partition()
    {
        var store = await CreateStoreAsync();

        Assert.Equal(1, await store.PutAsync("p", Collection, "k", "1"));
        await store.IncrementSequenceAsync("p", "seq");
        Assert.Equal(2, await RevisionAsync(store, "p"));
        await store.IncrementSequenceAsync("p", "seq", 3);
        Assert.Equal(4, await store.PutAsync("p", Collection, "k", "2"));
        await store.GetSequenceAsync("p", "seq");

        Assert.Equal(4, await RevisionAsync(store, "p"));
    }

    [Fact]
    public async Task Increment_in_a_new_partition_creates_it()
    {
        var store = await CreateStoreAsync();

        await store.IncrementSequenceAsync("p", "seq");

        Assert.Equal([new PartitionInfo("p", 1)], await ListAllPartitionsAsync(store));
    }

    [Fact]
    public async Task Deleting_the_partition_resets_its_sequences()
    {
        var store = await CreateStoreAsync();
        await store.IncrementSequenceAsync("p", "seq", 5);
        await store.IncrementSequenceAsync("p", "other", 6);
        await store.IncrementSequenceAsync("q", "seq", 7);

        Assert.True(await store.DeletePartitionAsync("p"));

        Assert.Equal(0, await store.GetSequenceAsync("p", "seq"));
        Assert.Equal(0, await store.GetSequenceAsync("p", "other"));
        Assert.Equal(7, await store.GetSequenceAsync("q", "seq"));
        Assert.Equal(1, await store.IncrementSequenceAsync("p", "seq"));
    }
}
