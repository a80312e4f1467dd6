using Npgsql;
using NpgsqlTypes;
using Storage.Benchmarks.Scenarios;

namespace Storage.Benchmarks.Drivers;

/// <summary>
/// The baseline for the PostgreSQL backend: Npgsql used directly on the same server, on the store's
/// table layout (<c>text COLLATE "C"</c> keys, the value as <c>text</c> sent as its UTF-8 bytes), with
/// prepared statements. A conditional put is one autocommit <c>UPDATE … WHERE version = $expected</c>
/// (one round trip, one commit per write) on a pool of at most <see cref="Connections"/> connections:
/// the "raw 8-connection autocommit". A batch is one transaction sent as one round trip; a
/// bulk load is one binary COPY.
/// </summary>
internal sealed class RawPostgresDriver : IDriver
{
    public const int Connections = 8;

    private readonly NpgsqlDataSource _dataSource;
    private readonly string _get;
    private readonly string _getVersion;
    private readonly string _list;
    private readonly string _conditionalUpdate;
    private readonly string _upsert;
    private readonly string _copy;
    private readonly string _append;
    private readonly string _insert;
    private readonly string _insertEntry;
    private readonly string _findByValue;

    private RawPostgresDriver(NpgsqlDataSource dataSource, string schema)
    {
        _dataSource = dataSource;
        var t = $"\"{schema}\".documents";
        _get = $"""
            SELECT value, version, created_at, updated_at, expires_at FROM {t}
            WHERE partition = $1 COLLATE "C" AND collection = $2 COLLATE "C" AND key = $3 COLLATE "C" AND (expires_at IS NULL OR expires_at > $4)
            """;
        _getVersion = $"""SELECT version FROM {t} WHERE partition = $1 COLLATE "C" AND collection = $2 COLLATE "C" AND key = $3 COLLATE "C" """;
        _list = $"""
            SELECT key, value, version, created_at, updated_at, expires_at FROM {t}
            WHERE partition = $1 COLLATE "C" AND collection = $2 COLLATE "C" AND key >= $3 COLLATE "C" AND key < $4 COLLATE "C"
              AND (expires_at IS NULL OR expires_at > $5)
            ORDER BY key COLLATE "C" LIMIT $6
            """;
        _conditionalUpdate = $"""
            UPDATE {t} SET value = $4, version = version + 1, updated_at = $5
            WHERE partition = $1 COLLATE "C" AND collection = $2 COLLATE "C" AND key = $3 COLLATE "C" AND version = $6
            """;
        _upsert = $"""
            INSERT INTO {t} (partition, collection, key, value, version, created_at, updated_at, expires_at)
            VALUES ($1, $2, $3, $4, 1, $5, $5, NULL)
            ON CONFLICT (partition, collection, key) DO UPDATE SET value = excluded.value, version = {t}.version + 1, updated_at = excluded.updated_at
            """;
        var e = $"\"{schema}\".events";
        _append = $"""
            INSERT INTO {e} (partition, stream, version, event_id, type, data, metadata, committed_at)
            SELECT $1, $2, $3 + 1, $4, $5, $6, NULL, $7
            WHERE (SELECT coalesce(max(version), 0) FROM {e} WHERE partition = $1 COLLATE "C" AND stream = $2 COLLATE "C") = $3
            """;
        _insert = $"""
            INSERT INTO {t} (partition, collection, key, value, version, created_at, updated_at, expires_at)
            VALUES ($1, $2, $3, $4, 1, $5, $5, NULL)
            """;
        var x = $"\"{schema}\".index_strings";
        _insertEntry = $"INSERT INTO {x} (index_id, value, partition, key, expires_at, unique_scope) VALUES ($1, $2, $3, $4, NULL, 2)";

        // The entry by its value, then its document by primary key, as an app would join them.
        _findByValue = $"""
            SELECT e.partition, e.key, d.value, d.version, d.created_at, d.updated_at, d.expires_at
            FROM {x} e JOIN {t} d ON d.partition = e.partition AND d.collection = $2 COLLATE "C" AND d.key = e.key
            WHERE e.index_id = $1 AND e.value = $3 COLLATE "C" AND (e.expires_at IS NULL OR e.expires_at > $4)
            """;
        _copy = $"COPY {t} (partition, collection, key, value, version, created_at, updated_at, expires_at) FROM STDIN (FORMAT BINARY)";
    }

    public string Name => "Npgsql";

    public bool SupportsReads => true;

