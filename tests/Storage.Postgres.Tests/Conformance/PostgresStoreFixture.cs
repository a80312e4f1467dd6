using Npgsql;
using Storage.Postgres;
using Storage.Testing.Postgres;

namespace Storage.Conformance.Postgres;

/// <summary>
/// PostgreSQL stores on the test run's server (STORAGE_TEST_POSTGRES, else Testcontainers, else a
/// throwaway local cluster), each in a schema of its own. The stores of one fixture share one data
/// source (one connection pool); their schemas are dropped when the fixture is done.
/// </summary>
public abstract class PostgresStoreFixtureBase : StoreFixture
{
    private readonly Lock _lock = new();
    private readonly HashSet<string> _schemas = [];
    private PostgresTestServer? _server;
    private NpgsqlDataSource? _dataSource;

    /// <summary>Into how many hash partitions each store splits its documents table (0: a plain table).</summary>
    protected abstract int HashPartitions { get; }

    /// <summary>About how many documents one transaction of a bulk import commits.</summary>
    protected virtual int ImportChunkDocuments => 10_000;

    /// <inheritdoc/>
    /// <remarks>A chunk stops at its failing partition: none after it is imported.</remarks>
    public override int ImportWindow => 1;

    /// <inheritdoc/>
    public override async Task InitializeAsync()
    {
        await base.InitializeAsync();
        _server = await PostgresTestServer.GetAsync();
        _dataSource = NpgsqlDataSource.Create(_server.ConnectionString);
    }

    /// <inheritdoc/>
    protected override async Task<IStore> OpenStoreAsync(string name, StoreSettings settings)
    {
        var schema = (HashPartitions > 0 ? "conf_hash_" : "conf_") + name;
        lock (_lock)
        {
            _schemas.Add(schema);
        }

        return await PostgresStore.OpenAsync(new PostgresStoreOptions
        {
            DataSource = _dataSource,
            Schema = schema,
            TimeProvider = settings.Time,
            TombstoneRetention = settings.TombstoneRetention,
            Indexes = settings.Indexes,
            HashPartitions = HashPartitions,
            ImportChunkDocuments = ImportChunkDocuments,
        });
    }

    /// <inheritdoc/>
    public override async Task DisposeAsync()
    {
        await base.DisposeAsync();
        foreach (var schema in _schemas)
        {
            await _server!.DropSchemaAsync(schema);
        }

        if (_dataSource is not null)
        {
            await _dataSource.DisposeAsync();
        }
    }
}

/// <summary>Stores with a plain documents table.</summary>
public sealed class PostgresStoreFixture : PostgresStoreFixtureBase
{
    /// <inheritdoc/>
    protected override int HashPartitions => 0;
}

/// <summary>Stores whose documents table is hash-partitioned on the partition key into 8 tables.</summary>
public sealed class HashPartitionedPostgresStoreFixture : PostgresStoreFixtureBase
{
    /// <inheritdoc/>
    protected override int HashPartitions => 8;

    /// <inheritdoc/>
    /// <remarks>Tiny chunks, so that imports here cross chunk boundaries (the plain layout keeps the default).</remarks>
    protected override int ImportChunkDocuments => 25;
}
