using Microsoft.Data.Sqlite;
using Storage.Benchmarks.Harness;
using Storage.Benchmarks.Scenarios;

namespace Storage.Benchmarks.Drivers;

/// <summary>
/// The baseline for the SQLite backend: Microsoft.Data.Sqlite used directly, as an application would
/// hand-write it, on the store's table layout and with the store's pragmas (WAL, synchronous=FULL,
/// the same busy timeout, journal size limit and autocheckpoint). One connection per thread, every
/// statement prepared once. A conditional put is one <c>UPDATE … WHERE version = @expected</c> in a
/// <c>BEGIN IMMEDIATE</c> transaction: one durable commit per write, no group commit.
/// </summary>
internal sealed class RawSqliteDriver : IDriver
{
    /// <summary>Rows per transaction of the raw bulk load (the contract's largest batch).</summary>
    public const int BulkRowsPerTransaction = 1000;

    private const string Schema = """
        CREATE TABLE IF NOT EXISTS documents (
            partition  TEXT NOT NULL COLLATE BINARY,
            collection TEXT NOT NULL COLLATE BINARY,
            key        TEXT NOT NULL COLLATE BINARY,
            value      TEXT NOT NULL,
            version    INTEGER NOT NULL CHECK (version >= 1),
            created_at INTEGER NOT NULL,
            updated_at INTEGER NOT NULL,
            expires_at INTEGER,
            PRIMARY KEY (partition, collection, key)
        ) STRICT, WITHOUT ROWID;
        CREATE INDEX IF NOT EXISTS documents_by_expiry ON documents (expires_at) WHERE expires_at IS NOT NULL;
        CREATE TABLE IF NOT EXISTS events (
            partition    TEXT NOT NULL COLLATE BINARY,
            stream       TEXT NOT NULL COLLATE BINARY,
            version      INTEGER NOT NULL CHECK (version >= 1),
            event_id     TEXT NOT NULL CHECK (length(event_id) = 36),
            type         TEXT NOT NULL,
            data         TEXT NOT NULL,
            metadata     TEXT,
            committed_at INTEGER NOT NULL,
            PRIMARY KEY (partition, stream, version)
        ) STRICT, WITHOUT ROWID;
        CREATE TABLE IF NOT EXISTS index_entries (
            index_id     INTEGER NOT NULL,
            value        ANY NOT NULL CHECK (typeof(value) IN ('text', 'integer')),
            partition    TEXT NOT NULL COLLATE BINARY,
            key          TEXT NOT NULL COLLATE BINARY,
            expires_at   INTEGER,
            unique_scope INTEGER CHECK (unique_scope IN (1, 2)),
            PRIMARY KEY (index_id, value, partition, key)
        ) STRICT, WITHOUT ROWID;
        CREATE UNIQUE INDEX IF NOT EXISTS index_entries_unique_in_store ON index_entries (index_id, value) WHERE unique_scope = 2;
        """;

    private const string InsertEntry = """
        INSERT INTO index_entries (index_id, value, partition, key, expires_at, unique_scope) VALUES ($index, $value, $p, $k, NULL, 2)
        """;

    // The entry by its value, then its document by primary key, as an app would join them.
    private const string FindByValue = """
        SELECT e.partition, e.key, d.value, d.version, d.created_at, d.updated_at, d.expires_at
        FROM index_entries AS e JOIN documents AS d ON d.partition = e.partition AND d.collection = $c AND d.key = e.key
        WHERE e.index_id = $index AND e.value = $value AND (e.expires_at IS NULL OR e.expires_at > $now)
        """;

    // The next version if the stream is still at $expected: one statement, the primary key keeps versions unique.
    private const string AppendEvent = """
        INSERT INTO events (partition, stream, version, event_id, type, data, metadata, committed_at)
        SELECT $p, $s, $expected + 1, $id, $type, CAST($value AS TEXT), NULL, $now
        WHERE (SELECT coalesce(max(version), 0) FROM events WHERE partition = $p AND stream = $s) = $expected
        """;

    private const string Get = """
        SELECT value, version, created_at, updated_at, expires_at FROM documents
        WHERE partition = $p AND collection = $c AND key = $k AND (expires_at IS NULL OR expires_at > $now)
        """;

