using Npgsql;
using NpgsqlTypes;

namespace Storage.Postgres.Internal;

/// <summary>Small helpers to open connections and build parameterized commands.</summary>
internal static class Commands
{
    public static async ValueTask<NpgsqlConnection> OpenAsync(NpgsqlDataSource source, bool multiHost, CancellationToken cancellationToken)
    {
        try
        {
            return await source.OpenConnectionAsync(cancellationToken).ConfigureAwait(false);
        }
        catch (NpgsqlException e) when (multiHost && e is not PostgresException && !e.IsTransient)
        {
            // Judged by type and place: a multi-host source that cannot open a connection found no host in the role asked for.
            throw new NoSuitableHostException(e);
        }
    }

    public static async ValueTask ExecuteAsync(NpgsqlConnection connection, string sql, CancellationToken cancellationToken, params NpgsqlParameter[] parameters)
    {
        using var command = Command(connection, sql, parameters);
        await command.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
    }

    public static async ValueTask<object?> ScalarAsync(NpgsqlConnection connection, string sql, CancellationToken cancellationToken, params NpgsqlParameter[] parameters)
    {
        using var command = Command(connection, sql, parameters);
        return await command.ExecuteScalarAsync(cancellationToken).ConfigureAwait(false);
    }

    /// <summary>Writes an optional time to a binary COPY row: NULL when there is none.</summary>
    public static Task WriteAsync(NpgsqlBinaryImporter importer, DateTimeOffset? value, CancellationToken cancellationToken = default)
        => value is { } time ? importer.WriteAsync(time, NpgsqlDbType.TimestampTz, cancellationToken) : importer.WriteNullAsync(cancellationToken);

    public static NpgsqlCommand Command(NpgsqlConnection connection, string sql, params NpgsqlParameter[] parameters)
    {
        var command = new NpgsqlCommand(sql, connection);
        command.Parameters.AddRange(parameters);
        return command;
    }

    public static NpgsqlBatchCommand BatchCommand(string sql, params NpgsqlParameter[] parameters)
    {
        var command = new NpgsqlBatchCommand(sql);
        command.Parameters.AddRange(parameters);
        return command;
    }

    public static NpgsqlParameter<T> P<T>(T value) => new() { TypedValue = value };
}
