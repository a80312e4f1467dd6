using Npgsql;
using NpgsqlTypes;
using static Storage.Postgres.Internal.Commands;

namespace Storage.Postgres.Internal;

/// <summary>
/// What one kind of write adds to the transaction every write shares (<see cref="WriteTransactions"/>:
/// lock the partitions' rows, resolve earlier attempts, write, log, commit): the rows it reads with
/// the locks, how it applies, and the rows it writes.
/// </summary>
internal abstract class LockedWrite
{
    /// <summary>The partitions whose rows the transaction locks; the first one's commit-log entries resolve earlier attempts.</summary>
    public abstract string[] Partitions { get; }

    /// <summary>How many writes the attempt answers.</summary>
    public abstract int Requests { get; }

    /// <summary>What the write is, for the log.</summary>
    public virtual string Kind => "partition write";

    /// <summary>Whether the write counts in <see cref="WriteTransactions.GroupCommits"/> (an import's chunk does not).</summary>
    public virtual bool CountsAsGroupCommit => true;

    /// <summary>
    /// The index catalog generation the write must find (it was opened with it), or <see langword="null"/>
    /// when the write does not depend on the declarations.
    /// </summary>
    public virtual long? IndexGeneration => null;

    /// <summary>
    /// Whether the write reads in a round trip of its own once the partitions' revisions are known
    /// (only from partitions that exist), instead of in the first one.
    /// </summary>
    public virtual bool ReadsAfterLock => false;

    /// <summary>Adds the write's reads: to the first round trip, after the lock and the commit-log lookup, or (<see cref="ReadsAfterLock"/>) to a round trip of their own.</summary>
    /// <param name="batch">The round trip.</param>
    /// <param name="revisions">The partitions' revisions (0: it does not exist), when <see cref="ReadsAfterLock"/>.</param>
    /// <returns>Whether it added any.</returns>
    public virtual bool AddReads(NpgsqlBatch batch, IReadOnlyDictionary<string, long>? revisions) => false;

    /// <summary>Reads the results of <see cref="AddReads"/>; the reader is on the result before them.</summary>
    /// <param name="reader">The round trip's reader.</param>
    /// <returns>A task that completes when the results are read.</returns>
    public virtual ValueTask ReadAsync(NpgsqlDataReader reader) => ValueTask.CompletedTask;

    /// <summary>Applies the requests to the locked state, filling the attempt's results and errors.</summary>
    /// <param name="revisions">The partitions' revisions; 0 for one that does not exist.</param>
    /// <param name="floor">The store's revision floor.</param>
    /// <param name="attempt">The attempt to fill.</param>
    /// <returns>Whether anything must be written; when not, the transaction rolls back.</returns>
    public abstract bool Apply(IReadOnlyDictionary<string, long> revisions, long floor, Attempt attempt);

    /// <summary>Copies rows in before the writes, if the write has any to copy.</summary>
    /// <param name="connection">The transaction's connection.</param>
    /// <returns>A task that completes when they are copied.</returns>
    public virtual ValueTask CopyAsync(NpgsqlConnection connection) => ValueTask.CompletedTask;

    /// <summary>Adds the writes and the commit-log entry; COMMIT follows them in the same round trip.</summary>
    /// <param name="batch">The last round trip.</param>
    /// <param name="attempt">The applied attempt.</param>
    public abstract void AddWrites(NpgsqlBatch batch, Attempt attempt);
}

/// <summary>
/// Writes the engine decides: a group commit (a segment of one partition's batches and increments) or
/// a chunk of a bulk import (one <see cref="PendingWrite.Import"/> per partition). It reads every
/// document, sequence and stream the writes touch (documents expired or not; for appends, the stored
/// event ids a retry would match), applies each write in memory with the engine's
/// <see cref="PartitionWriter"/> (and <see cref="UniqueValues"/>), and writes each partition's net
/// change: an import copies its new documents in with binary <c>COPY</c>.
/// </summary>
internal sealed class EngineWrites : LockedWrite
{
    /// <summary>Commit-log entries of a partition are pruned each time its revision passes a multiple of this.</summary>
    private const int PruneEvery = 16;

