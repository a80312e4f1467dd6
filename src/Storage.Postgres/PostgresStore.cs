using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Npgsql;
using Storage.Internal;
using Storage.Postgres.Internal;

namespace Storage.Postgres;

/// <summary>
/// The PostgreSQL backend: documents, sequences, streams and partitions in tables of one schema, the
/// JSON stored as text byte for byte, keys compared with <c>COLLATE "C"</c> (code-point order); the
/// change feed is read from the tables (with tombstones of deleted documents) in one snapshot. Every
/// write locks its partition's row first, so conditional writes are atomic across any number of
/// app instances; concurrent writers of one partition in this instance are coalesced into one
/// transaction (group commit), each keeping its own condition checks and result. Transient failures
/// are retried within <see cref="PostgresStoreOptions.RetryBudget"/>; a commit whose outcome was lost
/// with its connection is looked up in a commit log by its operation id, never applied twice.
/// Secondary indexes live in tables of entries maintained in the same transactions, unique values
/// enforced by the database across every instance.
/// </summary>
/// <remarks>
/// <para>
/// Npgsql is asynchronous all the way down, so every operation is truly asynchronous. The store is
/// safe to use from many threads at once; make one per schema and share it. Disposing it waits for
/// running operations, then releases the store's connections (and its data source, if it made it).
/// </para>
/// <para>
/// <b>Bulk import</b> (<see cref="Store.ImportAsync"/>): the partitions are cut into chunks of whole
/// partitions, about 10,000 documents or 8 MiB of values each, and each chunk commits in one
/// transaction: its partition rows locked in code-point order (as writers and purges lock them), its
/// keys and unique values checked in input order, the documents written by binary <c>COPY</c>, one
/// commit-log row per partition. Only one chunk is held in memory. When a partition fails, the
/// partitions before it are committed and its exception is thrown, so exactly the partitions before
/// the failing one are imported. A chunk whose commit's answer was lost is resolved through the
/// commit log, as writes are.
/// </para>
/// <para>
/// <b>Change feed</b> (<see cref="Store.ReadChangesAsync"/>): one round trip, one snapshot (a
/// read-only REPEATABLE READ transaction): the partition's revision and oldest resumable revision, and
/// the first changes after the asked revision in feed order, from the documents, tombstones, events
/// and sequences tables by their (partition, revision) indexes.
/// </para>
/// <para>
/// <b>Index queries</b>: <see cref="Store.QueryAsync"/> is one statement, so one snapshot: one page of
/// the index's entries in (value, partition, key) order — a range scan of the entries' primary key, or
/// of their partition index for one partition, starting after the continuation token's position —
/// each joined with its document by primary key. <see cref="Store.CountAsync"/> is one statement too:
/// the live entries in the range, counted from the entries' index alone (it carries each entry's
/// expiry), and whether the index is still declared as this instance knows it. An index that another
/// instance dropped or changed has no entries left under this instance's id (ids are never reused), so
/// only an empty page takes a second round trip, to check the index is still declared; both throw
/// <see cref="IndexDeclarationsChangedException"/> when another instance dropped or changed the index
/// since this one opened.
/// </para>
/// <para>
/// <b>Purge</b>: <see cref="Store.PurgeExpiredAsync"/> removes the expired documents of every
/// partition, in transactions of up to 1,000 documents; purges from several app instances take turns.
/// Documents that a writer is overwriting at that moment are left to it. Then it removes the index
/// entries of expired documents, and drops the tombstones older than
/// <see cref="StoreOptions.TombstoneRetention"/>, also 1,000 at a time, waiting for the writers of
/// their partitions.
/// </para>
/// </remarks>
/// <seealso href="../../docs/postgres-backend.md"/>
public sealed class PostgresStore : Store
{
    private readonly PostgresBackend _backend;

    private PostgresStore(PostgresBackend backend, PostgresStoreOptions options)
        : base(backend, options, backend.Indexes.Catalog)
    {
        _backend = backend;
    }

    /// <summary>The schema that holds the store's tables.</summary>
    public string Schema => _backend.Schema;

    /// <summary>Into how many hash partitions the documents, events and tombstones tables are split (0: plain tables), as they were created.</summary>
    public int HashPartitions => _backend.HashPartitions;

    /// <summary>For tests: runs at each stage of every commit, on the commit's connection; what it throws is what the commit sees.</summary>
    internal Func<CommitStage, NpgsqlConnection, ValueTask>? FaultInjector
    {
        get => _backend.Transactions.FaultInjector;
        set => _backend.Transactions.FaultInjector = value;
    }

    /// <summary>For tests: how many write transactions group commits have committed.</summary>
    internal long GroupCommits => _backend.Transactions.GroupCommits;

    /// <summary>For tests: the data source reads use.</summary>
    internal NpgsqlDataSource ReadDataSource => _backend.ReadDataSource;

