using Microsoft.Extensions.Logging;
using Npgsql;
using Storage.Internal;
using static Storage.Postgres.Internal.Commands;

namespace Storage.Postgres.Internal;

/// <summary>Where a test makes a commit fail: before its writes are sent, or after its COMMIT succeeded.</summary>
internal enum CommitStage
{
    BeforeWrite,
    AfterCommit,
}

/// <summary>
/// The store's write transactions, one attempt at a time: a group of partition writes, a partition
/// delete, a chunk of a purge (expired documents or old tombstones). Each attempt is safe to repeat:
/// it first resolves earlier attempts whose outcome was lost (listed in <c>unresolved</c>) through
/// the commit log, under the same lock their transactions held.
/// </summary>
internal sealed class WriteTransactions(NpgsqlDataSource writer, bool multiHost, Sql sql, StoreIndexes indexes, TimeProvider time, bool relaxed, ILogger logger)
{
    /// <summary>How many times a group is tried again at once after losing a race for a unique value to another partition's writer.</summary>
    private const int MaxUniqueRaces = 100;

    /// <summary>How long a write transaction may sit idle before the server ends it: bounds how long a lost client can hold a partition's lock.</summary>
    private const string IdleInTransactionTimeout = "30s";

    /// <summary>How many expired documents (or old tombstones) one purge transaction removes at most.</summary>
    public const int PurgeChunk = 1000;

    private readonly NpgsqlDataSource _writer = writer;
    private readonly bool _multiHost = multiHost;
    private readonly Sql _sql = sql;
    private readonly StoreIndexes _indexes = indexes;
    private readonly TimeProvider _time = time;
    private readonly bool _relaxed = relaxed;
    private readonly ILogger _logger = logger;
    private long _groupCommits;

    /// <summary>For tests: runs at each stage of every commit, on the commit's connection; what it throws is what the commit sees.</summary>
    public Func<CommitStage, NpgsqlConnection, ValueTask>? FaultInjector { get; set; }

    /// <summary>For tests: how many partition write transactions have committed.</summary>
    public long GroupCommits => Interlocked.Read(ref _groupCommits);

    /// <summary>
    /// One attempt at writes the engine decides: a segment of one partition's batches and increments, or
    /// a chunk of a bulk import (<see cref="EngineWrites"/>). First round trip: begin, lock the
    /// partitions' rows in code-point order, read their revisions and the floor, ask the commit log
    /// whether an earlier attempt whose outcome was lost did commit, and (a group) read every touched
    /// document, sequence and stream; an import reads the stored rows of its keys in partitions that
    /// existed in a round trip of its own. Then the engine applies the writes in memory, an import copies
    /// its new documents in, and the last round trip writes the net change, the commit-log entries and
    /// COMMIT. An import stops at its first partition that fails: the attempt rolls back and its
    /// <see cref="Attempt.Errors"/> name that partition.
    /// </summary>
    /// <remarks>
    /// A unique value that another partition's writer took after the holders were read makes the insert
    /// of the entry fail (unique_violation, after that writer committed): the attempt runs again at once
    /// and finds the new holder, so the write that wants the value fails with
    /// <see cref="UniqueConstraintException"/> as if the holder had been there from the start.
    /// </remarks>
    public ValueTask<Attempt> TryCommitAsync(IReadOnlyList<PendingWrite> writes, bool import, List<Attempt> unresolved)
        => RunRacingAsync(now => new EngineWrites(_sql, _indexes, writes, now, import), unresolved);

    /// <summary>
    /// One attempt at restores (<see cref="RestoreWrite"/>): one partition's, or a group of new partitions'
    /// in one transaction. Lock the partitions' rows, read the holders of the store-wide unique values the
    /// states want; then, if every partition is as the engine read it and the values are free, delete what
    /// a replaced partition holds and write the states, the commit-log entries and COMMIT. A unique value
    /// taken by another partition's writer meanwhile is found as a batch finds it.
    /// </summary>
    public ValueTask<Attempt> TryRestoreAsync(IReadOnlyList<PendingWrite> writes, List<Attempt> unresolved)
        => RunRacingAsync(now => new RestoreWrite(_sql, _indexes, writes, now), unresolved);

