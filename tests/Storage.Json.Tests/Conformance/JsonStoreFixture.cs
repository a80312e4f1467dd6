using Storage.Engine;
using Storage.Internal;
using Storage.Json;

namespace Storage.Conformance.Json;

/// <summary>JSON-file stores, each in a new directory under one temporary root that is removed at the end.</summary>
public sealed class JsonStoreFixture : StoreFixture
{
    private readonly string _root = Path.Combine(Path.GetTempPath(), "storage-conformance-json-" + Guid.NewGuid().ToString("N"));

    /// <inheritdoc/>
    /// <remarks>Through batches (<see cref="BatchImport"/>).</remarks>
    public override int ImportWindow => BatchImport.InFlight;

    /// <inheritdoc/>
    /// <remarks>A directory has one owner (its lock file).</remarks>
    public override bool SupportsConcurrentInstances => false;

    /// <inheritdoc/>
    protected override Task<IStore> OpenStoreAsync(string name, StoreSettings settings)
    {
        var directory = Path.Combine(_root, name);
        return Task.FromResult<IStore>(JsonStore.Open(new JsonStoreOptions { Directory = directory, TimeProvider = settings.Time, TombstoneRetention = settings.TombstoneRetention, Indexes = settings.Indexes }));
    }

    /// <inheritdoc/>
    public override async Task DisposeAsync()
    {
        await base.DisposeAsync();
        if (Directory.Exists(_root))
        {
            Directory.Delete(_root, recursive: true);
        }
    }
}
