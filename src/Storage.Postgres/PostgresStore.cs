using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Npgsql;
using Storage.Internal;
using Storage.Postgres.Internal;
using static Storage.Postgres.Internal.Commands;

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
/// Npgsql is asynchronous all the way down, so every operation is truly asynchronous. The store is
/// safe to use from many threads at once; make one per schema and share it.
/// </remarks>
/// <seealso href="../../docs/postgres-backend.md"/>
public sealed class PostgresStore : IStore, IBulkImport
{
    private readonly NpgsqlDataSource _dataSource;
    private readonly bool _ownsDataSource;
    private readonly NpgsqlDataSource _writer;
    private readonly NpgsqlDataSource _reader;
    private readonly Sql _sql;
    private readonly TimeProvider _time;
    private readonly TimeSpan _tombstoneRetention;
    private readonly WriteTransactions _transactions;
    private readonly Retrier _retry;
    private readonly StoreIndexes _indexes;
    private readonly ChunkedImport _import;
    private readonly Dictionary<string, PartitionQueue> _queues = new(StringComparer.Ordinal);
    private readonly Lock _queuesLock = new();
    private readonly StoreLifetime _lifetime = new();

    private PostgresStore(NpgsqlDataSource dataSource, bool ownsDataSource, NpgsqlDataSource writer, NpgsqlDataSource reader, Sql sql, PostgresStoreOptions options, ILogger logger, Retrier retry, int hashPartitions, StoreIndexes indexes)
    {
        _indexes = indexes;
        _dataSource = dataSource;
        _ownsDataSource = ownsDataSource;
        _writer = writer;
        _reader = reader;
        _sql = sql;
        _time = options.TimeProvider;
        _tombstoneRetention = options.TombstoneRetention;
        _transactions = new WriteTransactions(writer, dataSource is NpgsqlMultiHostDataSource, sql, indexes, options.TimeProvider, options.Durability == DurabilityMode.Relaxed, logger);
        _retry = retry;
        _import = new ChunkedImport(_transactions, retry, indexes, options.ImportChunkDocuments);
        HashPartitions = hashPartitions;
    }

    /// <summary>The schema that holds the store's tables.</summary>
    public string Schema => _sql.Schema;

    /// <summary>Into how many hash partitions the documents, events and tombstones tables are split (0: plain tables), as they were created.</summary>
    public int HashPartitions { get; }

    /// <summary>For tests: runs at each stage of every commit, on the commit's connection; what it throws is what the commit sees.</summary>
    internal Func<CommitStage, NpgsqlConnection, ValueTask>? FaultInjector
    {
        get => _transactions.FaultInjector;
        set => _transactions.FaultInjector = value;
    }

    /// <summary>For tests: how many write transactions group commits have committed.</summary>
    internal long GroupCommits => _transactions.GroupCommits;

    /// <summary>For tests: the data source reads use.</summary>
    internal NpgsqlDataSource ReadDataSource => _reader;

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
        var catalog = new IndexCatalog(options.Indexes);
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
            return new PostgresStore(dataSource, ownsDataSource, writer, reader, sql, options, logger, retry, hashPartitions, indexes);
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

    /// <inheritdoc/>
    public async ValueTask<StoredDocument?> GetAsync(string partition, string collection, string key, CancellationToken cancellationToken = default)
    {
        Identifiers.ValidatePartitionKey(partition);
        Identifiers.ValidateName(collection, nameof(collection));
        Identifiers.ValidateDocumentKey(key);
        cancellationToken.ThrowIfCancellationRequested();
        using var scope = Enter();
        var now = Timestamps.Now(_time);
        return await ReadAsync("get", (store: this, partition, collection, key, now), static async (connection, s, ct) =>
        {
            using var command = Command(connection, s.store._sql.GetDocument, P(s.partition), P(s.collection), P(s.key), P(s.now));
            await command.PrepareAsync(ct).ConfigureAwait(false);
            var reader = await command.ExecuteReaderAsync(ct).ConfigureAwait(false);
            await using var readerScope = reader.ConfigureAwait(false);
            if (!await reader.ReadAsync(ct).ConfigureAwait(false))
            {
                return null;
            }

            return ReadDocument(reader, 0, s.partition, s.collection, s.key);
        }, cancellationToken).ConfigureAwait(false);
    }

