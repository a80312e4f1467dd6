using Npgsql;
using static Storage.Postgres.Internal.Commands;

namespace Storage.Postgres.Internal;

/// <summary>
/// A restore (<see cref="PendingWrite.IsRestore"/>) in the transaction every write shares: with the
/// partition's row locked and the fence read, it is written only over the partition as the engine read
/// it (<see cref="PendingWrite.RestoreOver"/>: else the attempt answers <see langword="false"/> and writes
/// nothing) and once the engine's check of its unique values passes, against the holders read with the
/// lock. Then everything the partition holds is deleted and the state written as it is: documents by
/// binary <c>COPY</c> (as an import writes them), then with the <c>COMMIT</c> their index entries,
/// tombstones, sequences, streams and events with their revisions and times, and the partition's row
/// with its revision and oldest resumable revision. The commit log records the attempt, as for any
/// write; the store's revision floor is left as it is.
/// </summary>
internal sealed class RestoreWrite : LockedWrite
{
    private readonly Sql _sql;
    private readonly StoreIndexes _indexes;
    private readonly PendingWrite _write;
    private readonly PartitionExport _state;
    private readonly DateTimeOffset _now;
    private readonly IndexWork? _indexWork;
    private bool _existed;

    /// <param name="sql">The statements.</param>
    /// <param name="indexes">The store's indexes.</param>
    /// <param name="write">The restore.</param>
    /// <param name="now">The store's clock for the attempt.</param>
    public RestoreWrite(Sql sql, StoreIndexes indexes, PendingWrite write, DateTimeOffset now)
    {
        _sql = sql;
        _indexes = indexes;
        _write = write;
        _state = write.Restored!;
        _now = now;
        _indexWork = indexes.Any ? new IndexWork(indexes, now) : null;
        Partitions = [write.Partition];
    }

    public override string[] Partitions { get; }

    public override int Requests => 1;

    public override string Kind => "restore";

    public override long? IndexGeneration => _indexes.Generation;

    /// <summary>The holders of the store-wide unique values the state wants; the partition's own entries are all replaced, so none of its own are read.</summary>
    public override bool AddReads(NpgsqlBatch batch, IReadOnlyDictionary<string, long>? revisions)
        => _indexWork?.AddReads(batch, _sql.Indexes, [_write], static _ => false) == true;

    public override ValueTask ReadAsync(NpgsqlDataReader reader) => _indexWork!.ReadAsync(reader);

    public override bool Apply(IReadOnlyDictionary<string, long> revisions, long floor, Attempt attempt)
    {
        if (_write.IsCompleted)
        {
            // An earlier attempt's check failed it, and that attempt's rollback failed: the outcome stands.
            attempt.Errors[0] = _write.Error;
            return false;
        }

        var revision = revisions[_write.Partition];
        _existed = revision > 0;
        if (_existed ? revision != _write.RestoreOver : _write.RestoreOver is not null)
        {
            // Written meanwhile: the engine reads the partition again.
            attempt.Results[0] = false;
            return false;
        }

        if (!_write.CheckRestore(_indexWork is null ? null : new UniqueValues(_write.Partition, _now, _indexWork.HoldersFor(_write.Partition)), _now))
        {
            attempt.Errors[0] = _write.Error ?? throw new InvalidOperationException("The index check left a restore out.");
            return false;
        }

        attempt.Results[0] = true;
        return true;
    }

    public override async ValueTask CopyAsync(NpgsqlConnection connection)
    {
        if (_existed)
        {
            // Everything the partition holds goes first, but its row and its commit-log entries (which resolve other writers' attempts).
            using var batch = new NpgsqlBatch(connection);
            foreach (var delete in _sql.DeletePartitionContents)
            {
                batch.BatchCommands.Add(BatchCommand(delete, P(_state.Partition)));
            }

            await batch.PrepareAsync().ConfigureAwait(false);
            await batch.ExecuteNonQueryAsync().ConfigureAwait(false);
        }

        if (_state.Documents.Count == 0)
        {
            return;
        }

        var importer = await connection.BeginBinaryImportAsync(_sql.CopyDocuments).ConfigureAwait(false);
        await using (importer.ConfigureAwait(false))
        {
            foreach (var d in _state.Documents)
            {
                await WriteDocumentAsync(importer, _state.Partition, d.Collection, d.Key, d.Value, d.Version, d.CreatedAt, d.UpdatedAt, d.ExpiresAt).ConfigureAwait(false);
            }

            await importer.CompleteAsync().ConfigureAwait(false);
        }
    }

    public override void AddWrites(NpgsqlBatch batch, Attempt attempt)
    {
        var partition = _state.Partition;
        if (_indexWork is not null)
        {
            _indexWork.CollectRestore(_state, _write.Entries!);
            _indexWork.AddWrites(batch, _sql.Indexes);
        }

        var tombstones = _state.Tombstones;
        if (tombstones.Count > 0)
        {
            batch.BatchCommands.Add(BatchCommand(
                _sql.InsertRestoredTombstones,
                P(partition),
                P(tombstones.Select(static t => t.Collection).ToArray()),
                P(tombstones.Select(static t => t.Key).ToArray()),
                P(tombstones.Select(static t => t.Revision).ToArray()),
                P(tombstones.Select(static t => t.DeletedAt).ToArray())));
        }

        var sequences = _state.Sequences;
        if (sequences.Count > 0)
        {
            batch.BatchCommands.Add(BatchCommand(
                _sql.UpsertSequences,
                P(partition),
                P(sequences.Select(static s => s.Name).ToArray()),
                P(sequences.Select(static s => s.Value).ToArray()),
                P(sequences.Select(static s => s.Revision).ToArray())));
        }

        var streams = _state.Streams;
        if (streams.Count > 0)
        {
            batch.BatchCommands.Add(BatchCommand(_sql.UpsertStreams, P(partition), P(streams.Select(static s => s.Stream).ToArray()), P(streams.Select(static s => s.Version).ToArray())));
            var events = streams.SelectMany(static s => s.Events).ToList();
            batch.BatchCommands.Add(BatchCommand(
                _sql.InsertRestoredEvents,
                P(partition),
                P(events.ConvertAll(static e => e.Stream).ToArray()),
                P(events.ConvertAll(static e => e.Version).ToArray()),
                P(events.ConvertAll(static e => e.Revision).ToArray()),
                P(events.ConvertAll(static e => e.Id).ToArray()),
                P(events.ConvertAll(static e => e.Type).ToArray()),
                Utf8Text(events.ConvertAll(static e => e.Data).ToArray()),
                Utf8Text(events.ConvertAll(static e => e.Metadata).ToArray()),
                P(events.ConvertAll(static e => e.CommittedAt).ToArray())));
        }

        batch.BatchCommands.Add(BatchCommand(_sql.SetRestoredRevision, P(partition), P(_state.Revision), P(_state.OldestResumable)));
        batch.BatchCommands.Add(BatchCommand(_sql.Unmark, P(Partitions)));
        batch.BatchCommands.Add(BatchCommand(_sql.LogCommits, P(Partitions), P(attempt.OperationId), P(new[] { _state.Revision })));
        if (_existed)
        {
            batch.BatchCommands.Add(BatchCommand(_sql.PruneCommitLog, P(Partitions)));
        }
    }
}
