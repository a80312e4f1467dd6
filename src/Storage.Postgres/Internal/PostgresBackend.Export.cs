using Npgsql;
using static Storage.Postgres.Internal.Commands;

namespace Storage.Postgres.Internal;

/// <summary>The export of a partition's exact state: every table's rows of the partition in one snapshot.</summary>
internal sealed partial class PostgresBackend
{
    private ExportSql? _exportSql;

    private ExportSql Export => _exportSql ??= new ExportSql(_sql.QuotedSchema);

    /// <inheritdoc/>
    /// <remarks>
    /// One round trip, one snapshot (a read-only REPEATABLE READ transaction): the partition's row, then
    /// its documents, tombstones, sequences and events, each by the partition's leading key column (in
    /// the hash-partitioned layout, in the partition's own table partition).
    /// </remarks>
    public async ValueTask<PartitionExport?> ReadPartitionAsync(string partition, CancellationToken cancellationToken)
        => (await ReadStatesAsync("export partition", Export.One, partition, [partition], cancellationToken).ConfigureAwait(false)) is [var state] ? state : null;

    /// <inheritdoc/>
    public int ExportBatchPartitions => 16;

    /// <inheritdoc/>
    /// <remarks>
    /// One round trip, one snapshot, as <see cref="ReadPartitionAsync"/> for one: the same statements over
    /// every partition asked (<c>partition = ANY($1)</c>).
    /// </remarks>
    public ValueTask<IReadOnlyList<PartitionExport>> ReadPartitionsAsync(IReadOnlyList<string> partitions, CancellationToken cancellationToken)
    {
        var keys = partitions.ToArray();
        return ReadStatesAsync("export partitions", Export.Many, keys, keys, cancellationToken);
    }