    /// <inheritdoc/>
    public ValueTask<CommitResult> CommitAsync(string partition, IReadOnlyList<WriteOperation> operations, CancellationToken cancellationToken = default)
    {
        Batches.Validate(partition, operations);

        // A value of the wrong type fails the batch here, before anything is queued or written.
        var entries = _indexes.Catalog.ExtractAll(operations);
        return EnqueueAsync<CommitResult>(partition, new BatchRequest(operations, entries), cancellationToken);
    }

    /// <inheritdoc/>
    /// <remarks>
    /// The partitions are cut into chunks of whole partitions, about 10,000 documents or 8 MiB of values
    /// each, and each chunk commits in one transaction: its partition rows locked in code-point order (as
    /// writers and purges lock them), its keys and unique values checked in input order, the documents
    /// written by binary <c>COPY</c>, one commit-log row per partition. Only one chunk is held in memory.
    /// When a partition fails, the partitions before it are committed and its exception is thrown, so
    /// exactly the partitions before the failing one are imported. A chunk whose commit's answer was lost
    /// is resolved through the commit log, as writes are.
    /// </remarks>
    public async ValueTask<ImportResult> ImportAsync(IAsyncEnumerable<ImportedPartition> partitions, CancellationToken cancellationToken = default)
    {
        using var scope = Enter();
        return await _import.RunAsync(partitions, cancellationToken).ConfigureAwait(false);
    }

    /// <inheritdoc/>
    public async ValueTask<DocumentPage> ListAsync(string partition, string collection, ListOptions? options = null, CancellationToken cancellationToken = default)
    {
        var query = ListQuery.ForDocuments(partition, collection, options);
        cancellationToken.ThrowIfCancellationRequested();
        using var scope = Enter();
        var range = KeyRange.For(query);
        if (range.IsEmpty)
        {
            return new DocumentPage([], null);
        }

        var now = Timestamps.Now(_time);
        var sql = (query.Descending, range.Upper is null) switch
        {
            (false, true) => _sql.ListAscending,
            (false, false) => _sql.ListAscendingBounded,
            (true, true) => _sql.ListDescending,
            (true, false) => _sql.ListDescendingBounded,
        };

        var rows = await ReadAsync("list", (store: this, sql, partition, collection, now, range, limit: query.Limit + 1), static async (connection, s, ct) =>
        {
            using var command = Command(connection, s.sql, P(s.partition), P(s.collection), P(s.now), P(s.range.Lower), P(s.limit));
            if (s.range.Upper is { } upper)
            {
                command.Parameters.Add(P(upper));
            }

            await command.PrepareAsync(ct).ConfigureAwait(false);
            var documents = new List<StoredDocument>(Math.Min(s.limit, 64));
            var reader = await command.ExecuteReaderAsync(ct).ConfigureAwait(false);
            await using var readerScope = reader.ConfigureAwait(false);
            while (await reader.ReadAsync(ct).ConfigureAwait(false))
            {
                documents.Add(ReadDocument(reader, 1, s.partition, s.collection, reader.GetString(0)));
            }

            return documents;
        }, cancellationToken).ConfigureAwait(false);

        var (items, token) = query.TakePage(rows, static d => d.Key);
        return new DocumentPage(items, token);
    }

    /// <inheritdoc/>
    public ValueTask<long> IncrementSequenceAsync(string partition, string name, long delta = 1, CancellationToken cancellationToken = default)
    {
        Batches.ValidateIncrement(partition, name, delta);
        return EnqueueAsync<long>(partition, new IncrementRequest(name, delta), cancellationToken);
    }

