using System.Collections.Concurrent;
using System.Diagnostics;
using Microsoft.Data.Sqlite;
using Storage.Internal;

namespace Storage.Sqlite.Internal;

/// <summary>
/// The SQLite backend behind <see cref="SqliteStore"/>'s engine: one writer connection and a pool of
/// reader connections to one database file in WAL mode. A group of writes (the engine groups the
/// store's writes, across partitions) commits in one <c>BEGIN IMMEDIATE</c> transaction and one sync,
/// each write in its own savepoint, so a write's own conflict rolls back only itself.
/// </summary>
/// <remarks>
/// Microsoft.Data.Sqlite is synchronous underneath, so every member runs synchronously on the calling
/// thread and returns a completed <see cref="ValueTask"/>, without any <c>Task.Run</c>.
/// </remarks>
internal sealed partial class SqliteBackend : IStoreBackend
{
    /// <summary>
    /// How many partitions of a bulk import commit at once. Twice the window of imports through
    /// batches: with 8, group commit merged about 5 partitions per transaction, with 16 about 9 (near
    /// the 1,000 rows a transaction of the raw batched-insert baseline holds), and the quick bulk
    /// benchmark went from about 0.56 to 0.66 of raw.
    /// </summary>
    public const int ImportInFlight = 16;

    private const int MaxIdleReaders = 8;

    /// <summary>How long a WAL-truncating checkpoint waits for readers of older snapshots.</summary>
    private static readonly TimeSpan s_checkpointWait = TimeSpan.FromSeconds(1);

    /// <summary>How long one attempt of a WAL-truncating checkpoint waits.</summary>
    private static readonly TimeSpan s_checkpointAttempt = TimeSpan.FromMilliseconds(50);

    /// <summary>How long the store waits before it tries again after a checkpoint that readers held off.</summary>
    private static readonly TimeSpan s_checkpointBackoff = TimeSpan.FromSeconds(1);

    private readonly string _path;
    private readonly SqliteStoreOptions _options;
    private readonly string _readerConnectionString;
    private readonly int _commandTimeoutSeconds;
    private readonly SqliteSession _writer;
    private readonly ConcurrentBag<SqliteSession> _idleReaders = [];
    private readonly SqliteIndexes _indexes;

    private readonly SemaphoreSlim _writerTurn = new(1, 1);
    private long _checkpointBackoffUntil;
    private long _walGrowthSinceLook;
    private long _walLookedAt;

    private SqliteBackend(string path, SqliteStoreOptions options, string readerConnectionString, int commandTimeoutSeconds, SqliteSession writer, SqliteIndexes indexes)
    {
        _path = path;
        _indexes = indexes;
        _options = options;
        _readerConnectionString = readerConnectionString;
        _commandTimeoutSeconds = commandTimeoutSeconds;
        _writer = writer;
    }

    /// <summary>The full path of the database file.</summary>
    public string Path => _path;

    /// <summary>The index declarations and the ids and generation this instance opened with.</summary>
    public SqliteIndexes Indexes => _indexes;

    /// <summary>For tests: called after each group transaction has committed, with its writes in the order they applied.</summary>
    public Action<IReadOnlyList<PendingWrite>>? GroupCommitted { get; set; }

    /// <summary>For tests: how many WAL-truncating checkpoints succeeded.</summary>
    public int TruncatedCheckpoints { get; private set; }

    /// <summary>For tests: how many WAL-truncating checkpoints readers or other processes held off.</summary>
    public int BlockedCheckpoints { get; private set; }

    /// <summary>For tests: how many times a commit looked at the WAL's size.</summary>
    public int WalSizeLooks { get; private set; }

    /// <summary>For tests: whether commits check the WAL size and truncate it (on by default).</summary>
    public bool BoundWal { get; set; } = true;

    public string SystemName => "sqlite";

    /// <inheritdoc/>
    public int ImportWindow => ImportInFlight;

    /// <inheritdoc/>
    /// <remarks>One writer connection: a group spans partitions, in one transaction.</remarks>
    public bool CommitsPerPartition => false;

