using Npgsql;
using Storage.Internal;
using static Storage.Postgres.Internal.Commands;

namespace Storage.Postgres.Internal;

/// <summary>The reads: each a prepared statement (or one round trip of them, in one snapshot), retried on transient failures, on the read data source.</summary>
internal sealed partial class PostgresBackend
{
    /// <inheritdoc/>
    public ValueTask<StoredDocument?> GetAsync(string partition, string collection, string key, DateTimeOffset now, CancellationToken cancellationToken)
        => ReadAsync("get", (sql: _sql, partition, collection, key, now), static async (connection, s, ct) =>
        {
            using var command = Command(connection, s.sql.GetDocument, P(s.partition), P(s.collection), P(s.key), P(s.now));
            await command.PrepareAsync(ct).ConfigureAwait(false);
            var reader = await command.ExecuteReaderAsync(ct).ConfigureAwait(false);
            await using var readerScope = reader.ConfigureAwait(false);
            if (!await reader.ReadAsync(ct).ConfigureAwait(false))
            {
                return null;
            }

            return (StoredDocument?)ReadDocument(reader, 0, s.partition, s.collection, s.key);
        }, cancellationToken);

    /// <inheritdoc/>
    public ValueTask<IReadOnlyList<StoredDocument>> ListDocumentsAsync(string partition, string collection, KeyRange range, bool descending, int limit, DateTimeOffset now, CancellationToken cancellationToken)
        => ReadRowsAsync(
            "list",
            _sql.ListDocuments(descending, range.Upper is not null),
            () => [P(partition), P(collection), P(now), P(range.Lower), P(limit), .. UpperBound(range)],
            limit,
            reader => ReadDocument(reader, 1, partition, collection, reader.GetString(0)),
            cancellationToken);

    /// <inheritdoc/>
    public ValueTask<IReadOnlyList<StreamInfo>> ListStreamsAsync(string partition, KeyRange range, bool descending, int limit, CancellationToken cancellationToken)
        => ReadRowsAsync(
            "list streams",
            _sql.ListStreams(descending, range.Upper is not null),
            () => [P(partition), P(range.Lower), P(limit), .. UpperBound(range)],
            limit,
            static reader => new StreamInfo(reader.GetString(0), reader.GetInt64(1)),
            cancellationToken);

    /// <inheritdoc/>
    /// <remarks>Every partition key is non-empty, so all of them sort after "".</remarks>
    public ValueTask<IReadOnlyList<PartitionInfo>> ListPartitionsAsync(string? after, int limit, CancellationToken cancellationToken)
        => ReadRowsAsync(
            "list partitions",
            _sql.ListPartitions,
            () => [P(after ?? string.Empty), P(limit)],
            limit,
            static reader => new PartitionInfo(reader.GetString(0), reader.GetInt64(1)),
            cancellationToken);

    /// <inheritdoc/>
    public ValueTask<long> GetSequenceAsync(string partition, string name, CancellationToken cancellationToken)
        => ReadAsync("get sequence", (sql: _sql, partition, name), static async (connection, s, ct) =>
        {
            using var command = Command(connection, s.sql.GetSequence, P(s.partition), P(s.name));
            await command.PrepareAsync(ct).ConfigureAwait(false);
            return await command.ExecuteScalarAsync(ct).ConfigureAwait(false) is long value ? value : 0;
        }, cancellationToken);

    /// <inheritdoc/>
    public async ValueTask<(long Version, IReadOnlyList<StoredEvent> Events)> ReadStreamAsync(string partition, string stream, StreamRead read, CancellationToken cancellationToken)
        => await ReadAsync("read stream", (sql: _sql, partition, stream, read), static async (connection, s, ct) =>
        {
            // One snapshot: the stream's version, then the events of the range it gives (a partition
            // delete in between must not look like missing events).
            long version;
            using (var batch = new NpgsqlBatch(connection))
            {
                batch.BatchCommands.Add(new NpgsqlBatchCommand(Sql.BeginSnapshot));
                batch.BatchCommands.Add(BatchCommand(s.sql.ReadStreamVersion, P(s.partition), P(s.stream)));
                await batch.PrepareAsync(ct).ConfigureAwait(false);
                version = await batch.ExecuteScalarAsync(ct).ConfigureAwait(false) is long v ? v : 0;
            }

            var events = new List<StoredEvent>();
            using (var batch = new NpgsqlBatch(connection))
            {
                if (s.read.Range(version) is { } range)
                {
                    batch.BatchCommands.Add(BatchCommand(s.sql.ReadEvents, P(s.partition), P(s.stream), P(range.First), P(range.Last)));
                }

                batch.BatchCommands.Add(new NpgsqlBatchCommand(Sql.Commit));
                await batch.PrepareAsync(ct).ConfigureAwait(false);
                var reader = await batch.ExecuteReaderAsync(ct).ConfigureAwait(false);
                await using var readerScope = reader.ConfigureAwait(false);
                while (await reader.ReadAsync(ct).ConfigureAwait(false))
                {
                    events.Add(ReadEvent(reader, 0, s.partition, s.stream));
                }
            }

            return (version, (IReadOnlyList<StoredEvent>)events);
        }, cancellationToken).ConfigureAwait(false);

