using Npgsql;
using Storage.Internal;
using static Storage.Postgres.Internal.Commands;

namespace Storage.Postgres.Internal;

/// <summary>
/// The index side of one write transaction (a group commit, or a chunk of a bulk import). With the
/// partitions' locks, it reads who holds each unique value the writes want (anywhere in the store for
/// store-wide indexes, in the value's partition for per-partition ones); the engine's
/// <see cref="UniqueValues"/> decides each batch against those holders; and the net change of each
/// partition becomes entry deletes and inserts in the commit's round trip. A holder in another
/// partition may change after the read: the database's unique index decides then (the insert fails
/// with unique_violation and the transaction is tried again, reading the new holder).
/// </summary>
/// <param name="indexes">The store's indexes.</param>
/// <param name="now">The store's clock for the transaction.</param>
internal sealed class IndexWork(StoreIndexes indexes, DateTimeOffset now)
{
    // Holders of store-wide values under a null partition, of per-partition values under their partition.
    private readonly Dictionary<(IndexedValue Value, string? Partition), ValueHolder> _stored = [];
    private readonly Dictionary<IndexedValue, ValueHolder> _claimed = [];
    private readonly List<EntrySql> _holderReads = [];
    private readonly List<Entry> _deletes = [];
    private readonly List<Entry> _inserts = [];