    private readonly Sql _sql;
    private readonly StoreIndexes _indexes;
    private readonly IReadOnlyList<PendingWrite> _writes;
    private readonly DateTimeOffset _now;
    private readonly bool _import;
    private readonly Dictionary<string, PartitionReads> _reads = new(StringComparer.Ordinal);
    private readonly Dictionary<string, PartitionState> _states = new(StringComparer.Ordinal);
    private readonly List<PartitionWriter> _changes = [];
    private readonly IndexWork? _indexWork;
    private readonly List<Func<NpgsqlDataReader, ValueTask>> _readers = [];

    /// <param name="sql">The statements.</param>
    /// <param name="indexes">The store's indexes.</param>
    /// <param name="writes">The writes, in order (an import's: one per partition, in input order).</param>
    /// <param name="now">The store's clock for the attempt.</param>
    /// <param name="import">Whether the writes are a chunk of a bulk import: applied until the first that fails, read only from partitions that exist, new documents copied in.</param>
    public EngineWrites(Sql sql, StoreIndexes indexes, IReadOnlyList<PendingWrite> writes, DateTimeOffset now, bool import)
    {
        _sql = sql;
        _indexes = indexes;
        _writes = writes;
        _now = now;
        _import = import;
        _indexWork = indexes.Any ? new IndexWork(indexes, now) : null;
        foreach (var write in writes)
        {
            if (!_reads.TryGetValue(write.Partition, out var reads))
            {
                _reads.Add(write.Partition, reads = new PartitionReads());
            }

            if (write.Operations is { } operations)
            {
                reads.AddBatch(operations);
            }
            else
            {
                reads.AddSequence(write.Sequence!);
            }
        }

        Partitions = [.. _reads.Keys];
    }

    public override string[] Partitions { get; }

    public override int Requests => _writes.Count;

    public override string Kind => _import ? "import" : base.Kind;

    public override long? IndexGeneration => _indexes.Generation;

    public override bool ReadsAfterLock => _import;

    public override bool CountsAsGroupCommit => !_import;

    public override bool AddReads(NpgsqlBatch batch, IReadOnlyDictionary<string, long>? revisions)
    {
        bool Exists(string partition) => revisions is null || revisions[partition] > 0;
        var count = 0;
        foreach (var (partition, reads) in _reads)
        {
            _states[partition] = new PartitionState(partition, reads);

            // A partition without a row holds no document, sequence, stream or entry.
            count += Exists(partition) ? reads.Documents.Count : 0;
        }

        var (partitions, collections, keys, indexed) = (new string[count], new string[count], new string[count], new bool[count]);
        var n = 0;
        foreach (var (partition, reads) in _reads)
        {
            foreach (var id in Exists(partition) ? reads.Documents : [])
            {
                (partitions[n], collections[n], keys[n], indexed[n]) = (partition, id.Collection, id.Key, _indexes.Catalog.For(id.Collection).Count > 0);
                n++;
            }
        }

        if (count > 0)
        {
            batch.BatchCommands.Add(BatchCommand(_sql.ReadDocuments, P(partitions), P(collections), P(keys), P(indexed)));
            _readers.Add(ReadDocumentsAsync);
        }

        foreach (var (partition, reads) in _reads)
        {
            var state = _states[partition];
            if (reads.Sequences.Count > 0 && Exists(partition))
            {
                batch.BatchCommands.Add(BatchCommand(_sql.ReadSequences, P(partition), P(reads.Sequences.ToArray())));
                _readers.Add(reader => ReadSequencesAsync(reader, state));
            }

            if (reads.Streams.Count > 0 && Exists(partition))
            {
                batch.BatchCommands.Add(BatchCommand(_sql.ReadStreams, P(partition), P(reads.Streams.ToArray())));
                batch.BatchCommands.Add(BatchCommand(
                    _sql.ReadEventIds,
                    P(partition),
                    P(reads.IdWindows.ConvertAll(w => w.Stream).ToArray()),
                    P(reads.IdWindows.ConvertAll(w => w.First).ToArray()),
                    P(reads.IdWindows.ConvertAll(w => w.Last).ToArray()),
                    P(reads.IdTails.Keys.ToArray()),
                    P(reads.IdTails.Values.ToArray())));
                _readers.Add(reader => ReadStreamsAsync(reader, state));
            }
        }

        if (_indexWork?.AddReads(batch, _sql.Indexes, _writes, Exists) == true)
        {
            _readers.Add(_indexWork.ReadAsync);
        }

        return _readers.Count > 0;
    }

