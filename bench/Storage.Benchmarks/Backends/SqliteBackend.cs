using Storage.Benchmarks.Drivers;
using Storage.Sqlite;

namespace Storage.Benchmarks.Backends;

/// <summary>The SQLite backend, against Microsoft.Data.Sqlite with the same pragmas on the same table layout.</summary>
internal sealed class SqliteBackend(string root) : Backend
{
    public override string Name => "SQLite";

    public override string RawName => "Microsoft.Data.Sqlite";

    public override string Describe() => $"SQLite {RawSqliteDriver.Version()}: WAL, synchronous=FULL, busy_timeout 10 s, wal_autocheckpoint 1000, journal_size_limit 64 MiB";

    public override string Address(string label) => "sqlite:" + Path.Combine(root, "sqlite-" + label, "store.db");

    public override ValueTask<Subjects> OpenAsync(string label, IReadOnlyList<IndexDefinition>? indexes = null)
    {
        var directory = Path.Combine(root, "sqlite-" + label);
        Directory.CreateDirectory(directory);
        var store = SqliteStore.Open(new SqliteStoreOptions { Path = Path.Combine(directory, "store.db"), Indexes = indexes ?? [] });
        var raw = new RawSqliteDriver(Path.Combine(directory, "raw.db"));
        return ValueTask.FromResult(new Subjects(new StoreDriver(store), raw, DeleteDirectory(directory)));
    }
}