    private const string GetVersion = "SELECT version FROM documents WHERE partition = $p AND collection = $c AND key = $k";

    // "LIMIT $limit + 0", as the store writes it: SQLite re-prepares a statement whose LIMIT is a bare
    // parameter every time it is bound (docs/performance.md), and the baseline should not pay for that.
    private const string List = """
        SELECT key, value, version, created_at, updated_at, expires_at FROM documents
        WHERE partition = $p AND collection = $c AND key >= $lower AND key < $upper AND (expires_at IS NULL OR expires_at > $now)
        ORDER BY key ASC LIMIT $limit + 0
        """;

    private const string ConditionalUpdate = """
        UPDATE documents SET value = CAST($value AS TEXT), version = version + 1, updated_at = $now
        WHERE partition = $p AND collection = $c AND key = $k AND version = $expected
        """;

    private const string Upsert = """
        INSERT INTO documents (partition, collection, key, value, version, created_at, updated_at, expires_at)
        VALUES ($p, $c, $k, CAST($value AS TEXT), 1, $now, $now, NULL)
        ON CONFLICT (partition, collection, key) DO UPDATE SET value = excluded.value, version = version + 1, updated_at = excluded.updated_at
        """;

    private const string Insert = """
        INSERT INTO documents (partition, collection, key, value, version, created_at, updated_at, expires_at)
        VALUES ($p, $c, $k, CAST($value AS TEXT), 1, $now, $now, NULL)
        """;

    private readonly string _connectionString;
    private readonly ThreadLocal<Session> _sessions;

    public RawSqliteDriver(string path)
    {
        _connectionString = new SqliteConnectionStringBuilder
        {
            DataSource = path,
            Mode = SqliteOpenMode.ReadWriteCreate,
            Cache = SqliteCacheMode.Private,
            Pooling = false,
            DefaultTimeout = 10,
        }.ToString();
        _sessions = new(() => new Session(_connectionString), trackAllValues: true);
        var first = _sessions.Value!;
        first.Pragma("PRAGMA journal_mode = WAL");
        first.Pragma(Schema);
    }

    public string Name => "Microsoft.Data.Sqlite";

    public bool SupportsReads => true;

    public static string Version()
    {
        using var connection = new SqliteConnection("Data Source=:memory:");
        connection.Open();
        using var command = connection.CreateCommand();
        command.CommandText = "SELECT sqlite_version()";
        return (string)command.ExecuteScalar()!;
    }

    public ValueTask SeedAsync(string partition, IReadOnlyList<Doc> docs)
    {
        _sessions.Value!.InTransaction(session =>
        {
            foreach (var doc in docs)
            {
                session.Execute(Insert, partition, doc.Key, doc.Value);
            }
        });
        return ValueTask.CompletedTask;
    }

    public ValueTask SeedIndexedAsync(string partition, IReadOnlyList<IndexedDoc> docs)
    {
        _sessions.Value!.InTransaction(session =>
        {
            foreach (var doc in docs)
            {
                session.Execute(Insert, partition, doc.Key, doc.Value, collection: Data.IndexedCollection);
                session.Entry(partition, doc.Key, doc.Email);
            }
        });
        return ValueTask.CompletedTask;
    }

    public ValueTask<bool> FindByEmailAsync(string email)
    {
        using var reader = _sessions.Value!.Find(email);
        if (!reader.Read())
        {
            return ValueTask.FromResult(false);
        }

        var (partition, key) = (reader.GetString(0), reader.GetString(1));
        var document = new RawDocument(reader.GetFieldValue<byte[]>(2), reader.GetInt64(3), reader.GetInt64(4), reader.GetInt64(5), reader.IsDBNull(6) ? null : reader.GetInt64(6));
        return ValueTask.FromResult(partition.Length > 0 && key.Length > 0 && document.Value.Length > 0 && !reader.Read());
    }

    public ValueTask<bool> GetAsync(string partition, string key)
    {
        using var reader = _sessions.Value!.Query(Get, partition, key);
        if (!reader.Read())
        {
            return ValueTask.FromResult(false);
        }

        var document = new RawDocument(reader.GetFieldValue<byte[]>(0), reader.GetInt64(1), reader.GetInt64(2), reader.GetInt64(3), reader.IsDBNull(4) ? null : reader.GetInt64(4));
        return ValueTask.FromResult(document.Value.Length > 0);
    }