    /// <inheritdoc/>
    public async ValueTask<long> GetSequenceAsync(string partition, string name, CancellationToken cancellationToken = default)
    {
        Identifiers.ValidatePartitionKey(partition);
        Identifiers.ValidateName(name);
        cancellationToken.ThrowIfCancellationRequested();
        using var scope = Enter();
        return await ReadAsync("get sequence", (store: this, partition, name), static async (connection, s, ct) =>
        {
            using var command = Command(connection, s.store._sql.GetSequence, P(s.partition), P(s.name));
            await command.PrepareAsync(ct).ConfigureAwait(false);
            return await command.ExecuteScalarAsync(ct).ConfigureAwait(false) is long value ? value : 0;
        }, cancellationToken).ConfigureAwait(false);
    }

    /// <inheritdoc/>
    public async ValueTask<PartitionPage> ListPartitionsAsync(PartitionListOptions? options = null, CancellationToken cancellationToken = default)
    {
        var query = ListQuery.ForPartitions(options);
        cancellationToken.ThrowIfCancellationRequested();
        using var scope = Enter();
        var rows = await ReadAsync("list partitions", (store: this, after: query.After ?? string.Empty, limit: query.Limit + 1), static async (connection, s, ct) =>
        {

            // Every partition key is non-empty, so all of them sort after "".
            using var command = Command(connection, s.store._sql.ListPartitions, P(s.after), P(s.limit));
            await command.PrepareAsync(ct).ConfigureAwait(false);
            var partitions = new List<PartitionInfo>(Math.Min(s.limit, 64));
            var reader = await command.ExecuteReaderAsync(ct).ConfigureAwait(false);
            await using var readerScope = reader.ConfigureAwait(false);
            while (await reader.ReadAsync(ct).ConfigureAwait(false))
            {
                partitions.Add(new PartitionInfo(reader.GetString(0), reader.GetInt64(1)));
            }

            return partitions;
        }, cancellationToken).ConfigureAwait(false);

        var (items, token) = query.TakePage(rows, static p => p.Partition);
        return new PartitionPage(items, token);
    }

    /// <inheritdoc/>
    public ValueTask<bool> DeletePartitionAsync(string partition, CancellationToken cancellationToken = default)
    {
        Identifiers.ValidatePartitionKey(partition);
        return EnqueueAsync<bool>(partition, DeletePartitionRequest.Instance, cancellationToken);
    }

    /// <inheritdoc/>
    public async ValueTask<EventPage> ReadStreamAsync(string partition, string stream, ReadStreamOptions? options = null, CancellationToken cancellationToken = default)
    {
        var read = StreamRead.Create(partition, stream, options);
        cancellationToken.ThrowIfCancellationRequested();
        using var scope = Enter();
        return await ReadAsync("read stream", (store: this, partition, stream, read), static async (connection, s, ct) =>
        {
            // One snapshot: the stream's version, then the events of the range it gives (a partition
            // delete in between must not look like missing events).
            long version;
            using (var batch = new NpgsqlBatch(connection))
            {
                batch.BatchCommands.Add(new NpgsqlBatchCommand(Sql.BeginSnapshot));
                batch.BatchCommands.Add(BatchCommand(s.store._sql.ReadStreamVersion, P(s.partition), P(s.stream)));
                await batch.PrepareAsync(ct).ConfigureAwait(false);
                version = await batch.ExecuteScalarAsync(ct).ConfigureAwait(false) is long v ? v : 0;
            }

            var events = new List<StoredEvent>();
            using (var batch = new NpgsqlBatch(connection))
            {
                if (s.read.Range(version) is { } range)
                {
                    batch.BatchCommands.Add(BatchCommand(s.store._sql.ReadEvents, P(s.partition), P(s.stream), P(range.First), P(range.Last)));
                }

                batch.BatchCommands.Add(new NpgsqlBatchCommand(Sql.Commit));
                await batch.PrepareAsync(ct).ConfigureAwait(false);
                var reader = await batch.ExecuteReaderAsync(ct).ConfigureAwait(false);
                await using var readerScope = reader.ConfigureAwait(false);
                while (await reader.ReadAsync(ct).ConfigureAwait(false))
                {
                    events.Add(new StoredEvent(
                        s.partition,
                        s.stream,
                        reader.GetInt64(0),
                        reader.GetInt64(1),
                        reader.GetGuid(2),
                        reader.GetString(3),
                        reader.GetFieldValue<byte[]>(4),
                        reader.IsDBNull(5) ? ReadOnlyMemory<byte>.Empty : reader.GetFieldValue<byte[]>(5),
                        reader.GetFieldValue<DateTimeOffset>(6)));
                }
            }

            return s.read.ToPage(version, events);
        }, cancellationToken).ConfigureAwait(false);
    }