    /// <summary>
    /// Raises the revision floor to at least <paramref name="floor"/> in a transaction of its own, under
    /// the lock every write transaction shares, unless the read-only fence is set (then it throws). A
    /// repeat is harmless, so it needs no commit-log entry.
    /// </summary>
    public ValueTask<bool> TryRaiseRevisionFloorAsync(long floor) => InTransactionAsync(async connection =>
    {
        using var batch = Begin(connection);
        batch.BatchCommands.Add(BatchCommand(_sql.ShareFence));
        batch.BatchCommands.Add(BatchCommand(_sql.RaiseRevisionFloorUnlessFenced, P(floor)));
        batch.BatchCommands.Add(new NpgsqlBatchCommand(_sql.ReadFence));
        batch.BatchCommands.Add(new NpgsqlBatchCommand(Sql.Commit));
        await batch.PrepareAsync().ConfigureAwait(false);
        var reader = await batch.ExecuteReaderAsync().ConfigureAwait(false);
        await using (reader.ConfigureAwait(false))
        {
            // The reader starts on the settings' result; the lock and the update return none.
            await reader.NextResultAsync().ConfigureAwait(false);
            if (await reader.ReadAsync().ConfigureAwait(false) && reader.GetBoolean(0))
            {
                throw new StoreReadOnlyException();
            }
        }

        return true;
    });

    /// <summary>Runs an attempt, again at once when it lost a race for a unique value to another partition's writer (it then reads the new holder).</summary>
    private async ValueTask<Attempt> RunRacingAsync(Func<DateTimeOffset, LockedWrite> write, List<Attempt> unresolved)
    {
        for (var race = 1; ; race++)
        {
            try
            {
                return await RunLockedAsync(write(Timestamps.Now(_time)), unresolved).ConfigureAwait(false);
            }
            catch (PostgresException e) when (race < MaxUniqueRaces && IndexSql.IsUniqueIndex(e))
            {
                Log.UniqueValueRace(_logger, race);
            }
        }
    }

    /// <summary>One attempt at deleting a partition: lock its row, then remove everything it holds and its row, and raise the floor.</summary>
    public ValueTask<Attempt> TryDeletePartitionAsync(string partition, List<Attempt> unresolved)
        => RunLockedAsync(new PartitionDeleteWrite(_sql, partition, Timestamps.Now(_time)), unresolved);

