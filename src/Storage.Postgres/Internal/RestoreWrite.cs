using Npgsql;
using static Storage.Postgres.Internal.Commands;

namespace Storage.Postgres.Internal;

/// <summary>
/// Restores (<see cref="PendingWrite.IsRestore"/>) in the transaction every write shares: one restore
/// through the partition's group commit, or a group of new partitions of a store's restore
/// (<see cref="Storage.Engine.IBulkRestoreBackend"/>). With the partitions' rows locked and the fence
/// read, each is written only over the partition as the engine read it (<see cref="PendingWrite.RestoreOver"/>)
/// and once the engine's check of its unique values passes, against the holders read with the locks and
/// the values the restores before it in the transaction take; else the attempt writes nothing (its
/// results say which restore was not written, and why). Then everything a replaced partition holds is
/// deleted and the states written as they are: documents by binary <c>COPY</c> (as an import writes them),
/// then with the <c>COMMIT</c> their index entries, tombstones, sequences, streams and events with their
/// revisions and times, and the partitions' rows with their revisions and oldest resumable revisions —
/// one statement of each kind for the whole transaction. The commit log records the attempt, as for any
/// write; the store's revision floor is left as it is.
/// </summary>
internal sealed class RestoreWrite : LockedWrite
{
    private readonly Sql _sql;
    private readonly StoreIndexes _indexes;
    private readonly IReadOnlyList<PendingWrite> _writes;
    private readonly DateTimeOffset _now;
    private readonly IndexWork? _indexWork;
    private readonly bool[] _existed;

    /// <param name="sql">The statements.</param>
    /// <param name="indexes">The store's indexes.</param>
    /// <param name="writes">The restores, each of another partition.</param>
    /// <param name="now">The store's clock for the attempt.</param>
    public RestoreWrite(Sql sql, StoreIndexes indexes, IReadOnlyList<PendingWrite> writes, DateTimeOffset now)
    {
        _sql = sql;
        _indexes = indexes;
        _writes = writes;
        _now = now;
        _indexWork = indexes.Any ? new IndexWork(indexes, now) : null;
        _existed = new bool[writes.Count];
        Partitions = [.. writes.Select(static w => w.Partition)];
    }

    public override string[] Partitions { get; }

    public override int Requests => _writes.Count;

    public override string Kind => "restore";

    public override long? IndexGeneration => _indexes.Generation;

    /// <summary>The holders of the store-wide unique values the states want; the partitions' own entries are all replaced, so none of their own are read.</summary>
    public override bool AddReads(NpgsqlBatch batch, IReadOnlyDictionary<string, long>? revisions)
        => _indexWork?.AddReads(batch, _sql.Indexes, _writes, static _ => false) == true;

    public override ValueTask ReadAsync(NpgsqlDataReader reader) => _indexWork!.ReadAsync(reader);

    public override bool Apply(IReadOnlyDictionary<string, long> revisions, long floor, Attempt attempt)
    {
        for (var i = 0; i < _writes.Count; i++)
        {
            var write = _writes[i];
            if (write.IsCompleted)
            {
                // An earlier attempt's check failed it, and that attempt's rollback failed: the outcome stands.
                attempt.Errors[i] = write.Error;
                return false;
            }

            var revision = revisions[write.Partition];
            _existed[i] = revision > 0;
            if (_existed[i] ? revision != write.RestoreOver : write.RestoreOver is not null)
            {
                // Written meanwhile: the engine reads the partition again.
                attempt.Results[i] = false;
                return false;
            }

            if (!write.CheckRestore(_indexWork is null ? null : new UniqueValues(write.Partition, _now, _indexWork.HoldersFor(write.Partition)), _now))
            {
                attempt.Errors[i] = write.Error ?? throw new InvalidOperationException("The index check left a restore out.");
                return false;
            }

            _indexWork?.ClaimRestore(write.Restored!, write.Entries!);
            attempt.Results[i] = true;
        }

        return true;
    }

    public override async ValueTask CopyAsync(NpgsqlConnection connection)
    {
        if (Array.IndexOf(_existed, true) >= 0)
        {
            // Everything a replaced partition holds goes first, but its row and its commit-log entries (which resolve other writers' attempts).
            using var batch = new NpgsqlBatch(connection);
            for (var i = 0; i < _writes.Count; i++)
            {
                if (_existed[i])
                {
                    foreach (var delete in _sql.DeletePartitionContents)
                    {
                        batch.BatchCommands.Add(BatchCommand(delete, P(_writes[i].Partition)));
                    }
                }
            }

            await batch.PrepareAsync().ConfigureAwait(false);
            await batch.ExecuteNonQueryAsync().ConfigureAwait(false);
        }

        if (_writes.All(static w => w.Restored!.Documents.Count == 0))
        {
            return;
        }

        var importer = await connection.BeginBinaryImportAsync(_sql.CopyDocuments).ConfigureAwait(false);
        await using (importer.ConfigureAwait(false))
        {
            foreach (var write in _writes)
            {
                var state = write.Restored!;
                foreach (var d in state.Documents)
                {
                    await WriteDocumentAsync(importer, state.Partition, d.Collection, d.Key, d.Value, d.Version, d.CreatedAt, d.UpdatedAt, d.ExpiresAt).ConfigureAwait(false);
                }
            }

            await importer.CompleteAsync().ConfigureAwait(false);
        }
    }

