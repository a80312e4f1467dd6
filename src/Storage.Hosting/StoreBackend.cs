namespace Storage.Hosting;

/// <summary>Which backend keeps a store: the scheme of its <see cref="StoreAddress"/>.</summary>
/// <seealso href="../../docs/configuration.md"/>
public enum StoreBackend
{
    /// <summary>JSON files in a directory (<c>Storage.Json</c>); address <c>json:./data</c>.</summary>
    Json = 1,

    /// <summary>One SQLite database file (<c>Storage.Sqlite</c>); address <c>sqlite:./app.db</c>.</summary>
    Sqlite = 2,

    /// <summary>A PostgreSQL schema (<c>Storage.Postgres</c>); address <c>postgres:Host=…;Database=…</c>.</summary>
    Postgres = 3,

    /// <summary>This process's memory, gone when the store is disposed (<c>Storage.Memory</c>); address <c>memory:</c>.</summary>
    Memory = 4,
}