    /// <inheritdoc/>
    /// <remarks>
    /// One round trip, one snapshot (a read-only REPEATABLE READ transaction): the partition's revision
    /// and oldest resumable revision, and the first <paramref name="fetch"/> changes after
    /// <paramref name="afterRevision"/> in feed order, from the documents, tombstones, events and
    /// sequences tables by their (partition, revision) indexes.
    /// </remarks>
    public ValueTask<ChangeCandidates> ReadChangesAsync(string partition, long afterRevision, int limit, int fetch, DateTimeOffset now, CancellationToken cancellationToken)
        => ReadAsync("read changes", (sql: _sql, partition, afterRevision, now, fetch), static async (connection, s, ct) =>
        {
            using var batch = new NpgsqlBatch(connection);
            batch.BatchCommands.Add(new NpgsqlBatchCommand(Sql.BeginSnapshot));
            batch.BatchCommands.Add(BatchCommand(s.sql.ReadFeedPartition, P(s.partition)));
            batch.BatchCommands.Add(BatchCommand(s.sql.ReadChanges, P(s.partition), P(s.afterRevision), P(s.now), P(s.fetch)));
            batch.BatchCommands.Add(new NpgsqlBatchCommand(Sql.Commit));
            await batch.PrepareAsync(ct).ConfigureAwait(false);
            var reader = await batch.ExecuteReaderAsync(ct).ConfigureAwait(false);
            await using var readerScope = reader.ConfigureAwait(false);
            var (exists, revision, oldestResumable) = await reader.ReadAsync(ct).ConfigureAwait(false) && reader.GetInt64(0) > 0
                ? (true, reader.GetInt64(0), reader.GetInt64(1))
                : (false, 0L, 0L);
            await reader.NextResultAsync(ct).ConfigureAwait(false);
            var changes = new List<Change>();
            while (await reader.ReadAsync(ct).ConfigureAwait(false))
            {
                changes.Add(ReadChange(reader, s.partition));
            }

            return new ChangeCandidates(exists, revision, oldestResumable, changes);
        }, cancellationToken);

    /// <inheritdoc/>
    /// <remarks>
    /// One statement, so one snapshot: one page of the index's entries in (value, partition, key) order —
    /// a range scan of the entries' primary key, or of their partition index for one partition, starting
    /// after the cursor — each joined with its document by primary key. An index that another instance
    /// dropped or changed has no entries left under this instance's id (ids are never reused), so only
    /// an empty page takes a second round trip, to check the index is still declared.
    /// </remarks>
    /// <exception cref="IndexDeclarationsChangedException">Another instance dropped or changed the index since this one opened.</exception>
    public async ValueTask<IReadOnlyList<IndexMatch>> QueryAsync(IndexQueryPlan plan, DateTimeOffset now, CancellationToken cancellationToken)
    {
        if (IndexValueRange.For(plan) is not { } bounds)
        {
            return [];
        }

        var (exists, matches) = await ReadAsync("query", (sql: _sql, indexes: _indexes, plan, bounds, now), static async (connection, s, ct) =>
        {
            var index = s.plan.Index;
            var entries = s.sql.Indexes.For(index.ValueType);
            var id = s.indexes.Id(index);
            var query = BatchCommand(
                entries.Query(s.plan.Partition is not null, s.plan.Descending, s.bounds.Upper is not null, s.plan.After is not null),
                [P(id), P(index.Collection), P(s.now), P(s.plan.Limit + 1), .. RangeParameters(s.bounds, s.plan)]);
            if (s.plan.After is { } after)
            {
                query.Parameters.Add(Scalar(IndexValueRange.ToScalar(after.Value)));
                if (s.plan.Partition is null)
                {
                    query.Parameters.Add(P(after.Partition));
                }

                query.Parameters.Add(P(after.Key));
            }

            using var batch = new NpgsqlBatch(connection);
            batch.BatchCommands.Add(query);
            await batch.PrepareAsync(ct).ConfigureAwait(false);
            var matches = new List<IndexMatch>(Math.Min(s.plan.Limit + 1, 64));
            var reader = await batch.ExecuteReaderAsync(ct).ConfigureAwait(false);
            await using (reader.ConfigureAwait(false))
            {
                while (await reader.ReadAsync(ct).ConfigureAwait(false))
                {
                    var value = index.ValueType == IndexValueType.String ? IndexValue.Of(reader.GetString(0)) : IndexValue.Of(reader.GetInt64(0));
                    matches.Add(new IndexMatch(value, ReadDocument(reader, 3, reader.GetString(1), index.Collection, reader.GetString(2))));
                }
            }

            // Entries exist only while their index does (dropped with it, ids never reused): only an empty page asks.
            if (matches.Count > 0)
            {
                return (true, matches);
            }

            using var exists = Command(connection, s.sql.Indexes.IndexExists, P(id));
            return ((bool)(await exists.ExecuteScalarAsync(ct).ConfigureAwait(false))!, matches);
        }, cancellationToken).ConfigureAwait(false);

        return exists ? matches : throw new IndexDeclarationsChangedException();
    }

