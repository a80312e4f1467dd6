using Microsoft.Extensions.Logging;
using Npgsql;
using NpgsqlTypes;
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
/// delete, a chunk of a purge. Each attempt is safe to repeat: it first resolves earlier attempts
/// whose outcome was lost (listed in <c>unresolved</c>) through the commit log, under the same lock
/// their transactions held.
/// </summary>
internal sealed class WriteTransactions(NpgsqlDataSource writer, bool multiHost, Sql sql, TimeProvider time, bool relaxed, ILogger logger)
{
    /// <summary>How long a write transaction may sit idle before the server ends it: bounds how long a lost client can hold a partition's lock.</summary>
    private const string IdleInTransactionTimeout = "30s";

    /// <summary>Commit-log entries of a partition are pruned each time its revision passes a multiple of this.</summary>
    private const int PruneEvery = 16;

    /// <summary>How many expired documents one purge transaction removes at most.</summary>
    public const int PurgeChunk = 1000;

    private readonly NpgsqlDataSource _writer = writer;
    private readonly bool _multiHost = multiHost;
    private readonly Sql _sql = sql;
    private readonly TimeProvider _time = time;
    private readonly bool _relaxed = relaxed;
    private readonly ILogger _logger = logger;
    private long _groupCommits;

    /// <summary>For tests: runs at each stage of every commit, on the commit's connection; what it throws is what the commit sees.</summary>
    public Func<CommitStage, NpgsqlConnection, ValueTask>? FaultInjector { get; set; }

    /// <summary>For tests: how many partition write transactions have committed.</summary>
    public long GroupCommits => Interlocked.Read(ref _groupCommits);

    /// <summary>
    /// One attempt at a segment of puts, deletes and increments. First round trip: begin, lock the
    /// partition's row, read its revision and the floor, ask the commit log whether an earlier attempt
    /// whose outcome was lost did commit, and read every touched document and sequence. Then apply the
    /// requests in memory, and in the second round trip write the net change, the commit-log entry
    /// and COMMIT.
    /// </summary>
    public async ValueTask<Attempt> TryCommitAsync(string partition, WriteRequest[] requests, List<Attempt> unresolved)
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
        var connection = await OpenAsync(_writer, _multiHost, CancellationToken.None).ConfigureAwait(false);
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
    public async ValueTask<Attempt> TryDeletePartitionAsync(string partition, List<Attempt> unresolved)
    {
        var connection = await OpenAsync(_writer, _multiHost, CancellationToken.None).ConfigureAwait(false);
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
    public async ValueTask<long> TryPurgeChunkAsync(DateTimeOffset now, List<Attempt> unresolved)
    {
        var connection = await OpenAsync(_writer, _multiHost, CancellationToken.None).ConfigureAwait(false);
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
}

/// <summary>One attempt at a transaction: its operation id (written to the commit log with it) and each request's result or error.</summary>
internal sealed class Attempt(Guid operationId, int requests)
{
    public Guid OperationId { get; } = operationId;

    public object?[] Results { get; } = new object?[requests];

    public Exception?[] Errors { get; } = new Exception?[requests];
}