    /// <summary>One attempt at purging up to <see cref="PurgeChunk"/> expired documents; purges serialize on a row of storage_meta.</summary>
    public ValueTask<long> TryPurgeChunkAsync(DateTimeOffset now, List<Attempt> unresolved) => InTransactionAsync(async connection =>
    {
        long count;
        Attempt? earlier = null;
        using (var batch = Begin(connection))
        {
            batch.BatchCommands.Add(BatchCommand(_sql.ShareFence));
            batch.BatchCommands.Add(BatchCommand(_sql.LockPurge));
            batch.BatchCommands.Add(BatchCommand(_sql.FindStoreCommits, P(unresolved.ConvertAll(a => a.OperationId).ToArray())));
            batch.BatchCommands.Add(BatchCommand(_sql.PurgeExpired, P(now), P(PurgeChunk)));
            await batch.PrepareAsync().ConfigureAwait(false);
            var reader = await batch.ExecuteReaderAsync().ConfigureAwait(false);
            await using (reader.ConfigureAwait(false))
            {
                await ThrowIfReadOnlyAsync(reader).ConfigureAwait(false);
                earlier = await ResolveAsync(reader, "purge", unresolved).ConfigureAwait(false);

                // The purge's result is its count (its column is named so); the rest is drained.
                count = 0;
                while (await reader.NextResultAsync().ConfigureAwait(false))
                {
                    if (reader.FieldCount == 1 && reader.GetName(0) == "count" && await reader.ReadAsync().ConfigureAwait(false))
                    {
                        count = reader.GetInt64(0);
                    }
                }
            }

        }

        if (earlier is not null)
        {
            // It stays listed: if this rollback fails, the next attempt finds it again.
            await RollbackAsync(connection).ConfigureAwait(false);
            return (long)earlier.Results[0]!;
        }

        if (count == 0)
        {
            await RollbackAsync(connection).ConfigureAwait(false);
            return 0;
        }

        var attempt = new Attempt(Guid.CreateVersion7(), 1);
        attempt.Results[0] = count;
        using (var batch = new NpgsqlBatch(connection))
        {
            batch.BatchCommands.Add(BatchCommand(_sql.LogCommit, P(string.Empty), P(attempt.OperationId), P(0L), P<long?>(count)));
            batch.BatchCommands.Add(BatchCommand(_sql.PruneCommitLog, P(new[] { string.Empty })));
            batch.BatchCommands.Add(new NpgsqlBatchCommand(Sql.Commit));
            await SendCommitAsync(batch, attempt, unresolved).ConfigureAwait(false);
        }

        unresolved.Remove(attempt);
        return count;
    });

    /// <summary>
    /// One attempt at removing up to <see cref="PurgeChunk"/> index entries of each type whose documents
    /// have expired (readers ignore them already; purged documents leave theirs to this). Entries a
    /// writer holds locked are left to it. Repeating it is harmless.
    /// </summary>
    /// <returns>The most entries of one type it removed.</returns>
    public ValueTask<long> TryPurgeEntriesAsync(DateTimeOffset now) => InTransactionAsync(async connection =>
    {
        using var batch = Begin(connection);
        var strings = BatchCommand(_sql.Indexes.Strings.PurgeExpired, P(now), P(PurgeChunk));
        var int64s = BatchCommand(_sql.Indexes.Int64s.PurgeExpired, P(now), P(PurgeChunk));
        batch.BatchCommands.Add(strings);
        batch.BatchCommands.Add(int64s);
        batch.BatchCommands.Add(new NpgsqlBatchCommand(Sql.Commit));
        await batch.PrepareAsync().ConfigureAwait(false);
        await batch.ExecuteNonQueryAsync().ConfigureAwait(false);
        return (long)Math.Max(strings.Rows, int64s.Rows);
    });

    /// <summary>
    /// One attempt at dropping up to <see cref="PurgeChunk"/> tombstones deleted at or before
    /// <paramref name="cutoff"/>, raising their partitions' oldest resumable revision to the newest
    /// dropped. It locks those partitions' rows first, as their writers do (a writer holding one
    /// is waited for; the order rules out deadlocks). Repeating it is harmless, so it needs no
    /// commit-log entry.
    /// </summary>
    /// <returns>How many tombstones it dropped.</returns>
    public ValueTask<long> TryDropTombstonesAsync(DateTimeOffset cutoff) => InTransactionAsync(async connection =>
    {
        var partitions = new List<string>();
        using (var batch = Begin(connection))
        {
            batch.BatchCommands.Add(BatchCommand(_sql.ShareFence));
            batch.BatchCommands.Add(BatchCommand(_sql.LockPurge));
            batch.BatchCommands.Add(BatchCommand(_sql.LockTombstonePartitions, P(cutoff), P(PurgeChunk)));
            await batch.PrepareAsync().ConfigureAwait(false);
            var reader = await batch.ExecuteReaderAsync().ConfigureAwait(false);
            await using var readerScope = reader.ConfigureAwait(false);
            await ThrowIfReadOnlyAsync(reader).ConfigureAwait(false);
            await reader.NextResultAsync().ConfigureAwait(false);
            while (await reader.ReadAsync().ConfigureAwait(false))
            {
                partitions.Add(reader.GetString(0));
            }
        }

        if (partitions.Count == 0)
        {
            await RollbackAsync(connection).ConfigureAwait(false);
            return 0L;
        }

        using (var batch = new NpgsqlBatch(connection))
        {
            batch.BatchCommands.Add(BatchCommand(_sql.DropTombstones, P(cutoff), P(partitions.ToArray()), P(PurgeChunk)));
            batch.BatchCommands.Add(new NpgsqlBatchCommand(Sql.Commit));
            await batch.PrepareAsync().ConfigureAwait(false);
            return (long)(await batch.ExecuteScalarAsync().ConfigureAwait(false))!;
        }
    });