    /// <inheritdoc/>
    public async ValueTask<StreamPage> ListStreamsAsync(string partition, ListOptions? options = null, CancellationToken cancellationToken = default)
    {
        var query = ListQuery.ForStreams(partition, options);
        cancellationToken.ThrowIfCancellationRequested();
        using var scope = Enter();
        var range = KeyRange.For(query);
        if (range.IsEmpty)
        {
            return new StreamPage([], null);
        }

        var sql = (query.Descending, range.Upper is null) switch
        {
            (false, true) => _sql.ListStreamsAscending,
            (false, false) => _sql.ListStreamsAscendingBounded,
            (true, true) => _sql.ListStreamsDescending,
            (true, false) => _sql.ListStreamsDescendingBounded,
        };

        var rows = await ReadAsync("list streams", (sql, partition, range, limit: query.Limit + 1), static async (connection, s, ct) =>
        {
            using var command = Command(connection, s.sql, P(s.partition), P(s.range.Lower), P(s.limit));
            if (s.range.Upper is { } upper)
            {
                command.Parameters.Add(P(upper));
            }

            await command.PrepareAsync(ct).ConfigureAwait(false);
            var streams = new List<StreamInfo>(Math.Min(s.limit, 64));
            var reader = await command.ExecuteReaderAsync(ct).ConfigureAwait(false);
            await using var readerScope = reader.ConfigureAwait(false);
            while (await reader.ReadAsync(ct).ConfigureAwait(false))
            {
                streams.Add(new StreamInfo(reader.GetString(0), reader.GetInt64(1)));
            }

            return streams;
        }, cancellationToken).ConfigureAwait(false);

        var (items, token) = query.TakePage(rows, static s => s.Stream);
        return new StreamPage(items, token);
    }

    /// <inheritdoc/>
    /// <remarks>
    /// One round trip, one snapshot (a read-only REPEATABLE READ transaction): the partition's revision
    /// and oldest resumable revision, and the first <see cref="ChangeFeedQuery.FetchSize"/> changes
    /// after <paramref name="afterRevision"/> in feed order, from the documents, tombstones, events and
    /// sequences tables by their (partition, revision) indexes.
    /// </remarks>
    public async ValueTask<ChangePage> ReadChangesAsync(string partition, long afterRevision, int limit = StoreLimits.DefaultPageSize, CancellationToken cancellationToken = default)
    {
        ChangeFeedQuery.Validate(partition, afterRevision, limit);
        cancellationToken.ThrowIfCancellationRequested();
        using var scope = Enter();
        var now = Timestamps.Now(_time);
        var feed = await ReadAsync("read changes", (store: this, partition, afterRevision, now, fetch: ChangeFeedQuery.FetchSize(limit)), static async (connection, s, ct) =>
        {
            using var batch = new NpgsqlBatch(connection);
            batch.BatchCommands.Add(new NpgsqlBatchCommand(Sql.BeginSnapshot));
            batch.BatchCommands.Add(BatchCommand(s.store._sql.ReadFeedPartition, P(s.partition)));
            batch.BatchCommands.Add(BatchCommand(s.store._sql.ReadChanges, P(s.partition), P(s.afterRevision), P(s.now), P(s.fetch)));
            batch.BatchCommands.Add(new NpgsqlBatchCommand(Sql.Commit));
            await batch.PrepareAsync(ct).ConfigureAwait(false);
            var reader = await batch.ExecuteReaderAsync(ct).ConfigureAwait(false);
            await using var readerScope = reader.ConfigureAwait(false);
            var (exists, revision, oldestResumable) = await reader.ReadAsync(ct).ConfigureAwait(false) && reader.GetInt64(0) > 0
                ? (true, reader.GetInt64(0), reader.GetInt64(1))
                : (false, 0L, 0L);
            await reader.NextResultAsync(ct).ConfigureAwait(false);
            var changes = new List<Change>();
            while (await reader.ReadAsync(ct).ConfigureAwait(false))
            {
                changes.Add(ReadChange(reader, s.partition));
            }

            return (exists, revision, oldestResumable, changes);
        }, cancellationToken).ConfigureAwait(false);

        ChangeFeedQuery.EnsureResumable(partition, afterRevision, feed.exists, feed.oldestResumable);
        return feed.exists
            ? ChangeFeedQuery.TakePage(feed.changes, limit, afterRevision, feed.revision)
            : new ChangePage([], afterRevision, false);
    }