    public ValueTask<long> GetVersionAsync(string partition, string key)
        => ValueTask.FromResult(_sessions.Value!.Scalar(GetVersion, partition, key) is long version ? version : 0);

    public ValueTask<int> ListAsync(string partition, string prefix, int limit)
    {
        // A prefix of ASCII keys is the range [prefix, prefix with its last character + 1).
        var upper = prefix[..^1] + (char)(prefix[^1] + 1);
        var count = 0;
        var documents = new List<(string Key, RawDocument Document)>(limit + 1);
        using (var reader = _sessions.Value!.Query(List, partition, prefix, upper, limit + 1))
        {
            while (reader.Read())
            {
                documents.Add((reader.GetString(0), new RawDocument(reader.GetFieldValue<byte[]>(1), reader.GetInt64(2), reader.GetInt64(3), reader.GetInt64(4), reader.IsDBNull(5) ? null : reader.GetInt64(5))));
                count++;
            }
        }

        return ValueTask.FromResult(Math.Min(count, limit));
    }

    public ValueTask<PutOutcome> PutAsync(string partition, string key, byte[] value, long expectedVersion)
    {
        var outcome = default(PutOutcome);
        _sessions.Value!.InTransaction(session =>
        {
            outcome = session.Execute(ConditionalUpdate, partition, key, value, expectedVersion) == 1
                ? new PutOutcome(true, expectedVersion + 1)
                : new PutOutcome(false, session.Scalar(GetVersion, partition, key) is long actual ? actual : 0);
        });
        return ValueTask.FromResult(outcome);
    }

    public ValueTask PutBatchAsync(string partition, IReadOnlyList<Doc> docs)
    {
        _sessions.Value!.InTransaction(session =>
        {
            foreach (var doc in docs)
            {
                session.Execute(Upsert, partition, doc.Key, doc.Value);
            }
        });
        return ValueTask.CompletedTask;
    }

    /// <summary>One <c>BEGIN IMMEDIATE</c> transaction per event: the conditional insert, then COMMIT.</summary>
    public ValueTask<bool> AppendAsync(string partition, string stream, byte[] data, long expectedVersion)
    {
        var appended = false;
        _sessions.Value!.InTransaction(session => appended = session.Append(partition, stream, data, expectedVersion) == 1);
        return ValueTask.FromResult(appended);
    }

    /// <summary>One connection, plain prepared INSERTs, one transaction per <see cref="BulkRowsPerTransaction"/> rows.</summary>
    public ValueTask<long> BulkLoadAsync(IEnumerable<PartitionDocs> source, int writers)
    {
        var session = _sessions.Value!;
        long written = 0;
        var inTransaction = 0;
        foreach (var partition in source)
        {
            foreach (var doc in partition.Docs)
            {
                if (inTransaction == 0)
                {
                    session.Pragma("BEGIN IMMEDIATE");
                }

                session.Execute(Insert, partition.Partition, doc.Key, doc.Value);
                written++;
                if (++inTransaction == BulkRowsPerTransaction)
                {
                    session.Pragma("COMMIT");
                    inTransaction = 0;
                }
            }
        }

        if (inTransaction > 0)
        {
            session.Pragma("COMMIT");
        }

        return ValueTask.FromResult(written);
    }

    public ValueTask DisposeAsync()
    {
        foreach (var session in _sessions.Values)
        {
            session.Dispose();
        }

        _sessions.Dispose();
        return ValueTask.CompletedTask;
    }

    private readonly record struct RawDocument(byte[] Value, long Version, long CreatedAt, long UpdatedAt, long? ExpiresAt);

    /// <summary>One connection with the store's pragmas and its prepared statements.</summary>
    private sealed class Session : IDisposable
    {
        private readonly SqliteConnection _connection;
        private readonly Dictionary<string, SqliteCommand> _commands = new(StringComparer.Ordinal);

        public Session(string connectionString)
        {
            _connection = new SqliteConnection(connectionString);
            _connection.Open();
            Pragma("PRAGMA synchronous = FULL");
            Pragma("PRAGMA busy_timeout = 10000");
            Pragma("PRAGMA journal_size_limit = " + (64L * 1024 * 1024).ToString(System.Globalization.CultureInfo.InvariantCulture));
            Pragma("PRAGMA wal_autocheckpoint = 1000");
        }