    /// <summary>
    /// One attempt at dropping up to <see cref="PurgeChunk"/> marks of partitions deleted at or before
    /// <paramref name="cutoff"/>, raising the store-wide cursor's oldest position to the newest dropped,
    /// unless the read-only fence is set. Repeating it is harmless, so it needs no commit-log entry.
    /// </summary>
    /// <returns>How many marks it dropped.</returns>
    public ValueTask<long> TryDropMarksAsync(DateTimeOffset cutoff) => InTransactionAsync(async connection =>
    {
        using (var batch = Begin(connection))
        {
            batch.BatchCommands.Add(BatchCommand(_sql.ShareFence));
            batch.BatchCommands.Add(BatchCommand(_sql.LockPurge));
            await batch.PrepareAsync().ConfigureAwait(false);
            var reader = await batch.ExecuteReaderAsync().ConfigureAwait(false);
            await using var readerScope = reader.ConfigureAwait(false);
            await ThrowIfReadOnlyAsync(reader).ConfigureAwait(false);
        }

        using (var batch = new NpgsqlBatch(connection))
        {
            batch.BatchCommands.Add(BatchCommand(_sql.DropMarks, P(cutoff), P(PurgeChunk)));
            batch.BatchCommands.Add(new NpgsqlBatchCommand(Sql.Commit));
            await batch.PrepareAsync().ConfigureAwait(false);
            return (long)(await batch.ExecuteScalarAsync().ConfigureAwait(false))!;
        }
    });

    /// <summary>
    /// Sets or clears the read-only fence in a transaction of its own. Setting takes the EXCLUSIVE lock
    /// every write transaction's ROW SHARE lock conflicts with (<see cref="Sql.ShareFence"/>), so it waits
    /// for the writes in flight, on any instance; those that come after it read the row.
    /// </summary>
    public ValueTask<bool> TrySetFenceAsync(bool readOnly) => InTransactionAsync(async connection =>
    {
        using var batch = Begin(connection);
        foreach (var statement in readOnly ? _sql.SetFence : [_sql.ClearFence])
        {
            batch.BatchCommands.Add(new NpgsqlBatchCommand(statement));
        }

        batch.BatchCommands.Add(new NpgsqlBatchCommand(Sql.Commit));
        await batch.ExecuteNonQueryAsync().ConfigureAwait(false);
        return readOnly;
    });

    /// <summary>Reads the purge lock's result, whose second column says whether the read-only fence is set; throws if it is.</summary>
    private static async ValueTask ThrowIfReadOnlyAsync(NpgsqlDataReader reader)
    {
        await reader.NextResultAsync().ConfigureAwait(false); // the purge lock, with the fence (the reader skips the lock statements, which return no rows)
        if (await reader.ReadAsync().ConfigureAwait(false) && reader.GetBoolean(1))
        {
            throw new StoreReadOnlyException();
        }
    }

