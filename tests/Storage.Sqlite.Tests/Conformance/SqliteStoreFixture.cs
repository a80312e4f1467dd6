using Storage.Sqlite;

namespace Storage.Conformance.Sqlite;

/// <summary>SQLite stores, each in a new database file under one temporary root that is removed at the end.</summary>
public sealed class SqliteStoreFixture : StoreFixture
{
    private readonly string _root = Path.Combine(Path.GetTempPath(), "storage-conformance-sqlite-" + Guid.NewGuid().ToString("N"));

    /// <inheritdoc/>
    public override int ImportWindow => SqliteStore.ImportInFlight;

    /// <inheritdoc/>
    protected override Task<IStore> OpenStoreAsync(string name, StoreSettings settings)
    {
        var path = Path.Combine(_root, name + ".db");
        return Task.FromResult<IStore>(SqliteStore.Open(new SqliteStoreOptions { Path = path, TimeProvider = settings.Time, TombstoneRetention = settings.TombstoneRetention, Indexes = settings.Indexes }));
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
