using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Npgsql;
using NpgsqlTypes;
using static Storage.Postgres.Internal.Commands;
using Storage.Internal;
using Storage.Postgres.Internal;

namespace Storage.Postgres;

/// <summary>
/// The PostgreSQL backend: documents, sequences and partitions in tables of one schema, the JSON
/// stored as text byte for byte, keys compared with <c>COLLATE "C"</c> (code-point order). Every
/// write locks its partition's row first, so conditional writes are atomic across any number of
/// app instances; concurrent writers of one partition in this instance are coalesced into one
/// transaction (group commit), each keeping its own condition checks and result. Transient failures
/// are retried within <see cref="PostgresStoreOptions.RetryBudget"/>; a commit whose outcome was lost
/// with its connection is looked up in a commit log by its operation id, never applied twice.
/// </summary>
/// <remarks>
/// Npgsql is asynchronous all the way down, so every operation is truly asynchronous. The store is
/// safe to use from many threads at once; make one per schema and share it.
/// </remarks>
/// <seealso href="../../docs/postgres-backend.md"/>
public sealed class PostgresStore : IStore
{
    /// <summary>How long a write transaction may sit idle before the server ends it: bounds how long a lost client can hold a partition's lock.</summary>
    private const string IdleInTransactionTimeout = "30s";

    /// <summary>How many expired documents one purge transaction removes at most.</summary>
    private const int PurgeChunk = 1000;

    /// <summary>Commit-log entries of a partition are pruned each time its revision passes a multiple of this.</summary>
    private const int PruneEvery = 16;

    private readonly NpgsqlDataSource _dataSource;
    private readonly bool _ownsDataSource;
    private readonly NpgsqlDataSource _writer;
    private readonly NpgsqlDataSource _reader;
    private readonly Sql _sql;
    private readonly TimeProvider _time;
    private readonly bool _relaxed;
    private readonly ILogger _logger;
    private readonly Retrier _retry;
    private readonly Dictionary<string, PartitionQueue> _queues = new(StringComparer.Ordinal);
    private readonly Lock _queuesLock = new();
    private readonly Lock _lifetimeLock = new();
    private long _groupCommits;
    private int _running;
    private bool _disposed;
    private TaskCompletionSource? _drained;

    private PostgresStore(NpgsqlDataSource dataSource, bool ownsDataSource, NpgsqlDataSource writer, NpgsqlDataSource reader, Sql sql, PostgresStoreOptions options, ILogger logger, Retrier retry, int hashPartitions)
    {
        _dataSource = dataSource;
        _ownsDataSource = ownsDataSource;
        _writer = writer;
        _reader = reader;
        _sql = sql;
        _time = options.TimeProvider;
        _relaxed = options.Durability == DurabilityMode.Relaxed;
        _logger = logger;
        _retry = retry;
        HashPartitions = hashPartitions;
    }

    /// <summary>Where a test makes a commit fail: before its writes are sent, or after its COMMIT succeeded.</summary>
    internal enum CommitStage
    {
        BeforeWrite,
        AfterCommit,
    }

    /// <summary>The schema that holds the store's tables.</summary>
    public string Schema => _sql.Schema;

    /// <summary>Into how many hash partitions the documents table is split (0: a plain table), as it was created.</summary>
    public int HashPartitions { get; }

    /// <summary>For tests: runs at each stage of every group commit, on the commit's connection; what it throws is what the commit sees.</summary>
    internal Func<CommitStage, NpgsqlConnection, ValueTask>? FaultInjector { get; set; }

    /// <summary>For tests: how many write transactions group commits have committed.</summary>
    internal long GroupCommits => Interlocked.Read(ref _groupCommits);

    /// <summary>For tests: the data source reads use.</summary>
    internal NpgsqlDataSource ReadDataSource => _reader;