        public void Pragma(string sql)
        {
            using var command = _connection.CreateCommand();
            command.CommandText = sql;
            command.ExecuteNonQuery();
        }

        public void InTransaction(Action<Session> work)
        {
            Pragma("BEGIN IMMEDIATE");
            try
            {
                work(this);
                Pragma("COMMIT");
            }
            catch
            {
                Pragma("ROLLBACK");
                throw;
            }
        }

        public int Execute(string sql, string partition, string key, byte[] value, long? expected = null, string collection = Data.Collection)
        {
            var command = Prepare(sql);
            var parameters = command.Parameters;
            parameters["$p"].Value = partition;
            parameters["$c"].Value = collection;
            parameters["$k"].Value = key;
            parameters["$value"].Value = value;
            parameters["$now"].Value = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();
            if (expected is { } version)
            {
                parameters["$expected"].Value = version;
            }

            return command.ExecuteNonQuery();
        }

        public int Append(string partition, string stream, byte[] data, long expected)
        {
            var command = Prepare(AppendEvent);
            var parameters = command.Parameters;
            parameters["$p"].Value = partition;
            parameters["$s"].Value = stream;
            parameters["$expected"].Value = expected;
            parameters["$id"].Value = Guid.CreateVersion7().ToString("D");
            parameters["$type"].Value = Data.EventType;
            parameters["$value"].Value = data;
            parameters["$now"].Value = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();
            return command.ExecuteNonQuery();
        }

        public void Entry(string partition, string key, string email)
        {
            var command = Prepare(InsertEntry);
            var parameters = command.Parameters;
            parameters["$index"].Value = Data.EmailIndexId;
            parameters["$value"].Value = email;
            parameters["$p"].Value = partition;
            parameters["$k"].Value = key;
            command.ExecuteNonQuery();
        }

        public SqliteDataReader Find(string email)
        {
            var command = Prepare(FindByValue);
            var parameters = command.Parameters;
            parameters["$c"].Value = Data.IndexedCollection;
            parameters["$index"].Value = Data.EmailIndexId;
            parameters["$value"].Value = email;
            parameters["$now"].Value = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();
            return command.ExecuteReader();
        }

        public object? Scalar(string sql, string partition, string key)
        {
            var command = Bind(sql, partition, key);
            return command.ExecuteScalar();
        }

        public SqliteDataReader Query(string sql, string partition, string key)
        {
            var command = Bind(sql, partition, key);
            command.Parameters["$now"].Value = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();
            return command.ExecuteReader();
        }

        public SqliteDataReader Query(string sql, string partition, string lower, string upper, int limit)
        {
            var command = Prepare(sql);
            var parameters = command.Parameters;
            parameters["$p"].Value = partition;
            parameters["$c"].Value = Data.Collection;
            parameters["$lower"].Value = lower;
            parameters["$upper"].Value = upper;
            parameters["$now"].Value = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();
            parameters["$limit"].Value = limit;
            return command.ExecuteReader();
        }

        public void Dispose()
        {
            foreach (var command in _commands.Values)
            {
                command.Dispose();
            }

            _connection.Dispose();
        }

        private SqliteCommand Bind(string sql, string partition, string key)
        {
            var command = Prepare(sql);
            command.Parameters["$p"].Value = partition;
            command.Parameters["$c"].Value = Data.Collection;
            command.Parameters["$k"].Value = key;
            return command;
        }

        private SqliteCommand Prepare(string sql)
        {
            if (!_commands.TryGetValue(sql, out var command))
            {
                command = _connection.CreateCommand();
                command.CommandText = sql;
                foreach (var name in new[] { "$p", "$c", "$k", "$index", "$s", "$id", "$type", "$value", "$now", "$expected", "$lower", "$upper", "$limit" })
                {
                    if (sql.Contains(name, StringComparison.Ordinal))
                    {
                        command.Parameters.Add(new SqliteParameter(name, null));
                    }
                }

                command.Prepare();
                _commands.Add(sql, command);
            }

            return command;
        }
    }
}
