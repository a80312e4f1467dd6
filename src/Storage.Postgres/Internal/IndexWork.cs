using Npgsql;
using Storage.Internal;
using static Storage.Postgres.Internal.Commands;

namespace Storage.Postgres.Internal;

/// <summary>
/// The index side of one group commit. With the partition's lock, it reads who holds each unique
/// value the group's puts want (anywhere in the store for store-wide indexes, in the partition for
/// per-partition ones); each batch's uniqueness is then checked in memory, against those holders and
/// the values the group's earlier batches took or gave up, exactly as the reference model does; and
/// the group's net change becomes entry deletes and inserts in the commit's round trip. A holder in
/// another partition may change after the read: the database's unique index decides then (the insert
/// fails with unique_violation and the group is tried again, reading the new holder).
/// </summary>
internal sealed class IndexWork
{
    private readonly StoreIndexes _indexes;
    private readonly string _partition;
    private readonly DateTimeOffset _now;
    private readonly HashSet<IndexedValue> _wantedInStore = [];
    private readonly HashSet<IndexedValue> _wantedInPartition = [];
    private readonly Dictionary<IndexedValue, ValueHolder> _stored = [];
    private readonly List<EntrySql> _holderReads = [];

    /// <param name="indexes">The store's indexes.</param>
    /// <param name="partition">The group's partition.</param>
    /// <param name="now">The store's clock for the group.</param>
    /// <param name="writes">The group's writes (batches with their extracted values, and increments).</param>
    public IndexWork(StoreIndexes indexes, string partition, DateTimeOffset now, IEnumerable<PendingWrite> writes)
    {
        _indexes = indexes;
        _partition = partition;
        _now = now;
        foreach (var write in writes)
        {
            foreach (var entries in write.Entries ?? [])
            {
                if (entries is null)
                {
                    continue;
                }

                for (var j = 0; j < entries.Indexes.Count; j++)
                {
                    var index = entries.Indexes[j];
                    if (!index.Unique)
                    {
                        continue;
                    }

                    var wanted = index.Scope == IndexScope.Global ? _wantedInStore : _wantedInPartition;
                    foreach (var value in entries.Values[j])
                    {
                        wanted.Add(new IndexedValue(indexes.Id(index), value));
                    }
                }
            }
        }
    }

    /// <summary>Adds the reads of the holders of the wanted unique values (one statement per value type that has any).</summary>
    public void AddReads(NpgsqlBatch batch, IndexSql sql)
    {
        foreach (var type in (ReadOnlySpan<IndexValueType>)[IndexValueType.String, IndexValueType.Int64])
        {
            var inStore = _wantedInStore.Where(v => v.Value.Type == type).ToList();
            var inPartition = _wantedInPartition.Where(v => v.Value.Type == type).ToList();
            if (inStore.Count + inPartition.Count == 0)
            {
                continue;
            }

            var entries = sql.For(type);
            _holderReads.Add(entries);
            batch.BatchCommands.Add(BatchCommand(
                entries.ReadHolders,
                P(_partition),
                P(inStore.ConvertAll(v => v.IndexId).ToArray()),
                Values(type, inStore),
                P(inPartition.ConvertAll(v => v.IndexId).ToArray()),
                Values(type, inPartition)));
        }
    }

    /// <summary>Reads the results of <see cref="AddReads"/>; the reader is on the result before them.</summary>
    public async ValueTask ReadAsync(NpgsqlDataReader reader)
    {
        foreach (var entries in _holderReads)
        {
            await reader.NextResultAsync().ConfigureAwait(false);
            var strings = entries.Table == Schema.StringEntries;
            while (await reader.ReadAsync().ConfigureAwait(false))
            {
                var value = strings ? IndexValue.Of(reader.GetString(1)) : IndexValue.Of(reader.GetInt64(1));
                _stored[new IndexedValue(reader.GetInt32(0), value)] = new ValueHolder(
                    reader.GetString(2),
                    reader.GetString(3),
                    reader.IsDBNull(4) ? null : reader.GetFieldValue<DateTimeOffset>(4));
            }
        }
    }

    /// <summary>The stored holder of a unique value, as read with the partition's lock (for the engine's <see cref="UniqueValues"/>).</summary>
    /// <param name="index">The unique index.</param>
    /// <param name="value">The value.</param>
    /// <returns>Its holder, if any.</returns>
    public IEnumerable<ValueHolder> StoredHolders(IndexDefinition index, IndexValue value)
        => _stored.TryGetValue(new IndexedValue(_indexes.Id(index), value), out var holder) ? [holder] : [];

