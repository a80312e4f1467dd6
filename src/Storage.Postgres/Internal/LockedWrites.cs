using Npgsql;
using NpgsqlTypes;
using static Storage.Postgres.Internal.Commands;

namespace Storage.Postgres.Internal;

/// <summary>
/// What one kind of partition write adds to the transaction every partition write shares
/// (<see cref="WriteTransactions"/>: lock the partition's row, resolve earlier attempts, write, log,
/// commit): the rows it reads with the lock, how it applies, and the rows it writes.
/// </summary>
internal abstract class LockedWrite
{
    /// <summary>How many writes the attempt answers.</summary>
    public abstract int Requests { get; }

    /// <summary>
    /// The index catalog generation the write must find (it was opened with it), or <see langword="null"/>
    /// when the write does not depend on the declarations.
    /// </summary>
    public virtual long? IndexGeneration => null;

    /// <summary>Adds statements to the first round trip, after the lock and the commit-log lookup.</summary>
    /// <param name="batch">The first round trip.</param>
    public virtual void AddReads(NpgsqlBatch batch)
    {
    }

    /// <summary>Reads the results of <see cref="AddReads"/>; the reader is on the commit-log lookup's result.</summary>
    /// <param name="reader">The first round trip's reader.</param>
    /// <returns>A task that completes when the results are read.</returns>
    public virtual ValueTask ReadAsync(NpgsqlDataReader reader) => ValueTask.CompletedTask;

    /// <summary>Applies the requests to the locked state, filling the attempt's results and errors.</summary>
    /// <param name="storedRevision">The partition's revision; 0 when it does not exist.</param>
    /// <param name="floor">The store's revision floor.</param>
    /// <param name="attempt">The attempt to fill.</param>
    /// <returns>Whether anything must be written; when not, the transaction rolls back.</returns>
    public abstract bool Apply(long storedRevision, long floor, Attempt attempt);

    /// <summary>Adds the writes and the commit-log entry; COMMIT follows them in the same round trip.</summary>
    /// <param name="batch">The second round trip.</param>
    /// <param name="attempt">The applied attempt.</param>
    public abstract void AddWrites(NpgsqlBatch batch, Attempt attempt);
}

/// <summary>
/// A group commit: a segment of batches (puts, deletes, appends) and sequence increments. It reads
/// every document, sequence and stream the group touches (documents expired or not; for appends,
/// the stored event ids a retry would match), applies each request in memory with
/// the engine's <see cref="PartitionWriter"/>, and writes the net change.
/// </summary>
internal sealed class GroupCommitWrite : LockedWrite
{
    /// <summary>Commit-log entries of a partition are pruned each time its revision passes a multiple of this.</summary>
    private const int PruneEvery = 16;

    private readonly Sql _sql;
    private readonly string _partition;
    private readonly PendingWrite[] _writes;
    private readonly DateTimeOffset _now;
    private readonly PartitionReads _reads = new();
    private readonly StoreIndexes _indexes;
    private readonly IndexWork? _indexWork;
    private PartitionState? _state;
    private PartitionWriter? _work;

    public GroupCommitWrite(Sql sql, StoreIndexes indexes, string partition, PendingWrite[] writes, DateTimeOffset now)
    {
        _sql = sql;
        _indexes = indexes;
        _partition = partition;
        _writes = writes;
        _now = now;
        _indexWork = indexes.Any ? new IndexWork(indexes, partition, now, writes) : null;
        foreach (var write in writes)
        {
            if (write.Operations is { } operations)
            {
                _reads.AddBatch(operations);
            }
            else
            {
                _reads.AddSequence(write.Sequence!);
            }
        }
    }

    public override int Requests => _writes.Length;

    public override long? IndexGeneration => _indexes.Generation;

    public override void AddReads(NpgsqlBatch batch)
    {
        var documents = _reads.Documents;
        var collections = new string[documents.Count];
        var keys = new string[documents.Count];
        var indexed = new bool[documents.Count];
        var n = 0;
        foreach (var id in documents)
        {
            (collections[n], keys[n], indexed[n]) = (id.Collection, id.Key, _indexes.Catalog.For(id.Collection).Count > 0);
            n++;
        }

        batch.BatchCommands.Add(BatchCommand(_sql.ReadDocumentStates, P(_partition), P(collections), P(keys), P(indexed)));
        batch.BatchCommands.Add(BatchCommand(_sql.ReadSequences, P(_partition), P(_reads.Sequences.ToArray())));
        if (_reads.Streams.Count > 0)
        {
            batch.BatchCommands.Add(BatchCommand(_sql.ReadStreams, P(_partition), P(_reads.Streams.ToArray())));
            batch.BatchCommands.Add(BatchCommand(
                _sql.ReadEventIds,
                P(_partition),
                P(_reads.IdWindows.ConvertAll(w => w.Stream).ToArray()),
                P(_reads.IdWindows.ConvertAll(w => w.First).ToArray()),
                P(_reads.IdWindows.ConvertAll(w => w.Last).ToArray()),
                P(_reads.IdTails.Keys.ToArray()),
                P(_reads.IdTails.Values.ToArray())));
        }

        _indexWork?.AddReads(batch, _sql.Indexes);
    }