    /// <inheritdoc/>
    /// <remarks>
    /// One <c>BEGIN IMMEDIATE</c> transaction and one sync for the whole group, each write in its own
    /// savepoint, so a failed condition rolls back only its own write. Outcomes are given only once the
    /// transaction has committed; a busy database restarts the whole group (its writes are applied
    /// again from scratch) until the budget is spent. A partition of a bulk import that does not exist
    /// yet takes the fast path (<see cref="WriteContext.Import"/>); a restore is written in its savepoint
    /// (<see cref="WriteContext.Restore"/>). <see cref="PendingWrite.IsPurge"/>
    /// never comes here: <see cref="PurgeAsync"/> purges the whole store at once.
    /// </remarks>
    public ValueTask CommitAsync(IReadOnlyList<PendingWrite> group, DateTimeOffset now, CancellationToken cancellationToken)
    {
        // Each write's result, or the conflict that failed it.
        var outcomes = new object?[group.Count];
        _writerTurn.Wait(CancellationToken.None);
        try
        {
            InWriteTransaction(now, context =>
            {
                for (var i = 0; i < group.Count; i++)
                {
                    var write = group[i];
                    _writer.Execute(Sql.Savepoint);
                    try
                    {
                        outcomes[i] = write switch
                        {
                            { IsPartitionDelete: true } => context.DeletePartition(write.Partition),
                            { IsRestore: true } => context.Restore(write),
                            { Imported: not null } => context.Import(write),
                            { Operations: not null } => context.ApplyBatch(write),
                            { Sequence: not null } => context.Increment(write),

                            // SQLite purges store-wide (PurgeAsync), never in a partition's turn.
                            _ => throw new InvalidOperationException("The SQLite backend received a write it does not carry out (a purge in turn)."),
                        };
                        _writer.Execute(Sql.ReleaseSavepoint);
                    }
                    catch (Exception e) when (e is VersionConflictException or UniqueConstraintException or OverflowException or CorruptDataException)
                    {
                        _writer.Execute(Sql.RollbackToSavepoint);
                        _writer.Execute(Sql.ReleaseSavepoint);
                        outcomes[i] = e;
                    }
                }

                return true;
            });

            GroupCommitted?.Invoke(group);
            for (var i = 0; i < group.Count; i++)
            {
                if (outcomes[i] is Exception error)
                {
                    group[i].Fail(error);
                }
                else
                {
                    group[i].Complete(outcomes[i]!);
                }
            }

            BoundWalSize(WalEstimate(group));
        }
        finally
        {
            _writerTurn.Release();
        }

        return ValueTask.CompletedTask;
    }

    /// <inheritdoc/>
    /// <remarks>
    /// Removes every expired document of the store, and drops the tombstones deleted at or before the
    /// cutoff, in one transaction on the writer connection, between two group commits.
    /// </remarks>
    public ValueTask<long> PurgeAsync(DateTimeOffset now, DateTimeOffset? tombstoneCutoff, Func<string, CancellationToken, ValueTask<long>> purgeInTurn, CancellationToken cancellationToken)
        => ValueTask.FromResult(InWriterTurn(cancellationToken, () =>
        {
            var purged = InWriteTransaction(now, context => context.PurgeExpired(tombstoneCutoff));

            // It may remove many documents: the log's size is looked at right away.
            BoundWalSize(long.MaxValue);
            return purged;
        }));

    /// <inheritdoc/>
    /// <remarks>
    /// A row of <c>storage_meta</c>, written (or deleted) in a <c>BEGIN IMMEDIATE</c> transaction of its
    /// own: it waits for the write transaction in flight in any process, and every write transaction
    /// that begins after it reads the row.
    /// </remarks>
    public ValueTask SetReadOnlyAsync(bool readOnly, CancellationToken cancellationToken)
    {
        InWriterTurn(cancellationToken, () => WithRetry(_path, _options.BusyTimeout, () => _writer.InTransaction(
            Sql.BeginImmediate,
            () => readOnly ? _writer.Execute(Sql.SetMeta, Schema.MetaReadOnly, 1L) : _writer.Execute(Sql.DeleteMeta, Schema.MetaReadOnly))));
        return ValueTask.CompletedTask;
    }

    /// <inheritdoc/>
    public ValueTask<bool> IsReadOnlyAsync(CancellationToken cancellationToken)
    {
        cancellationToken.ThrowIfCancellationRequested();
        return ValueTask.FromResult(Read(static session => session.Scalar(Sql.GetMeta, Schema.MetaReadOnly) is not null));
    }

    /// <summary>For tests: runs <paramref name="action"/> on the writer connection, between two commits.</summary>
    public T WithWriter<T>(Func<SqliteConnection, T> action) => InWriterTurn(CancellationToken.None, () => action(_writer.Connection));

    /// <summary>Runs <paramref name="action"/> in the writer's turn: the writer connection serves the engine's group commits and the store-wide purge, one at a time.</summary>
    private T InWriterTurn<T>(CancellationToken cancellationToken, Func<T> action)
    {
        _writerTurn.Wait(cancellationToken);
        try
        {
            return action();
        }
        finally
        {
            _writerTurn.Release();
        }
    }

    /// <summary>For tests: rents a reader connection, as reads do, and runs <paramref name="action"/> on it.</summary>
    public T WithReader<T>(Func<SqliteConnection, T> action) => Read(session => action(session.Connection));

    /// <summary>Closes every connection and releases the file (the engine has waited for running operations).</summary>
    /// <returns>A task that completes when the file is released.</returns>
    public ValueTask DisposeAsync()
    {
        while (_idleReaders.TryTake(out var reader))
        {
            reader.Dispose();
        }

        // The writer closes last: the last connection to close checkpoints the WAL and removes it.
        _writer.Dispose();
        _writerTurn.Dispose();
        return ValueTask.CompletedTask;
    }

