namespace Storage.Conformance.Reference;

/// <summary>Stores of the in-memory reference model.</summary>
public sealed class ReferenceStoreFixture : StoreFixture
{
    /// <inheritdoc/>
    protected override Task<IStore> OpenStoreAsync(StoreSettings settings) => Task.FromResult<IStore>(new ReferenceStore(settings.Time, settings.TombstoneRetention, settings.Indexes));
}
