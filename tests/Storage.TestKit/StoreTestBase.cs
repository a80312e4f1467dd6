using Microsoft.Extensions.Time.Testing;
using Storage.Conformance.Reference;

namespace Storage.Conformance;

/// <summary>The base of every conformance suite: access to the backend's fixture.</summary>
/// <typeparam name="TFixture">The backend's fixture.</typeparam>
public abstract class StoreTestBase<TFixture>(TFixture fixture) : IClassFixture<TFixture>
    where TFixture : StoreFixture
{
    /// <summary>The backend's fixture.</summary>
    protected TFixture Fixture { get; } = fixture;

    /// <summary>Opens a new, empty store of the backend under test.</summary>
    /// <param name="time">The store's clock; the system clock when <see langword="null"/>.</param>
    /// <param name="tombstoneRetention">The change feed's tombstone retention; the default when <see langword="null"/>.</param>
    /// <param name="indexes">The secondary indexes to declare; none when <see langword="null"/>.</param>
    /// <returns>The store.</returns>
    protected Task<IStore> CreateStoreAsync(TimeProvider? time = null, TimeSpan? tombstoneRetention = null, IReadOnlyList<IndexDefinition>? indexes = null) => Fixture.CreateStoreAsync(time, tombstoneRetention, indexes);

    /// <summary>Runs a seeded differential workload on a new store and the reference model, on one fake clock.</summary>
    /// <param name="seed">The workload's seed.</param>
    /// <param name="operations">How many operations.</param>
    /// <returns>The store, the model and their clock.</returns>
    private protected async Task<(IStore Store, ReferenceStore Model, FakeTimeProvider Time)> RunWorkloadAsync(int seed, int operations)
    {
        var time = new FakeTimeProvider(TestData.Start);
        var store = await CreateStoreAsync(time, DifferentialRun.TombstoneRetention, DifferentialRun.Indexes);
        var model = new ReferenceStore(time, DifferentialRun.TombstoneRetention, DifferentialRun.Indexes);
        var run = new DifferentialRun(seed, store, model, time);
        for (var i = 0; i < operations; i++)
        {
            await run.StepAsync();
        }

        return (store, model, time);
    }
}
