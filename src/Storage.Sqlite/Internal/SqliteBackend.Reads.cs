using Microsoft.Data.Sqlite;
using Storage.Internal;

namespace Storage.Sqlite.Internal;

/// <summary>Reads: points, ranges, streams, change-feed candidates and index queries, on reader connections; and the rows' checksums.</summary>
internal sealed partial class SqliteBackend
{
    /// <summary>
    /// The upper end of a range that has none: SQLite orders INTEGER before TEXT before BLOB, so a BLOB
    /// is above every text (and the empty text above every integer), and an open end needs no statement
    /// of its own.
    /// </summary>
    private static readonly byte[] s_aboveAllText = [0];

    /// <inheritdoc/>
    public ValueTask<StoredDocument?> GetAsync(string partition, string collection, string key, DateTimeOffset now, CancellationToken cancellationToken)
    {
        var nowMs = now.ToUnixTimeMilliseconds();
        return ValueTask.FromResult(Read(session =>
        {
            using var reader = session.Query(Sql.GetDocument, partition, collection, key, nowMs);
            return reader.Read()
                ? RowChecksum.ReadDocument(reader, 0, _path, partition, collection, key)
                : null;
        }));
    }

    /// <inheritdoc/>
    public ValueTask<IReadOnlyList<StoredDocument>> ListDocumentsAsync(string partition, string collection, KeyRange range, bool descending, int limit, DateTimeOffset now, CancellationToken cancellationToken)
    {
        object?[] values = [partition, collection, range.Lower, range.Upper ?? (object)s_aboveAllText, now.ToUnixTimeMilliseconds(), limit];
        return ValueTask.FromResult(Read(session => ReadRows(
            session, descending ? Sql.ListDescending : Sql.ListAscending, values, limit, reader => RowChecksum.ReadDocument(reader, 1, _path, partition, collection, reader.GetString(0)))));
    }

    /// <inheritdoc/>
    public ValueTask<IReadOnlyList<StreamInfo>> ListStreamsAsync(string partition, KeyRange range, bool descending, int limit, CancellationToken cancellationToken)
    {
        object?[] values = [partition, range.Lower, range.Upper ?? (object)s_aboveAllText, limit];
        return ValueTask.FromResult(Read(session => ReadRows(
            session, descending ? Sql.ListStreamsDescending : Sql.ListStreamsAscending, values, limit, reader => new StreamInfo(reader.GetString(0), reader.GetInt64(1)))));
    }

    /// <inheritdoc/>
    public ValueTask<IReadOnlyList<PartitionInfo>> ListPartitionsAsync(string? after, int limit, CancellationToken cancellationToken)
    {
        // Every partition key is non-empty, so all of them sort after "".
        object?[] values = [after ?? string.Empty, limit];
        return ValueTask.FromResult(Read(session => ReadRows(session, Sql.ListPartitions, values, limit, reader => new PartitionInfo(reader.GetString(0), reader.GetInt64(1)))));
    }

    /// <inheritdoc/>
    public ValueTask<long> GetSequenceAsync(string partition, string name, CancellationToken cancellationToken)
        => ValueTask.FromResult(Read(session => session.Scalar(Sql.GetSequence, partition, name) is long value ? value : 0));

    /// <inheritdoc/>
    /// <remarks>Reads the stream's version and its events in one read transaction (one snapshot).</remarks>
    public ValueTask<(long Version, IReadOnlyList<StoredEvent> Events)> ReadStreamAsync(string partition, string stream, StreamRead read, CancellationToken cancellationToken)
        => ValueTask.FromResult(ReadSnapshot(session =>
        {
            var version = session.Scalar(Sql.GetStreamVersion, partition, stream) is long current ? current : 0;
            IReadOnlyList<StoredEvent> events = read.Range(version) is { } range
                ? ReadRows(session, Sql.ReadEvents, [partition, stream, range.First, range.Last], 0, reader => RowChecksum.ReadEvent(reader, 0, _path, partition, stream))
                : [];
            return (version, events);
        }));

    /// <inheritdoc/>
    /// <remarks>One read transaction, as <see cref="SqliteStore"/> documents for <see cref="Store.ReadChangesAsync"/>.</remarks>
    public ValueTask<ChangeCandidates> ReadChangesAsync(string partition, long afterRevision, int limit, int fetch, DateTimeOffset now, CancellationToken cancellationToken)
    {
        var nowMs = now.ToUnixTimeMilliseconds();
        return ValueTask.FromResult(ReadSnapshot(session =>
        {
            long revision, oldestResumable;
            using (var reader = session.Query(Sql.GetPartitionFeedState, partition))
            {
                if (!reader.Read())
                {
                    return new ChangeCandidates(false, 0, 0, []);
                }

                (revision, oldestResumable) = (reader.GetInt64(0), reader.GetInt64(1));
            }

            // The query streams its rows in feed order; once past the limit, the first row of a new
            // revision decides the page (the engine takes whole commits), so the rest is never read.
            var changes = new List<Change>();
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

            return new ChangeCandidates(true, revision, oldestResumable, changes);
        }));
    }