    /// <inheritdoc/>
    /// <remarks>
    /// One statement, so one snapshot: one page of the index's entries in (value, partition, key) order —
    /// a range scan of the entries' primary key, or of their partition index for one partition, starting
    /// after the continuation token's position — each joined with its document by primary key. An index
    /// that another instance dropped or changed has no entries left under this instance's id (ids are
    /// never reused), so only an empty page takes a second round trip, to check the index is still declared.
    /// </remarks>
    /// <exception cref="IndexDeclarationsChangedException">Another instance dropped or changed the index since this one opened.</exception>
    public async ValueTask<QueryPage> QueryAsync(IndexQuery query, CancellationToken cancellationToken = default)
    {
        var plan = IndexQueryPlan.Create(_indexes.Catalog, query);
        cancellationToken.ThrowIfCancellationRequested();
        using var scope = Enter();
        if (IndexBounds.For(plan) is not { } bounds)
        {
            return new QueryPage([], null);
        }

        var now = Timestamps.Now(_time);
        var (exists, matches) = await ReadAsync("query", (store: this, plan, bounds, now), static async (connection, s, ct) =>
        {
            var index = s.plan.Index;
            var entries = s.store._sql.Indexes.For(index.ValueType);
            var id = s.store._indexes.Id(index);
            var query = BatchCommand(
                entries.Query(s.plan.Partition is not null, s.plan.Descending, s.bounds.HasUpper, s.plan.After is not null),
                P(id),
                P(index.Collection),
                P(s.now),
                P(s.plan.Limit + 1),
                s.bounds.LowerParameter());
            if (s.bounds.HasUpper)
            {
                query.Parameters.Add(s.bounds.UpperParameter());
            }

            if (s.plan.Partition is { } partition)
            {
                query.Parameters.Add(P(partition));
            }

            if (s.plan.After is { } after)
            {
                query.Parameters.Add(IndexBounds.Parameter(after.Value));
                if (s.plan.Partition is null)
                {
                    query.Parameters.Add(P(after.Partition));
                }

                query.Parameters.Add(P(after.Key));
            }

            using var batch = new NpgsqlBatch(connection);
            batch.BatchCommands.Add(query);
            await batch.PrepareAsync(ct).ConfigureAwait(false);
            var matches = new List<IndexMatch>(Math.Min(s.plan.Limit + 1, 64));
            var reader = await batch.ExecuteReaderAsync(ct).ConfigureAwait(false);
            await using (reader.ConfigureAwait(false))
            {
                while (await reader.ReadAsync(ct).ConfigureAwait(false))
                {
                    var value = index.ValueType == IndexValueType.String ? IndexValue.Of(reader.GetString(0)) : IndexValue.Of(reader.GetInt64(0));
                    matches.Add(new IndexMatch(value, ReadDocument(reader, 3, reader.GetString(1), index.Collection, reader.GetString(2))));
                }
            }

            // Entries exist only while their index does (dropped with it, ids never reused): only an empty page asks.
            if (matches.Count > 0)
            {
                return (true, matches);
            }

            using var exists = Command(connection, s.store._sql.Indexes.IndexExists, P(id));
            return ((bool)(await exists.ExecuteScalarAsync(ct).ConfigureAwait(false))!, matches);
        }, cancellationToken).ConfigureAwait(false);

        return exists ? plan.TakePage(matches) : throw new IndexDeclarationsChangedException();
    }