    /// <summary>
    /// The transaction every write shares. Its first round trip takes the partitions' locks and resolves
    /// earlier attempts (<see cref="ReadLockedAsync"/>) together with the write's own reads; an earlier
    /// attempt that committed is the answer. Otherwise the write applies, and when it changes something
    /// its writes, commit-log entries and COMMIT go in the last round trip.
    /// </summary>
    private ValueTask<Attempt> RunLockedAsync(LockedWrite write, List<Attempt> unresolved) => InTransactionAsync(async connection =>
    {
        (Dictionary<string, long> Revisions, long Floor, long Generation, bool ReadOnly, Attempt? Earlier) locked;
        using (var batch = Begin(connection, genericPlans: true))
        {
            batch.BatchCommands.Add(BatchCommand(_sql.ShareFence));
            batch.BatchCommands.Add(BatchCommand(_sql.LockPartitions, P(write.Partitions)));
            batch.BatchCommands.Add(BatchCommand(_sql.ReadPartitions, P(write.Partitions)));

            // Every partition of an attempt is logged under its id: the first one tells.
            batch.BatchCommands.Add(BatchCommand(_sql.FindCommits, P(write.Partitions[0]), P(unresolved.ConvertAll(a => a.OperationId).ToArray())));
            var reads = !write.ReadsAfterLock && write.AddReads(batch, null);
            await batch.PrepareAsync().ConfigureAwait(false);
            var reader = await batch.ExecuteReaderAsync().ConfigureAwait(false);
            await using var readerScope = reader.ConfigureAwait(false);
            locked = await ReadLockedAsync(reader, write.Kind, unresolved).ConfigureAwait(false);
            if (reads)
            {
                await write.ReadAsync(reader).ConfigureAwait(false);
            }
        }

        if (locked.Earlier is not null)
        {
            await RollbackAsync(connection).ConfigureAwait(false);
            return locked.Earlier;
        }

        if (locked.ReadOnly)
        {
            throw new StoreReadOnlyException();
        }

        if (write.IndexGeneration is { } expected && expected != locked.Generation)
        {
            // Another instance changed the index declarations: writing now could leave documents unindexed (the failure rolls back).
            throw new IndexDeclarationsChangedException();
        }

        if (write.ReadsAfterLock)
        {
            using var batch = new NpgsqlBatch(connection);

            // A first result to stand on: the reads read from the result after it.
            batch.BatchCommands.Add(new NpgsqlBatchCommand("SELECT 1"));
            if (write.AddReads(batch, locked.Revisions))
            {
                await batch.PrepareAsync().ConfigureAwait(false);
                var reader = await batch.ExecuteReaderAsync().ConfigureAwait(false);
                await using var readerScope = reader.ConfigureAwait(false);
                await write.ReadAsync(reader).ConfigureAwait(false);
            }
        }

        var attempt = new Attempt(Guid.CreateVersion7(), write.Requests);
        if (!write.Apply(locked.Revisions, locked.Floor, attempt))
        {
            // Nothing to write (the locks' placeholder rows go with the rollback).
            await RollbackAsync(connection).ConfigureAwait(false);
            return attempt;
        }

        await InjectAsync(CommitStage.BeforeWrite, connection).ConfigureAwait(false);
        await write.CopyAsync(connection).ConfigureAwait(false);
        using (var batch = new NpgsqlBatch(connection))
        {
            write.AddWrites(batch, attempt);
            batch.BatchCommands.Add(new NpgsqlBatchCommand(Sql.Commit));
            await SendCommitAsync(batch, attempt, unresolved).ConfigureAwait(false);
        }

        await InjectAsync(CommitStage.AfterCommit, connection).ConfigureAwait(false);
        unresolved.Remove(attempt);
        if (write.CountsAsGroupCommit)
        {
            Interlocked.Increment(ref _groupCommits);
        }

        return attempt;
    });