    /// <inheritdoc/>
    /// <remarks>
    /// One statement: the live entries in the range, counted from the entries' index alone (it carries
    /// each entry's expiry), and whether the index is still declared as this instance knows it.
    /// </remarks>
    /// <exception cref="IndexDeclarationsChangedException">Another instance dropped or changed the index since this one opened.</exception>
    public async ValueTask<long> CountAsync(IndexQueryPlan plan, DateTimeOffset now, CancellationToken cancellationToken)
    {
        if (IndexValueRange.For(plan) is not { } bounds)
        {
            return 0;
        }

        var (exists, count) = await ReadAsync("count", (sql: _sql, indexes: _indexes, plan, bounds, now), static async (connection, s, ct) =>
        {
            var index = s.plan.Index;
            using var command = Command(
                connection,
                s.sql.Indexes.For(index.ValueType).Count(s.plan.Partition is not null, s.bounds.Upper is not null),
                [P(s.indexes.Id(index)), P(s.now), .. RangeParameters(s.bounds, s.plan)]);

            await command.PrepareAsync(ct).ConfigureAwait(false);
            var reader = await command.ExecuteReaderAsync(ct).ConfigureAwait(false);
            await using var readerScope = reader.ConfigureAwait(false);
            await reader.ReadAsync(ct).ConfigureAwait(false);
            return (reader.GetBoolean(1), reader.GetInt64(0));
        }, cancellationToken).ConfigureAwait(false);

        return exists ? count : throw new IndexDeclarationsChangedException();
    }

    /// <summary>The parameters of a query or count that follow its fixed ones, in their order: the range's lower end, its upper end if any, the partition if any.</summary>
    private static NpgsqlParameter[] RangeParameters(IndexValueRange range, IndexQueryPlan plan)
        => [Scalar(range.Lower), .. range.Upper is { } upper ? [Scalar(upper)] : (NpgsqlParameter[])[], .. plan.Partition is { } partition ? [P(partition)] : (NpgsqlParameter[])[]];

    /// <summary>A parameter holding an index value's scalar: bigint or text.</summary>
    private static NpgsqlParameter Scalar(object value) => value is long number ? P(number) : P((string)value);

    /// <summary>
    /// A document from five columns of a row, from <paramref name="first"/> on: value, version,
    /// created_at, updated_at, expires_at (the order of every document read).
    /// </summary>
    private static StoredDocument ReadDocument(NpgsqlDataReader reader, int first, string partition, string collection, string key)
        => new(
            partition,
            collection,
            key,
            reader.GetFieldValue<byte[]>(first),
            reader.GetInt64(first + 1),
            reader.GetFieldValue<DateTimeOffset>(first + 2),
            reader.GetFieldValue<DateTimeOffset>(first + 3),
            reader.IsDBNull(first + 4) ? null : reader.GetFieldValue<DateTimeOffset>(first + 4));