    public override async ValueTask ReadAsync(NpgsqlDataReader reader)
    {
        foreach (var read in _readers)
        {
            await read(reader).ConfigureAwait(false);
        }
    }

    public override bool Apply(IReadOnlyDictionary<string, long> revisions, long floor, Attempt attempt)
    {
        var changes = new Dictionary<string, PartitionWriter>(StringComparer.Ordinal);
        foreach (var (partition, state) in _states)
        {
            var revision = revisions[partition];
            (state.Exists, state.Revision, state.RevisionFloor) = (revision > 0, revision, floor);
            var change = new PartitionWriter(state, _now, _indexWork is null ? null : new UniqueValues(partition, _now, _indexWork.HoldersFor(partition)));
            changes.Add(partition, change);
            _changes.Add(change);
        }

        // The outcome goes to the attempt, not to the write (PendingWrite.Apply would complete it): an
        // attempt may be tried again over a newer state, and only the attempt that commits decides.
        for (var i = 0; i < _writes.Count; i++)
        {
            var write = _writes[i];
            var change = changes[write.Partition];
            try
            {
                attempt.Results[i] = write.Operations is { } operations
                    ? change.ApplyBatch(operations, write.Entries) ?? throw new InvalidOperationException("The index check left a batch out.")
                    : change.Increment(write.Sequence!, write.Delta);
                if (_import)
                {
                    // The partitions after it see the store-wide values it took.
                    _indexWork?.Claim(change);
                }
            }
            catch (Exception e) when (e is VersionConflictException or UniqueConstraintException or OverflowException)
            {
                attempt.Errors[i] = e;
                if (_import)
                {
                    // Nothing of the chunk is written: the partitions before this one are imported again on their own.
                    return false;
                }
            }
        }

        // Only conflicts, deletes of missing documents and appends already stored: nothing to write.
        return _changes.Exists(c => c.HasChanges);
    }

    public override async ValueTask CopyAsync(NpgsqlConnection connection)
    {
        if (!_import)
        {
            return;
        }

        var importer = await connection.BeginBinaryImportAsync(_sql.CopyDocuments).ConfigureAwait(false);
        await using (importer.ConfigureAwait(false))
        {
            foreach (var change in _changes)
            {
                foreach (var (id, row) in change.Upserts())
                {
                    if (_states[change.Partition].Documents[id] is not null)
                    {
                        // It replaces an expired row: upserted with the writes.
                        continue;
                    }

                    await WriteDocumentAsync(importer, change.Partition, id.Collection, id.Key, row.Value, row.Version, row.CreatedAt, row.UpdatedAt, row.ExpiresAt).ConfigureAwait(false);
                }
            }

            await importer.CompleteAsync().ConfigureAwait(false);
        }
    }