    /// <summary>Reads the revisions, the floor and the index generation, and the commit-log lookup (<see cref="ResolveAsync"/>).</summary>
    private async ValueTask<(Dictionary<string, long> Revisions, long Floor, long Generation, bool ReadOnly, Attempt? Earlier)> ReadLockedAsync(NpgsqlDataReader reader, string kind, List<Attempt> unresolved)
    {
        await reader.NextResultAsync().ConfigureAwait(false);
        var revisions = new Dictionary<string, long>(StringComparer.Ordinal);
        long floor = 0, generation = 0;
        var readOnly = false;
        while (await reader.ReadAsync().ConfigureAwait(false))
        {
            revisions[reader.GetString(0)] = reader.GetInt64(1);
            (floor, generation, readOnly) = (reader.GetInt64(2), reader.GetInt64(3), reader.GetBoolean(4));
        }

        if (revisions.Count == 0)
        {
            throw new CorruptDataException(_sql.QuotedSchema + ".storage_meta", "the revision_floor or index_generation row is missing");
        }

        return (revisions, floor, generation, readOnly, await ResolveAsync(reader, kind, unresolved).ConfigureAwait(false));
    }

    /// <summary>
    /// Reads the commit-log lookup, the result after the reader's. Holding the lock the earlier attempts
    /// held, every one of them has ended: one in the commit log committed (its results stand, as the
    /// attempt holds them); the others never will. One that did commit stays listed, so that should this
    /// attempt fail before it returns, the next one finds it again.
    /// </summary>
    /// <returns>The earlier attempt that committed, if any.</returns>
    private async ValueTask<Attempt?> ResolveAsync(NpgsqlDataReader reader, string kind, List<Attempt> unresolved)
    {
        await reader.NextResultAsync().ConfigureAwait(false);
        Attempt? earlier = null;
        while (await reader.ReadAsync().ConfigureAwait(false))
        {
            var id = reader.GetGuid(0);
            earlier ??= unresolved.Find(a => a.OperationId == id);
        }

        if (unresolved.Count > 0)
        {
            Log.CommitResolved(_logger, kind, earlier is null ? "it had not committed and is applied again" : "it had committed");
        }

        unresolved.RemoveAll(a => a != earlier);
        return earlier;
    }

    /// <summary>
    /// Opens a connection on the writer and runs one attempt's transaction on it. A failure rolls back
    /// whatever the attempt began (a broken connection ends it with the server; a rollback outside a
    /// transaction only warns).
    /// </summary>
    private async ValueTask<T> InTransactionAsync<T>(Func<NpgsqlConnection, ValueTask<T>> attempt)
    {
        var connection = await OpenAsync(_writer, _multiHost, CancellationToken.None).ConfigureAwait(false);
        await using var connectionScope = connection.ConfigureAwait(false);
        try
        {
            return await attempt(connection).ConfigureAwait(false);
        }
        catch
        {
            await RollbackQuietlyAsync(connection).ConfigureAwait(false);
            throw;
        }
    }

    /// <summary>
    /// A first round trip's batch: BEGIN and the transaction's settings, in one statement (the reader
    /// starts on its result). A transaction of writes (<paramref name="genericPlans"/>) runs its prepared
    /// statements with their generic plans: their array parameters make the planner prefer a custom plan
    /// every time, and planning each of them again at every commit cost more than a write's statements
    /// took to run (docs/performance.md).
    /// </summary>
    private NpgsqlBatch Begin(NpgsqlConnection connection, bool genericPlans = false)
    {
        var batch = new NpgsqlBatch(connection);
        batch.BatchCommands.Add(new NpgsqlBatchCommand(Sql.Begin));
        batch.BatchCommands.Add(new NpgsqlBatchCommand(Sql.SetLocal(IdleInTransactionTimeout, _relaxed, genericPlans)));
        return batch;
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
}

/// <summary>One attempt at a transaction: its operation id (written to the commit log with it) and each request's result or error.</summary>
internal sealed class Attempt(Guid operationId, int requests)
{
    public Guid OperationId { get; } = operationId;

    public object?[] Results { get; } = new object?[requests];

    public Exception?[] Errors { get; } = new Exception?[requests];
}