    /// <summary>Creates the schema and a table laid out like the store's documents table.</summary>
    public static async Task<RawPostgresDriver> CreateAsync(string connectionString, string schema)
    {
        var builder = new NpgsqlConnectionStringBuilder(connectionString) { MaxPoolSize = Connections, Pooling = true };
        var dataSource = NpgsqlDataSource.Create(builder.ConnectionString);
        await using (var command = dataSource.CreateCommand($"""
            CREATE SCHEMA "{schema}";
            CREATE TABLE "{schema}".documents (
                partition  text COLLATE "C" NOT NULL,
                collection text COLLATE "C" NOT NULL,
                key        text COLLATE "C" NOT NULL,
                value      text NOT NULL,
                version    bigint NOT NULL CHECK (version >= 1),
                created_at timestamptz NOT NULL,
                updated_at timestamptz NOT NULL,
                expires_at timestamptz,
                PRIMARY KEY (partition, collection, key)
            );
            CREATE INDEX documents_by_expiry ON "{schema}".documents (expires_at) WHERE expires_at IS NOT NULL;
            CREATE TABLE "{schema}".events (
                partition    text COLLATE "C" NOT NULL,
                stream       text COLLATE "C" NOT NULL,
                version      bigint NOT NULL CHECK (version >= 1),
                event_id     uuid NOT NULL,
                type         text COLLATE "C" NOT NULL,
                data         text NOT NULL,
                metadata     text,
                committed_at timestamptz NOT NULL,
                PRIMARY KEY (partition, stream, version)
            );
            CREATE TABLE "{schema}".index_strings (
                index_id     integer NOT NULL,
                value        text COLLATE "C" NOT NULL,
                partition    text COLLATE "C" NOT NULL,
                key          text COLLATE "C" NOT NULL,
                expires_at   timestamptz,
                unique_scope smallint NOT NULL,
                PRIMARY KEY (index_id, value, partition, key) INCLUDE (expires_at)
            );
            CREATE UNIQUE INDEX index_strings_unique_in_store ON "{schema}".index_strings (index_id, value) WHERE unique_scope = 2;
            """))
        {
            await command.ExecuteNonQueryAsync();
        }

        return new RawPostgresDriver(dataSource, schema);
    }

    public ValueTask SeedAsync(string partition, IReadOnlyList<Doc> docs) => PutBatchAsync(partition, docs);

    /// <summary>The documents and their entries in one transaction, sent as one round trip.</summary>
    public async ValueTask SeedIndexedAsync(string partition, IReadOnlyList<IndexedDoc> docs)
    {
        await using var connection = await _dataSource.OpenConnectionAsync();
        await using var transaction = await connection.BeginTransactionAsync();
        await using var batch = new NpgsqlBatch(connection, transaction);
        var now = DateTimeOffset.UtcNow;
        foreach (var doc in docs)
        {
            batch.BatchCommands.Add(BatchCommand(_insert, partition, Data.IndexedCollection, doc.Key, Text(doc.Value), now));
            batch.BatchCommands.Add(BatchCommand(_insertEntry, Data.EmailIndexId, doc.Email, partition, doc.Key));
        }

        await batch.ExecuteNonQueryAsync();
        await transaction.CommitAsync();
    }

    public async ValueTask<bool> FindByEmailAsync(string email)
    {
        await using var connection = await _dataSource.OpenConnectionAsync();
        await using var command = Command(connection, _findByValue, Data.EmailIndexId, Data.IndexedCollection, email, DateTimeOffset.UtcNow);
        await command.PrepareAsync();
        await using var reader = await command.ExecuteReaderAsync();
        if (!await reader.ReadAsync())
        {
            return false;
        }

        var (partition, key) = (reader.GetString(0), reader.GetString(1));
        var document = new RawDocument(reader.GetFieldValue<byte[]>(2), reader.GetInt64(3), reader.GetFieldValue<DateTimeOffset>(4), reader.GetFieldValue<DateTimeOffset>(5), reader.IsDBNull(6) ? null : reader.GetFieldValue<DateTimeOffset>(6));
        return partition.Length > 0 && key.Length > 0 && document.Value.Length > 0 && !await reader.ReadAsync();
    }

    public async ValueTask<bool> GetAsync(string partition, string key)
    {
        await using var connection = await _dataSource.OpenConnectionAsync();
        await using var command = Command(connection, _get, partition, Data.Collection, key, DateTimeOffset.UtcNow);
        await command.PrepareAsync();
        await using var reader = await command.ExecuteReaderAsync();
        if (!await reader.ReadAsync())
        {
            return false;
        }

        var document = new RawDocument(reader.GetFieldValue<byte[]>(0), reader.GetInt64(1), reader.GetFieldValue<DateTimeOffset>(2), reader.GetFieldValue<DateTimeOffset>(3), reader.IsDBNull(4) ? null : reader.GetFieldValue<DateTimeOffset>(4));
        return document.Value.Length > 0;
    }

    public async ValueTask<long> GetVersionAsync(string partition, string key)
    {
        await using var connection = await _dataSource.OpenConnectionAsync();
        await using var command = Command(connection, _getVersion, partition, Data.Collection, key);
        return await command.ExecuteScalarAsync() is long version ? version : 0;
    }