    public override void AddWrites(NpgsqlBatch batch, Attempt attempt)
    {
        var changes = _changes.FindAll(c => c.HasChanges);
        AddDocumentWrites(batch, changes);
        if (_indexWork is not null)
        {
            changes.ForEach(_indexWork.Collect);
            _indexWork.AddWrites(batch, _sql.Indexes);
        }

        foreach (var change in changes)
        {
            AddStreamWrites(batch, change);
            var sequences = change.SequenceWrites().ToList();
            if (sequences.Count > 0)
            {
                batch.BatchCommands.Add(BatchCommand(
                    _sql.UpsertSequences,
                    P(change.Partition),
                    P(sequences.ConvertAll(s => s.Name).ToArray()),
                    P(sequences.ConvertAll(s => s.Value).ToArray()),
                    P(sequences.ConvertAll(s => s.Revision).ToArray())));
            }
        }

        // A new partition can be resumed from its first revision on.
        var (partitions, revisions, oldest) = (new string[changes.Count], new long[changes.Count], new long[changes.Count]);
        var prune = new List<string>();
        for (var i = 0; i < changes.Count; i++)
        {
            var change = changes[i];
            (partitions[i], revisions[i], oldest[i]) = (change.Partition, change.Revision, change.CreatedAtRevision ?? 0);

            // Whenever a revision passes a multiple of PruneEvery (a group may take several revisions at once).
            if (change.Revision / PruneEvery != change.StartRevision / PruneEvery)
            {
                prune.Add(change.Partition);
            }
        }

        batch.BatchCommands.Add(BatchCommand(_sql.SetRevisions, P(partitions), P(revisions), P(oldest)));

        // A partition created (again) replaces the mark of its delete; one that existed has none.
        if (changes.Exists(static c => c.CreatedAtRevision is not null))
        {
            batch.BatchCommands.Add(BatchCommand(_sql.Unmark, P(changes.Where(static c => c.CreatedAtRevision is not null).Select(static c => c.Partition).ToArray())));
        }

        batch.BatchCommands.Add(BatchCommand(_sql.LogCommits, P(partitions), P(attempt.OperationId), P(revisions)));
        if (prune.Count > 0)
        {
            batch.BatchCommands.Add(BatchCommand(_sql.PruneCommitLog, P(prune.ToArray())));
        }
    }

    private async ValueTask ReadDocumentsAsync(NpgsqlDataReader reader)
    {
        await reader.NextResultAsync().ConfigureAwait(false);
        while (await reader.ReadAsync().ConfigureAwait(false))
        {
            _states[reader.GetString(0)].Documents[new DocumentId(reader.GetString(1), reader.GetString(2))] = new DocumentRow(
                reader.GetInt64(3),
                reader.GetFieldValue<DateTimeOffset>(4),
                reader.IsDBNull(5) ? null : reader.GetFieldValue<DateTimeOffset>(5),
                Value: reader.IsDBNull(6) ? default : reader.GetFieldValue<byte[]>(6));
        }
    }