    /// <inheritdoc/>
    /// <remarks>One statement, as <see cref="SqliteStore"/> documents for <see cref="Store.QueryAsync"/>.</remarks>
    /// <exception cref="IndexDeclarationsChangedException">Another instance dropped or changed the index since this one opened.</exception>
    public ValueTask<IReadOnlyList<IndexMatch>> QueryAsync(IndexQueryPlan plan, DateTimeOffset now, CancellationToken cancellationToken)
    {
        if (IndexValueRange.For(plan) is not { } range)
        {
            return ValueTask.FromResult<IReadOnlyList<IndexMatch>>([]);
        }

        // The statement reads after a cursor (value, partition, key) and up to the far bound. A query
        // without one, or with one outside the range (only a forged token has one), starts just
        // outside the near bound: at it, with empty keys (keys are never empty).
        var index = plan.Index;
        var upper = UpperBound(range, index);
        var (value, partition, key) = plan.After is { } c && !(plan.Descending ? range.IsAtOrAbove(c.Value) : range.IsBelow(c.Value))
            ? (IndexValueRange.ToScalar(c.Value), c.Partition, c.Key)
            : (plan.Descending ? upper : range.Lower, string.Empty, string.Empty);
        var id = _indexes.Id(index);
        var limit = plan.Limit + 1;
        object?[] values = plan.Partition is { } p
            ? [index.Collection, p, id, value, CursorKey(p, partition, key), plan.Descending ? range.Lower : upper, now.ToUnixTimeMilliseconds(), limit]
            : [index.Collection, id, value, partition, key, plan.Descending ? range.Lower : upper, now.ToUnixTimeMilliseconds(), limit];
        var statement = plan.Partition is null
            ? plan.Descending ? Sql.QueryDescending : Sql.QueryAscending
            : plan.Descending ? Sql.QueryPartitionDescending : Sql.QueryPartitionAscending;

        return ValueTask.FromResult(Read(session =>
        {
            var matches = ReadRows(session, statement, values, limit, reader => new IndexMatch(
                index.ValueType == IndexValueType.Int64 ? IndexValue.Of(reader.GetInt64(0)) : IndexValue.Of(reader.GetString(0)),
                RowChecksum.ReadDocument(reader, 3, _path, reader.GetString(1), index.Collection, reader.GetString(2))));
            EnsureIndexCurrent(session, id, matches.Count);
            return matches;
        }));
    }

    /// <inheritdoc/>
    /// <remarks>One statement, as <see cref="SqliteStore"/> documents for <see cref="Store.CountAsync"/>.</remarks>
    /// <exception cref="IndexDeclarationsChangedException">Another instance dropped or changed the index since this one opened.</exception>
    public ValueTask<long> CountAsync(IndexQueryPlan plan, DateTimeOffset now, CancellationToken cancellationToken)
    {
        if (IndexValueRange.For(plan) is not { } range)
        {
            return ValueTask.FromResult(0L);
        }

        var id = _indexes.Id(plan.Index);
        var upper = UpperBound(range, plan.Index);
        var nowMs = now.ToUnixTimeMilliseconds();
        return ValueTask.FromResult(Read(session =>
        {
            var count = plan.Partition is { } partition
                ? (long)session.Scalar(Sql.CountInPartition, partition, id, range.Lower, upper, nowMs)!
                : (long)session.Scalar(Sql.Count, id, range.Lower, upper, nowMs)!;
            EnsureIndexCurrent(session, id, count);
            return count;
        }));
    }

    /// <summary>The rows of one statement.</summary>
    private static IReadOnlyList<T> ReadRows<T>(SqliteSession session, Statement statement, object?[] values, int limit, Func<SqliteDataReader, T> row)
    {
        var rows = new List<T>(Math.Min(limit, 64));
        using var reader = session.Query(statement, values);
        while (reader.Read())
        {
            rows.Add(row(reader));
        }

        return rows;
    }

    /// <summary>
    /// After a query or count found nothing: refuses to answer for an index another instance dropped or
    /// changed since this one opened. A query is one statement, so one snapshot: the index's entries are
    /// removed in the transaction that removes its row (and ids are never reused), so a query that found
    /// entries read a current index, and only an empty answer needs this second look.
    /// </summary>
    private static void EnsureIndexCurrent(SqliteSession session, long id, long found)
    {
        if (found == 0 && (long)session.Scalar(Sql.IndexExists, id)! == 0)
        {
            throw new IndexDeclarationsChangedException();
        }
    }

    /// <summary>The range's upper end as SQLite compares it: an open end is the first value of the next storage class.</summary>
    private static object UpperBound(IndexValueRange range, IndexDefinition index)
        => range.Upper ?? (index.ValueType == IndexValueType.Int64 ? string.Empty : s_aboveAllText);

    /// <summary>
    /// The key to compare (value, key) with in one partition, for a cursor that may name another
    /// partition (a valid token never does): the cursor's key in the same partition; below every key
    /// when the cursor's partition sorts before (all of the cursor's value lies after it); above every
    /// key when it sorts after (all of the cursor's value lies before it).
    /// </summary>
    private static object CursorKey(string partition, string cursorPartition, string cursorKey)
    {
        var c = StorageKeyComparer.Instance.Compare(cursorPartition, partition);
        return c == 0 ? cursorKey : c < 0 ? string.Empty : s_aboveAllText;
    }

    /// <summary>One row of <see cref="Sql.ReadChanges"/> as a change, once a document's or event's checksum matches; the columns are listed there.</summary>
    /// <exception cref="CorruptDataException">A document or event row does not match its checksum.</exception>
    private Change ReadChange(SqliteDataReader reader, string partition) => (ChangeKind)reader.GetInt64(0) switch
    {
        ChangeKind.Put => Change.Put(RowChecksum.ReadDocument(reader, 4, _path, partition, reader.GetString(2), reader.GetString(3))),
        ChangeKind.Delete => Change.Delete(reader.GetInt64(5), reader.GetString(2), reader.GetString(3), DateTimeOffset.FromUnixTimeMilliseconds(reader.GetInt64(6))),
        ChangeKind.Append => Change.Append(RowChecksum.ReadEvent(reader, 4, _path, partition, reader.GetString(2))),
        _ => Change.Sequence(reader.GetInt64(5), reader.GetString(2), reader.GetInt64(4)),
    };
}
