using Microsoft.Data.Sqlite;
using Storage.Internal;

namespace Storage.Sqlite.Internal;

/// <summary>Reads: points, ranges, streams, change-feed candidates and index queries, on reader connections; and the rows' checksums.</summary>
internal sealed partial class SqliteBackend
{
    /// <inheritdoc/>
    public ValueTask<StoredDocument?> GetAsync(string partition, string collection, string key, DateTimeOffset now, CancellationToken cancellationToken)
    {
        var nowMs = now.ToUnixTimeMilliseconds();
        return ValueTask.FromResult(Read(session =>
        {
            using var reader = session.Query(Sql.GetDocument, partition, collection, key, nowMs);
            return reader.Read()
                ? ReadDocument(reader, 0, partition, collection, key)
                : null;
        }));
    }

    /// <inheritdoc/>
    public ValueTask<IReadOnlyList<StoredDocument>> ListDocumentsAsync(string partition, string collection, KeyRange range, bool descending, int limit, DateTimeOffset now, CancellationToken cancellationToken)
    {
        var statement = (descending, range.Upper is null) switch
        {
            (false, true) => Sql.ListAscending,
            (false, false) => Sql.ListAscendingBounded,
            (true, true) => Sql.ListDescending,
            (true, false) => Sql.ListDescendingBounded,
        };
        var nowMs = now.ToUnixTimeMilliseconds();
        object?[] values = range.Upper is null
            ? [partition, collection, range.Lower, nowMs, limit]
            : [partition, collection, range.Lower, range.Upper, nowMs, limit];

        return ValueTask.FromResult<IReadOnlyList<StoredDocument>>(Read(session =>
        {
            var documents = new List<StoredDocument>(Math.Min(limit, 64));
            using var reader = session.Query(statement, values);
            while (reader.Read())
            {
                documents.Add(ReadDocument(reader, 1, partition, collection, reader.GetString(0)));
            }

            return documents;
        }));
    }

    /// <inheritdoc/>
    public ValueTask<IReadOnlyList<StreamInfo>> ListStreamsAsync(string partition, KeyRange range, bool descending, int limit, CancellationToken cancellationToken)
    {
        var statement = (descending, range.Upper is null) switch
        {
            (false, true) => Sql.ListStreamsAscending,
            (false, false) => Sql.ListStreamsAscendingBounded,
            (true, true) => Sql.ListStreamsDescending,
            (true, false) => Sql.ListStreamsDescendingBounded,
        };
        object?[] values = range.Upper is null
            ? [partition, range.Lower, limit]
            : [partition, range.Lower, range.Upper, limit];

        return ValueTask.FromResult<IReadOnlyList<StreamInfo>>(Read(session =>
        {
            var streams = new List<StreamInfo>(Math.Min(limit, 64));
            using var reader = session.Query(statement, values);
            while (reader.Read())
            {
                streams.Add(new StreamInfo(reader.GetString(0), reader.GetInt64(1)));
            }

            return streams;
        }));
    }

    /// <inheritdoc/>
    public ValueTask<IReadOnlyList<PartitionInfo>> ListPartitionsAsync(string? after, int limit, CancellationToken cancellationToken)
        => ValueTask.FromResult<IReadOnlyList<PartitionInfo>>(Read(session =>
        {
            var partitions = new List<PartitionInfo>(Math.Min(limit, 64));

            // Every partition key is non-empty, so all of them sort after "".
            using var reader = session.Query(Sql.ListPartitions, after ?? string.Empty, limit);
            while (reader.Read())
            {
                partitions.Add(new PartitionInfo(reader.GetString(0), reader.GetInt64(1)));
            }

            return partitions;
        }));

    /// <inheritdoc/>
    public ValueTask<long> GetSequenceAsync(string partition, string name, CancellationToken cancellationToken)
        => ValueTask.FromResult(Read(session => session.Scalar(Sql.GetSequence, partition, name) is long value ? value : 0));