    public override void AddWrites(NpgsqlBatch batch, Attempt attempt)
    {
        var states = _writes.Select(static w => w.Restored!).ToList();
        if (_indexWork is not null)
        {
            foreach (var write in _writes)
            {
                _indexWork.CollectRestore(write.Restored!, write.Entries!);
            }

            _indexWork.AddWrites(batch, _sql.Indexes);
        }

        var tombstones = states.SelectMany(static s => s.Tombstones.Select(t => (s.Partition, Tombstone: t))).ToList();
        if (tombstones.Count > 0)
        {
            batch.BatchCommands.Add(BatchCommand(
                _sql.InsertRestoredTombstones,
                P(tombstones.ConvertAll(static t => t.Partition).ToArray()),
                P(tombstones.ConvertAll(static t => t.Tombstone.Collection).ToArray()),
                P(tombstones.ConvertAll(static t => t.Tombstone.Key).ToArray()),
                P(tombstones.ConvertAll(static t => t.Tombstone.Revision).ToArray()),
                P(tombstones.ConvertAll(static t => t.Tombstone.DeletedAt).ToArray())));
        }

        var sequences = states.SelectMany(static s => s.Sequences.Select(q => (s.Partition, Sequence: q))).ToList();
        if (sequences.Count > 0)
        {
            batch.BatchCommands.Add(BatchCommand(
                _sql.InsertRestoredSequences,
                P(sequences.ConvertAll(static s => s.Partition).ToArray()),
                P(sequences.ConvertAll(static s => s.Sequence.Name).ToArray()),
                P(sequences.ConvertAll(static s => s.Sequence.Value).ToArray()),
                P(sequences.ConvertAll(static s => s.Sequence.Revision).ToArray())));
        }

        var streams = states.SelectMany(static s => s.Streams.Select(t => (s.Partition, Stream: t))).ToList();
        if (streams.Count > 0)
        {
            batch.BatchCommands.Add(BatchCommand(
                _sql.InsertRestoredStreams,
                P(streams.ConvertAll(static s => s.Partition).ToArray()),
                P(streams.ConvertAll(static s => s.Stream.Stream).ToArray()),
                P(streams.ConvertAll(static s => s.Stream.Version).ToArray())));
            var events = streams.SelectMany(static s => s.Stream.Events.Select(e => (s.Partition, Event: e))).ToList();
            if (events.Count > 0)
            {
                batch.BatchCommands.Add(BatchCommand(
                    _sql.InsertRestoredEvents,
                    P(events.ConvertAll(static e => e.Partition).ToArray()),
                    P(events.ConvertAll(static e => e.Event.Stream).ToArray()),
                    P(events.ConvertAll(static e => e.Event.Version).ToArray()),
                    P(events.ConvertAll(static e => e.Event.Revision).ToArray()),
                    P(events.ConvertAll(static e => e.Event.Id).ToArray()),
                    P(events.ConvertAll(static e => e.Event.Type).ToArray()),
                    Utf8Text(events.ConvertAll(static e => e.Event.Data).ToArray()),
                    Utf8Text(events.ConvertAll(static e => e.Event.Metadata).ToArray()),
                    P(events.ConvertAll(static e => e.Event.CommittedAt).ToArray())));
            }
        }

        var revisions = states.ConvertAll(static s => s.Revision).ToArray();
        batch.BatchCommands.Add(BatchCommand(_sql.SetRestoredRevisions, P(Partitions), P(revisions), P(states.ConvertAll(static s => s.OldestResumable).ToArray())));
        batch.BatchCommands.Add(BatchCommand(_sql.Unmark, P(Partitions)));
        batch.BatchCommands.Add(BatchCommand(_sql.LogCommits, P(Partitions), P(attempt.OperationId), P(revisions)));
        if (Array.IndexOf(_existed, true) >= 0)
        {
            batch.BatchCommands.Add(BatchCommand(_sql.PruneCommitLog, P(Partitions)));
        }
    }
}
