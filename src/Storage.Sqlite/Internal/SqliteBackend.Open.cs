using System.Diagnostics;
using System.Globalization;
using Microsoft.Data.Sqlite;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Storage.Internal;

namespace Storage.Sqlite.Internal;

/// <summary>Opening the file: options, connections and their pragmas, WAL mode, migrations, and the retry on a busy database.</summary>
internal sealed partial class SqliteBackend
{
    /// <summary>
    /// Opens (or creates) the database file with a given list of migrations (the seam where tests add
    /// steps), as <see cref="SqliteStore.Open(SqliteStoreOptions)"/> documents; the options are copied.
    /// </summary>
    public static SqliteBackend Open(SqliteStoreOptions options, IReadOnlyList<Migration> migrations)
    {
        Validate(options);
        var catalog = Store.ValidateOptions(options);

        // The store keeps its own copy: changing the caller's options object later changes nothing.
        options = new SqliteStoreOptions
        {
            Path = options.Path,
            TimeProvider = options.TimeProvider,
            TombstoneRetention = options.TombstoneRetention,
            Indexes = catalog.All,
            KeepStoredIndexes = options.KeepStoredIndexes,
            LoggerFactory = options.LoggerFactory,
            Durability = options.Durability,
            BusyTimeout = options.BusyTimeout,
            WalSizeLimit = options.WalSizeLimit,
            CheckIntegrityOnOpen = options.CheckIntegrityOnOpen,
        };
        var logger = options.LoggerFactory?.CreateLogger<SqliteStore>() ?? (ILogger)NullLogger.Instance;
        var path = System.IO.Path.GetFullPath(options.Path);
        var commandTimeoutSeconds = (int)Math.Ceiling(options.BusyTimeout.TotalSeconds);
        var builder = new SqliteConnectionStringBuilder
        {
            DataSource = path,
            Mode = SqliteOpenMode.ReadWriteCreate,
            Cache = SqliteCacheMode.Private,

            // The store keeps its own connections; a process-wide pool would hold the file open after dispose.
            Pooling = false,
            DefaultTimeout = commandTimeoutSeconds,
        };
        var connectionString = builder.ToString();

        // Readers open the file the writer created; they never create one (say, after it was deleted).
        builder.Mode = SqliteOpenMode.ReadWrite;
        var readerConnectionString = builder.ToString();

        try
        {
            if (System.IO.Path.GetDirectoryName(path) is { Length: > 0 } directory)
            {
                Directory.CreateDirectory(directory);
            }
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new StorageException(SqliteErrors.DirectoryFailed(path), e);
        }

        SqliteSession? writer = null;
        try
        {
            writer = OpenSession(connectionString, options, commandTimeoutSeconds);

            // The checks come first, so a file the store refuses is left exactly as it was.
            if (options.CheckIntegrityOnOpen)
            {
                WithRetry(path, options.BusyTimeout, () => CheckIntegrity(writer, path));
            }

            var indexes = Migrate(writer, path, migrations, options, catalog, logger);
            SwitchToWal(writer, path, options);

            return new SqliteBackend(path, options, readerConnectionString, commandTimeoutSeconds, writer, indexes);
        }
        catch (Exception e)
        {
            writer?.Dispose();
            if (e is SqliteException sqlite)
            {
                throw SqliteErrors.Translate(sqlite, path);
            }

            throw;
        }
    }

    private static void Validate(SqliteStoreOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        if (string.IsNullOrWhiteSpace(options.Path))
        {
            throw new ArgumentException(SqliteErrors.NoPath, nameof(options));
        }

        if (!Enum.IsDefined(options.Durability))
        {
            throw new ArgumentOutOfRangeException(nameof(options), options.Durability, SqliteErrors.InvalidDurability(options.Durability));
        }

        if (options.BusyTimeout < TimeSpan.FromMilliseconds(1) || options.BusyTimeout > TimeSpan.FromMinutes(10))
        {
            throw new ArgumentOutOfRangeException(nameof(options), options.BusyTimeout, SqliteErrors.InvalidBusyTimeout(options.BusyTimeout));
        }

        if (options.WalSizeLimit < SqliteStoreOptions.MinWalSizeLimit)
        {
            throw new ArgumentOutOfRangeException(nameof(options), options.WalSizeLimit, SqliteErrors.InvalidWalSizeLimit(options.WalSizeLimit));
        }
    }

    /// <summary>Opens a connection and sets the per-connection pragmas every connection of the store carries.</summary>
    private static SqliteSession OpenSession(string connectionString, SqliteStoreOptions options, int commandTimeoutSeconds)
    {
        var connection = new SqliteConnection(connectionString);
        var session = new SqliteSession(connection, commandTimeoutSeconds);
        try
        {
            connection.Open();
            SetBusyTimeout(connection, BusyTimeoutMs(options.BusyTimeout));

            // Pragma values are not bindable; these are validated values from the options, never user data.
            session.Run(options.Durability == DurabilityMode.Full ? "PRAGMA synchronous = FULL" : "PRAGMA synchronous = NORMAL");
            session.Run(string.Create(CultureInfo.InvariantCulture, $"PRAGMA journal_size_limit = {options.WalSizeLimit}"));
            session.Run("PRAGMA wal_autocheckpoint = 1000");
            return session;
        }
        catch
        {
            session.Dispose();
            throw;
        }
    }

    private static int BusyTimeoutMs(TimeSpan timeout) => (int)Math.Ceiling(timeout.TotalMilliseconds);