    /// <inheritdoc/>
    /// <remarks>Reads the stream's version and its events in one read transaction (one snapshot).</remarks>
    public ValueTask<(long Version, IReadOnlyList<StoredEvent> Events)> ReadStreamAsync(string partition, string stream, StreamRead read, CancellationToken cancellationToken)
        => ValueTask.FromResult(ReadSnapshot(session =>
        {
            var version = session.Scalar(Sql.GetStreamVersion, partition, stream) is long current ? current : 0;
            var events = new List<StoredEvent>();
            if (read.Range(version) is { } range)
            {
                using var reader = session.Query(Sql.ReadEvents, partition, stream, range.First, range.Last);
                while (reader.Read())
                {
                    events.Add(ReadEvent(reader, 0, partition, stream));
                }
            }

            return (version, (IReadOnlyList<StoredEvent>)events);
        }));

    /// <inheritdoc/>
    /// <remarks>One read transaction, as <see cref="SqliteStore"/> documents for <see cref="Store.ReadChangesAsync"/>.</remarks>
    public ValueTask<ChangeCandidates> ReadChangesAsync(string partition, long afterRevision, int limit, int fetch, DateTimeOffset now, CancellationToken cancellationToken)
    {
        var nowMs = now.ToUnixTimeMilliseconds();
        return ValueTask.FromResult(ReadSnapshot(session =>
        {
            long revision = 0;
            long oldestResumable = 0;
            bool exists;
            using (var reader = session.Query(Sql.GetPartitionFeedState, partition))
            {
                exists = reader.Read();
                if (exists)
                {
                    revision = reader.GetInt64(0);
                    oldestResumable = reader.GetInt64(1);
                }
            }

            var changes = new List<Change>();
            if (!exists)
            {
                return new ChangeCandidates(exists, revision, oldestResumable, changes);
            }

            // The query streams its rows in feed order; once past the limit, the first row of a new
            // revision decides the page (the engine takes whole commits), so the rest is never read.
            using (var reader = session.Query(Sql.ReadChanges, partition, afterRevision, nowMs, fetch))
            {
                while (reader.Read())
                {
                    changes.Add(ReadChange(reader, partition));
                    if (changes.Count > limit && changes[^1].Revision != changes[^2].Revision)
                    {
                        break;
                    }
                }
            }

            return new ChangeCandidates(exists, revision, oldestResumable, changes);
        }));
    }

