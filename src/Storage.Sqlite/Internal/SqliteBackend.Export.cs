namespace Storage.Sqlite.Internal;

/// <summary>
/// The export of a partition's exact state: every table's rows of the partition in one read transaction;
/// the store-wide cursor over changed partitions; and the store's revision floor, read and raised (a restore itself is a write: <see cref="WriteContext.Restore"/>).
/// </summary>
internal sealed partial class SqliteBackend
{
    // Every statement reads one partition's rows by the primary key's leading column; each row is checked against its checksum.
    private static readonly Statement s_exportDocuments = new("SELECT collection, key, value, version, created_at, updated_at, expires_at, checksum FROM documents WHERE partition = @partition");
    private static readonly Statement s_exportTombstones = new("SELECT collection, key, revision, deleted_at FROM tombstones WHERE partition = @partition");
    private static readonly Statement s_exportSequences = new("SELECT name, value, revision FROM sequences WHERE partition = @partition");
    private static readonly Statement s_exportEvents = new(
        "SELECT stream, version, revision, event_id, type, data, metadata, committed_at, checksum FROM events WHERE partition = @partition ORDER BY stream, version");

    /// <inheritdoc/>
    /// <remarks>One read transaction (one snapshot): the partition's row, then its documents, tombstones, sequences and events.</remarks>
    public ValueTask<PartitionExport?> ReadPartitionAsync(string partition, CancellationToken cancellationToken)
        => ValueTask.FromResult(ReadSnapshot(session =>
        {
            long revision, oldestResumable;
            using (var reader = session.Query(Sql.GetPartitionFeedState, partition))
            {
                if (!reader.Read())
                {
                    return null;
                }

                (revision, oldestResumable) = (reader.GetInt64(0), reader.GetInt64(1));
            }

            var documents = ReadRows(session, s_exportDocuments, [partition], 0, reader => RowChecksum.ReadDocument(reader, 2, _path, partition, reader.GetString(0), reader.GetString(1)));
            var tombstones = ReadRows(session, s_exportTombstones, [partition], 0, static reader => new ExportedTombstone(
                reader.GetString(0), reader.GetString(1), reader.GetInt64(2), DateTimeOffset.FromUnixTimeMilliseconds(reader.GetInt64(3))));
            var sequences = ReadRows(session, s_exportSequences, [partition], 0, static reader => new ExportedSequence(reader.GetString(0), reader.GetInt64(1), reader.GetInt64(2)));
            var events = ReadRows(session, s_exportEvents, [partition], 0, reader => RowChecksum.ReadEvent(reader, 1, _path, partition, reader.GetString(0)));
            var streams = events.GroupBy(static e => e.Stream, StringComparer.Ordinal).Select(static g => new ExportedStream(g.Key, g));
            return (PartitionExport?)new PartitionExport(partition, revision, oldestResumable, documents, tombstones, sequences, streams);
        }));

    /// <inheritdoc/>
    /// <remarks>
    /// One read transaction (one snapshot). The current position is the last position stored in
    /// <c>storage_meta</c>: a write transaction stores it with the rows it positions, and the next one
    /// (serialized with it, in any process) takes a higher one. Whole positions in two steps: the
    /// position of the <paramref name="limit"/>-th item, then every item up to it.
    /// </remarks>
    public ValueTask<ChangedPartitions> ReadChangedPartitionsAsync(long afterPosition, int limit, CancellationToken cancellationToken)
    {
        cancellationToken.ThrowIfCancellationRequested();
        return ValueTask.FromResult(ReadSnapshot(session =>
        {
            long current, oldest, floor;
            using (var reader = session.Query(Sql.CursorState))
            {
                reader.Read();
                (current, oldest, floor) = (reader.IsDBNull(0) ? 0 : reader.GetInt64(0), reader.IsDBNull(1) ? 0 : reader.GetInt64(1), reader.IsDBNull(2) ? 0 : reader.GetInt64(2));
            }

            // No limit-th item: every item up to the current position, and nothing more.
            var last = session.Scalar(Sql.CursorLastPosition, afterPosition, current, limit - 1) is long reached ? reached : current;
            var items = ReadRows(session, Sql.CursorItems, [afterPosition, last], limit, static reader => new PartitionChange(
                reader.GetString(1), reader.GetInt64(2), reader.GetInt64(3) != 0, reader.GetInt64(0)));
            var hasMore = last < current && (long)session.Scalar(Sql.CursorHasMore, last, current)! != 0;
            return new ChangedPartitions(items, hasMore, current, oldest, floor);
        }));
    }

    /// <inheritdoc/>
    public ValueTask<long> ReadRevisionFloorAsync(CancellationToken cancellationToken)
        => ValueTask.FromResult(Read(session => session.Scalar(Sql.GetMeta, Schema.MetaRevisionFloor) is long floor ? floor : 0));

    /// <inheritdoc/>
    /// <remarks>
    /// The <c>revision_floor</c> row of <c>storage_meta</c>, raised in a write transaction of its own in
    /// the writer's turn: the read-only fence is read in it, as every commit reads it (and, like every
    /// write, it fails with <see cref="IndexDeclarationsChangedException"/> on an instance whose index
    /// declarations another instance has changed since it opened).
    /// </remarks>
    public ValueTask RaiseRevisionFloorAsync(long floor, CancellationToken cancellationToken)
    {
        // The transaction's time is not used: raising the floor reads no expiry.
        InWriterTurn(cancellationToken, () => InWriteTransaction(DateTimeOffset.UnixEpoch, context => context.RaiseRevisionFloor(floor)));
        return ValueTask.CompletedTask;
    }
}