    /// <summary>
    /// Runs <paramref name="body"/> in one <c>BEGIN IMMEDIATE</c> transaction on the writer connection
    /// and commits it, or rolls it back on any exception; a busy database runs it again from the start
    /// until the budget is spent. The caller holds the writer's turn. The checks read the store-wide
    /// cursor's last position too: the partitions the transaction changes take the next one, stored as
    /// the last before the commit (<see cref="WriteContext.Finish"/>).
    /// </summary>
    /// <exception cref="IndexDeclarationsChangedException">Another instance changed the index declarations since this one opened.</exception>
    private T InWriteTransaction<T>(DateTimeOffset now, Func<WriteContext, T> body) => WithRetry(_path, _options.BusyTimeout, () => _writer.InTransaction(Sql.BeginImmediate, (Backend: this, Now: now, Body: body), static state =>
    {
        // Another instance that changed the index declarations since this one opened fails the whole group;
        // so does the read-only fence, read in the transaction that commits (BEGIN IMMEDIATE: no other
        // process sets it meanwhile).
        var backend = state.Backend;
        long generation, position;
        bool readOnly;
        using (var reader = backend._writer.Query(Sql.WriteChecks))
        {
            reader.Read();
            generation = reader.IsDBNull(0) ? 0 : reader.GetInt64(0);
            readOnly = reader.GetBoolean(1);
            position = reader.IsDBNull(2) ? 0 : reader.GetInt64(2);
        }

        if (generation != backend._indexes.Generation)
        {
            throw new IndexDeclarationsChangedException();
        }

        if (readOnly)
        {
            throw new StoreReadOnlyException();
        }

        var context = new WriteContext(backend._writer, backend._path, state.Now, backend._indexes, position);
        var result = state.Body(context);
        context.Finish();
        return result;
    }));

    /// <summary>
    /// A generous estimate of what a group adds to the log: for each batch (or imported partition,
    /// whose fast path writes less than the batch path), twice the bytes written plus four pages per
    /// operation (leaf and interior pages of the tables and indexes it touches), a page per index
    /// value, and two for the partition's row and log (a restore's documents, tombstones, sequences,
    /// streams and events as a batch's operations); <see cref="long.MaxValue"/> with a partition
    /// delete or a restore over a partition that exists, which cannot be bounded (a partition may be large): the store then looks right after
    /// the commit.
    /// </summary>
    private static long WalEstimate(IReadOnlyList<PendingWrite> group)
    {
        // A page and its WAL frame header.
        const long PageBytes = 4096 + 24;
        long estimate = 0;
        foreach (var write in group)
        {
            // A restore over a partition that exists removes all of it first.
            if (write.IsPartitionDelete || write.RestoreOver is not null)
            {
                return long.MaxValue;
            }

            estimate += 2 * PageBytes;
            if (write.Restored is { } restored)
            {
                estimate += (4 * PageBytes * (restored.Documents.Count + restored.Tombstones.Count + restored.Sequences.Count))
                    + (2 * restored.Documents.Sum(static d => (long)d.Value.Length))
                    + restored.Streams.Sum(static s => (4 * PageBytes) + s.Events.Sum(static e => (4 * PageBytes) + (2L * (e.Data.Length + e.Metadata.Length))))
                    + (PageBytes * write.Entries!.Sum(static e => (long?)e?.Values.Sum(static v => v.Count) ?? 0));
                continue;
            }

            // An import's puts as they are: its must-not-exist copies are made only if it needs them.
            var operations = write.Imported?.Puts ?? write.Operations ?? [];
            for (var i = 0; i < operations.Count; i++)
            {
                var operation = operations[i];
                estimate += (4 * PageBytes) + (2L * (operation.Value.Length + operation.EventBytes));
                foreach (var indexValues in write.Entries![i]?.Values ?? [])
                {
                    estimate += PageBytes * indexValues.Count;
                }
            }
        }

        return estimate;
    }

    /// <summary>
    /// Keeps the WAL under <see cref="SqliteStoreOptions.WalSizeLimit"/> (when <see cref="BoundWal"/>):
    /// SQLite's automatic checkpoints copy pages back but cannot restart the log while readers keep
    /// using it, so a constant stream of readers would grow it without end. Past the limit, a TRUNCATE
    /// checkpoint waits (briefly) for the readers of older snapshots to finish, then empties the log.
    /// Looking at the log's size costs a <c>stat</c> (tens of microseconds, a third of a small commit's
    /// CPU), so the store adds up <paramref name="written"/>, a generous estimate of what each commit
    /// wrote (<see cref="WalEstimate"/>), and looks when it reaches a quarter of the limit — or after a
    /// second, for what other processes write to the same file.
    /// </summary>
    private void BoundWalSize(long written)
    {
        if (!BoundWal)
        {
            return;
        }

        _walGrowthSinceLook = written > long.MaxValue - _walGrowthSinceLook ? long.MaxValue : _walGrowthSinceLook + written;
        if (_walGrowthSinceLook < _options.WalSizeLimit / 4 && Stopwatch.GetTimestamp() - _walLookedAt < Stopwatch.Frequency)
        {
            return;
        }

        _walGrowthSinceLook = 0;
        _walLookedAt = Stopwatch.GetTimestamp();
        WalSizeLooks++;
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
    private T ReadSnapshot<T>(Func<SqliteSession, T> read) => Read(session => session.InTransaction(Sql.BeginRead, (Session: session, Read: read), static state => state.Read(state.Session)));
}
