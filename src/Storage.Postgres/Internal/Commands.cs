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

    /// <summary>Writes one row of <see cref="Sql.CopyDocuments"/>: the JSON goes to the text column as its UTF-8 bytes, stored byte for byte.</summary>
    public static async Task WriteDocumentAsync(NpgsqlBinaryImporter importer, string partition, string collection, string key, ReadOnlyMemory<byte> value, long version, DateTimeOffset createdAt, DateTimeOffset updatedAt, DateTimeOffset? expiresAt)
    {
        await importer.StartRowAsync().ConfigureAwait(false);
        await importer.WriteAsync(partition, NpgsqlDbType.Text).ConfigureAwait(false);
        await importer.WriteAsync(collection, NpgsqlDbType.Text).ConfigureAwait(false);
        await importer.WriteAsync(key, NpgsqlDbType.Text).ConfigureAwait(false);
        await importer.WriteAsync(value, NpgsqlDbType.Text).ConfigureAwait(false);
        await importer.WriteAsync(version, NpgsqlDbType.Bigint).ConfigureAwait(false);
        await importer.WriteAsync(createdAt, NpgsqlDbType.TimestampTz).ConfigureAwait(false);
        await importer.WriteAsync(updatedAt, NpgsqlDbType.TimestampTz).ConfigureAwait(false);
        await WriteAsync(importer, expiresAt).ConfigureAwait(false);
    }

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

    /// <summary>JSON bytes for a text column (array): sent as they are, stored byte for byte.</summary>
    public static NpgsqlParameter<ReadOnlyMemory<byte>[]> Utf8Text(ReadOnlyMemory<byte>[] values)
        => new() { TypedValue = values, NpgsqlDbType = NpgsqlDbType.Array | NpgsqlDbType.Text };

    public static NpgsqlParameter<T> P<T>(T value) => new() { TypedValue = value };
}