    /// <summary>
    /// Runs the export's statements for <paramref name="partitions"/> (selected by <paramref name="key"/>, their
    /// parameter) in one read-only REPEATABLE READ batch; each row names its partition. Returns the states of
    /// those that exist, in the order of <paramref name="partitions"/>.
    /// </summary>
    private ValueTask<IReadOnlyList<PartitionExport>> ReadStatesAsync(string operation, ExportStatements sql, object key, IReadOnlyList<string> partitions, CancellationToken cancellationToken)
        => ReadAsync(operation, (sql, key, partitions), static async (connection, s, ct) =>
        {
            using var batch = new NpgsqlBatch(connection);
            batch.BatchCommands.Add(new NpgsqlBatchCommand(Sql.BeginSnapshot));
            batch.BatchCommands.Add(BatchCommand(s.sql.Partitions, P(s.key)));
            batch.BatchCommands.Add(BatchCommand(s.sql.Documents, P(s.key)));
            batch.BatchCommands.Add(BatchCommand(s.sql.Tombstones, P(s.key)));
            batch.BatchCommands.Add(BatchCommand(s.sql.Sequences, P(s.key)));
            batch.BatchCommands.Add(BatchCommand(s.sql.Events, P(s.key)));
            batch.BatchCommands.Add(new NpgsqlBatchCommand(Sql.Commit));
            await batch.PrepareAsync(ct).ConfigureAwait(false);
            var reader = await batch.ExecuteReaderAsync(ct).ConfigureAwait(false);
            await using var readerScope = reader.ConfigureAwait(false);

            // A row with revision 0 is a writer's placeholder: the partition does not exist.
            var heads = new Dictionary<string, (long Revision, long OldestResumable)>(StringComparer.Ordinal);
            while (await reader.ReadAsync(ct).ConfigureAwait(false))
            {
                if (reader.GetInt64(1) > 0)
                {
                    heads.Add(reader.GetString(0), (reader.GetInt64(1), reader.GetInt64(2)));
                }
            }

            var documents = new Dictionary<string, List<StoredDocument>>(StringComparer.Ordinal);
            await reader.NextResultAsync(ct).ConfigureAwait(false);
            while (await reader.ReadAsync(ct).ConfigureAwait(false))
            {
                var partition = reader.GetString(0);
                Of(documents, partition).Add(ReadDocument(reader, 3, partition, reader.GetString(1), reader.GetString(2)));
            }

            var tombstones = new Dictionary<string, List<ExportedTombstone>>(StringComparer.Ordinal);
            await reader.NextResultAsync(ct).ConfigureAwait(false);
            while (await reader.ReadAsync(ct).ConfigureAwait(false))
            {
                Of(tombstones, reader.GetString(0)).Add(new ExportedTombstone(reader.GetString(1), reader.GetString(2), reader.GetInt64(3), reader.GetFieldValue<DateTimeOffset>(4)));
            }

            var sequences = new Dictionary<string, List<ExportedSequence>>(StringComparer.Ordinal);
            await reader.NextResultAsync(ct).ConfigureAwait(false);
            while (await reader.ReadAsync(ct).ConfigureAwait(false))
            {
                Of(sequences, reader.GetString(0)).Add(new ExportedSequence(reader.GetString(1), reader.GetInt64(2), reader.GetInt64(3)));
            }

            var events = new Dictionary<string, List<StoredEvent>>(StringComparer.Ordinal);
            await reader.NextResultAsync(ct).ConfigureAwait(false);
            while (await reader.ReadAsync(ct).ConfigureAwait(false))
            {
                var partition = reader.GetString(0);
                Of(events, partition).Add(ReadEvent(reader, 2, partition, reader.GetString(1)));
            }

            var states = new List<PartitionExport>(heads.Count);
            foreach (var partition in s.partitions)
            {
                if (heads.TryGetValue(partition, out var head))
                {
                    states.Add(new PartitionExport(
                        partition,
                        head.Revision,
                        head.OldestResumable,
                        documents.GetValueOrDefault(partition) ?? [],
                        tombstones.GetValueOrDefault(partition) ?? [],
                        sequences.GetValueOrDefault(partition) ?? [],
                        (events.GetValueOrDefault(partition) ?? []).GroupBy(static e => e.Stream, StringComparer.Ordinal).Select(static g => new ExportedStream(g.Key, g))));
                }
            }

            return (IReadOnlyList<PartitionExport>)states;

            static List<T> Of<T>(Dictionary<string, List<T>> rows, string partition)
            {
                if (!rows.TryGetValue(partition, out var list))
                {
                    list = [];
                    rows.Add(partition, list);
                }

                return list;
            }
        }, cancellationToken);

    /// <inheritdoc/>
    /// <remarks>
    /// A position is the id of the transaction that made the change (<c>partitions.changed_xid</c>,
    /// <c>partition_marks.changed_xid</c>). Two round trips: the current position
    /// (<see cref="Sql.CursorPosition"/>: below every writer of this store still running), then one
    /// snapshot (a read-only REPEATABLE READ transaction) with the oldest position, the revision floor
    /// and the page (<see cref="Sql.ReadChangedPartitions"/>) through the (changed_xid, partition)
    /// indexes. A write of this store still in flight holds the changes after it back until it ends;
    /// other transactions do not.
    /// </remarks>
    public ValueTask<ChangedPartitions> ReadChangedPartitionsAsync(long afterPosition, int limit, CancellationToken cancellationToken)
        => ReadAsync("read changed partitions", (sql: _sql, afterPosition, limit), static async (connection, s, ct) =>
        {
            long current;
            using (var command = Command(connection, s.sql.CursorPosition))
            {
                await command.PrepareAsync(ct).ConfigureAwait(false);
                current = (long)(await command.ExecuteScalarAsync(ct).ConfigureAwait(false))!;
            }

            using var batch = new NpgsqlBatch(connection);
            batch.BatchCommands.Add(new NpgsqlBatchCommand(Sql.BeginSnapshot));
            batch.BatchCommands.Add(BatchCommand(s.sql.ReadCursorHead));
            batch.BatchCommands.Add(BatchCommand(s.sql.ReadChangedPartitions, P(s.afterPosition), P(s.limit), P(current)));
            batch.BatchCommands.Add(new NpgsqlBatchCommand(Sql.Commit));
            await batch.PrepareAsync(ct).ConfigureAwait(false);
            var reader = await batch.ExecuteReaderAsync(ct).ConfigureAwait(false);
            await using var readerScope = reader.ConfigureAwait(false);
            await reader.ReadAsync(ct).ConfigureAwait(false);
            var (oldest, floor) = (reader.GetInt64(0), reader.GetInt64(1));
            await reader.NextResultAsync(ct).ConfigureAwait(false);
            var items = new List<PartitionChange>();
            var hasMore = false;
            while (await reader.ReadAsync(ct).ConfigureAwait(false))
            {
                // A row without a partition says that a change follows the page.
                if (reader.IsDBNull(0))
                {
                    hasMore = true;
                    continue;
                }

                items.Add(new PartitionChange(reader.GetString(0), reader.GetInt64(1), reader.GetBoolean(2), reader.GetInt64(3)));
            }

            return new ChangedPartitions(items, hasMore, current, oldest, floor);
        }, cancellationToken);

