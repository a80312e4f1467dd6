using Storage.Memory;
using Storage.Sqlite;

namespace Storage.Engine.Tests;

/// <summary>
/// Opens stores of one backend. What every backend shares (the engine's telemetry, the typed API
/// over <see cref="IStore"/>) is tested on the in-memory backend and on a real one, SQLite: each test
/// class of this assembly is bound to both.
/// </summary>
public abstract class Stores : IDisposable
{
    /// <summary>The backend's <c>db.system.name</c>.</summary>
    public abstract string SystemName { get; }

    /// <summary>Opens a new, empty store.</summary>
    /// <param name="configure">Sets the shared options (telemetry, indexes) before the store opens.</param>
    public abstract Store Open(Action<StoreOptions>? configure = null);

    public virtual void Dispose() => GC.SuppressFinalize(this);
}

public sealed class MemoryStores : Stores
{
    public override string SystemName => "memory";

    public override Store Open(Action<StoreOptions>? configure = null)
    {
        var options = new MemoryStoreOptions();
        configure?.Invoke(options);
        return MemoryStore.Create(options);
    }
}

/// <summary>SQLite stores, each in a database file of its own under one directory removed at the end.</summary>
public sealed class SqliteStores : Stores
{
    private readonly string _root = Directory.CreateTempSubdirectory("storage-engine-tests-").FullName;

    public override string SystemName => "sqlite";

    public override Store Open(Action<StoreOptions>? configure = null)
    {
        var options = new SqliteStoreOptions { Path = Path.Combine(_root, Guid.NewGuid().ToString("N") + ".db") };
        configure?.Invoke(options);
        return SqliteStore.Open(options);
    }

    public override void Dispose()
    {
        Directory.Delete(_root, recursive: true);
        base.Dispose();
    }
}