    /// <inheritdoc/>
    /// <remarks>One statement, as <see cref="SqliteStore"/> documents for <see cref="Store.QueryAsync"/>.</remarks>
    /// <exception cref="IndexDeclarationsChangedException">Another instance dropped or changed the index since this one opened.</exception>
    public ValueTask<IReadOnlyList<IndexMatch>> QueryAsync(IndexQueryPlan plan, DateTimeOffset now, CancellationToken cancellationToken)
    {
        var range = IndexRange.For(plan);
        var after = plan.After;

        // A cursor outside the range (only a forged token has one) leaves the range as it is.
        if (after is { } cursor && (plan.Descending ? range.IsAtOrAbove(cursor.Value) : range.IsBelow(cursor.Value)))
        {
            after = null;
        }

        if (range.IsEmpty)
        {
            return ValueTask.FromResult<IReadOnlyList<IndexMatch>>([]);
        }

        var index = plan.Index;
        var id = _indexes.Id(index);
        var nowMs = now.ToUnixTimeMilliseconds();
        var limit = plan.Limit + 1;
        var (statement, values) = (plan.Partition, after) switch
        {
            (null, null) => (plan.Descending ? Sql.QueryDescending : Sql.QueryAscending, new object?[] { index.Collection, id, range.Lower, range.Upper, nowMs, limit }),
            (null, { } c) => plan.Descending
                ? (Sql.QueryDescendingAfter, [index.Collection, id, range.Lower, SqliteIndexes.Bind(c.Value), c.Partition, c.Key, nowMs, limit])
                : (Sql.QueryAscendingAfter, [index.Collection, id, SqliteIndexes.Bind(c.Value), c.Partition, c.Key, range.Upper, nowMs, limit]),
            ({ } p, null) => (plan.Descending ? Sql.QueryPartitionDescending : Sql.QueryPartitionAscending, [index.Collection, p, id, range.Lower, range.Upper, nowMs, limit]),
            ({ } p, { } c) => plan.Descending
                ? (Sql.QueryPartitionDescendingAfter, [index.Collection, p, id, range.Lower, SqliteIndexes.Bind(c.Value), IndexRange.CursorKey(p, c.Partition, c.Key), nowMs, limit])
                : (Sql.QueryPartitionAscendingAfter, [index.Collection, p, id, SqliteIndexes.Bind(c.Value), IndexRange.CursorKey(p, c.Partition, c.Key), range.Upper, nowMs, limit]),
        };

        return ValueTask.FromResult<IReadOnlyList<IndexMatch>>(Read(session =>
        {
            var matches = new List<IndexMatch>(Math.Min(limit, 64));
            using var reader = session.Query(statement, values);
            while (reader.Read())
            {
                var value = index.ValueType == IndexValueType.Int64 ? IndexValue.Of(reader.GetInt64(0)) : IndexValue.Of(reader.GetString(0));
                matches.Add(new IndexMatch(value, ReadDocument(reader, 3, reader.GetString(1), index.Collection, reader.GetString(2))));
            }

            if (matches.Count == 0)
            {
                EnsureIndexCurrent(session, id);
            }

            return matches;
        }));
    }

    /// <inheritdoc/>
    /// <remarks>One statement, as <see cref="SqliteStore"/> documents for <see cref="Store.CountAsync"/>.</remarks>
    /// <exception cref="IndexDeclarationsChangedException">Another instance dropped or changed the index since this one opened.</exception>
    public ValueTask<long> CountAsync(IndexQueryPlan plan, DateTimeOffset now, CancellationToken cancellationToken)
    {
        var range = IndexRange.For(plan);
        if (range.IsEmpty)
        {
            return ValueTask.FromResult(0L);
        }

        var id = _indexes.Id(plan.Index);
        var nowMs = now.ToUnixTimeMilliseconds();
        return ValueTask.FromResult(Read(session =>
        {
            var count = plan.Partition is { } partition
                ? (long)session.Scalar(Sql.CountInPartition, partition, id, range.Lower, range.Upper, nowMs)!
                : (long)session.Scalar(Sql.Count, id, range.Lower, range.Upper, nowMs)!;
            if (count == 0)
            {
                EnsureIndexCurrent(session, id);
            }

            return count;
        }));
    }

    private static DateTimeOffset FromMs(long ms) => DateTimeOffset.FromUnixTimeMilliseconds(ms);

    /// <summary>
    /// A document from six columns of a row, from <paramref name="first"/> on: value, version,
    /// created_at, updated_at, expires_at, checksum (the order of every document read; times in Unix
    /// milliseconds), once its checksum matches.
    /// </summary>
    /// <exception cref="CorruptDataException">The row does not match its checksum.</exception>
    private StoredDocument ReadDocument(SqliteDataReader reader, int first, string partition, string collection, string key)
    {
        var value = reader.GetFieldValue<byte[]>(first);
        var version = reader.GetInt64(first + 1);
        var createdAt = reader.GetInt64(first + 2);
        var updatedAt = reader.GetInt64(first + 3);
        long? expiresAt = reader.IsDBNull(first + 4) ? null : reader.GetInt64(first + 4);
        RowChecksum.VerifyDocument(_path, reader.GetInt64(first + 5), partition, collection, key, version, createdAt, updatedAt, expiresAt, value);
        return new(partition, collection, key, value, version, FromMs(createdAt), FromMs(updatedAt), expiresAt is { } e ? FromMs(e) : null);
    }