    /// <summary>
    /// Adds the reads of the holders of the unique values <paramref name="writes"/> want (one statement
    /// per value type that has any); per-partition values only in partitions that may hold entries.
    /// </summary>
    /// <returns>Whether it added any.</returns>
    public bool AddReads(NpgsqlBatch batch, IndexSql sql, IEnumerable<PendingWrite> writes, Func<string, bool> mayHold)
    {
        var wanted = new HashSet<(IndexedValue Value, string? Partition)>();
        foreach (var write in writes)
        {
            foreach (var claim in IndexEntries.UniqueClaims(write.Entries ?? []))
            {
                var global = claim.Index.Scope == IndexScope.Global;
                if (global || mayHold(write.Partition))
                {
                    wanted.Add((new IndexedValue(indexes.Id(claim.Index), claim.Value), global ? null : write.Partition));
                }
            }
        }

        foreach (var type in (ReadOnlySpan<IndexValueType>)[IndexValueType.String, IndexValueType.Int64])
        {
            var inStore = wanted.Where(v => v.Value.Value.Type == type && v.Partition is null).Select(v => v.Value).ToList();
            var inPartition = wanted.Where(v => v.Value.Value.Type == type && v.Partition is not null).ToList();
            if (inStore.Count + inPartition.Count == 0)
            {
                continue;
            }

            var entries = sql.For(type);
            _holderReads.Add(entries);
            batch.BatchCommands.Add(BatchCommand(
                entries.ReadHolders,
                P(inStore.ConvertAll(v => v.IndexId).ToArray()),
                Values(type, inStore),
                P(inPartition.ConvertAll(v => v.Value.IndexId).ToArray()),
                Values(type, inPartition.ConvertAll(v => v.Value)),
                P(inPartition.ConvertAll(v => v.Partition!).ToArray())));
        }

        return _holderReads.Count > 0;
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
                var value = new IndexedValue(reader.GetInt32(0), strings ? IndexValue.Of(reader.GetString(1)) : IndexValue.Of(reader.GetInt64(1)));
                var holder = new ValueHolder(reader.GetString(2), reader.GetString(3), reader.IsDBNull(4) ? null : reader.GetFieldValue<DateTimeOffset>(4));
                var global = indexes.Catalog.All.First(i => indexes.Id(i) == value.IndexId).Scope == IndexScope.Global;
                _stored[(value, global ? null : holder.Partition)] = holder;
            }
        }
    }

    /// <summary>
    /// The holders of a unique value as <paramref name="partition"/>'s <see cref="UniqueValues"/> sees
    /// them: the stored one read with the locks, and for a store-wide value the document of an earlier
    /// partition of the transaction that took it (<see cref="Claim"/>).
    /// </summary>
    /// <param name="partition">The partition written.</param>
    /// <returns>The holders of a value.</returns>
    public Func<IndexDefinition, IndexValue, IEnumerable<ValueHolder>> HoldersFor(string partition) => (index, value) =>
    {
        var id = new IndexedValue(indexes.Id(index), value);
        var global = index.Scope == IndexScope.Global;
        var stored = _stored.GetValueOrDefault((id, global ? null : partition));
        var claimed = global ? _claimed.GetValueOrDefault(id) : null;
        return claimed is null ? stored is null ? [] : [stored] : stored is null ? [claimed] : [stored, claimed];
    };

    /// <summary>Records the store-wide unique values a partition's change took, for the partitions after it in the transaction.</summary>
    /// <param name="change">The partition's writer.</param>
    public void Claim(PartitionWriter change)
    {
        foreach (var (id, row) in change.Upserts())
        {
            if (row.Entries is not { } entries || Timestamps.IsExpired(row.ExpiresAt, now))
            {
                continue;
            }

            for (var j = 0; j < entries.Indexes.Count; j++)
            {
                if (entries.Indexes[j] is { Unique: true, Scope: IndexScope.Global } index)
                {
                    foreach (var value in entries.Values[j])
                    {
                        _claimed[new IndexedValue(indexes.Id(index), value)] = new ValueHolder(change.Partition, id.Key, row.ExpiresAt);
                    }
                }
            }
        }
    }

    /// <summary>Records the store-wide unique values a restored state's live documents take, for the partitions after it in the transaction.</summary>
    /// <param name="state">The restored state.</param>
    /// <param name="entries">The index values of its documents, by position.</param>
    public void ClaimRestore(PartitionExport state, IReadOnlyList<IndexEntries?> entries)
    {
        for (var i = 0; i < state.Documents.Count; i++)
        {
            var document = state.Documents[i];
            if (entries[i] is not { } values || Timestamps.IsExpired(document.ExpiresAt, now))
            {
                continue;
            }

            for (var j = 0; j < values.Indexes.Count; j++)
            {
                if (values.Indexes[j] is { Unique: true, Scope: IndexScope.Global } index)
                {
                    foreach (var value in values.Values[j])
                    {
                        _claimed[new IndexedValue(indexes.Id(index), value)] = new ValueHolder(state.Partition, document.Key, document.ExpiresAt);
                    }
                }
            }
        }
    }

    /// <summary>
    /// Collects the entry writes of a partition's net change, as the engine's <see cref="IndexEntryChanges"/>
    /// decides them from the values of each written document's stored row (an entry stays only when its
    /// document was live with the same expiry — this backend moves no expiry — and no other document of
    /// the change carries its unique value); an expired put holds no entry, and an expired holder of a
    /// unique value a new entry takes loses its entry.
    /// </summary>
    /// <param name="change">The partition's writer.</param>
    public void Collect(PartitionWriter change)
    {
        var partition = change.Partition;
        var inserts = _inserts.Count;
        var changes = IndexEntryChanges.Of(change, indexes.Catalog, (id, row) => StoreIndexes.EntriesOf(indexes.Catalog.For(id.Collection), row.Value), movesExpiry: false);
        _deletes.AddRange(changes.Deletes.Select(e => ToEntry(e, partition)));
        _inserts.AddRange(changes.Inserts.Where(e => !Timestamps.IsExpired(e.ExpiresAt, now)).Select(e => ToEntry(e, partition)));
        for (var i = inserts; i < _inserts.Count; i++)
        {
            // The check found this holder expired (a live one would have failed the batch); the guard in the
            // statement keeps its entry if a writer of its partition replaced it since.
            var insert = _inserts[i];
            if (insert.Scope != Schema.NotUnique
                && _stored.TryGetValue((insert.Value, insert.Scope == Schema.UniqueInStore ? null : partition), out var holder)
                && !(string.Equals(holder.Partition, partition, StringComparison.Ordinal) && string.Equals(holder.Key, insert.Key, StringComparison.Ordinal))
                && !_deletes.Exists(d => d.Value == insert.Value && d.Partition == holder.Partition && d.Key == holder.Key))
            {
                _deletes.Add(new Entry(insert.Value, holder.Partition, holder.Key, null, 0, Takeover: true));
            }
        }
    }

    /// <summary>
    /// Collects the entries of a restored state (the partition's stored entries go first, all of them):
    /// the values of its live documents, as a put writes them (an expired document holds none), and the
    /// takeover of an expired holder in another partition of a store-wide unique value one of them takes
    /// (the check found it expired; a live one would have failed the restore).
    /// </summary>
    /// <param name="state">The restored state.</param>
    /// <param name="entries">The index values of its documents, by position.</param>
    public void CollectRestore(PartitionExport state, IReadOnlyList<IndexEntries?> entries)
    {
        var partition = state.Partition;
        for (var i = 0; i < state.Documents.Count; i++)
        {
            var document = state.Documents[i];
            if (entries[i] is not { } values || Timestamps.IsExpired(document.ExpiresAt, now))
            {
                continue;
            }

            for (var j = 0; j < values.Indexes.Count; j++)
            {
                var scope = StoreIndexes.UniqueScope(values.Indexes[j]);
                foreach (var value in values.Values[j])
                {
                    var insert = new Entry(new IndexedValue(indexes.Id(values.Indexes[j]), value), partition, document.Key, document.ExpiresAt, scope, Takeover: false);
                    _inserts.Add(insert);
                    if (scope == Schema.UniqueInStore
                        && _stored.TryGetValue((insert.Value, null), out var holder)
                        && !string.Equals(holder.Partition, partition, StringComparison.Ordinal))
                    {
                        _deletes.Add(new Entry(insert.Value, holder.Partition, holder.Key, null, 0, Takeover: true));
                    }
                }
            }
        }
    }

    /// <summary>Adds the collected entry deletes, then the inserts, each in (index, value, partition, key) order: the order every writer takes them in.</summary>
    /// <param name="batch">The commit's round trip.</param>
    /// <param name="sql">The index statements.</param>
    public void AddWrites(NpgsqlBatch batch, IndexSql sql)
    {
        _deletes.Sort(static (x, y) => x.CompareTo(y));
        _inserts.Sort(static (x, y) => x.CompareTo(y));
        foreach (var (entries, insert) in (ReadOnlySpan<(List<Entry>, bool)>)[(_deletes, false), (_inserts, true)])
        {
            foreach (var type in (ReadOnlySpan<IndexValueType>)[IndexValueType.String, IndexValueType.Int64])
            {
                var rows = entries.FindAll(d => d.Value.Value.Type == type);
                if (rows.Count == 0)
                {
                    continue;
                }

                NpgsqlParameter[] key = [P(rows.ConvertAll(r => r.Value.IndexId).ToArray()), Values(type, rows.ConvertAll(r => r.Value)), P(rows.ConvertAll(r => r.Partition).ToArray()), P(rows.ConvertAll(r => r.Key).ToArray())];
                batch.BatchCommands.Add(insert
                    ? BatchCommand(sql.For(type).InsertEntries, [.. key, P(rows.ConvertAll(r => r.ExpiresAt).ToArray()), P(rows.ConvertAll(r => r.Scope).ToArray())])
                    : BatchCommand(sql.For(type).DeleteEntries, [.. key, P(rows.ConvertAll(r => r.Takeover).ToArray()), P(now)]));
            }
        }
    }

    private Entry ToEntry(IndexEntry entry, string partition)
        => new(new IndexedValue(indexes.Id(entry.Index), entry.Value), partition, entry.Document.Key, entry.ExpiresAt, StoreIndexes.UniqueScope(entry.Index), Takeover: false);

    /// <summary>An array parameter of index values of one type: text[] or bigint[].</summary>
    private static NpgsqlParameter Values(IndexValueType type, List<IndexedValue> values)
        => type == IndexValueType.String ? P(values.ConvertAll(v => v.Value.AsString).ToArray()) : P(values.ConvertAll(v => v.Value.AsInt64).ToArray());

    /// <summary>An entry to delete or insert.</summary>
    private readonly record struct Entry(IndexedValue Value, string Partition, string Key, DateTimeOffset? ExpiresAt, short Scope, bool Takeover)
    {
        public int CompareTo(Entry other)
        {
            var c = Value.CompareTo(other.Value);
            c = c != 0 ? c : StorageKeyComparer.Instance.Compare(Partition, other.Partition);
            return c != 0 ? c : StorageKeyComparer.Instance.Compare(Key, other.Key);
        }
    }
}