    public override async ValueTask ReadAsync(NpgsqlDataReader reader)
    {
        var state = _state = new PartitionState(_partition, _reads);
        await reader.NextResultAsync().ConfigureAwait(false);
        while (await reader.ReadAsync().ConfigureAwait(false))
        {
            var id = new DocumentId(reader.GetString(0), reader.GetString(1));
            state.Documents[id] = new DocumentRow(
                reader.GetInt64(2),
                reader.GetFieldValue<DateTimeOffset>(3),
                reader.IsDBNull(4) ? null : reader.GetFieldValue<DateTimeOffset>(4),
                Value: reader.IsDBNull(5) ? default : reader.GetFieldValue<byte[]>(5));
        }

        await reader.NextResultAsync().ConfigureAwait(false);
        while (await reader.ReadAsync().ConfigureAwait(false))
        {
            state.Sequences[reader.GetString(0)] = reader.GetInt64(1);
        }

        if (_reads.Streams.Count > 0)
        {
            await ReadStreamsAsync(reader, state).ConfigureAwait(false);
        }

        if (_indexWork is not null)
        {
            await _indexWork.ReadAsync(reader).ConfigureAwait(false);
        }
    }

    private static async ValueTask ReadStreamsAsync(NpgsqlDataReader reader, PartitionState state)
    {
        await reader.NextResultAsync().ConfigureAwait(false);
        while (await reader.ReadAsync().ConfigureAwait(false))
        {
            state.Streams[reader.GetString(0)] = new StreamState(reader.GetInt64(1));
        }

        await reader.NextResultAsync().ConfigureAwait(false);
        while (await reader.ReadAsync().ConfigureAwait(false))
        {
            state.Streams[reader.GetString(0)].StoredIds[reader.GetInt64(1)] = reader.GetGuid(2);
        }
    }

    public override bool Apply(long storedRevision, long floor, Attempt attempt)
    {
        var state = _state ?? throw new InvalidOperationException("The group's state was not read.");
        (state.Exists, state.Revision, state.RevisionFloor) = (storedRevision > 0, storedRevision, floor);
        var work = _work = new PartitionWriter(state, _now, _indexWork is null ? null : new UniqueValues(_partition, _now, _indexWork.StoredHolders));
        // The outcome goes to the attempt, not to the write (PendingWrite.Apply would complete it): an
        // attempt may be tried again over a newer state, and only the attempt that commits decides.
        for (var i = 0; i < _writes.Length; i++)
        {
            var write = _writes[i];
            try
            {
                attempt.Results[i] = write.Operations is { } operations
                    ? work.ApplyBatch(operations, write.Entries) ?? throw new InvalidOperationException("The index check left a batch out.")
                    : work.Increment(write.Sequence!, write.Delta);
            }
            catch (Exception e) when (e is VersionConflictException or UniqueConstraintException or OverflowException)
            {
                attempt.Errors[i] = e;
            }
        }

        // Only conflicts, deletes of missing documents and appends already stored: nothing to write.
        return work.HasChanges;
    }

    public override void AddWrites(NpgsqlBatch batch, Attempt attempt)
    {
        var work = _work!;
        AddDocumentWrites(batch, work);
        _indexWork?.AddWrites(batch, _sql.Indexes, work.Changed());
        AddStreamWrites(batch, work);
        var sequences = work.SequenceWrites().ToList();
        if (sequences.Count > 0)
        {
            batch.BatchCommands.Add(BatchCommand(
                _sql.UpsertSequences,
                P(_partition),
                P(sequences.ConvertAll(s => s.Name).ToArray()),
                P(sequences.ConvertAll(s => s.Value).ToArray()),
                P(sequences.ConvertAll(s => s.Revision).ToArray())));
        }

        // A new partition can be resumed from its first revision on.
        var oldestResumable = work.CreatedAtRevision ?? 0;
        batch.BatchCommands.Add(BatchCommand(_sql.SetRevision, P(_partition), P(work.Revision), P(oldestResumable)));
        batch.BatchCommands.Add(BatchCommand(_sql.LogCommit, P(_partition), P(attempt.OperationId), P(work.Revision), P<long?>(null)));

        // Whenever the revision passes a multiple of PruneEvery (a group may take several revisions at once).
        if (work.Revision / PruneEvery != work.StartRevision / PruneEvery)
        {
            batch.BatchCommands.Add(BatchCommand(_sql.PruneCommitLog, P(_partition)));
        }
    }