    public async ValueTask<int> ListAsync(string partition, string prefix, int limit)
    {
        // A prefix of ASCII keys is the range [prefix, prefix with its last character + 1).
        var upper = prefix[..^1] + (char)(prefix[^1] + 1);
        await using var connection = await _dataSource.OpenConnectionAsync();
        await using var command = Command(connection, _list, partition, Data.Collection, prefix, upper, DateTimeOffset.UtcNow, limit + 1);
        await command.PrepareAsync();
        await using var reader = await command.ExecuteReaderAsync();
        var documents = new List<(string Key, RawDocument Document)>(limit + 1);
        while (await reader.ReadAsync())
        {
            documents.Add((reader.GetString(0), new RawDocument(reader.GetFieldValue<byte[]>(1), reader.GetInt64(2), reader.GetFieldValue<DateTimeOffset>(3), reader.GetFieldValue<DateTimeOffset>(4), reader.IsDBNull(5) ? null : reader.GetFieldValue<DateTimeOffset>(5))));
        }

        return Math.Min(documents.Count, limit);
    }

    public async ValueTask<PutOutcome> PutAsync(string partition, string key, byte[] value, long expectedVersion)
    {
        await using var connection = await _dataSource.OpenConnectionAsync();
        await using var command = Command(connection, _conditionalUpdate, partition, Data.Collection, key, Text(value), DateTimeOffset.UtcNow, expectedVersion);
        await command.PrepareAsync();
        if (await command.ExecuteNonQueryAsync() == 1)
        {
            return new PutOutcome(true, expectedVersion + 1);
        }

        await using var read = Command(connection, _getVersion, partition, Data.Collection, key);
        return new PutOutcome(false, await read.ExecuteScalarAsync() is long actual ? actual : 0);
    }

    public async ValueTask PutBatchAsync(string partition, IReadOnlyList<Doc> docs)
    {
        await using var connection = await _dataSource.OpenConnectionAsync();
        await using var transaction = await connection.BeginTransactionAsync();
        await using var batch = new NpgsqlBatch(connection, transaction);
        var now = DateTimeOffset.UtcNow;
        foreach (var doc in docs)
        {
            batch.BatchCommands.Add(BatchCommand(_upsert, partition, Data.Collection, doc.Key, Text(doc.Value), now));
        }

        await batch.PrepareAsync();
        await batch.ExecuteNonQueryAsync();
        await transaction.CommitAsync();
    }

    /// <summary>One autocommit conditional INSERT (one round trip, one commit); the primary key keeps versions unique under races.</summary>
    public async ValueTask<bool> AppendAsync(string partition, string stream, byte[] data, long expectedVersion)
    {
        await using var connection = await _dataSource.OpenConnectionAsync();
        await using var command = Command(connection, _append, partition, stream, expectedVersion, Guid.CreateVersion7(), Data.EventType, Text(data), DateTimeOffset.UtcNow);
        await command.PrepareAsync();
        try
        {
            return await command.ExecuteNonQueryAsync() == 1;
        }
        catch (PostgresException e) when (e.SqlState == PostgresErrorCodes.UniqueViolation)
        {
            return false;
        }
    }

    /// <summary>One connection, one binary COPY of every document, streamed.</summary>
    public async ValueTask<long> BulkLoadAsync(IEnumerable<PartitionDocs> source, int writers)
    {
        await using var connection = await _dataSource.OpenConnectionAsync();
        long written = 0;
        var now = DateTimeOffset.UtcNow;
        await using (var importer = await connection.BeginBinaryImportAsync(_copy))
        {
            foreach (var partition in source)
            {
                foreach (var doc in partition.Docs)
                {
                    await importer.StartRowAsync();
                    await importer.WriteAsync(partition.Partition, NpgsqlDbType.Text);
                    await importer.WriteAsync(Data.Collection, NpgsqlDbType.Text);
                    await importer.WriteAsync(doc.Key, NpgsqlDbType.Text);
                    await importer.WriteAsync(new ReadOnlyMemory<byte>(doc.Value), NpgsqlDbType.Text);
                    await importer.WriteAsync(1L, NpgsqlDbType.Bigint);
                    await importer.WriteAsync(now, NpgsqlDbType.TimestampTz);
                    await importer.WriteAsync(now, NpgsqlDbType.TimestampTz);
                    await importer.WriteNullAsync();
                    written++;
                }
            }

            await importer.CompleteAsync();
        }

        return written;
    }

    public ValueTask DisposeAsync() => _dataSource.DisposeAsync();

    private static NpgsqlCommand Command(NpgsqlConnection connection, string sql, params object[] values)
    {
        var command = new NpgsqlCommand(sql, connection);
        foreach (var value in values)
        {
            command.Parameters.Add(value as NpgsqlParameter ?? new NpgsqlParameter { Value = value });
        }

        return command;
    }

    private static NpgsqlBatchCommand BatchCommand(string sql, params object[] values)
    {
        var command = new NpgsqlBatchCommand(sql);
        foreach (var value in values)
        {
            command.Parameters.Add(value as NpgsqlParameter ?? new NpgsqlParameter { Value = value });
        }

        return command;
    }

    // The value goes to the text column as its UTF-8 bytes, as the store sends it.
    private static NpgsqlParameter Text(byte[] value) => new NpgsqlParameter<ReadOnlyMemory<byte>> { TypedValue = value, NpgsqlDbType = NpgsqlDbType.Text };

    private readonly record struct RawDocument(byte[] Value, long Version, DateTimeOffset CreatedAt, DateTimeOffset UpdatedAt, DateTimeOffset? ExpiresAt);
}
