using System.Collections.Concurrent;
using System.Diagnostics;
using System.Globalization;
using System.Security.Cryptography;
using Microsoft.Data.Sqlite;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Storage.Internal;
using Storage.Sqlite.Internal;

namespace Storage.Sqlite;

/// <summary>
/// The SQLite backend: one database file in WAL mode. Every write runs in a <c>BEGIN IMMEDIATE</c>
/// transaction; concurrent writers of this store are coalesced into one transaction and one sync
/// (group commit), each with its own savepoint, condition checks and result. Many stores, in this
/// process or in other processes of the same machine, may share one file: SQLite serializes their
/// writes, and a writer that finds the database locked waits up to <see cref="SqliteStoreOptions.BusyTimeout"/>.
/// </summary>
/// <remarks>
/// Microsoft.Data.Sqlite is synchronous underneath, so operations run synchronously on the calling
/// thread and are exposed as <see cref="ValueTask"/> without any <c>Task.Run</c>. The store owns its
/// connections (no connection pool is shared across stores); disposing it closes every one of them
/// and releases the file.
/// </remarks>
/// <seealso href="../../docs/sqlite-backend.md"/>
public sealed class SqliteStore : IStore, IBulkImport
{
    private const int MaxIdleReaders = 8;

    /// <summary>
    /// How many partitions of a bulk import commit at once. Twice the window of imports through
    /// batches: with 8, group commit merged about 5 partitions per transaction, with 16 about 9 (near
    /// the 1,000 rows a transaction of the raw batched-insert baseline holds), and the quick bulk
    /// benchmark went from about 0.56 to 0.66 of raw.
    /// </summary>
    internal const int ImportInFlight = 16;

    /// <summary>How long a WAL-truncating checkpoint waits for readers of older snapshots.</summary>
    private static readonly TimeSpan s_checkpointWait = TimeSpan.FromSeconds(1);

    /// <summary>How long one attempt of a WAL-truncating checkpoint waits.</summary>
    private static readonly TimeSpan s_checkpointAttempt = TimeSpan.FromMilliseconds(50);

    /// <summary>How long the store waits before it tries again after a checkpoint that readers held off.</summary>
    private static readonly TimeSpan s_checkpointBackoff = TimeSpan.FromSeconds(1);

    private readonly string _path;
    private readonly TimeProvider _time;
    private readonly SqliteStoreOptions _options;
    private readonly string _readerConnectionString;
    private readonly int _commandTimeoutSeconds;
    private readonly SqliteSession _writer;
    private readonly ConcurrentBag<SqliteSession> _idleReaders = [];
    private readonly CommitQueue<WriteRequest, object> _queue;
    private readonly StoreLifetime _lifetime = new();
    private readonly SqliteIndexes _indexes;
    private long _checkpointBackoffUntil;
    private long _walGrowthSinceLook;
    private long _walLookedAt;

    private SqliteStore(string path, SqliteStoreOptions options, string readerConnectionString, int commandTimeoutSeconds, SqliteSession writer, SqliteIndexes indexes)
    {
        _path = path;
        _indexes = indexes;
        _options = options;
        _time = options.TimeProvider;
        _readerConnectionString = readerConnectionString;
        _commandTimeoutSeconds = commandTimeoutSeconds;
        _writer = writer;
        _queue = new CommitQueue<WriteRequest, object>(CommitGroup);
    }

    /// <summary>The full path of the database file.</summary>
    public string Path => _path;

    /// <summary>For tests: called after each group transaction has committed, with its requests in the order they applied.</summary>
    internal Action<IReadOnlyList<WriteRequest>>? GroupCommitted { get; set; }

    /// <summary>For tests: how many WAL-truncating checkpoints succeeded.</summary>
    internal int TruncatedCheckpoints { get; private set; }

    /// <summary>For tests: how many WAL-truncating checkpoints readers or other processes held off.</summary>
    internal int BlockedCheckpoints { get; private set; }

    /// <summary>For tests: the catalog generation this instance opened with (its writes need the file to still have it).</summary>
    internal long IndexGeneration => _indexes.Generation;

    /// <summary>For tests: how many times a commit looked at the WAL's size.</summary>
    internal int WalSizeLooks { get; private set; }

    /// <summary>For tests: whether commits check the WAL size and truncate it (on by default).</summary>
    internal bool BoundWal { get; set; } = true;

    /// <summary>Opens (or creates) a store in a database file, bringing its schema up to date.</summary>
    /// <param name="options">The file and settings.</param>
    /// <returns>The open store; dispose it to close its connections and release the file.</returns>
    /// <exception cref="ArgumentException">The options are not valid (an index is declared twice, for instance).</exception>
    /// <exception cref="IndexBuildException">The existing documents cannot be indexed by a new or changed index declaration; nothing was changed and the file is released.</exception>
    /// <exception cref="UnsupportedFormatException">The database was written by a newer version of the library; nothing was changed.</exception>
    /// <exception cref="CorruptDataException">The file is not a SQLite database, is another application's database, or fails <c>PRAGMA integrity_check</c> (with <see cref="SqliteStoreOptions.CheckIntegrityOnOpen"/>).</exception>
    /// <exception cref="StoreUnavailableException">Another process held the database locked past the busy timeout.</exception>
    /// <exception cref="StorageException">The file could not be opened or created.</exception>
    public static SqliteStore Open(SqliteStoreOptions options) => Open(options, Schema.Migrations);

