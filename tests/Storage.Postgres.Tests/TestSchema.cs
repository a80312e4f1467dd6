using Npgsql;
using Storage.Testing.Postgres;

namespace Storage.Postgres.Tests;

/// <summary>A fresh schema on the run's server, and the stores a test opens on it; disposing closes them and drops the schema.</summary>
internal sealed class TestSchema : IAsyncDisposable
{
    private readonly List<PostgresStore> _stores = [];

    private TestSchema(PostgresTestServer server, string name)
    {
        Server = server;
        Name = name;
    }

    public PostgresTestServer Server { get; }

    public string Name { get; }

    public static string UniqueSuffix() => Convert.ToHexStringLower(System.Security.Cryptography.RandomNumberGenerator.GetBytes(5));

    public static async Task<TestSchema> CreateAsync(string hint) => new(await PostgresTestServer.GetAsync(), PostgresTestServer.NewSchemaName(hint));

    public PostgresStoreOptions Options(Action<PostgresStoreOptions>? configure = null)
    {
        var options = new PostgresStoreOptions { ConnectionString = Server.ConnectionString, Schema = Name };
        configure?.Invoke(options);
        return options;
    }

    public async Task<PostgresStore> OpenAsync(Action<PostgresStoreOptions>? configure = null)
    {
        var store = await PostgresStore.OpenAsync(Options(configure));
        _stores.Add(store);
        return store;
    }

    /// <summary>Runs a query on the server with a connection of its own, returning the first column of every row.</summary>
    public async Task<List<object?>> QueryAsync(string sql, params object[] parameters)
    {
        await using var connection = new NpgsqlConnection(Server.ConnectionString);
        await connection.OpenAsync();
        await using var command = new NpgsqlCommand(sql, connection);
        foreach (var parameter in parameters)
        {
            command.Parameters.Add(new NpgsqlParameter { Value = parameter });
        }

        var rows = new List<object?>();
        await using var reader = await command.ExecuteReaderAsync();
        while (await reader.ReadAsync())
        {
            rows.Add(reader.IsDBNull(0) ? null : reader.GetValue(0));
        }

        return rows;
    }

    public async ValueTask DisposeAsync()
    {
        foreach (var store in _stores)
        {
            await store.DisposeAsync();
        }

        await Server.DropSchemaAsync(Name);
    }
}
