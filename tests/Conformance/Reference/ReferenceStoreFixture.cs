namespace Storage.Conformance.Reference;

/// <summary>Stores of the in-memory reference model.</summary>
public sealed class ReferenceStoreFixture : StoreFixture
{
    /// <inheritdoc/>
    protected override Task<IStore> OpenStoreAsync(TimeProvider time) => Task.FromResult<IStore>(new ReferenceStore(time));
}