    /// <summary>Opens a store with a given list of migrations: the seam where tests add steps.</summary>
    internal static SqliteStore Open(SqliteStoreOptions options, IReadOnlyList<Migration> migrations)
    {
        Validate(options);
        var catalog = new IndexCatalog(options.Indexes);

        // The store keeps its own copy: changing the caller's options object later changes nothing.
        options = new SqliteStoreOptions
        {
            Path = options.Path,
            TimeProvider = options.TimeProvider,
            TombstoneRetention = options.TombstoneRetention,
            Indexes = catalog.All,
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
                WithRetry(path, options.BusyTimeout, () =>
                {
                    CheckIntegrity(writer, path);
                    return true;
                });
            }

            var indexes = Migrate(writer, path, migrations, options, catalog, logger);
            SwitchToWal(writer, path, options);

            return new SqliteStore(path, options, readerConnectionString, commandTimeoutSeconds, writer, indexes);
        }
        catch (SqliteException e)
        {
            writer?.Dispose();
            throw SqliteErrors.Translate(e, path);
        }
        catch
        {
            writer?.Dispose();
            throw;
        }
    }

    /// <inheritdoc/>
    public ValueTask<StoredDocument?> GetAsync(string partition, string collection, string key, CancellationToken cancellationToken = default)
    {
        Identifiers.ValidatePartitionKey(partition);
        Identifiers.ValidateName(collection, nameof(collection));
        Identifiers.ValidateDocumentKey(key);
        cancellationToken.ThrowIfCancellationRequested();
        var now = Timestamps.Now(_time).ToUnixTimeMilliseconds();
        return ValueTask.FromResult(Read(session =>
        {
            using var reader = session.Query(Sql.GetDocument, partition, collection, key, now);
            return reader.Read()
                ? ReadDocument(reader, 0, partition, collection, key)
                : null;
        }));
    }

    /// <inheritdoc/>
    public ValueTask<CommitResult> CommitAsync(string partition, IReadOnlyList<WriteOperation> operations, CancellationToken cancellationToken = default)
    {
        Batches.Validate(partition, operations);

        // Index values are extracted (a value of the wrong type fails the batch) before anything is written.
        var entries = _indexes.Catalog.ExtractAll(operations);
        return EnqueueAsync<CommitResult>(new BatchRequest(partition, operations, entries), cancellationToken);
    }

    /// <inheritdoc/>
    /// <remarks>
    /// Each partition is one request to the group commit, up to 16 consecutive partitions at once (each
    /// on a thread of its own, so that group commit merges them into one transaction and one sync), so
    /// the import holds at most 16 partitions in memory, and when a partition fails at most 15 of those
    /// after it are imported. A partition that does not exist yet is written with plain inserts (it can
    /// hold nothing to check or replace); one that exists commits as a <see cref="CommitAsync"/> of
    /// must-not-exist puts would.
    /// </remarks>
    public async ValueTask<ImportResult> ImportAsync(IAsyncEnumerable<ImportedPartition> partitions, CancellationToken cancellationToken = default)
    {
        using var scope = Enter();
        return await BatchImport.RunAsync(partitions, CommitImportedAsync, ImportInFlight, cancellationToken).ConfigureAwait(false);
    }

    /// <inheritdoc/>
    public ValueTask<DocumentPage> ListAsync(string partition, string collection, ListOptions? options = null, CancellationToken cancellationToken = default)
    {
        var query = ListQuery.ForDocuments(partition, collection, options);
        cancellationToken.ThrowIfCancellationRequested();
        var range = KeyRange.For(query);
        if (range.IsEmpty)
        {
            return ValueTask.FromResult(new DocumentPage([], null));
        }

        var now = Timestamps.Now(_time).ToUnixTimeMilliseconds();
        var statement = (query.Descending, range.Upper is null) switch
        {
            (false, true) => Sql.ListAscending,
            (false, false) => Sql.ListAscendingBounded,
            (true, true) => Sql.ListDescending,
            (true, false) => Sql.ListDescendingBounded,
        };
        object?[] values = range.Upper is null
            ? [partition, collection, range.Lower, now, query.Limit + 1]
            : [partition, collection, range.Lower, range.Upper, now, query.Limit + 1];

        var rows = Read(session =>
        {
            var documents = new List<StoredDocument>(Math.Min(query.Limit + 1, 64));
            using var reader = session.Query(statement, values);
            while (reader.Read())
            {
                documents.Add(ReadDocument(reader, 1, partition, collection, reader.GetString(0)));
            }

            return documents;
        });

        var (items, token) = query.TakePage(rows, static d => d.Key);
        return ValueTask.FromResult(new DocumentPage(items, token));
    }

    /// <inheritdoc/>
    public ValueTask<long> IncrementSequenceAsync(string partition, string name, long delta = 1, CancellationToken cancellationToken = default)
    {
        Batches.ValidateIncrement(partition, name, delta);
        return EnqueueAsync<long>(new IncrementRequest(partition, name, delta), cancellationToken);
    }

    /// <inheritdoc/>
    public ValueTask<long> GetSequenceAsync(string partition, string name, CancellationToken cancellationToken = default)
    {
        Identifiers.ValidatePartitionKey(partition);
        Identifiers.ValidateName(name);
        cancellationToken.ThrowIfCancellationRequested();
        return ValueTask.FromResult(Read(session => session.Scalar(Sql.GetSequence, partition, name) is long value ? value : 0));
    }

    /// <inheritdoc/>
    public ValueTask<PartitionPage> ListPartitionsAsync(PartitionListOptions? options = null, CancellationToken cancellationToken = default)
    {
        var query = ListQuery.ForPartitions(options);
        cancellationToken.ThrowIfCancellationRequested();
        var rows = Read(session =>
        {
            var partitions = new List<PartitionInfo>(Math.Min(query.Limit + 1, 64));

            // Every partition key is non-empty, so all of them sort after "".
            using var reader = session.Query(Sql.ListPartitions, query.After ?? string.Empty, query.Limit + 1);
            while (reader.Read())
            {
                partitions.Add(new PartitionInfo(reader.GetString(0), reader.GetInt64(1)));
            }

            return partitions;
        });

        var (items, token) = query.TakePage(rows, static p => p.Partition);
        return ValueTask.FromResult(new PartitionPage(items, token));
    }

    /// <inheritdoc/>
    public ValueTask<bool> DeletePartitionAsync(string partition, CancellationToken cancellationToken = default)
    {
        Identifiers.ValidatePartitionKey(partition);
        return EnqueueAsync<bool>(new DeletePartitionRequest(partition), cancellationToken);
    }

    /// <inheritdoc/>
    /// <remarks>Reads the stream's version and its events in one read transaction (one snapshot).</remarks>
    public ValueTask<EventPage> ReadStreamAsync(string partition, string stream, ReadStreamOptions? options = null, CancellationToken cancellationToken = default)
    {
        var read = StreamRead.Create(partition, stream, options);
        cancellationToken.ThrowIfCancellationRequested();
        return ValueTask.FromResult(ReadSnapshot(session =>
        {
            var version = session.Scalar(Sql.GetStreamVersion, partition, stream) is long current ? current : 0;
            var events = new List<StoredEvent>();
            if (read.Range(version) is { } range)
            {
                using var reader = session.Query(Sql.ReadEvents, partition, stream, range.First, range.Last);
                while (reader.Read())
                {
                    events.Add(ReadEvent(reader, 0, partition, stream));
                }
            }

            return read.ToPage(version, events);
        }));
    }

    /// <inheritdoc/>
    public ValueTask<StreamPage> ListStreamsAsync(string partition, ListOptions? options = null, CancellationToken cancellationToken = default)
    {
        var query = ListQuery.ForStreams(partition, options);
        cancellationToken.ThrowIfCancellationRequested();
        var range = KeyRange.For(query);
        if (range.IsEmpty)
        {
            return ValueTask.FromResult(new StreamPage([], null));
        }

        var statement = (query.Descending, range.Upper is null) switch
        {
            (false, true) => Sql.ListStreamsAscending,
            (false, false) => Sql.ListStreamsAscendingBounded,
            (true, true) => Sql.ListStreamsDescending,
            (true, false) => Sql.ListStreamsDescendingBounded,
        };
        object?[] values = range.Upper is null
            ? [partition, range.Lower, query.Limit + 1]
            : [partition, range.Lower, range.Upper, query.Limit + 1];

        var rows = Read(session =>
        {
            var streams = new List<StreamInfo>(Math.Min(query.Limit + 1, 64));
            using var reader = session.Query(statement, values);
            while (reader.Read())
            {
                streams.Add(new StreamInfo(reader.GetString(0), reader.GetInt64(1)));
            }

            return streams;
        });

        var (items, token) = query.TakePage(rows, static s => s.Stream);
        return ValueTask.FromResult(new StreamPage(items, token));
    }

    /// <inheritdoc/>
    /// <remarks>
    /// Reads the partition's revision and oldest resumable revision, then the candidates in feed order
    /// (one query over documents, tombstones, events and sequences, each by its revision index), in
    /// one read transaction: a page never mixes two states of the partition.
    /// </remarks>
    public ValueTask<ChangePage> ReadChangesAsync(string partition, long afterRevision, int limit = StoreLimits.DefaultPageSize, CancellationToken cancellationToken = default)
    {
        ChangeFeedQuery.Validate(partition, afterRevision, limit);
        cancellationToken.ThrowIfCancellationRequested();
        var now = Timestamps.Now(_time).ToUnixTimeMilliseconds();
        return ValueTask.FromResult(ReadSnapshot(session =>
        {
            long revision = 0;
            long oldestResumable = 0;
            bool exists;
            using (var reader = session.Query(Sql.GetPartitionFeedState, partition))
            {
                exists = reader.Read();
                if (exists)
                {
                    revision = reader.GetInt64(0);
                    oldestResumable = reader.GetInt64(1);
                }
            }

            ChangeFeedQuery.EnsureResumable(partition, afterRevision, exists, oldestResumable);
            if (!exists)
            {
                return new ChangePage([], afterRevision, false);
            }

            // The query streams its rows in feed order; once past the limit, the first row of a new
            // revision decides the page (TakePage takes whole commits), so the rest is never read.
            var changes = new List<Change>();
            using (var reader = session.Query(Sql.ReadChanges, partition, afterRevision, now, ChangeFeedQuery.FetchSize(limit)))
            {
                while (reader.Read())
                {
                    changes.Add(ReadChange(reader, partition));
                    if (changes.Count > limit && changes[^1].Revision != changes[^2].Revision)
                    {
                        break;
                    }
                }
            }

            return ChangeFeedQuery.TakePage(changes, limit, afterRevision, revision);
        }));
    }

    /// <inheritdoc/>
    /// <remarks>
    /// One range scan of the index's entries (the primary key across partitions, or
    /// <c>index_entries_by_partition</c> in one partition), in the query's order; entries of expired
    /// documents are skipped (each entry carries its document's expiry, compared with the store's
    /// clock), each other entry is joined to its document by primary key, and the scan stops after
    /// <c>Limit + 1</c> matches: one statement. Only when it finds nothing does the store check that
    /// the index still has the id this instance opened with (a dropped or changed index has no entries).
    /// </remarks>
    /// <exception cref="IndexDeclarationsChangedException">Another instance dropped or changed the index since this one opened.</exception>
    public ValueTask<QueryPage> QueryAsync(IndexQuery query, CancellationToken cancellationToken = default)
    {
        var plan = IndexQueryPlan.Create(_indexes.Catalog, query);
        cancellationToken.ThrowIfCancellationRequested();
        var range = IndexRange.For(plan);
        var after = plan.After;

        // A cursor outside the range (only a forged token has one) leaves the range as it is.
        if (after is { } cursor && (plan.Descending ? range.IsAtOrAbove(cursor.Value) : range.IsBelow(cursor.Value)))
        {
            after = null;
        }

        if (range.IsEmpty)
        {
            return ValueTask.FromResult(new QueryPage([], null));
        }

        var index = plan.Index;
        var id = _indexes.Id(index);
        var now = Timestamps.Now(_time).ToUnixTimeMilliseconds();
        var limit = plan.Limit + 1;
        var (statement, values) = (plan.Partition, after) switch
        {
            (null, null) => (plan.Descending ? Sql.QueryDescending : Sql.QueryAscending, new object?[] { index.Collection, id, range.Lower, range.Upper, now, limit }),
            (null, { } c) => plan.Descending
                ? (Sql.QueryDescendingAfter, [index.Collection, id, range.Lower, SqliteIndexes.Bind(c.Value), c.Partition, c.Key, now, limit])
                : (Sql.QueryAscendingAfter, [index.Collection, id, SqliteIndexes.Bind(c.Value), c.Partition, c.Key, range.Upper, now, limit]),
            ({ } p, null) => (plan.Descending ? Sql.QueryPartitionDescending : Sql.QueryPartitionAscending, [index.Collection, p, id, range.Lower, range.Upper, now, limit]),
            ({ } p, { } c) => plan.Descending
                ? (Sql.QueryPartitionDescendingAfter, [index.Collection, p, id, range.Lower, SqliteIndexes.Bind(c.Value), IndexRange.CursorKey(p, c.Partition, c.Key), now, limit])
                : (Sql.QueryPartitionAscendingAfter, [index.Collection, p, id, SqliteIndexes.Bind(c.Value), IndexRange.CursorKey(p, c.Partition, c.Key), range.Upper, now, limit]),
        };

        return ValueTask.FromResult(Read(session =>
        {
            var matches = new List<IndexMatch>(Math.Min(limit, 64));
            using var reader = session.Query(statement, values);
            while (reader.Read())
            {
                var value = index.ValueType == IndexValueType.Int64 ? IndexValue.Of(reader.GetInt64(0)) : IndexValue.Of(reader.GetString(0));
                matches.Add(new IndexMatch(value, ReadDocument(reader, 3, reader.GetString(1), index.Collection, reader.GetString(2))));
            }

            if (matches.Count == 0)
            {
                EnsureIndexCurrent(session, id);
            }

            return plan.TakePage(matches);
        }));
    }

    /// <inheritdoc/>
    /// <remarks>
    /// Counts the entries of one range scan of the index (as <see cref="QueryAsync"/> reads them) whose
    /// documents are live, by the expiry each entry carries, in one statement: the documents are
    /// not read. A count of 0 checks that the index is still current.
    /// </remarks>
    /// <exception cref="IndexDeclarationsChangedException">Another instance dropped or changed the index since this one opened.</exception>
    public ValueTask<long> CountAsync(IndexQuery query, CancellationToken cancellationToken = default)
    {
        var plan = IndexQueryPlan.Create(_indexes.Catalog, query, forCount: true);
        cancellationToken.ThrowIfCancellationRequested();
        var range = IndexRange.For(plan);
        if (range.IsEmpty)
        {
            return ValueTask.FromResult(0L);
        }

        var index = plan.Index;
        var id = _indexes.Id(index);
        var now = Timestamps.Now(_time).ToUnixTimeMilliseconds();
        return ValueTask.FromResult(Read(session =>
        {
            var count = plan.Partition is { } partition
                ? (long)session.Scalar(Sql.CountInPartition, partition, id, range.Lower, range.Upper, now)!
                : (long)session.Scalar(Sql.Count, id, range.Lower, range.Upper, now)!;
            if (count == 0)
            {
                EnsureIndexCurrent(session, id);
            }

            return count;
        }));
    }

    /// <inheritdoc/>
    /// <remarks>
    /// Removes every expired document of the store, and drops the tombstones older than
    /// <see cref="SqliteStoreOptions.TombstoneRetention"/>, in one transaction.
    /// </remarks>
    public ValueTask<long> PurgeExpiredAsync(CancellationToken cancellationToken = default)
        => EnqueueAsync<long>(PurgeRequest.Instance, cancellationToken);

    /// <summary>
    /// Runs <c>PRAGMA integrity_check</c> over the whole database, in a read transaction (writers go
    /// on meanwhile). Reads every page, so it takes time on a large file.
    /// </summary>
    /// <param name="cancellationToken">Cancels the check before it starts.</param>
    /// <returns>A task that completes when the check has passed.</returns>
    /// <exception cref="CorruptDataException">The check found damage; <see cref="CorruptDataException.Reason"/> holds SQLite's report.</exception>
    /// <exception cref="StoreUnavailableException">The database stayed locked past the busy timeout.</exception>
    public ValueTask CheckIntegrityAsync(CancellationToken cancellationToken = default)
    {
        cancellationToken.ThrowIfCancellationRequested();
        Read(session =>
        {
            CheckIntegrity(session, _path);
            return true;
        });
        return ValueTask.CompletedTask;
    }

    /// <summary>
    /// Copies the database to <paramref name="destinationPath"/> with SQLite's online backup, from
    /// one consistent snapshot, while writers go on. The copy is written to a temporary file beside
    /// the destination, switched to a self-contained single file (<c>journal_mode = DELETE</c>),
    /// synced, and only then renamed over the destination: the destination holds either its old
    /// content or the complete copy. Open the copy with <see cref="Open(SqliteStoreOptions)"/> or any SQLite client.
    /// </summary>
    /// <param name="destinationPath">The file to write; replaced if it exists and is not in use.</param>
    /// <param name="cancellationToken">Cancels the backup before it starts.</param>
    /// <returns>A task that completes when the copy is in place.</returns>
    /// <exception cref="ArgumentException"><paramref name="destinationPath"/> is empty or is the store's own file.</exception>
    /// <exception cref="StorageException">The destination is in use (it has a -wal, -shm or -journal file), or the copy could not be written.</exception>
    public ValueTask BackupAsync(string destinationPath, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(destinationPath);
        var destination = System.IO.Path.GetFullPath(destinationPath);
        if (string.Equals(destination, _path, StringComparison.Ordinal))
        {
            throw new ArgumentException(SqliteErrors.BackupOntoItself, nameof(destinationPath));
        }

        cancellationToken.ThrowIfCancellationRequested();
        if (File.Exists(destination + "-wal") || File.Exists(destination + "-shm") || File.Exists(destination + "-journal"))
        {
            throw new StorageException(SqliteErrors.BackupDestinationInUse(destination));
        }

        var temp = destination + "." + Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(6)) + ".tmp";
        try
        {
            Read(session =>
            {
                try
                {
                    using var target = new SqliteConnection(new SqliteConnectionStringBuilder { DataSource = temp, Mode = SqliteOpenMode.ReadWriteCreate, Pooling = false }.ToString());
                    target.Open();
                    using var command = target.CreateCommand();
                    command.CommandText = Sql.SynchronousFull.Sql;
                    command.ExecuteNonQuery();

                    // One step over one read transaction of the source: a consistent snapshot, and WAL mode lets writers go on.
                    session.Connection.BackupDatabase(target);

                    // The copied header says WAL; make the copy one self-contained file.
                    command.CommandText = Sql.JournalModeDelete.Sql;
                    command.ExecuteNonQuery();
                    return true;
                }
                catch (SqliteException e) when (!SqliteErrors.IsBusy(e))
                {
                    throw new StorageException(SqliteErrors.BackupFailed(_path, destination), e);
                }
            });

            File.Move(temp, destination, overwrite: true);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new StorageException(SqliteErrors.BackupFailed(_path, destination), e);
        }
        finally
        {
            foreach (var leftover in new[] { temp, temp + "-journal", temp + "-wal", temp + "-shm" })
            {
                TryDelete(leftover);
            }
        }

        return ValueTask.CompletedTask;
    }

    /// <summary>Waits for running operations, then closes every connection and releases the file.</summary>
    /// <returns>A task that completes when the file is released.</returns>
    public async ValueTask DisposeAsync()
    {
        if (!_lifetime.TryBeginDispose(out var drained))
        {
            return;
        }

        await drained.ConfigureAwait(false);
        while (_idleReaders.TryTake(out var reader))
        {
            reader.Dispose();
        }

        // The writer closes last: the last connection to close checkpoints the WAL and removes it.
        _writer.Dispose();
    }

    /// <summary>For tests: rents a reader connection, as operations do, and runs <paramref name="action"/> on it.</summary>
    internal T WithReader<T>(Func<SqliteConnection, T> action) => Read(session => action(session.Connection));

    /// <summary>For tests: how many write requests wait for the next group.</summary>
    internal int QueuedWrites => _queue.Waiting;

    /// <summary>For tests: runs <paramref name="action"/> on the writer connection, under the group-commit turn.</summary>
    internal async ValueTask<T> WithWriterAsync<T>(Func<SqliteConnection, T> action)
    {
        using var scope = Enter();
        return (T)await _queue.EnqueueAsync(new DelegateRequest(() => action(_writer.Connection)!), CancellationToken.None).ConfigureAwait(false);
    }

    private static void Validate(SqliteStoreOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        if (string.IsNullOrWhiteSpace(options.Path))
        {
            throw new ArgumentException(SqliteErrors.NoPath, nameof(options));
        }

        ArgumentNullException.ThrowIfNull(options.TimeProvider, "options.TimeProvider");
        ChangeFeedQuery.ValidateRetention(options.TombstoneRetention, nameof(options));
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
            session.Execute(options.Durability == DurabilityMode.Full ? Sql.SynchronousFull : Sql.SynchronousNormal);

            // Pragma values are not bindable; this is a validated integer from the options, never user data.
            Pragma(connection, string.Create(CultureInfo.InvariantCulture, $"PRAGMA journal_size_limit = {options.WalSizeLimit}"));
            Pragma(connection, "PRAGMA wal_autocheckpoint = 1000");
            return session;
        }
        catch
        {
            session.Dispose();
            throw;
        }

        static void Pragma(SqliteConnection connection, string sql)
        {
            using var command = connection.CreateCommand();
            command.CommandText = sql;
            command.ExecuteNonQuery();
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
        return WithRetry(path, options.BusyTimeout, () =>
        {
            writer.Execute(Sql.BeginImmediate);
            try
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
                        using var command = writer.Connection.CreateCommand();
                        command.CommandText = statement;
                        command.ExecuteNonQuery();
                    }

                    writer.Execute(Sql.RecordMigration, migration.Version, DateTimeOffset.UtcNow.ToString("O", CultureInfo.InvariantCulture), migration.Description);
                    writer.Execute(Sql.SetMeta, Schema.MetaFormatVersion, (long)migration.Version);
                }

                // (Only tests open with a list of migrations that stops before the index tables.)
                var indexes = latest >= Schema.IndexesVersion
                    ? SqliteIndexes.Synchronize(writer, path, catalog, Timestamps.Now(options.TimeProvider), logger)
                    : SqliteIndexes.WithoutTables(catalog);
                writer.Execute(Sql.Commit);
                return indexes;
            }
            catch
            {
                RollbackQuietly(writer);
                throw;
            }
        });
    }

    private static void CheckIntegrity(SqliteSession session, string path)
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

    private static void RollbackQuietly(SqliteSession session)
    {
        if (session.IsAutocommit)
        {
            // SQLite already rolled the transaction back (it does after some I/O errors).
            return;
        }

        try
        {
            session.Execute(Sql.Rollback);
        }
        catch (SqliteException)
        {
            // The connection is unusable or the transaction is gone; the original error is what counts.
        }
    }

    private static DateTimeOffset FromMs(long ms) => DateTimeOffset.FromUnixTimeMilliseconds(ms);

    /// <summary>
    /// A document from six columns of a row, from <paramref name="first"/> on: value, version,
    /// created_at, updated_at, expires_at, checksum (the order of every document read; times in Unix
    /// milliseconds), once its checksum matches.
    /// </summary>
    /// <exception cref="CorruptDataException">The row does not match its checksum.</exception>
    private StoredDocument ReadDocument(SqliteDataReader reader, int first, string partition, string collection, string key)
    {
        var value = reader.GetFieldValue<byte[]>(first);
        var version = reader.GetInt64(first + 1);
        var createdAt = reader.GetInt64(first + 2);
        var updatedAt = reader.GetInt64(first + 3);
        long? expiresAt = reader.IsDBNull(first + 4) ? null : reader.GetInt64(first + 4);
        RowChecksum.VerifyDocument(_path, reader.GetInt64(first + 5), partition, collection, key, version, createdAt, updatedAt, expiresAt, value);
        return new(partition, collection, key, value, version, FromMs(createdAt), FromMs(updatedAt), expiresAt is { } e ? FromMs(e) : null);
    }

    /// <summary>
    /// An event from eight columns of a row, from <paramref name="first"/> on: version, revision,
    /// event_id, type, data, metadata, committed_at, checksum, once its checksum matches.
    /// </summary>
    /// <exception cref="CorruptDataException">The row does not match its checksum, or its id is not a GUID.</exception>
    private StoredEvent ReadEvent(SqliteDataReader reader, int first, string partition, string stream)
    {
        var version = reader.GetInt64(first);
        var revision = reader.GetInt64(first + 1);
        var eventId = reader.GetString(first + 2);
        var type = reader.GetString(first + 3);
        var data = reader.GetFieldValue<byte[]>(first + 4);
        var metadata = reader.IsDBNull(first + 5) ? null : reader.GetFieldValue<byte[]>(first + 5);
        var committedAt = reader.GetInt64(first + 6);
        return VerifiedEvent(reader.GetInt64(first + 7), partition, stream, version, revision, eventId, type, committedAt, data, metadata);
    }

    /// <summary>An event row's columns as a <see cref="StoredEvent"/>, once they match the row's checksum.</summary>
    /// <exception cref="CorruptDataException">The row does not match its checksum, or its id is not a GUID.</exception>
    private StoredEvent VerifiedEvent(long checksum, string partition, string stream, long version, long revision, string eventId, string type, long committedAt, byte[] data, byte[]? metadata)
    {
        RowChecksum.VerifyEvent(_path, checksum, partition, stream, version, revision, eventId, type, committedAt, data, metadata, metadata is not null);
        return new StoredEvent(
            partition,
            stream,
            version,
            revision,
            WriteContext.ParseEventId(eventId, _path, stream),
            type,
            data,
            metadata ?? ReadOnlyMemory<byte>.Empty,
            FromMs(committedAt));
    }

    /// <summary>One row of <see cref="Sql.ReadChanges"/> as a change, once a document's or event's checksum matches; the columns are listed there.</summary>
    /// <exception cref="CorruptDataException">A document or event row does not match its checksum.</exception>
    private Change ReadChange(SqliteDataReader reader, string partition)
    {
        var revision = reader.GetInt64(1);
        switch ((ChangeKind)reader.GetInt64(0))
        {
            case ChangeKind.Put:
            {
                var collection = reader.GetString(3);
                var key = reader.GetString(4);
                var value = reader.GetFieldValue<byte[]>(8);
                var createdAt = reader.GetInt64(9);
                var updatedAt = reader.GetInt64(10);
                long? expiresAt = reader.IsDBNull(11) ? null : reader.GetInt64(11);
                RowChecksum.VerifyDocument(_path, reader.GetInt64(16), partition, collection, key, revision, createdAt, updatedAt, expiresAt, value);
                return Change.Put(new StoredDocument(partition, collection, key, value, revision, FromMs(createdAt), FromMs(updatedAt), expiresAt is { } e ? FromMs(e) : null));
            }

            case ChangeKind.Delete:
                return Change.Delete(revision, reader.GetString(3), reader.GetString(4));
            case ChangeKind.Append:
            {
                var stream = reader.GetString(5);
                var version = reader.GetInt64(6);
                var eventId = reader.GetString(12);
                var type = reader.GetString(13);
                var data = reader.GetFieldValue<byte[]>(8);
                var metadata = reader.IsDBNull(14) ? null : reader.GetFieldValue<byte[]>(14);
                var committedAt = reader.GetInt64(9);
                return Change.Append(VerifiedEvent(reader.GetInt64(16), partition, stream, version, revision, eventId, type, committedAt, data, metadata));
            }

            default:
                return Change.Sequence(revision, reader.GetString(7), reader.GetInt64(15));
        }
    }

    private static void TryDelete(string path)
    {
        try
        {
            File.Delete(path);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            // Only a leftover temporary file.
        }
    }

    /// <summary>Commits one partition of an import (already checked as a batch) through the group commit, as <see cref="CommitAsync"/> queues a batch, on a thread-pool thread.</summary>
    /// <remarks>
    /// The writer that gets the group commit's turn commits synchronously on its own thread, so
    /// partitions queued one after the other from the import's thread would each take a transaction
    /// and a sync of their own (the quick bulk benchmark fell from 0.59 to 0.32 of raw): a thread each
    /// makes them concurrent writers whose requests meet in one group. The thread is there for the
    /// overlap, not to look asynchronous; <see cref="BatchImport"/>'s window bounds what commits past a
    /// failing partition in whatever order the threads run.
    /// </remarks>
    private Task CommitImportedAsync(ImportedPartition partition, CancellationToken cancellationToken) => Task.Run(
        () =>
        {
            // Index values are extracted (a value of the wrong type fails the partition) before anything is written.
            var entries = _indexes.Catalog.ExtractAll(partition.Puts);
            return EnqueueAsync<CommitResult>(new ImportRequest(partition, entries), cancellationToken).AsTask();
        },
        CancellationToken.None);

    private async ValueTask<T> EnqueueAsync<T>(WriteRequest request, CancellationToken cancellationToken)
    {
        using var scope = Enter();
        return (T)await _queue.EnqueueAsync(request, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>
    /// Commits one group: one <c>BEGIN IMMEDIATE</c> transaction and one sync for every waiting
    /// request, each in its own savepoint, so a failed condition rolls back only its own request.
    /// Results are given only once the transaction has committed; a busy database restarts the whole
    /// group (its requests are re-applied from scratch) until the budget is spent.
    /// </summary>
    private ValueTask CommitGroup(IReadOnlyList<CommitQueue<WriteRequest, object>.Entry> group)
    {
        var results = new object?[group.Count];
        var errors = new Exception?[group.Count];
        WithRetry(_path, _options.BusyTimeout, () =>
        {
            Array.Clear(results);
            Array.Clear(errors);
            var context = new WriteContext(_writer, _path, Timestamps.Now(_time), _options.TombstoneRetention, _indexes);
            _writer.Execute(Sql.BeginImmediate);
            try
            {
                // Another instance that changed the index declarations since this one opened fails the whole group.
                if ((_writer.Scalar(Sql.GetMeta, Schema.MetaIndexGeneration) as long? ?? 0) != _indexes.Generation)
                {
                    throw new IndexDeclarationsChangedException();
                }

                for (var i = 0; i < group.Count; i++)
                {
                    _writer.Execute(Sql.Savepoint);
                    try
                    {
                        results[i] = group[i].Request.Apply(context);
                        _writer.Execute(Sql.ReleaseSavepoint);
                    }
                    catch (Exception e) when (e is VersionConflictException or UniqueConstraintException or OverflowException or CorruptDataException)
                    {
                        _writer.Execute(Sql.RollbackToSavepoint);
                        _writer.Execute(Sql.ReleaseSavepoint);
                        errors[i] = e;
                    }
                }

                _writer.Execute(Sql.Commit);
            }
            catch
            {
                RollbackQuietly(_writer);
                throw;
            }

            return true;
        });

        if (GroupCommitted is { } observer)
        {
            observer(group.Select(e => e.Request).ToList());
        }

        for (var i = 0; i < group.Count; i++)
        {
            if (errors[i] is { } error)
            {
                group[i].Fail(error);
            }
            else
            {
                group[i].Complete(results[i]!);
            }
        }

        if (BoundWal && WalMayHaveGrownPastLimit(group))
        {
            BoundWalSize();
        }

        return ValueTask.CompletedTask;
    }

    /// <summary>
    /// Keeps the WAL under <see cref="SqliteStoreOptions.WalSizeLimit"/>: SQLite's automatic
    /// checkpoints copy pages back but cannot restart the log while readers keep using it, so a
    /// constant stream of readers would grow it without end. Past the limit, a TRUNCATE checkpoint
    /// waits (briefly) for the readers of older snapshots to finish, then empties the log.
    /// </summary>
    /// <summary>
    /// Whether the log may have outgrown its limit since the store last looked at its size: looking
    /// costs a <c>stat</c> (tens of microseconds, a third of a small commit's CPU), so the store adds
    /// up a generous estimate of what each commit wrote and looks when it reaches a quarter of the
    /// limit — or after a second, for what other processes write to the same file.
    /// </summary>
    private bool WalMayHaveGrownPastLimit(IReadOnlyList<CommitQueue<WriteRequest, object>.Entry> group)
    {
        foreach (var entry in group)
        {
            var estimate = entry.Request.WalBytesEstimate;
            _walGrowthSinceLook = estimate > long.MaxValue - _walGrowthSinceLook ? long.MaxValue : _walGrowthSinceLook + estimate;
        }

        var now = Stopwatch.GetTimestamp();
        if (_walGrowthSinceLook < _options.WalSizeLimit / 4 && now - _walLookedAt < Stopwatch.Frequency)
        {
            return false;
        }

        _walGrowthSinceLook = 0;
        _walLookedAt = now;
        WalSizeLooks++;
        return true;
    }

    private void BoundWalSize()
    {
        long size;
        try
        {
            // A stat, never an open: closing any descriptor of the file would drop SQLite's POSIX locks.
            size = new FileInfo(_path + "-wal").Length;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return;
        }

        if (size <= _options.WalSizeLimit || Stopwatch.GetTimestamp() < _checkpointBackoffUntil)
        {
            return;
        }

        // Wait for the readers of older snapshots at most s_checkpointWait (writers queue meanwhile), in
        // short attempts: SQLite waits on the snapshot each reader had when the attempt began, and
        // readers that keep starting new transactions move on to the newest one, which a fresh
        // attempt no longer waits for.
        var done = false;
        var started = Stopwatch.GetTimestamp();
        SetBusyTimeout(_writer.Connection, BusyTimeoutMs(Min(_options.BusyTimeout, s_checkpointAttempt)));
        try
        {
            while (!done && Stopwatch.GetElapsedTime(started) < Min(_options.BusyTimeout, s_checkpointWait))
            {
                using var reader = _writer.Query(Sql.CheckpointTruncate);
                done = reader.Read() && reader.GetInt64(0) == 0;
            }
        }
        catch (SqliteException e) when (SqliteErrors.IsBusy(e))
        {
            // Another process is writing or checkpointing.
        }
        finally
        {
            SetBusyTimeout(_writer.Connection, BusyTimeoutMs(_options.BusyTimeout));
        }

        if (done)
        {
            TruncatedCheckpoints++;
        }
        else
        {
            BlockedCheckpoints++;
            // A reader held its snapshot longer than the wait: do not stall every commit on it, try again later.
            _checkpointBackoffUntil = Stopwatch.GetTimestamp() + (long)(s_checkpointBackoff.TotalSeconds * Stopwatch.Frequency);
        }

        static TimeSpan Min(TimeSpan a, TimeSpan b) => a < b ? a : b;
    }

    private T Read<T>(Func<SqliteSession, T> read)
    {
        using var scope = Enter();
        var session = _idleReaders.TryTake(out var idle) ? idle : WithRetry(_path, _options.BusyTimeout, () => OpenSession(_readerConnectionString, _options, _commandTimeoutSeconds));
        try
        {
            return WithRetry(_path, _options.BusyTimeout, () => read(session));
        }
        finally
        {
            if (_idleReaders.Count < MaxIdleReaders)
            {
                _idleReaders.Add(session);
            }
            else
            {
                session.Dispose();
            }
        }
    }

    /// <summary>Runs several statements in one read transaction on a reader: they all see one snapshot.</summary>
    private T ReadSnapshot<T>(Func<SqliteSession, T> read) => Read(session =>
    {
        session.Execute(Sql.BeginRead);
        try
        {
            var result = read(session);
            session.Execute(Sql.Commit);
            return result;
        }
        catch
        {
            RollbackQuietly(session);
            throw;
        }
    });

    private StoreLifetime.Scope Enter() => _lifetime.Enter();

    /// <summary>
    /// After a query or count found nothing: refuses to answer for an index another instance dropped or
    /// changed since this one opened. A query is one statement, so one snapshot: the index's entries are
    /// removed in the transaction that removes its row (and ids are never reused), so a query that found
    /// entries read a current index, and only an empty answer needs this second look.
    /// </summary>
    private static void EnsureIndexCurrent(SqliteSession session, long id)
    {
        if ((long)session.Scalar(Sql.IndexExists, id)! == 0)
        {
            throw new IndexDeclarationsChangedException();
        }
    }

    private sealed class DelegateRequest(Func<object> action) : WriteRequest
    {
        public override object Apply(WriteContext context) => action();
    }
}