    /// <summary>
    /// Opens a store: connects, and creates or upgrades its schema under an advisory lock (so app
    /// instances that start together do not race), refusing a schema written by a newer library.
    /// </summary>
    /// <param name="options">The server, schema and settings.</param>
    /// <param name="cancellationToken">Cancels the open.</param>
    /// <returns>The open store; dispose it to release its connections.</returns>
    /// <exception cref="ArgumentException">The options are not valid (also: a data source with multiplexing, which cannot hold a transaction's statements on one connection).</exception>
    /// <exception cref="UnsupportedFormatException">The schema was written by a newer version of the library; nothing was changed.</exception>
    /// <exception cref="CorruptDataException">The schema holds tables that are not a Storage store's.</exception>
    /// <exception cref="StoreUnavailableException">The server could not be reached within the retry budget.</exception>
    /// <exception cref="StorageException">The server refused (for example: no permission to create the schema, or a database that is not UTF8).</exception>
    public static async ValueTask<PostgresStore> OpenAsync(PostgresStoreOptions options, CancellationToken cancellationToken = default)
    {
        Validate(options);
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
            var hashPartitions = await retry.RunAsync(
                "open",
                (writer, multiHost: dataSource is NpgsqlMultiHostDataSource, sql, layout, logger, server),
                static (s, ct) => Migrator.MigrateAsync(s.writer, s.multiHost, s.sql, s.layout, s.logger, s.server, ct),
                cancellationToken).ConfigureAwait(false);
            return new PostgresStore(dataSource, ownsDataSource, writer, reader, sql, options, logger, retry, hashPartitions);
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

            return new StoredDocument(
                s.partition,
                s.collection,
                s.key,
                reader.GetFieldValue<byte[]>(0),
                reader.GetInt64(1),
                reader.GetFieldValue<DateTimeOffset>(2),
                reader.GetFieldValue<DateTimeOffset>(3),
                reader.IsDBNull(4) ? null : reader.GetFieldValue<DateTimeOffset>(4));
        }, cancellationToken).ConfigureAwait(false);
    }

    /// <inheritdoc/>
    public ValueTask<CommitResult> CommitAsync(string partition, IReadOnlyList<WriteOperation> operations, CancellationToken cancellationToken = default)
    {
        Batches.Validate(partition, operations);
        return EnqueueAsync<CommitResult>(partition, new BatchRequest(operations), cancellationToken);
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
                documents.Add(new StoredDocument(
                    s.partition,
                    s.collection,
                    reader.GetString(0),
                    reader.GetFieldValue<byte[]>(1),
                    reader.GetInt64(2),
                    reader.GetFieldValue<DateTimeOffset>(3),
                    reader.GetFieldValue<DateTimeOffset>(4),
                    reader.IsDBNull(5) ? null : reader.GetFieldValue<DateTimeOffset>(5)));
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
    /// <remarks>
    /// Removes the expired documents of every partition, in transactions of up to 1,000 documents;
    /// purges from several app instances take turns. Documents that a writer is overwriting at that
    /// moment are left to it.
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
                static (s, _) => s.store.TryPurgeChunkAsync(s.now, s.unresolved),
                CancellationToken.None).ConfigureAwait(false);
            purged += count;
            if (count < PurgeChunk)
            {
                return purged;
            }
        }
    }

    /// <summary>Waits for running operations, then releases the store's connections (and its data source, if it made it).</summary>
    /// <returns>A task that completes when the store is closed.</returns>
    public async ValueTask DisposeAsync()
    {
        Task drained;
        lock (_lifetimeLock)
        {
            if (_disposed)
            {
                return;
            }

            _disposed = true;
            _drained = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            if (_running == 0)
            {
                _drained.SetResult();
            }

            drained = _drained.Task;
        }

        await drained.ConfigureAwait(false);
        if (_ownsDataSource)
        {
            await _dataSource.DisposeAsync().ConfigureAwait(false);
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
                    ? s.store.TryDeletePartitionAsync(s.partition, s.unresolved)
                    : s.store.TryCommitAsync(s.partition, s.requests, s.unresolved),
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

    /// <summary>
    /// One attempt at a segment of puts, deletes and increments. First round trip: begin, lock the
    /// partition's row, read its revision and the floor, ask the commit log whether an earlier attempt
    /// whose outcome was lost did commit, and read every touched document and sequence. Then apply the
    /// requests in memory, and in the second round trip write the net change, the commit-log entry
    /// and COMMIT.
    /// </summary>
    private async ValueTask<Attempt> TryCommitAsync(string partition, WriteRequest[] requests, List<Attempt> unresolved)
    {
        var ids = new HashSet<DocumentId>();
        var names = new HashSet<string>(StringComparer.Ordinal);
        foreach (var request in requests)
        {
            if (request is BatchRequest batch)
            {
                foreach (var op in batch.Operations)
                {
                    ids.Add(new DocumentId(op.Collection, op.Key));
                }
            }
            else if (request is IncrementRequest increment)
            {
                names.Add(increment.Name);
            }
        }

        var now = Timestamps.Now(_time);
        var connection = await OpenAsync(_writer, CancellationToken.None).ConfigureAwait(false);
        await using var connectionScope = connection.ConfigureAwait(false);
        var open = false;
        try
        {
            long storedRevision, floor;
            Attempt? earlier;
            var documents = new Dictionary<DocumentId, DocumentRow?>(ids.Count);
            foreach (var id in ids)
            {
                documents.Add(id, null);
            }

            var sequences = new Dictionary<string, long>(StringComparer.Ordinal);
            using (var batch = BeginLocked(connection, partition, unresolved))
            {
                var collections = new string[ids.Count];
                var keys = new string[ids.Count];
                var n = 0;
                foreach (var id in ids)
                {
                    (collections[n], keys[n]) = (id.Collection, id.Key);
                    n++;
                }

                batch.BatchCommands.Add(BatchCommand(_sql.ReadDocumentStates, P(partition), P(collections), P(keys)));
                batch.BatchCommands.Add(BatchCommand(_sql.ReadSequences, P(partition), P(names.ToArray())));
                await batch.PrepareAsync().ConfigureAwait(false);
                open = true;
                var reader = await batch.ExecuteReaderAsync().ConfigureAwait(false);
                await using var readerScope = reader.ConfigureAwait(false);
                (storedRevision, floor, earlier) = await ReadLockedAsync(reader, unresolved).ConfigureAwait(false);
                await reader.NextResultAsync().ConfigureAwait(false);
                while (await reader.ReadAsync().ConfigureAwait(false))
                {
                    var id = new DocumentId(reader.GetString(0), reader.GetString(1));
                    documents[id] = new DocumentRow(reader.GetInt64(2), reader.GetFieldValue<DateTimeOffset>(3), reader.IsDBNull(4) ? null : reader.GetFieldValue<DateTimeOffset>(4));
                }

                await reader.NextResultAsync().ConfigureAwait(false);
                while (await reader.ReadAsync().ConfigureAwait(false))
                {
                    sequences[reader.GetString(0)] = reader.GetInt64(1);
                }
            }

            if (earlier is not null)
            {
                await RollbackAsync(connection).ConfigureAwait(false);
                open = false;
                return earlier;
            }

            var work = new PartitionWork(partition, storedRevision, floor, now, documents, sequences);
            var attempt = new Attempt(Guid.CreateVersion7(), requests.Length);
            for (var i = 0; i < requests.Length; i++)
            {
                try
                {
                    attempt.Results[i] = requests[i] switch
                    {
                        BatchRequest batch => work.ApplyBatch(batch.Operations),
                        IncrementRequest increment => work.Increment(increment.Name, increment.Delta),
                        _ => throw new InvalidOperationException("Unknown write request."),
                    };
                }
                catch (Exception e) when (e is VersionConflictException or OverflowException)
                {
                    attempt.Errors[i] = e;
                }
            }

            if (!work.HasChanges)
            {
                // Only conflicts and deletes of missing documents: nothing to write (the lock's placeholder row goes with the rollback).
                await RollbackAsync(connection).ConfigureAwait(false);
                open = false;
                return attempt;
            }

            await InjectAsync(CommitStage.BeforeWrite, connection).ConfigureAwait(false);
            using (var batch = new NpgsqlBatch(connection))
            {
                AddDocumentWrites(batch, partition, work);
                batch.BatchCommands.Add(BatchCommand(_sql.SetRevision, P(partition), P(work.Revision)));
                batch.BatchCommands.Add(BatchCommand(_sql.LogCommit, P(partition), P(attempt.OperationId), P(work.Revision), P<long?>(null)));
                // Whenever the revision passes a multiple of PruneEvery (a group may take several revisions at once).
                if (work.Revision / PruneEvery != work.StartRevision / PruneEvery)
                {
                    batch.BatchCommands.Add(BatchCommand(_sql.PruneCommitLog, P(partition)));
                }

                batch.BatchCommands.Add(new NpgsqlBatchCommand(Sql.Commit));
                await SendCommitAsync(batch, attempt, unresolved).ConfigureAwait(false);
                open = false;
            }

            await InjectAsync(CommitStage.AfterCommit, connection).ConfigureAwait(false);
            unresolved.Remove(attempt);
            Interlocked.Increment(ref _groupCommits);
            return attempt;
        }
        catch when (open)
        {
            await RollbackQuietlyAsync(connection).ConfigureAwait(false);
            throw;
        }
    }

    /// <summary>One attempt at deleting a partition: lock its row, then remove its documents, sequences, log and row, and raise the floor.</summary>
    private async ValueTask<Attempt> TryDeletePartitionAsync(string partition, List<Attempt> unresolved)
    {
        var connection = await OpenAsync(_writer, CancellationToken.None).ConfigureAwait(false);
        await using var connectionScope = connection.ConfigureAwait(false);
        var open = false;
        try
        {
            long storedRevision;
            Attempt? earlier;
            using (var batch = BeginLocked(connection, partition, unresolved))
            {
                await batch.PrepareAsync().ConfigureAwait(false);
                open = true;
                var reader = await batch.ExecuteReaderAsync().ConfigureAwait(false);
                await using var readerScope = reader.ConfigureAwait(false);
                (storedRevision, _, earlier) = await ReadLockedAsync(reader, unresolved).ConfigureAwait(false);
            }

            var attempt = earlier ?? new Attempt(Guid.CreateVersion7(), 1);
            if (earlier is not null || storedRevision == 0)
            {
                attempt.Results[0] ??= false;
                await RollbackAsync(connection).ConfigureAwait(false);
                open = false;
                return attempt;
            }

            attempt.Results[0] = true;
            await InjectAsync(CommitStage.BeforeWrite, connection).ConfigureAwait(false);
            using (var batch = new NpgsqlBatch(connection))
            {
                // The floor rises first: a partition created afterwards never reuses one of these versions.
                batch.BatchCommands.Add(BatchCommand(_sql.RaiseRevisionFloor, P(storedRevision)));
                batch.BatchCommands.Add(BatchCommand(_sql.DeletePartitionDocuments, P(partition)));
                batch.BatchCommands.Add(BatchCommand(_sql.DeletePartitionSequences, P(partition)));
                batch.BatchCommands.Add(BatchCommand(_sql.DeletePartitionCommitLog, P(partition)));
                batch.BatchCommands.Add(BatchCommand(_sql.DeletePartitionRow, P(partition)));

                // Logged under '' so that no trace of the forgotten key stays behind.
                batch.BatchCommands.Add(BatchCommand(_sql.LogCommit, P(string.Empty), P(attempt.OperationId), P(storedRevision), P<long?>(1)));
                batch.BatchCommands.Add(BatchCommand(_sql.PruneCommitLog, P(string.Empty)));
                batch.BatchCommands.Add(new NpgsqlBatchCommand(Sql.Commit));
                await SendCommitAsync(batch, attempt, unresolved).ConfigureAwait(false);
                open = false;
            }

            await InjectAsync(CommitStage.AfterCommit, connection).ConfigureAwait(false);
            unresolved.Remove(attempt);
            Interlocked.Increment(ref _groupCommits);
            return attempt;
        }
        catch when (open)
        {
            await RollbackQuietlyAsync(connection).ConfigureAwait(false);
            throw;
        }
    }

    /// <summary>One attempt at purging up to <see cref="PurgeChunk"/> expired documents; purges serialize on a row of storage_meta.</summary>
    private async ValueTask<long> TryPurgeChunkAsync(DateTimeOffset now, List<Attempt> unresolved)
    {
        var connection = await OpenAsync(_writer, CancellationToken.None).ConfigureAwait(false);
        await using var connectionScope = connection.ConfigureAwait(false);
        var open = false;
        try
        {
            long count;
            Attempt? earlier = null;
            using (var batch = new NpgsqlBatch(connection))
            {
                batch.BatchCommands.Add(new NpgsqlBatchCommand(Sql.Begin));
                AddTransactionSettings(batch);
                batch.BatchCommands.Add(BatchCommand(_sql.LockPurge));
                batch.BatchCommands.Add(BatchCommand(_sql.FindStoreCommits, P(unresolved.ConvertAll(a => a.OperationId).ToArray())));
                var purge = BatchCommand(_sql.PurgeExpired, P(now), P(PurgeChunk));
                batch.BatchCommands.Add(purge);
                await batch.PrepareAsync().ConfigureAwait(false);
                open = true;
                var reader = await batch.ExecuteReaderAsync().ConfigureAwait(false);
                await using (reader.ConfigureAwait(false))
                {
                    await SkipSettingsAsync(reader).ConfigureAwait(false);
                    await reader.NextResultAsync().ConfigureAwait(false); // the purge lock
                    await reader.NextResultAsync().ConfigureAwait(false);
                    while (await reader.ReadAsync().ConfigureAwait(false))
                    {
                        var id = reader.GetGuid(0);
                        if (unresolved.Find(a => a.OperationId == id) is { } found)
                        {
                            earlier = found;
                            earlier.Results[0] = reader.GetInt64(1);
                        }
                    }

                    while (await reader.NextResultAsync().ConfigureAwait(false))
                    {
                    }
                }

                count = (long)purge.Rows;
            }

            if (unresolved.Count > 0)
            {
                Log.CommitResolved(_logger, "purge", earlier is null ? "it had not committed and is applied again" : "it had committed");
            }

            if (earlier is not null)
            {
                // It stays listed: if this rollback fails, the next attempt finds it again.
                unresolved.RemoveAll(a => a != earlier);
                await RollbackAsync(connection).ConfigureAwait(false);
                open = false;
                return (long)earlier.Results[0]!;
            }

            unresolved.Clear();
            if (count == 0)
            {
                await RollbackAsync(connection).ConfigureAwait(false);
                open = false;
                return 0;
            }

            var attempt = new Attempt(Guid.CreateVersion7(), 1);
            attempt.Results[0] = count;
            using (var batch = new NpgsqlBatch(connection))
            {
                batch.BatchCommands.Add(BatchCommand(_sql.LogCommit, P(string.Empty), P(attempt.OperationId), P(0L), P<long?>(count)));
                batch.BatchCommands.Add(BatchCommand(_sql.PruneCommitLog, P(string.Empty)));
                batch.BatchCommands.Add(new NpgsqlBatchCommand(Sql.Commit));
                await SendCommitAsync(batch, attempt, unresolved).ConfigureAwait(false);
                open = false;
            }

            unresolved.Remove(attempt);
            return count;
        }
        catch when (open)
        {
            await RollbackQuietlyAsync(connection).ConfigureAwait(false);
            throw;
        }
    }

    /// <summary>
    /// The first statements of every partition write: BEGIN, the transaction's settings, the lock on
    /// the partition's row (inserting a placeholder with revision 0 when the partition does not exist:
    /// an insert waits for any other transaction creating the same row), the partition's revision and
    /// the floor, and the commit-log lookup of earlier attempts.
    /// </summary>
    private NpgsqlBatch BeginLocked(NpgsqlConnection connection, string partition, List<Attempt> unresolved)
    {
        var batch = new NpgsqlBatch(connection);
        batch.BatchCommands.Add(new NpgsqlBatchCommand(Sql.Begin));
        AddTransactionSettings(batch);
        batch.BatchCommands.Add(BatchCommand(_sql.LockPartition, P(partition)));
        batch.BatchCommands.Add(BatchCommand(_sql.ReadPartition, P(partition)));
        batch.BatchCommands.Add(BatchCommand(_sql.FindCommits, P(partition), P(unresolved.ConvertAll(a => a.OperationId).ToArray())));
        return batch;
    }

    /// <summary>
    /// Reads what <see cref="BeginLocked"/> returned. Holding the lock, every earlier attempt has
    /// ended: one in the commit log committed (its results stand); the others never will.
    /// </summary>
    private async ValueTask<(long Revision, long Floor, Attempt? Earlier)> ReadLockedAsync(NpgsqlDataReader reader, List<Attempt> unresolved)
    {
        await SkipSettingsAsync(reader).ConfigureAwait(false);
        await reader.NextResultAsync().ConfigureAwait(false);
        if (!await reader.ReadAsync().ConfigureAwait(false))
        {
            throw new CorruptDataException(_sql.QuotedSchema + ".storage_meta", "the revision_floor row is missing");
        }

        var revision = reader.GetInt64(0);
        var floor = reader.GetInt64(1);
        await reader.NextResultAsync().ConfigureAwait(false);
        Attempt? earlier = null;
        while (await reader.ReadAsync().ConfigureAwait(false))
        {
            var id = reader.GetGuid(0);
            earlier = unresolved.Find(a => a.OperationId == id);
        }

        if (unresolved.Count > 0)
        {
            Log.CommitResolved(_logger, "partition write", earlier is null ? "it had not committed and is applied again" : "it had committed");
        }

        // Attempts missing from the log never will commit. One that did commit stays listed, so that
        // should this attempt fail before it returns, the next one finds it again.
        unresolved.RemoveAll(a => a != earlier);
        return (revision, floor, earlier);
    }

    private void AddTransactionSettings(NpgsqlBatch batch)
    {
        batch.BatchCommands.Add(BatchCommand(Sql.SetLocal, P("idle_in_transaction_session_timeout"), P(IdleInTransactionTimeout)));
        if (_relaxed)
        {
            batch.BatchCommands.Add(BatchCommand(Sql.SetLocal, P("synchronous_commit"), P("off")));
        }
    }

    private async ValueTask SkipSettingsAsync(NpgsqlDataReader reader)
    {
        // The set_config results come first (one or two); the reader starts on the first of them.
        if (_relaxed)
        {
            await reader.NextResultAsync().ConfigureAwait(false);
        }
    }

    private void AddDocumentWrites(NpgsqlBatch batch, string partition, PartitionWork work)
    {
        var upserts = work.Upserts().ToList();
        if (upserts.Count > 0)
        {
            var collections = new string[upserts.Count];
            var keys = new string[upserts.Count];
            var values = new ReadOnlyMemory<byte>[upserts.Count];
            var versions = new long[upserts.Count];
            var created = new DateTimeOffset[upserts.Count];
            var updated = new DateTimeOffset[upserts.Count];
            var expires = new DateTimeOffset?[upserts.Count];
            for (var i = 0; i < upserts.Count; i++)
            {
                var (id, row) = upserts[i];
                (collections[i], keys[i], values[i], versions[i], created[i], updated[i], expires[i]) =
                    (id.Collection, id.Key, row.Value, row.Version, row.CreatedAt, row.UpdatedAt, row.ExpiresAt);
            }

            // The values go to the text column as their UTF-8 bytes, unchanged.
            var text = new NpgsqlParameter<ReadOnlyMemory<byte>[]> { TypedValue = values, NpgsqlDbType = NpgsqlDbType.Array | NpgsqlDbType.Text };
            batch.BatchCommands.Add(BatchCommand(_sql.UpsertDocuments, P(partition), P(collections), P(keys), text, P(versions), P(created), P(updated), P(expires)));
        }

        var deletes = work.Deletes().ToList();
        if (deletes.Count > 0)
        {
            batch.BatchCommands.Add(BatchCommand(_sql.DeleteDocuments, P(partition), P(deletes.ConvertAll(d => d.Collection).ToArray()), P(deletes.ConvertAll(d => d.Key).ToArray())));
        }

        var sequences = work.SequenceWrites().ToList();
        if (sequences.Count > 0)
        {
            batch.BatchCommands.Add(BatchCommand(_sql.UpsertSequences, P(partition), P(sequences.ConvertAll(s => s.Name).ToArray()), P(sequences.ConvertAll(s => s.Value).ToArray())));
        }
    }

    /// <summary>
    /// Sends the writes and COMMIT in one round trip. From the moment they leave, the attempt's
    /// outcome is unknown until the server answers: a server error means it rolled back, but a lost
    /// connection may have lost the answer to a COMMIT that happened — the next attempt looks it up.
    /// </summary>
    private static async ValueTask SendCommitAsync(NpgsqlBatch batch, Attempt attempt, List<Attempt> unresolved)
    {
        await batch.PrepareAsync().ConfigureAwait(false);
        unresolved.Add(attempt);
        try
        {
            await batch.ExecuteNonQueryAsync().ConfigureAwait(false);
        }
        catch (PostgresException e) when (!IsOutcomeUnknown(e))
        {
            unresolved.Remove(attempt);
            throw;
        }
    }

    /// <summary>Whether a server error leaves a COMMIT's outcome open: the connection or the server went away around it.</summary>
    private static bool IsOutcomeUnknown(PostgresException e)
        => e.SqlState.StartsWith("08", StringComparison.Ordinal) || e.SqlState is PostgresErrorCodes.AdminShutdown or PostgresErrorCodes.CrashShutdown;

    private async ValueTask InjectAsync(CommitStage stage, NpgsqlConnection connection)
    {
        if (FaultInjector is { } inject)
        {
            await inject(stage, connection).ConfigureAwait(false);
        }
    }

    private static async ValueTask RollbackAsync(NpgsqlConnection connection)
    {
        using var command = new NpgsqlCommand(Sql.Rollback, connection);
        await command.ExecuteNonQueryAsync().ConfigureAwait(false);
    }

    private static async ValueTask RollbackQuietlyAsync(NpgsqlConnection connection)
    {
        if (connection.FullState != System.Data.ConnectionState.Open)
        {
            // Broken: the server ends the transaction with the connection.
            return;
        }

        try
        {
            await RollbackAsync(connection).ConfigureAwait(false);
        }
        catch (Exception e) when (e is NpgsqlException or InvalidOperationException)
        {
            // The connection broke meanwhile; the original failure is what counts.
        }
    }

    private OperationScope Enter()
    {
        lock (_lifetimeLock)
        {
            if (_disposed)
            {
                throw new ObjectDisposedException(nameof(PostgresStore), ErrorMessages.Disposed);
            }

            _running++;
        }

        return new OperationScope(this);
    }

    private void Exit()
    {
        lock (_lifetimeLock)
        {
            if (--_running == 0 && _disposed)
            {
                _drained!.TrySetResult();
            }
        }
    }

    private readonly struct OperationScope(PostgresStore store) : IDisposable
    {
        public void Dispose() => store.Exit();
    }

    /// <summary>One attempt at a transaction: its operation id (written to the commit log with it) and each request's result or error.</summary>
    private sealed class Attempt(Guid operationId, int requests)
    {
        public Guid OperationId { get; } = operationId;

        public object?[] Results { get; } = new object?[requests];

        public Exception?[] Errors { get; } = new Exception?[requests];
    }

    private sealed class PartitionQueue
    {
        public PartitionQueue(PostgresStore store, string partition)
            => Queue = new CommitQueue<WriteRequest, object?>(group => store.CommitGroupAsync(partition, group));

        public CommitQueue<WriteRequest, object?> Queue { get; }

        public int Users { get; set; }
    }
}