    /// <inheritdoc/>
    /// <remarks>
    /// One statement: the live entries in the range, counted from the entries' index alone (it carries
    /// each entry's expiry), and whether the index is still declared as this instance knows it.
    /// </remarks>
    /// <exception cref="IndexDeclarationsChangedException">Another instance dropped or changed the index since this one opened.</exception>
    public async ValueTask<long> CountAsync(IndexQuery query, CancellationToken cancellationToken = default)
    {
        var plan = IndexQueryPlan.Create(_indexes.Catalog, query, forCount: true);
        cancellationToken.ThrowIfCancellationRequested();
        using var scope = Enter();
        if (IndexBounds.For(plan) is not { } bounds)
        {
            return 0;
        }

        var now = Timestamps.Now(_time);
        var (exists, count) = await ReadAsync("count", (store: this, plan, bounds, now), static async (connection, s, ct) =>
        {
            var index = s.plan.Index;
            using var command = Command(
                connection,
                s.store._sql.Indexes.For(index.ValueType).Count(s.plan.Partition is not null, s.bounds.HasUpper),
                P(s.store._indexes.Id(index)),
                P(s.now),
                s.bounds.LowerParameter());
            if (s.bounds.HasUpper)
            {
                command.Parameters.Add(s.bounds.UpperParameter());
            }

            if (s.plan.Partition is { } partition)
            {
                command.Parameters.Add(P(partition));
            }

            await command.PrepareAsync(ct).ConfigureAwait(false);
            var reader = await command.ExecuteReaderAsync(ct).ConfigureAwait(false);
            await using var readerScope = reader.ConfigureAwait(false);
            await reader.ReadAsync(ct).ConfigureAwait(false);
            return (reader.GetBoolean(1), reader.GetInt64(0));
        }, cancellationToken).ConfigureAwait(false);

        return exists ? count : throw new IndexDeclarationsChangedException();
    }

    /// <inheritdoc/>
    /// <remarks>
    /// Removes the expired documents of every partition, in transactions of up to 1,000 documents;
    /// purges from several app instances take turns. Documents that a writer is overwriting at that
    /// moment are left to it. Then removes the index entries of expired documents, and drops the tombstones older than
    /// <see cref="PostgresStoreOptions.TombstoneRetention"/>, also 1,000 at a time, waiting for the
    /// writers of their partitions.
    /// </remarks>
    public async ValueTask<long> PurgeExpiredAsync(CancellationToken cancellationToken = default)
    {
        using var scope = Enter();
        var now = Timestamps.Now(_time);
        long purged = 0;
        while (true)
        {
            cancellationToken.ThrowIfCancellationRequested();
            var unresolved = new List<Attempt>();
            var count = await _retry.RunAsync(
                "purge",
                (store: this, now, unresolved),
                static (s, _) => s.store._transactions.TryPurgeChunkAsync(s.now, s.unresolved),
                CancellationToken.None).ConfigureAwait(false);
            purged += count;
            if (count < WriteTransactions.PurgeChunk)
            {
                break;
            }
        }

        // The index entries of expired documents, purged or not (readers ignore them already).
        while (true)
        {
            cancellationToken.ThrowIfCancellationRequested();
            var removed = await _retry.RunAsync(
                "purge index entries",
                (store: this, now),
                static (s, _) => s.store._transactions.TryPurgeEntriesAsync(s.now),
                CancellationToken.None).ConfigureAwait(false);
            if (removed < WriteTransactions.PurgeChunk)
            {
                break;
            }
        }

        if (Timestamps.TombstoneCutoff(now, _tombstoneRetention) is { } cutoff)
        {
            while (true)
            {
                cancellationToken.ThrowIfCancellationRequested();
                var dropped = await _retry.RunAsync(
                    "purge tombstones",
                    (store: this, cutoff),
                    static (s, _) => s.store._transactions.TryDropTombstonesAsync(s.cutoff),
                    CancellationToken.None).ConfigureAwait(false);
                if (dropped < WriteTransactions.PurgeChunk)
                {
                    break;
                }
            }
        }

        return purged;
    }