    /// <summary>
    /// An event from eight columns of a row, from <paramref name="first"/> on: version, revision,
    /// event_id, type, data, metadata, committed_at, checksum, once its checksum matches.
    /// </summary>
    /// <exception cref="CorruptDataException">The row does not match its checksum, or its id is not a GUID.</exception>
    private StoredEvent ReadEvent(SqliteDataReader reader, int first, string partition, string stream)
    {
        var version = reader.GetInt64(first);
        var revision = reader.GetInt64(first + 1);
        var eventId = reader.GetString(first + 2);
        var type = reader.GetString(first + 3);
        var data = reader.GetFieldValue<byte[]>(first + 4);
        var metadata = reader.IsDBNull(first + 5) ? null : reader.GetFieldValue<byte[]>(first + 5);
        var committedAt = reader.GetInt64(first + 6);
        return VerifiedEvent(reader.GetInt64(first + 7), partition, stream, version, revision, eventId, type, committedAt, data, metadata);
    }

    /// <summary>An event row's columns as a <see cref="StoredEvent"/>, once they match the row's checksum.</summary>
    /// <exception cref="CorruptDataException">The row does not match its checksum, or its id is not a GUID.</exception>
    private StoredEvent VerifiedEvent(long checksum, string partition, string stream, long version, long revision, string eventId, string type, long committedAt, byte[] data, byte[]? metadata)
    {
        RowChecksum.VerifyEvent(_path, checksum, partition, stream, version, revision, eventId, type, committedAt, data, metadata, metadata is not null);
        return new StoredEvent(
            partition,
            stream,
            version,
            revision,
            WriteContext.ParseEventId(eventId, _path, stream),
            type,
            data,
            metadata ?? ReadOnlyMemory<byte>.Empty,
            FromMs(committedAt));
    }

    /// <summary>One row of <see cref="Sql.ReadChanges"/> as a change, once a document's or event's checksum matches; the columns are listed there.</summary>
    /// <exception cref="CorruptDataException">A document or event row does not match its checksum.</exception>
    private Change ReadChange(SqliteDataReader reader, string partition)
    {
        var revision = reader.GetInt64(1);
        switch ((ChangeKind)reader.GetInt64(0))
        {
            case ChangeKind.Put:
            {
                var collection = reader.GetString(3);
                var key = reader.GetString(4);
                var value = reader.GetFieldValue<byte[]>(8);
                var createdAt = reader.GetInt64(9);
                var updatedAt = reader.GetInt64(10);
                long? expiresAt = reader.IsDBNull(11) ? null : reader.GetInt64(11);
                RowChecksum.VerifyDocument(_path, reader.GetInt64(16), partition, collection, key, revision, createdAt, updatedAt, expiresAt, value);
                return Change.Put(new StoredDocument(partition, collection, key, value, revision, FromMs(createdAt), FromMs(updatedAt), expiresAt is { } e ? FromMs(e) : null));
            }

            case ChangeKind.Delete:
                return Change.Delete(revision, reader.GetString(3), reader.GetString(4));
            case ChangeKind.Append:
            {
                var stream = reader.GetString(5);
                var version = reader.GetInt64(6);
                var eventId = reader.GetString(12);
                var type = reader.GetString(13);
                var data = reader.GetFieldValue<byte[]>(8);
                var metadata = reader.IsDBNull(14) ? null : reader.GetFieldValue<byte[]>(14);
                var committedAt = reader.GetInt64(9);
                return Change.Append(VerifiedEvent(reader.GetInt64(16), partition, stream, version, revision, eventId, type, committedAt, data, metadata));
            }

            default:
                return Change.Sequence(revision, reader.GetString(7), reader.GetInt64(15));
        }
    }
}