    /// <summary>SQLite's busy handler: how long a statement waits for a lock before it returns SQLITE_BUSY (the same as <c>PRAGMA busy_timeout</c>).</summary>
    private static void SetBusyTimeout(SqliteConnection connection, int milliseconds)
        => SQLitePCL.raw.sqlite3_busy_timeout(connection.Handle, milliseconds);

    /// <summary>Puts the file in WAL mode (persistent in the file). Switching needs the database to itself, so it waits like any writer.</summary>
    private static void SwitchToWal(SqliteSession writer, string path, SqliteStoreOptions options)
    {
        var mode = WithRetry(path, options.BusyTimeout, () => Convert.ToString(writer.Scalar(Sql.JournalModeWal), CultureInfo.InvariantCulture) ?? string.Empty);
        if (!string.Equals(mode, "wal", StringComparison.OrdinalIgnoreCase))
        {
            throw new StorageException(SqliteErrors.NotWal(path, mode));
        }
    }

    /// <summary>
    /// Brings the schema up to date and synchronizes the index declarations in one <c>BEGIN IMMEDIATE</c>
    /// transaction — all migrations and index builds or nothing — which also serializes the opens of
    /// other processes.
    /// </summary>
    private static SqliteIndexes Migrate(SqliteSession writer, string path, IReadOnlyList<Migration> migrations, SqliteStoreOptions options, IndexCatalog catalog, ILogger logger)
    {
        var latest = Schema.CurrentVersion(migrations);
        return WithRetry(path, options.BusyTimeout, () => writer.InTransaction(Sql.BeginImmediate, () =>
        {
            var encoding = Convert.ToString(writer.Scalar(Sql.Encoding), CultureInfo.InvariantCulture) ?? string.Empty;
            if (!string.Equals(encoding, "UTF-8", StringComparison.OrdinalIgnoreCase))
            {
                throw new CorruptDataException(path, SqliteErrors.WrongEncodingReason(encoding));
            }

            long applied = 0;
            if ((long)writer.Scalar(Sql.HasMetaTable)! == 0)
            {
                if ((long)writer.Scalar(Sql.CountForeignObjects)! != 0)
                {
                    throw new CorruptDataException(path, SqliteErrors.ForeignDatabaseReason);
                }
            }
            else
            {
                applied = writer.Scalar(Sql.GetMeta, Schema.MetaFormatVersion) is long format
                    ? format
                    : throw new CorruptDataException(path, SqliteErrors.MissingFormatVersionReason);
                if (writer.Scalar(Sql.MaxMigration) is long recorded && recorded > applied)
                {
                    applied = recorded;
                }

                if (applied > latest)
                {
                    throw new UnsupportedFormatException(path, applied, latest);
                }
            }

            // The checksums migration computes existing rows' checksums with these.
            RowChecksum.Register(writer.Connection);
            foreach (var migration in migrations)
            {
                if (migration.Version <= applied)
                {
                    continue;
                }

                foreach (var statement in migration.Statements)
                {
                    writer.Run(statement);
                }

                writer.Execute(Sql.RecordMigration, migration.Version, DateTimeOffset.UtcNow.ToString("O", CultureInfo.InvariantCulture), migration.Description);
                writer.Execute(Sql.SetMeta, Schema.MetaFormatVersion, (long)migration.Version);
            }

            // (Only tests open with a list of migrations that stops before the index tables.)
            return latest >= Schema.IndexesVersion
                ? SqliteIndexes.Synchronize(writer, path, catalog, Timestamps.Now(options.TimeProvider), logger)
                : SqliteIndexes.WithoutTables(catalog);
        }));
    }

    /// <summary>Runs <c>PRAGMA integrity_check</c>; returns <see langword="true"/> when it finds nothing.</summary>
    /// <exception cref="CorruptDataException">The check found damage.</exception>
    private static bool CheckIntegrity(SqliteSession session, string path)
    {
        var problems = new List<string>();
        SqliteException? failure = null;
        try
        {
            using var reader = session.Query(Sql.IntegrityCheck);
            while (reader.Read() && problems.Count < 20)
            {
                problems.Add(reader.GetString(0));
            }
        }
        catch (SqliteException e) when ((e.SqliteErrorCode & 0xFF) is SqliteErrors.Corrupt or SqliteErrors.NotADatabase)
        {
            // SQLite reports what it found, then fails the statement on the damage that stopped it.
            problems.Add(e.Message);
            failure = e;
        }

        if (problems is not ["ok"])
        {
            throw new CorruptDataException(path, SqliteErrors.IntegrityCheckFailed(string.Join("; ", problems)), failure);
        }

        return true;
    }

    /// <summary>
    /// Runs <paramref name="action"/>, retrying while the database is busy or locked (beyond SQLite's
    /// own busy timeout) until the budget is spent; then raises <see cref="StoreUnavailableException"/>.
    /// Other SQLite errors are translated by result code.
    /// </summary>
    private static T WithRetry<T>(string path, TimeSpan budget, Func<T> action)
    {
        var started = Stopwatch.GetTimestamp();
        var delay = 1;
        while (true)
        {
            try
            {
                return action();
            }
            catch (SqliteException e) when (SqliteErrors.IsBusy(e) && Stopwatch.GetElapsedTime(started) < budget)
            {
                Thread.Sleep(delay);
                delay = Math.Min(delay * 2, 50);
            }
            catch (SqliteException e)
            {
                throw SqliteErrors.Translate(e, path);
            }
        }
    }
}