    /// <summary>
    /// An event from seven columns of a row, from <paramref name="first"/> on: version, revision,
    /// event_id, type, data, metadata, committed_at (the order of every event read).
    /// </summary>
    private static StoredEvent ReadEvent(NpgsqlDataReader reader, int first, string partition, string stream)
        => new(
            partition,
            stream,
            reader.GetInt64(first),
            reader.GetInt64(first + 1),
            reader.GetGuid(first + 2),
            reader.GetString(first + 3),
            reader.GetFieldValue<byte[]>(first + 4),
            reader.IsDBNull(first + 5) ? ReadOnlyMemory<byte>.Empty : reader.GetFieldValue<byte[]>(first + 5),
            reader.GetFieldValue<DateTimeOffset>(first + 6));

    /// <summary>One row of the change-feed query (see <see cref="Sql.ReadChanges"/> for its columns).</summary>
    private static Change ReadChange(NpgsqlDataReader reader, string partition)
    {
        var revision = reader.GetInt64(0);
        switch (reader.GetInt32(1))
        {
            case 0 when reader.IsDBNull(7):
                return Change.Delete(revision, reader.GetString(2), reader.GetString(3), reader.GetFieldValue<DateTimeOffset>(11));
            case 0:
                return Change.Put(new StoredDocument(
                    partition,
                    reader.GetString(2),
                    reader.GetString(3),
                    reader.GetFieldValue<byte[]>(7),
                    revision,
                    reader.GetFieldValue<DateTimeOffset>(11),
                    reader.GetFieldValue<DateTimeOffset>(12),
                    reader.IsDBNull(13) ? null : reader.GetFieldValue<DateTimeOffset>(13)));
            case 1:
                return Change.Append(new StoredEvent(
                    partition,
                    reader.GetString(4),
                    reader.GetInt64(5),
                    revision,
                    reader.GetGuid(9),
                    reader.GetString(10),
                    reader.GetFieldValue<byte[]>(7),
                    reader.IsDBNull(8) ? ReadOnlyMemory<byte>.Empty : reader.GetFieldValue<byte[]>(8),
                    reader.GetFieldValue<DateTimeOffset>(11)));
            default:
                return Change.Sequence(revision, reader.GetString(6), reader.GetInt64(14));
        }
    }

    /// <summary>The upper bound of a listing, as its last parameter, when it has one.</summary>
    private static NpgsqlParameter[] UpperBound(KeyRange range) => range.Upper is { } upper ? [P(upper)] : [];

    /// <summary>Runs one prepared statement with retries (<see cref="ReadAsync"/>) and reads its rows, at most <paramref name="limit"/>.</summary>
    private ValueTask<IReadOnlyList<T>> ReadRowsAsync<T>(string operation, string sql, Func<NpgsqlParameter[]> parameters, int limit, Func<NpgsqlDataReader, T> row, CancellationToken cancellationToken)
        => ReadAsync(operation, (sql, parameters, limit, row), static async (connection, s, ct) =>
        {
            using var command = Command(connection, s.sql, s.parameters());
            await command.PrepareAsync(ct).ConfigureAwait(false);
            var rows = new List<T>(Math.Min(s.limit, 64));
            var reader = await command.ExecuteReaderAsync(ct).ConfigureAwait(false);
            await using var readerScope = reader.ConfigureAwait(false);
            while (await reader.ReadAsync(ct).ConfigureAwait(false))
            {
                rows.Add(s.row(reader));
            }

            return (IReadOnlyList<T>)rows;
        }, cancellationToken);

    /// <summary>
    /// Runs a read with retries, on the read data source (a standby with <see cref="PostgresStoreOptions.ReadFromReplicas"/>).
    /// A standby that has not yet replayed the store's tables (just created or migrated on the
    /// primary) passes the read on to the primary.
    /// </summary>
    private ValueTask<T> ReadAsync<TState, T>(string operation, TState state, Func<NpgsqlConnection, TState, CancellationToken, ValueTask<T>> read, CancellationToken cancellationToken)
        => _retry.RunAsync(operation, (backend: this, state, read), static async (s, ct) =>
        {
            var source = s.backend._reader;
            while (true)
            {
                var connection = await OpenAsync(source, s.backend._dataSource is NpgsqlMultiHostDataSource, ct).ConfigureAwait(false);
                await using (connection.ConfigureAwait(false))
                {
                    try
                    {
                        return await s.read(connection, s.state, ct).ConfigureAwait(false);
                    }
                    catch (PostgresException e) when (source != s.backend._writer && e.SqlState is PostgresErrorCodes.UndefinedTable or PostgresErrorCodes.InvalidSchemaName or PostgresErrorCodes.UndefinedColumn)
                    {
                        source = s.backend._writer;
                    }
                }
            }
        }, cancellationToken);
}