    /// <summary>
    /// Opens a store: connects, and creates or upgrades its schema under an advisory lock (so app
    /// instances that start together do not race), refusing a schema written by a newer library; in the
    /// same transaction, builds the indexes that are new or declared differently and drops those no
    /// longer declared.
    /// </summary>
    /// <param name="options">The server, schema and settings.</param>
    /// <param name="cancellationToken">Cancels the open.</param>
    /// <returns>The open store; dispose it to release its connections.</returns>
    /// <exception cref="ArgumentException">The options are not valid (also: a data source with multiplexing, which cannot hold a transaction's statements on one connection; an index declared twice).</exception>
    /// <exception cref="IndexBuildException">An index that had to be built cannot index a live document (a wrong value type, or a duplicate unique value); nothing was changed.</exception>
    /// <exception cref="UnsupportedFormatException">The schema was written by a newer version of the library; nothing was changed.</exception>
    /// <exception cref="CorruptDataException">The schema holds tables that are not a Storage store's.</exception>
    /// <exception cref="StoreUnavailableException">The server could not be reached within the retry budget.</exception>
    /// <exception cref="StorageException">The server refused (for example: no permission to create the schema, or a database that is not UTF8).</exception>
    public static async ValueTask<PostgresStore> OpenAsync(PostgresStoreOptions options, CancellationToken cancellationToken = default)
    {
        Validate(options);
        var catalog = ValidateOptions(options);
        var ownsDataSource = options.DataSource is null;
        NpgsqlDataSource dataSource;
        try
        {
            dataSource = options.DataSource ?? NpgsqlDataSource.Create(options.ConnectionString!);
        }
        catch (ArgumentException e)
        {
            // Npgsql names the keyword, never its value; our message names neither.
            throw new ArgumentException(PostgresErrors.InvalidConnectionString, nameof(options), e);
        }

        try
        {
            if (new NpgsqlConnectionStringBuilder(dataSource.ConnectionString).Multiplexing)
            {
                // A write's statements must share one connection from BEGIN to COMMIT.
                throw new ArgumentException(PostgresErrors.Multiplexing, nameof(options));
            }

            // Writes always need the primary; reads may go to a standby when asked to.
            var writer = dataSource is NpgsqlMultiHostDataSource multi ? multi.WithTargetSession(TargetSessionAttributes.Primary) : dataSource;
            var reader = options.ReadFromReplicas && dataSource is NpgsqlMultiHostDataSource multiRead ? multiRead.WithTargetSession(TargetSessionAttributes.PreferStandby) : writer;
            var logger = options.LoggerFactory?.CreateLogger<PostgresStore>() ?? (ILogger)NullLogger.Instance;
            var server = Describe(dataSource);
            var retry = new Retrier(options.RetryBudget, server, logger, dataSource.Clear);
            var sql = new Sql(options.Schema);
            var layout = new SchemaLayout(sql.QuotedSchema, options.HashPartitions);
            var (hashPartitions, indexes) = await retry.RunAsync(
                "open",
                (writer, multiHost: dataSource is NpgsqlMultiHostDataSource, sql, layout, catalog, time: options.TimeProvider, logger, server),
                static (s, ct) => Migrator.MigrateAsync(s.writer, s.multiHost, s.sql, s.layout, s.catalog, Timestamps.Now(s.time), s.logger, s.server, ct),
                cancellationToken).ConfigureAwait(false);
            return new PostgresStore(new PostgresBackend(dataSource, ownsDataSource, writer, reader, sql, options, logger, retry, hashPartitions, indexes), options);
        }
        catch
        {
            if (ownsDataSource)
            {
                await dataSource.DisposeAsync().ConfigureAwait(false);
            }

            throw;
        }
    }

    private static void Validate(PostgresStoreOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        if (options.ConnectionString is null && options.DataSource is null)
        {
            throw new ArgumentException(PostgresErrors.NoServer, nameof(options));
        }

        if (options.ConnectionString is not null && options.DataSource is not null)
        {
            throw new ArgumentException(PostgresErrors.BothServers, nameof(options));
        }

        if (options.ConnectionString is { } connectionString && string.IsNullOrWhiteSpace(connectionString))
        {
            throw new ArgumentException(PostgresErrors.InvalidConnectionString, nameof(options));
        }

        if (!Sql.IsValidSchemaName(options.Schema))
        {
            throw new ArgumentException(PostgresErrors.InvalidSchema(options.Schema ?? string.Empty), nameof(options));
        }

        if (options.RetryBudget < TimeSpan.Zero || options.RetryBudget > PostgresStoreOptions.MaxRetryBudget)
        {
            throw new ArgumentOutOfRangeException(nameof(options), options.RetryBudget, PostgresErrors.InvalidRetryBudget(options.RetryBudget));
        }

        if (options.HashPartitions is < 0 or 1 or > PostgresStoreOptions.MaxHashPartitions)
        {
            throw new ArgumentOutOfRangeException(nameof(options), options.HashPartitions, PostgresErrors.InvalidHashPartitions(options.HashPartitions));
        }

        if (!Enum.IsDefined(options.Durability))
        {
            throw new ArgumentOutOfRangeException(nameof(options), options.Durability, PostgresErrors.InvalidDurability(options.Durability));
        }
    }

    /// <summary>Host(s), port and database, for messages: never the user name, the password or any other setting.</summary>
    private static string Describe(NpgsqlDataSource dataSource)
    {
        var builder = new NpgsqlConnectionStringBuilder(dataSource.ConnectionString);
        var hosts = builder.Host ?? "localhost";
        if (!hosts.Contains(',', StringComparison.Ordinal) && !hosts.Contains(':', StringComparison.Ordinal) && !hosts.StartsWith('/'))
        {
            hosts += ":" + builder.Port.ToString(System.Globalization.CultureInfo.InvariantCulture);
        }

        return builder.Database is { Length: > 0 } database ? hosts + "/" + database : hosts;
    }
}