    /// <summary>
    /// Adds the entry writes of the group's net change: for each document it wrote, the entries of its
    /// stored state go and those of its new state come (only the difference when both are live with the
    /// same expiry); an expired holder of a unique value a new entry takes loses its entry; then the inserts.
    /// </summary>
    /// <param name="batch">The commit's round trip.</param>
    /// <param name="sql">The index statements.</param>
    /// <param name="changed">Every document the group wrote: its stored row (with its value) and its new row.</param>
    public void AddWrites(NpgsqlBatch batch, IndexSql sql, IEnumerable<(DocumentId Id, DocumentRow? Original, DocumentRow? Current)> changed)
    {
        var deletes = new List<Entry>();
        var inserts = new List<Entry>();
        foreach (var (id, original, current) in changed)
        {
            var indexes = _indexes.Catalog.For(id.Collection);
            if (indexes.Count == 0)
            {
                continue;
            }

            var liveNew = current is not null && !Timestamps.IsExpired(current.ExpiresAt, _now);
            var incremental = liveNew && original is not null && !Timestamps.IsExpired(original.ExpiresAt, _now) && original.ExpiresAt == current!.ExpiresAt;
            var stored = original is null ? null : StoreIndexes.ValuesOf(indexes, original.Value);
            for (var j = 0; j < indexes.Count; j++)
            {
                var index = indexes[j];
                var indexId = _indexes.Id(index);
                var before = stored is null ? [] : stored[j];
                var after = liveNew ? current!.Entries!.Values[j] : [];
                var keep = incremental && before.Count > 0 && after.Count > 0 ? before.Intersect(after).ToHashSet() : null;
                foreach (var value in before)
                {
                    if (keep is null || !keep.Contains(value))
                    {
                        deletes.Add(new Entry(new IndexedValue(indexId, value), _partition, id.Key, null, 0, Takeover: false));
                    }
                }

                foreach (var value in after)
                {
                    if (keep is null || !keep.Contains(value))
                    {
                        inserts.Add(new Entry(new IndexedValue(indexId, value), _partition, id.Key, current!.ExpiresAt, StoreIndexes.UniqueScope(index), Takeover: false));
                    }
                }
            }
        }

        var deleted = deletes.Select(d => (d.Value, d.Partition, d.Key)).ToHashSet();
        foreach (var insert in inserts)
        {
            // The check found this holder expired (a live one would have failed the batch); the guard in the
            // statement keeps its entry if a writer of its partition replaced it since.
            if (insert.Scope != Schema.NotUnique
                && _stored.TryGetValue(insert.Value, out var holder)
                && !(string.Equals(holder.Partition, _partition, StringComparison.Ordinal) && string.Equals(holder.Key, insert.Key, StringComparison.Ordinal))
                && deleted.Add((insert.Value, holder.Partition, holder.Key)))
            {
                deletes.Add(new Entry(insert.Value, holder.Partition, holder.Key, null, 0, Takeover: true));
            }
        }

        deletes.Sort(static (x, y) =>
        {
            var c = x.Value.CompareTo(y.Value);
            c = c != 0 ? c : StorageKeyComparer.Instance.Compare(x.Partition, y.Partition);
            return c != 0 ? c : StorageKeyComparer.Instance.Compare(x.Key, y.Key);
        });
        inserts.Sort(static (x, y) =>
        {
            var c = x.Value.CompareTo(y.Value);
            return c != 0 ? c : StorageKeyComparer.Instance.Compare(x.Key, y.Key);
        });
        foreach (var type in (ReadOnlySpan<IndexValueType>)[IndexValueType.String, IndexValueType.Int64])
        {
            var rows = deletes.FindAll(d => d.Value.Value.Type == type);
            if (rows.Count > 0)
            {
                batch.BatchCommands.Add(BatchCommand(
                    sql.For(type).DeleteEntries,
                    P(rows.ConvertAll(r => r.Value.IndexId).ToArray()),
                    Values(type, rows.ConvertAll(r => r.Value)),
                    P(rows.ConvertAll(r => r.Partition).ToArray()),
                    P(rows.ConvertAll(r => r.Key).ToArray()),
                    P(rows.ConvertAll(r => r.Takeover).ToArray()),
                    P(_now)));
            }
        }

        foreach (var type in (ReadOnlySpan<IndexValueType>)[IndexValueType.String, IndexValueType.Int64])
        {
            var rows = inserts.FindAll(d => d.Value.Value.Type == type);
            if (rows.Count > 0)
            {
                batch.BatchCommands.Add(BatchCommand(
                    sql.For(type).InsertEntries,
                    P(_partition),
                    P(rows.ConvertAll(r => r.Value.IndexId).ToArray()),
                    Values(type, rows.ConvertAll(r => r.Value)),
                    P(rows.ConvertAll(r => r.Key).ToArray()),
                    P(rows.ConvertAll(r => r.ExpiresAt).ToArray()),
                    P(rows.ConvertAll(r => r.Scope).ToArray())));
            }
        }
    }

    /// <summary>An array parameter of index values of one type: text[] or bigint[].</summary>
    public static NpgsqlParameter Values(IndexValueType type, List<IndexedValue> values)
        => type == IndexValueType.String ? P(values.ConvertAll(v => v.Value.AsString).ToArray()) : P(values.ConvertAll(v => v.Value.AsInt64).ToArray());

    /// <summary>An entry to delete or insert.</summary>
    private readonly record struct Entry(IndexedValue Value, string Partition, string Key, DateTimeOffset? ExpiresAt, short Scope, bool Takeover);
}
