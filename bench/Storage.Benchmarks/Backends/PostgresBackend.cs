using Npgsql;
using Storage.Benchmarks.Drivers;
using Storage.Postgres;
using Storage.Testing.Postgres;

namespace Storage.Benchmarks.Backends;

/// <summary>
/// The PostgreSQL backend and raw Npgsql, on one server: the one named by
/// <see cref="EnvironmentVariable"/>, or else a throwaway local cluster started from the installed
/// binaries with the project's test helper (fsync on), stopped and deleted at the end.
/// </summary>
internal sealed class PostgresBackend : Backend
{
    public const string EnvironmentVariable = "STORAGE_BENCH_POSTGRES";

    private readonly string _connectionString;
    private readonly LocalPostgresCluster? _cluster;
    private readonly string _server;

    private PostgresBackend(string connectionString, LocalPostgresCluster? cluster, string server)
    {
        _connectionString = connectionString;
        _cluster = cluster;
        _server = server;
    }

    public override string Name => "PostgreSQL";

    public override string RawName => "Npgsql";

    /// <summary>Finds or starts the server; <see langword="null"/> with the reason when there is none.</summary>
    public static async Task<(PostgresBackend? Backend, string? Problem)> StartAsync()
    {
        LocalPostgresCluster? cluster = null;
        string connectionString, origin;
        if (Environment.GetEnvironmentVariable(EnvironmentVariable) is { Length: > 0 } given)
        {
            (connectionString, origin) = (given, EnvironmentVariable);
        }
        else if (PostgresBinaries.TryFind(out var binaries, out var problem))
        {
            try
            {
                cluster = await LocalPostgresCluster.StartAsync(binaries);
            }
            catch (Exception e) when (e is InvalidOperationException or TimeoutException or IOException)
            {
                return (null, $"starting a local cluster from {binaries!.Directory} failed: {e.Message}");
            }

            (connectionString, origin) = (cluster.ConnectionString, $"a throwaway local cluster from {binaries!.Directory}");
        }
        else
        {
            return (null, $"{problem}; set {EnvironmentVariable} to an Npgsql connection string, or install the PostgreSQL server binaries");
        }

        await using var dataSource = NpgsqlDataSource.Create(connectionString);
        await using var command = dataSource.CreateCommand("SELECT current_setting('server_version') || ', fsync=' || current_setting('fsync') || ', synchronous_commit=' || current_setting('synchronous_commit') || ', shared_buffers=' || current_setting('shared_buffers')");
        var settings = (string)(await command.ExecuteScalarAsync())!;
        return (new PostgresBackend(connectionString, cluster, $"PostgreSQL {settings}; {origin}"), null);
    }

    public override string Describe() => _server + $"; raw Npgsql pool: at most {RawPostgresDriver.Connections} connections";

    public override string Address(string label) => $"postgres:{_connectionString};Schema=bench_store_{label.Replace('-', '_')}";

    public override async ValueTask<Subjects> OpenAsync(string label, IReadOnlyList<IndexDefinition>? indexes = null)
    {
        var suffix = label.Replace('-', '_');
        var storeSchema = "bench_store_" + suffix;
        var rawSchema = "bench_raw_" + suffix;
        await DropSchemasAsync(storeSchema, rawSchema);
        var store = await PostgresStore.OpenAsync(new PostgresStoreOptions { ConnectionString = _connectionString, Schema = storeSchema, Indexes = indexes ?? [] });
        var raw = await RawPostgresDriver.CreateAsync(_connectionString, rawSchema);
        return new Subjects(new StoreDriver(store), raw, () => DropSchemasAsync(storeSchema, rawSchema));
    }

    public override async ValueTask DisposeAsync()
    {
        if (_cluster is not null)
        {
            await _cluster.DisposeAsync();
        }
    }

    private async ValueTask DropSchemasAsync(params string[] schemas)
    {
        await using var connection = new NpgsqlConnection(_connectionString);
        await connection.OpenAsync();
        foreach (var schema in schemas)
        {
            await using var command = new NpgsqlCommand($"DROP SCHEMA IF EXISTS \"{schema}\" CASCADE", connection);
            await command.ExecuteNonQueryAsync();
        }
    }
}
