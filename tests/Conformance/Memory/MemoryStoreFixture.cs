using System.Collections.Concurrent;
using Storage.Memory;

namespace Storage.Conformance.Memory;

/// <summary>In-memory stores; a store opened again sees what its earlier instances stored.</summary>
public sealed class MemoryStoreFixture : StoreFixture
{
    private readonly ConcurrentDictionary<string, MemoryData> _data = new(StringComparer.Ordinal);

    /// <inheritdoc/>
    /// <remarks>Through the engine's batches (<see cref="BatchImport"/>).</remarks>
    public override int ImportWindow => BatchImport.InFlight;

    /// <inheritdoc/>
    protected override Task<IStore> OpenStoreAsync(string name, StoreSettings settings)
        => Task.FromResult(MemoryStore.Open(
            new MemoryStoreOptions { TimeProvider = settings.Time, TombstoneRetention = settings.TombstoneRetention, Indexes = settings.Indexes },
            _data.GetOrAdd(name, _ => new MemoryData())));
}