    /// <summary>Waits for running operations, then releases the store's connections (and its data source, if it made it).</summary>
    /// <returns>A task that completes when the store is closed.</returns>
    public async ValueTask DisposeAsync()
    {
        if (!_lifetime.TryBeginDispose(out var drained))
        {
            return;
        }

        await drained.ConfigureAwait(false);
        if (_ownsDataSource)
        {
            await _dataSource.DisposeAsync().ConfigureAwait(false);
        }
    }

    /// <summary>
    /// A document from five columns of a row, from <paramref name="first"/> on: value, version,
    /// created_at, updated_at, expires_at (the order of every document read).
    /// </summary>
    private static StoredDocument ReadDocument(NpgsqlDataReader reader, int first, string partition, string collection, string key)
        => new(
            partition,
            collection,
            key,
            reader.GetFieldValue<byte[]>(first),
            reader.GetInt64(first + 1),
            reader.GetFieldValue<DateTimeOffset>(first + 2),
            reader.GetFieldValue<DateTimeOffset>(first + 3),
            reader.IsDBNull(first + 4) ? null : reader.GetFieldValue<DateTimeOffset>(first + 4));

    /// <summary>One row of the change-feed query (see <see cref="Sql.ReadChanges"/> for its columns).</summary>
    private static Change ReadChange(NpgsqlDataReader reader, string partition)
    {
        var revision = reader.GetInt64(0);
        switch (reader.GetInt32(1))
        {
            case 0 when reader.IsDBNull(7):
                return Change.Delete(revision, reader.GetString(2), reader.GetString(3));
            case 0:
                return Change.Put(new StoredDocument(
                    partition,
                    reader.GetString(2),
                    reader.GetString(3),
                    reader.GetFieldValue<byte[]>(7),
                    revision,
                    reader.GetFieldValue<DateTimeOffset>(11),
                    reader.GetFieldValue<DateTimeOffset>(12),
                    reader.IsDBNull(13) ? null : reader.GetFieldValue<DateTimeOffset>(13)));
            case 1:
                return Change.Append(new StoredEvent(
                    partition,
                    reader.GetString(4),
                    reader.GetInt64(5),
                    revision,
                    reader.GetGuid(9),
                    reader.GetString(10),
                    reader.GetFieldValue<byte[]>(7),
                    reader.IsDBNull(8) ? ReadOnlyMemory<byte>.Empty : reader.GetFieldValue<byte[]>(8),
                    reader.GetFieldValue<DateTimeOffset>(11)));
            default:
                return Change.Sequence(revision, reader.GetString(6), reader.GetInt64(14));
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

        ArgumentNullException.ThrowIfNull(options.TimeProvider, "options.TimeProvider");
        ChangeFeedQuery.ValidateRetention(options.TombstoneRetention, "options.TombstoneRetention");
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

    /// <summary>
    /// Runs a read with retries, on the read data source (a standby with <see cref="PostgresStoreOptions.ReadFromReplicas"/>).
    /// A standby that has not yet replayed the store's tables (just created or migrated on the
    /// primary) passes the read on to the primary.
    /// </summary>
    private ValueTask<T> ReadAsync<TState, T>(string operation, TState state, Func<NpgsqlConnection, TState, CancellationToken, ValueTask<T>> read, CancellationToken cancellationToken)
        => _retry.RunAsync(operation, (store: this, state, read), static async (s, ct) =>
        {
            var source = s.store._reader;
            while (true)
            {
                var connection = await s.store.OpenAsync(source, ct).ConfigureAwait(false);
                await using (connection.ConfigureAwait(false))
                {
                    try
                    {
                        return await s.read(connection, s.state, ct).ConfigureAwait(false);
                    }
                    catch (PostgresException e) when (source != s.store._writer && e.SqlState is PostgresErrorCodes.UndefinedTable or PostgresErrorCodes.InvalidSchemaName or PostgresErrorCodes.UndefinedColumn)
                    {
                        source = s.store._writer;
                    }
                }
            }
        }, cancellationToken);

    private ValueTask<NpgsqlConnection> OpenAsync(NpgsqlDataSource source, CancellationToken cancellationToken)
        => Commands.OpenAsync(source, _dataSource is NpgsqlMultiHostDataSource, cancellationToken);

    private async ValueTask<T> EnqueueAsync<T>(string partition, WriteRequest request, CancellationToken cancellationToken)
    {
        using var scope = Enter();
        PartitionQueue? handle;
        lock (_queuesLock)
        {
            if (!_queues.TryGetValue(partition, out handle))
            {
                handle = new PartitionQueue(this, partition);
                _queues.Add(partition, handle);
            }

            handle.Users++;
        }

        try
        {
            return (T)(await handle.Queue.EnqueueAsync(request, cancellationToken).ConfigureAwait(false))!;
        }
        finally
        {
            // Queues live while someone uses them, so a store that touches millions of partitions keeps only the busy ones.
            lock (_queuesLock)
            {
                if (--handle.Users == 0)
                {
                    _queues.Remove(partition);
                }
            }
        }
    }

    /// <summary>Runs on the writer that got the partition's turn: every waiting request, in arrival order.</summary>
    private async ValueTask CommitGroupAsync(string partition, IReadOnlyList<CommitQueue<WriteRequest, object?>.Entry> group)
    {
        var start = 0;
        while (start < group.Count)
        {
            if (group[start].Request is DeletePartitionRequest)
            {
                await RunSegmentAsync(partition, group, start, start + 1).ConfigureAwait(false);
                start++;
                continue;
            }

            var end = start;
            while (end < group.Count && group[end].Request is not DeletePartitionRequest)
            {
                end++;
            }

            await RunSegmentAsync(partition, group, start, end).ConfigureAwait(false);
            start = end;
        }
    }

    /// <summary>Commits one segment of a group in one transaction (retried as a whole), then gives each request its result.</summary>
    private async ValueTask RunSegmentAsync(string partition, IReadOnlyList<CommitQueue<WriteRequest, object?>.Entry> group, int start, int end)
    {
        var requests = new WriteRequest[end - start];
        for (var i = start; i < end; i++)
        {
            requests[i - start] = group[i].Request;
        }

        Attempt outcome;
        try
        {
            var unresolved = new List<Attempt>();
            outcome = await _retry.RunAsync(
                requests[0] is DeletePartitionRequest ? "delete partition" : "commit",
                (store: this, partition, requests, unresolved),
                static (s, _) => s.requests[0] is DeletePartitionRequest
                    ? s.store._transactions.TryDeletePartitionAsync(s.partition, s.unresolved)
                    : s.store._transactions.TryCommitAsync(s.partition, s.requests, s.unresolved),
                CancellationToken.None).ConfigureAwait(false);
        }
        catch (Exception e)
        {
            for (var i = start; i < end; i++)
            {
                group[i].Fail(e);
            }

            return;
        }

        for (var i = start; i < end; i++)
        {
            if (outcome.Errors[i - start] is { } error)
            {
                group[i].Fail(error);
            }
            else
            {
                group[i].Complete(outcome.Results[i - start]);
            }
        }
    }

    private StoreLifetime.Scope Enter() => _lifetime.Enter();

    private sealed class PartitionQueue
    {
        public PartitionQueue(PostgresStore store, string partition)
            => Queue = new CommitQueue<WriteRequest, object?>(group => store.CommitGroupAsync(partition, group));

        public CommitQueue<WriteRequest, object?> Queue { get; }

        public int Users { get; set; }
    }
}