    /// <summary>JSON bytes for a text column (array): sent as they are, stored byte for byte.</summary>
    private static NpgsqlParameter<ReadOnlyMemory<byte>[]> Utf8Text(ReadOnlyMemory<byte>[] values)
        => new() { TypedValue = values, NpgsqlDbType = NpgsqlDbType.Array | NpgsqlDbType.Text };

    private void AddDocumentWrites(NpgsqlBatch batch, PartitionWriter work)
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

            batch.BatchCommands.Add(BatchCommand(_sql.UpsertDocuments, P(_partition), P(collections), P(keys), Utf8Text(values), P(versions), P(created), P(updated), P(expires)));
        }

        var deletes = work.Deletes().ToList();
        if (deletes.Count > 0)
        {
            batch.BatchCommands.Add(BatchCommand(_sql.DeleteDocuments, P(_partition), P(deletes.ConvertAll(d => d.Collection).ToArray()), P(deletes.ConvertAll(d => d.Key).ToArray())));
        }

        var tombstones = work.TombstoneWrites().ToList();
        if (tombstones.Count > 0)
        {
            batch.BatchCommands.Add(BatchCommand(
                _sql.UpsertTombstones,
                P(_partition),
                P(tombstones.ConvertAll(t => t.Id.Collection).ToArray()),
                P(tombstones.ConvertAll(t => t.Id.Key).ToArray()),
                P(tombstones.ConvertAll(t => t.Revision).ToArray()),
                P(work.Now)));
        }

        var replaced = work.TombstoneDeletes().ToList();
        if (replaced.Count > 0)
        {
            batch.BatchCommands.Add(BatchCommand(_sql.DeleteTombstones, P(_partition), P(replaced.ConvertAll(d => d.Collection).ToArray()), P(replaced.ConvertAll(d => d.Key).ToArray())));
        }
    }

    private void AddStreamWrites(NpgsqlBatch batch, PartitionWriter work)
    {
        var events = work.NewEvents().ToList();
        if (events.Count == 0)
        {
            return;
        }

        var streams = work.StreamWrites().ToList();
        batch.BatchCommands.Add(BatchCommand(_sql.UpsertStreams, P(_partition), P(streams.ConvertAll(s => s.Stream).ToArray()), P(streams.ConvertAll(s => s.Version).ToArray())));
        batch.BatchCommands.Add(BatchCommand(
            _sql.InsertEvents,
            P(_partition),
            P(events.ConvertAll(e => e.Stream).ToArray()),
            P(events.ConvertAll(e => e.Version).ToArray()),
            P(events.ConvertAll(e => e.Revision).ToArray()),
            P(events.ConvertAll(e => e.Data.Id).ToArray()),
            P(events.ConvertAll(e => e.Data.Type).ToArray()),
            Utf8Text(events.ConvertAll(e => e.Data.Data).ToArray()),
            Utf8Text(events.ConvertAll(e => e.Data.Metadata).ToArray()),
            P(work.Now)));
    }
}

/// <summary>A partition delete: removes everything the partition holds and its row, and raises the store's revision floor.</summary>
internal sealed class PartitionDeleteWrite(Sql sql, string partition) : LockedWrite
{
    private long _revision;

    public override int Requests => 1;

    public override bool Apply(long storedRevision, long floor, Attempt attempt)
    {
        _revision = storedRevision;
        attempt.Results[0] = storedRevision > 0;
        return storedRevision > 0;
    }

    public override void AddWrites(NpgsqlBatch batch, Attempt attempt)
    {
        // The floor rises first: a partition created afterwards never reuses one of these versions.
        batch.BatchCommands.Add(BatchCommand(sql.RaiseRevisionFloor, P(_revision)));
        batch.BatchCommands.Add(BatchCommand(sql.DeletePartitionDocuments, P(partition)));
        batch.BatchCommands.Add(BatchCommand(sql.Indexes.Strings.DeletePartition, P(partition)));
        batch.BatchCommands.Add(BatchCommand(sql.Indexes.Int64s.DeletePartition, P(partition)));
        batch.BatchCommands.Add(BatchCommand(sql.DeletePartitionTombstones, P(partition)));
        batch.BatchCommands.Add(BatchCommand(sql.DeletePartitionSequences, P(partition)));
        batch.BatchCommands.Add(BatchCommand(sql.DeletePartitionEvents, P(partition)));
        batch.BatchCommands.Add(BatchCommand(sql.DeletePartitionStreams, P(partition)));
        batch.BatchCommands.Add(BatchCommand(sql.DeletePartitionCommitLog, P(partition)));
        batch.BatchCommands.Add(BatchCommand(sql.DeletePartitionRow, P(partition)));

        // Logged under '' so that no trace of the forgotten key stays behind.
        batch.BatchCommands.Add(BatchCommand(sql.LogCommit, P(string.Empty), P(attempt.OperationId), P(_revision), P<long?>(1)));
        batch.BatchCommands.Add(BatchCommand(sql.PruneCommitLog, P(string.Empty)));
    }
}