    /// <inheritdoc/>
    public async ValueTask<long> ReadRevisionFloorAsync(CancellationToken cancellationToken)
        => await ReadAsync("read revision floor", Export.Floor, static async (connection, sql, ct) =>
            await ScalarAsync(connection, sql, ct).ConfigureAwait(false) is long floor ? floor : 0, cancellationToken).ConfigureAwait(false);

    /// <summary>The statements of an export, for one schema.</summary>
    private sealed class ExportSql(string s)
    {
        /// <summary>One partition, <c>$1</c> its key: by the leading key column (in the hash-partitioned layout, its own table partition).</summary>
        public ExportStatements One { get; } = new(s, "partition = $1 COLLATE \"C\"");

        /// <summary>Several partitions, <c>$1</c> an array of their keys.</summary>
        public ExportStatements Many { get; } = new(s, "partition = ANY($1)");

        public string Floor { get; } = $"SELECT value FROM {s}.storage_meta WHERE key = '{Internal.Schema.MetaRevisionFloor}'";
    }

    /// <summary>The export's statements over the partitions <paramref name="where"/> selects; every row starts with its partition's key.</summary>
    private sealed class ExportStatements(string s, string where)
    {
        public string Partitions { get; } = $"SELECT partition, revision, oldest_resumable FROM {s}.partitions WHERE {where}";

        public string Documents { get; } = $"SELECT partition, collection, key, value, version, created_at, updated_at, expires_at FROM {s}.documents WHERE {where}";

        public string Tombstones { get; } = $"SELECT partition, collection, key, revision, deleted_at FROM {s}.tombstones WHERE {where}";

        public string Sequences { get; } = $"SELECT partition, name, value, revision FROM {s}.sequences WHERE {where}";

        public string Events { get; } = $"""
            SELECT partition, stream, version, revision, event_id, type, data, metadata, committed_at FROM {s}.events
            WHERE {where} ORDER BY partition, stream COLLATE "C", version
            """;
    }

    /// <inheritdoc/>
    /// <remarks>The row of <c>storage_meta</c>, raised under the lock every write transaction shares, unless the fence is set (<see cref="WriteTransactions.TryRaiseRevisionFloorAsync"/>).</remarks>
    public async ValueTask RaiseRevisionFloorAsync(long floor, CancellationToken cancellationToken)
    {
        cancellationToken.ThrowIfCancellationRequested();
        await _retry.RunAsync("raise revision floor", (transactions: Transactions, floor), static (s, _) => s.transactions.TryRaiseRevisionFloorAsync(s.floor), CancellationToken.None).ConfigureAwait(false);
    }
}
