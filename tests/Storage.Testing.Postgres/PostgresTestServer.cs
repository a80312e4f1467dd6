using System.Security.Cryptography;
using Npgsql;
using Testcontainers.PostgreSql;

namespace Storage.Testing.Postgres;

/// <summary>
/// The PostgreSQL server of a test run, shared by every test class of the process and found in this
/// order: the connection string in <see cref="EnvironmentVariable"/> if set; else a Testcontainers
/// container when a Docker engine answers; else a throwaway cluster started from the locally
/// installed binaries (stopped and deleted when the process exits). When none works, getting it
/// throws with a message that says how to provide one — tests fail, they are never skipped.
/// </summary>
/// <remarks>
/// A process-wide server is deliberate: xunit 2 has no assembly fixtures, and one server per test
/// run keeps the suite fast. Each test isolates itself in its own schema (<see cref="NewSchemaName"/>).
/// </remarks>
public sealed class PostgresTestServer
{
    /// <summary>The environment variable that names an existing server: an Npgsql connection string whose user may create schemas in a UTF8 database.</summary>
    public const string EnvironmentVariable = "STORAGE_TEST_POSTGRES";

    private static readonly Lazy<Task<PostgresTestServer>> s_shared = new(StartAsync, LazyThreadSafetyMode.ExecutionAndPublication);

    private PostgresTestServer(string connectionString, string source, LocalPostgresCluster? cluster)
    {
        ConnectionString = connectionString;
        Source = source;
        Cluster = cluster;
    }

    /// <summary>A connection string for the server (it may hold a password: never print it).</summary>
    public string ConnectionString { get; }

    /// <summary>Where the server comes from, for messages: the variable, Testcontainers, or the local cluster's port.</summary>
    public string Source { get; }

    /// <summary>The local cluster, when the server is one (else <see langword="null"/>).</summary>
    public LocalPostgresCluster? Cluster { get; }

    /// <summary>The run's server, started on first use.</summary>
    /// <returns>The server.</returns>
    /// <exception cref="InvalidOperationException">No server could be found or started; the message says how to provide one.</exception>
    public static Task<PostgresTestServer> GetAsync() => s_shared.Value;

    /// <summary>A fresh schema name (lower case, unique): one per store under test.</summary>
    /// <param name="hint">A few letters saying what uses it, kept in the name to ease debugging.</param>
    /// <returns>The name.</returns>
    public static string NewSchemaName(string hint = "t")
    {
        var clean = new string(hint.ToLowerInvariant().Where(c => char.IsAsciiLetterOrDigit(c) || c == '_').Take(30).ToArray());
        return $"t_{clean}_{Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(5))}";
    }

    /// <summary>Drops a schema and everything in it (tests that use a server from the environment clean up after themselves).</summary>
    /// <param name="schema">The schema.</param>
    /// <returns>A task that completes when it is gone.</returns>
    public async Task DropSchemaAsync(string schema)
    {
        await using var connection = new NpgsqlConnection(ConnectionString);
        await connection.OpenAsync();
        await using var command = new NpgsqlCommand($"DROP SCHEMA IF EXISTS \"{schema.Replace("\"", "\"\"", StringComparison.Ordinal)}\" CASCADE", connection);
        await command.ExecuteNonQueryAsync();
    }

    private static async Task<PostgresTestServer> StartAsync()
    {
        var tried = new List<string>();
        if (Environment.GetEnvironmentVariable(EnvironmentVariable) is { Length: > 0 } connectionString)
        {
            // Set means chosen: a server that does not answer is an error, not a reason to look elsewhere.
            try
            {
                await CheckAsync(connectionString);
            }
            catch (Exception e) when (e is NpgsqlException or ArgumentException)
            {
                throw new InvalidOperationException(
                    $"{EnvironmentVariable} is set, but the server it names could not be used ({e.GetType().Name}: {(e is PostgresException pe ? pe.SqlState : e.GetBaseException().GetType().Name)}). Fix the connection string, or unset the variable to use Testcontainers or local binaries.",
                    e);
            }

            return new PostgresTestServer(connectionString, EnvironmentVariable, null);
        }

        tried.Add($"{EnvironmentVariable} is not set");
        if (DockerEngine.IsReachable(out var docker))
        {
            var container = new PostgreSqlBuilder("postgres:16-alpine").Build();
            await container.StartAsync();
            AppDomain.CurrentDomain.ProcessExit += (_, _) => container.DisposeAsync().AsTask().Wait(TimeSpan.FromSeconds(20));
            return new PostgresTestServer(container.GetConnectionString(), "Testcontainers (" + docker + ")", null);
        }

        tried.Add(docker);
        if (PostgresBinaries.TryFind(out var binaries, out var problem))
        {
            LocalPostgresCluster cluster;
            try
            {
                cluster = await LocalPostgresCluster.StartAsync(binaries);
            }
            catch (Exception e) when (e is InvalidOperationException or TimeoutException or IOException)
            {
                throw new InvalidOperationException(NoServerMessage([.. tried, $"starting a cluster from {binaries!.Directory} failed: {e.Message}"]), e);
            }

            AppDomain.CurrentDomain.ProcessExit += (_, _) => cluster.DisposeAtExit();
            await CheckAsync(cluster.ConnectionString);
            return new PostgresTestServer(cluster.ConnectionString, $"a local cluster on 127.0.0.1:{cluster.Port} from {binaries!.Directory}", cluster);
        }

        tried.Add(problem);
        throw new InvalidOperationException(NoServerMessage(tried));
    }

    private static string NoServerMessage(IEnumerable<string> tried) =>
        "The PostgreSQL tests need a real server, and none could be found. Provide one of: "
        + $"(1) {EnvironmentVariable}=<Npgsql connection string> naming a server whose user may create schemas in a UTF8 database; "
        + "(2) a reachable Docker engine (DOCKER_HOST or /var/run/docker.sock), for Testcontainers; "
        + "(3) the PostgreSQL server binaries (Debian: apt-get install postgresql), to start a throwaway cluster. "
        + "Tried: " + string.Join("; ", tried) + ".";

    private static async Task CheckAsync(string connectionString)
    {
        await using var connection = new NpgsqlConnection(connectionString);
        await connection.OpenAsync();
        await using var command = new NpgsqlCommand("SELECT 1", connection);
        await command.ExecuteScalarAsync();
    }
}