    private static async ValueTask ReadSequencesAsync(NpgsqlDataReader reader, PartitionState state)
    {
        await reader.NextResultAsync().ConfigureAwait(false);
        while (await reader.ReadAsync().ConfigureAwait(false))
        {
            state.Sequences[reader.GetString(0)] = reader.GetInt64(1);
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

    private void AddDocumentWrites(NpgsqlBatch batch, List<PartitionWriter> changes)
    {
        // Most writes put documents and nothing else: the other lists are made when needed.
        var upserts = new List<(string Partition, DocumentId Id, DocumentRow Row)>();
        KeyRows? deletes = null, tombstones = null, replaced = null;
        List<long>? revisions = null;
        foreach (var change in changes)
        {
            var state = _states[change.Partition];
            foreach (var (id, row) in change.Upserts())
            {
                // An import's new documents were copied in; the expired ones it replaces are upserted.
                if (!_import || state.Documents[id] is not null)
                {
                    upserts.Add((change.Partition, id, row));
                }
            }

            foreach (var id in change.Deletes())
            {
                (deletes ??= new()).Add(change.Partition, id);
            }

            foreach (var (id, revision) in change.TombstoneWrites())
            {
                (tombstones ??= new()).Add(change.Partition, id);
                (revisions ??= []).Add(revision);
            }

            // A partition that did not exist has no tombstones.
            foreach (var id in state.Exists ? change.TombstoneDeletes() : [])
            {
                (replaced ??= new()).Add(change.Partition, id);
            }
        }

        if (upserts.Count > 0)
        {
            var (partitions, collections, keys) = (new string[upserts.Count], new string[upserts.Count], new string[upserts.Count]);
            var (values, versions, expires) = (new ReadOnlyMemory<byte>[upserts.Count], new long[upserts.Count], new DateTimeOffset?[upserts.Count]);
            var (created, updated) = (new DateTimeOffset[upserts.Count], new DateTimeOffset[upserts.Count]);
            for (var i = 0; i < upserts.Count; i++)
            {
                var (partition, id, row) = upserts[i];
                (partitions[i], collections[i], keys[i], values[i]) = (partition, id.Collection, id.Key, row.Value);
                (versions[i], created[i], updated[i], expires[i]) = (row.Version, row.CreatedAt, row.UpdatedAt, row.ExpiresAt);
            }

            batch.BatchCommands.Add(BatchCommand(_sql.UpsertDocuments, P(partitions), P(collections), P(keys), Utf8Text(values), P(versions), P(created), P(updated), P(expires)));
        }

        if (deletes is not null)
        {
            batch.BatchCommands.Add(deletes.Command(_sql.DeleteDocuments));
        }

        if (tombstones is not null)
        {
            batch.BatchCommands.Add(tombstones.Command(_sql.UpsertTombstones, P(revisions!.ToArray()), P(_now)));
        }

        if (replaced is not null)
        {
            batch.BatchCommands.Add(replaced.Command(_sql.DeleteTombstones));
        }
    }

    private void AddStreamWrites(NpgsqlBatch batch, PartitionWriter change)
    {
        var events = change.NewEvents().ToList();
        if (events.Count == 0)
        {
            return;
        }

        var streams = change.StreamWrites().ToList();
        batch.BatchCommands.Add(BatchCommand(_sql.UpsertStreams, P(change.Partition), P(streams.ConvertAll(s => s.Stream).ToArray()), P(streams.ConvertAll(s => s.Version).ToArray())));
        batch.BatchCommands.Add(BatchCommand(
            _sql.InsertEvents,
            P(change.Partition),
            P(events.ConvertAll(e => e.Stream).ToArray()),
            P(events.ConvertAll(e => e.Version).ToArray()),
            P(events.ConvertAll(e => e.Revision).ToArray()),
            P(events.ConvertAll(e => e.Data.Id).ToArray()),
            P(events.ConvertAll(e => e.Data.Type).ToArray()),
            Utf8Text(events.ConvertAll(e => e.Data.Data).ToArray()),
            Utf8Text(events.ConvertAll(e => e.Data.Metadata).ToArray()),
            P(_now)));
    }
}

/// <summary>Rows keyed by (partition, collection, key), sent as three arrays.</summary>
internal sealed class KeyRows
{
    private readonly List<string> _partitions = [];
    private readonly List<string> _collections = [];
    private readonly List<string> _keys = [];

    public void Add(string partition, DocumentId id)
    {
        _partitions.Add(partition);
        _collections.Add(id.Collection);
        _keys.Add(id.Key);
    }

    /// <summary>The statement over the rows, with the parameters that follow the keys.</summary>
    public NpgsqlBatchCommand Command(string sql, params NpgsqlParameter[] more)
        => BatchCommand(sql, [P(_partitions.ToArray()), P(_collections.ToArray()), P(_keys.ToArray()), .. more]);
}

/// <summary>A partition delete: removes everything the partition holds and its row, leaves its mark for the store-wide cursor, and raises the store's revision floor.</summary>
internal sealed class PartitionDeleteWrite(Sql sql, string partition, DateTimeOffset now) : LockedWrite
{
    private long _revision;

    public override string[] Partitions { get; } = [partition];

    public override int Requests => 1;

    public override bool Apply(IReadOnlyDictionary<string, long> revisions, long floor, Attempt attempt)
    {
        _revision = revisions[partition];
        attempt.Results[0] = _revision > 0;
        return _revision > 0;
    }

    public override void AddWrites(NpgsqlBatch batch, Attempt attempt)
    {
        // The floor rises first: a partition created afterwards never reuses one of these versions.
        batch.BatchCommands.Add(BatchCommand(sql.RaiseRevisionFloor, P(_revision)));
        foreach (var delete in sql.DeletePartition)
        {
            batch.BatchCommands.Add(BatchCommand(delete, P(partition)));
        }

        batch.BatchCommands.Add(BatchCommand(sql.MarkDeleted, P(partition), P(_revision), P(now)));

        // Logged under '' so that no trace of the forgotten key stays behind.
        batch.BatchCommands.Add(BatchCommand(sql.LogCommit, P(string.Empty), P(attempt.OperationId), P(_revision), P<long?>(1)));
        batch.BatchCommands.Add(BatchCommand(sql.PruneCommitLog, P(new[] { string.Empty })));
    }
}
