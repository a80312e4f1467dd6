using System.Collections.Concurrent;
using Storage.Engine;
using Storage.Memory;

namespace Storage.Conformance.Memory;

/// <summary>In-memory stores (a group commit per partition); a store opened again sees what its earlier instances stored.</summary>
public class MemoryStoreFixture : StoreFixture
{
    private readonly ConcurrentDictionary<string, MemoryData> _data = new(StringComparer.Ordinal);

    /// <inheritdoc/>
    /// <remarks>Through the engine's batches (<see cref="BatchImport"/>).</remarks>
    public override int ImportWindow => BatchImport.InFlight;

    /// <summary>Whether each partition has its own group commit, or the store one for all (the engine's two groupings).</summary>
    protected virtual bool CommitsPerPartition => true;

    /// <inheritdoc/>
    protected override Task<IStore> OpenStoreAsync(string name, StoreSettings settings)
        => Task.FromResult<IStore>(MemoryStore.Open(
            new MemoryStoreOptions { TimeProvider = settings.Time, TombstoneRetention = settings.TombstoneRetention, Indexes = settings.Indexes },
            _data.GetOrAdd(name, _ => new MemoryData()),
            CommitsPerPartition));
}

/// <summary>In-memory stores with one group commit for the whole store: the engine's grouping for single-writer backends.</summary>
public sealed class StoreWideMemoryStoreFixture : MemoryStoreFixture
{
    /// <inheritdoc/>
    protected override bool CommitsPerPartition => false;
}
