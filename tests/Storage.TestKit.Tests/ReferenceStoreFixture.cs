using System.Collections.Concurrent;

namespace Storage.Conformance.Reference;

/// <summary>Stores of the in-memory reference model; a store opened again shares the contents of its earlier instances.</summary>
public sealed class ReferenceStoreFixture : StoreFixture
{
    private readonly ConcurrentDictionary<string, ReferenceStore.Contents> _contents = new(StringComparer.Ordinal);

    /// <inheritdoc/>
    /// <remarks>One partition at a time (<see cref="ReferenceStore.ImportWindow"/>).</remarks>
    public override int ImportWindow => ReferenceStore.ImportWindow;

    /// <inheritdoc/>
    protected override Task<IStore> OpenStoreAsync(string name, StoreSettings settings)
    {
        var contents = _contents.GetOrAdd(name, _ => new ReferenceStore.Contents());
        return Task.FromResult<IStore>(new ReferenceStore(settings.Time, settings.TombstoneRetention, settings.Indexes, contents));
    }
}
