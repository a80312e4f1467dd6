using Npgsql;
using NpgsqlTypes;
using Storage.Internal;
using static Storage.Postgres.Internal.Commands;

namespace Storage.Postgres.Internal;

/// <summary>One checked partition of a bulk import, with its puts' index values (<see cref="IndexCatalog.ExtractAll"/>).</summary>
internal sealed record ImportItem(ImportedPartition Partition, IReadOnlyList<IndexEntries?> Entries);

/// <summary>
/// What one attempt at a chunk came to: committed whole (<see cref="FailedAt"/> is null), or refused
/// because the partition at <see cref="FailedAt"/> (its position in the chunk) fails — the first one
/// in input order; then nothing of the chunk was written.
/// </summary>
internal sealed record ImportOutcome(int? FailedAt, Exception? Error)
{
    public static ImportOutcome Committed { get; } = new(null, null);
}

/// <summary>
/// One chunk of a bulk import in one transaction (<see cref="WriteTransactions.TryImportAsync"/>),
/// set-based: the chunk's partition rows locked in code-point order, the stored rows of the keys of
/// partitions that existed and the holders of the unique values wanted, then in memory the checks of
/// every partition in input order exactly as a must-not-exist batch would be checked, and, when every
/// partition passes, the documents by binary COPY, the revisions, tombstones, index entries and one
/// commit-log row per partition in one round trip with the COMMIT.
/// </summary>
internal sealed class ImportWork
{
    private readonly Sql _sql;
    private readonly StoreIndexes _indexes;
    private readonly IReadOnlyList<ImportItem> _items;
    private readonly DateTimeOffset _now;
    private readonly long[] _stored;
    private readonly long[] _revisions;
    private readonly Dictionary<(int Item, int Op), DocumentRow> _existing = [];
    private readonly Dictionary<IndexedValue, ValueHolder> _storeHolders = [];
    private readonly Dictionary<(IndexedValue Value, string Partition), ValueHolder> _partitionHolders = [];
    private readonly List<EntrySql> _holderReads = [];
    private bool _readStates;

    public ImportWork(Sql sql, StoreIndexes indexes, IReadOnlyList<ImportItem> items, DateTimeOffset now)
    {
        _sql = sql;
        _indexes = indexes;
        _items = items;
        _now = now;
        _stored = new long[items.Count];
        _revisions = new long[items.Count];
        PartitionKeys = new string[items.Count];
        for (var n = 0; n < items.Count; n++)
        {
            PartitionKeys[n] = items[n].Partition.Partition;
        }
    }

    /// <summary>The chunk's partition keys, in input order.</summary>
    public string[] PartitionKeys { get; }

    /// <summary>Takes each partition's next revision: after its own, or after the floor for a partition that does not exist.</summary>
    /// <param name="stored">The revisions of the locked partition rows (0 for a placeholder).</param>
    /// <param name="floor">The store's revision floor.</param>
    public void SetRevisions(IReadOnlyDictionary<string, long> stored, long floor)
    {
        for (var n = 0; n < _items.Count; n++)
        {
            _stored[n] = stored.GetValueOrDefault(PartitionKeys[n]);
            _revisions[n] = (_stored[n] > 0 ? _stored[n] : Math.Max(0, floor)) + 1;
        }
    }

    /// <summary>
    /// Adds the reads the checks need: the stored rows (expired or not) of the imported keys in
    /// partitions that existed (a partition without a row holds no document and no entry), and the
    /// holders of the unique values the chunk wants.
    /// </summary>
    /// <returns>Whether there is anything to read.</returns>
    public bool AddReads(NpgsqlBatch batch)
    {
        var partitions = new List<string>();
        var collections = new List<string>();
        var keys = new List<string>();
        var items = new List<int>();
        var ops = new List<int>();
        var indexed = new List<bool>();
        for (var n = 0; n < _items.Count; n++)
        {
            if (_stored[n] == 0)
            {
                continue;
            }

            var puts = _items[n].Partition.Puts;
            for (var op = 0; op < puts.Count; op++)
            {
                partitions.Add(PartitionKeys[n]);
                collections.Add(puts[op].Collection);
                keys.Add(puts[op].Key);
                items.Add(n);
                ops.Add(op);
                indexed.Add(_indexes.Catalog.For(puts[op].Collection).Count > 0);
            }
        }

        if (keys.Count > 0)
        {
            _readStates = true;
            batch.BatchCommands.Add(BatchCommand(_sql.ReadImportStates, P(partitions.ToArray()), P(collections.ToArray()), P(keys.ToArray()), P(items.ToArray()), P(ops.ToArray()), P(indexed.ToArray())));
        }

        var inStore = new HashSet<IndexedValue>();
        var inPartition = new HashSet<(IndexedValue Value, string Partition)>();
        for (var n = 0; n < _items.Count; n++)
        {
            foreach (var claim in IndexEntries.UniqueClaims(_items[n].Entries))
            {
                var value = new IndexedValue(_indexes.Id(claim.Index), claim.Value);
                if (claim.Index.Scope == IndexScope.Global)
                {
                    inStore.Add(value);
                }
                else if (_stored[n] > 0)
                {
                    inPartition.Add((value, PartitionKeys[n]));
                }
            }
        }

        foreach (var type in (ReadOnlySpan<IndexValueType>)[IndexValueType.String, IndexValueType.Int64])
        {
            var store = inStore.Where(v => v.Value.Type == type).ToList();
            var partition = inPartition.Where(v => v.Value.Value.Type == type).ToList();
            if (store.Count + partition.Count == 0)
            {
                continue;
            }

            var entries = _sql.Indexes.For(type);
            _holderReads.Add(entries);
            batch.BatchCommands.Add(BatchCommand(
                entries.ReadHoldersIn,
                P(store.ConvertAll(v => v.IndexId).ToArray()),
                IndexWork.Values(type, store),
                P(partition.ConvertAll(v => v.Value.IndexId).ToArray()),
                IndexWork.Values(type, partition.ConvertAll(v => v.Value)),
                P(partition.ConvertAll(v => v.Partition).ToArray())));
        }

        return _readStates || _holderReads.Count > 0;
    }

    /// <summary>Reads the results of <see cref="AddReads"/>; the reader is on the first of them.</summary>
    public async ValueTask ReadAsync(NpgsqlDataReader reader)
    {
        var first = true;
        if (_readStates)
        {
            first = false;
            while (await reader.ReadAsync().ConfigureAwait(false))
            {
                _existing[(reader.GetInt32(0), reader.GetInt32(1))] = new DocumentRow(
                    reader.GetInt64(2),
                    reader.GetFieldValue<DateTimeOffset>(3),
                    reader.IsDBNull(4) ? null : reader.GetFieldValue<DateTimeOffset>(4),
                    Value: reader.IsDBNull(5) ? default : reader.GetFieldValue<byte[]>(5));
            }
        }

        var scopes = _indexes.Catalog.All.Where(i => i.Unique).ToDictionary(_indexes.Id, i => i.Scope);
        foreach (var entries in _holderReads)
        {
            if (!first)
            {
                await reader.NextResultAsync().ConfigureAwait(false);
            }

            first = false;
            var strings = entries.Table == Schema.StringEntries;
            while (await reader.ReadAsync().ConfigureAwait(false))
            {
                var value = new IndexedValue(reader.GetInt32(0), strings ? IndexValue.Of(reader.GetString(1)) : IndexValue.Of(reader.GetInt64(1)));
                var holder = new ValueHolder(reader.GetString(2), reader.GetString(3), reader.IsDBNull(4) ? null : reader.GetFieldValue<DateTimeOffset>(4));
                if (scopes[value.IndexId] == IndexScope.Partition)
                {
                    _partitionHolders[(value, holder.Partition)] = holder;
                }
                else
                {
                    _storeHolders[value] = holder;
                }
            }
        }
    }

    /// <summary>
    /// Checks every partition in input order, as <see cref="PartitionWriter.ApplyBatch"/> checks a batch of
    /// must-not-exist puts: first its keys (a live document fails it), then its unique values (puts in
    /// order, indexes in declaration order, values ascending) against the live holders and the values
    /// the chunk's earlier partitions take.
    /// </summary>
    /// <returns>The first partition that fails, or <see langword="null"/> when all pass.</returns>
    public ImportOutcome? Check()
    {
        var claimed = new HashSet<IndexedValue>();
        for (var n = 0; n < _items.Count; n++)
        {
            var partition = PartitionKeys[n];
            var puts = _items[n].Partition.Puts;
            for (var op = 0; op < puts.Count; op++)
            {
                if (_existing.TryGetValue((n, op), out var row) && !Timestamps.IsExpired(row.ExpiresAt, _now))
                {
                    return new ImportOutcome(n, new VersionConflictException(partition, puts[op].Collection, puts[op].Key, WriteCondition.MustNotExist, row.Version, op));
                }
            }

            var claims = IndexEntries.UniqueClaims(_items[n].Entries).ToList();
            foreach (var claim in claims)
            {
                var value = new IndexedValue(_indexes.Id(claim.Index), claim.Value);
                var holder = claim.Index.Scope == IndexScope.Global ? _storeHolders.GetValueOrDefault(value) : _partitionHolders.GetValueOrDefault((value, partition));
                var taken = claim.TakenInBatch
                    || (claim.Index.Scope == IndexScope.Global && claimed.Contains(value))
                    || (holder is not null && !Timestamps.IsExpired(holder.ExpiresAt, _now));
                if (taken)
                {
                    return new ImportOutcome(n, new UniqueConstraintException(partition, claim.Index.Collection, claim.Index.Name, claim.Index.Scope, claim.Value, claim.OperationIndex));
                }
            }

            foreach (var claim in claims)
            {
                if (claim.Index.Scope == IndexScope.Global)
                {
                    claimed.Add(new IndexedValue(_indexes.Id(claim.Index), claim.Value));
                }
            }
        }

        return null;
    }

    /// <summary>
    /// Adds what must go before the documents are copied in: the expired documents the puts replace
    /// (a live one failed the check), their index entries, and the entries by which expired holders of
    /// other documents still hold a unique value the chunk takes.
    /// </summary>
    /// <returns>Whether there is anything to remove.</returns>
    public bool AddRemovals(NpgsqlBatch batch)
    {
        var deletes = new List<Entry>();
        var replaced = new List<(string Partition, string Collection, string Key)>();
        foreach (var ((n, op), row) in _existing)
        {
            var put = _items[n].Partition.Puts[op];
            replaced.Add((PartitionKeys[n], put.Collection, put.Key));
            var indexes = _indexes.Catalog.For(put.Collection);
            if (indexes.Count == 0)
            {
                continue;
            }

            var values = StoreIndexes.ValuesOf(indexes, row.Value);
            for (var j = 0; j < indexes.Count; j++)
            {
                foreach (var value in values[j])
                {
                    deletes.Add(new Entry(new IndexedValue(_indexes.Id(indexes[j]), value), PartitionKeys[n], put.Key, null, 0, Takeover: false));
                }
            }
        }

        var deleted = deletes.Select(d => (d.Value, d.Partition, d.Key)).ToHashSet();
        foreach (var insert in Inserts())
        {
            var holder = insert.Scope == Schema.UniqueInStore ? _storeHolders.GetValueOrDefault(insert.Value)
                : insert.Scope == Schema.UniqueInPartition ? _partitionHolders.GetValueOrDefault((insert.Value, insert.Partition))
                : null;
            if (holder is not null && deleted.Add((insert.Value, holder.Partition, holder.Key)))
            {
                deletes.Add(new Entry(insert.Value, holder.Partition, holder.Key, null, 0, Takeover: true));
            }
        }

        if (replaced.Count > 0)
        {
            batch.BatchCommands.Add(BatchCommand(
                _sql.DeleteImportedDocuments,
                P(replaced.ConvertAll(r => r.Partition).ToArray()),
                P(replaced.ConvertAll(r => r.Collection).ToArray()),
                P(replaced.ConvertAll(r => r.Key).ToArray())));
        }

        deletes.Sort(static (x, y) =>
        {
            var c = x.Value.CompareTo(y.Value);
            c = c != 0 ? c : StorageKeyComparer.Instance.Compare(x.Partition, y.Partition);
            return c != 0 ? c : StorageKeyComparer.Instance.Compare(x.Key, y.Key);
        });
        foreach (var type in (ReadOnlySpan<IndexValueType>)[IndexValueType.String, IndexValueType.Int64])
        {
            var rows = deletes.FindAll(d => d.Value.Value.Type == type);
            if (rows.Count > 0)
            {
                batch.BatchCommands.Add(BatchCommand(
                    _sql.Indexes.For(type).DeleteEntries,
                    P(rows.ConvertAll(r => r.Value.IndexId).ToArray()),
                    IndexWork.Values(type, rows.ConvertAll(r => r.Value)),
                    P(rows.ConvertAll(r => r.Partition).ToArray()),
                    P(rows.ConvertAll(r => r.Key).ToArray()),
                    P(rows.ConvertAll(r => r.Takeover).ToArray()),
                    P(_now)));
            }
        }

        return batch.BatchCommands.Count > 0;
    }

    /// <summary>Copies the chunk's documents into the documents table (binary COPY), each with its partition's new revision.</summary>
    /// <returns>How many documents were copied.</returns>
    public async ValueTask<long> CopyAsync(NpgsqlConnection connection)
    {
        long rows = 0;
        var importer = await connection.BeginBinaryImportAsync(_sql.CopyDocuments).ConfigureAwait(false);
        await using (importer.ConfigureAwait(false))
        {
            for (var n = 0; n < _items.Count; n++)
            {
                var partition = PartitionKeys[n];
                var revision = _revisions[n];
                foreach (var put in _items[n].Partition.Puts)
                {
                    await importer.StartRowAsync().ConfigureAwait(false);
                    await importer.WriteAsync(partition, NpgsqlDbType.Text).ConfigureAwait(false);
                    await importer.WriteAsync(put.Collection, NpgsqlDbType.Text).ConfigureAwait(false);
                    await importer.WriteAsync(put.Key, NpgsqlDbType.Text).ConfigureAwait(false);

                    // The JSON goes to the text column as its UTF-8 bytes, stored byte for byte.
                    await importer.WriteAsync(put.Value, NpgsqlDbType.Text).ConfigureAwait(false);
                    await importer.WriteAsync(revision, NpgsqlDbType.Bigint).ConfigureAwait(false);
                    await importer.WriteAsync(_now, NpgsqlDbType.TimestampTz).ConfigureAwait(false);
                    await importer.WriteAsync(_now, NpgsqlDbType.TimestampTz).ConfigureAwait(false);
                    if (put.ExpiresAt is { } expiresAt)
                    {
                        await importer.WriteAsync(expiresAt, NpgsqlDbType.TimestampTz).ConfigureAwait(false);
                    }
                    else
                    {
                        await importer.WriteNullAsync().ConfigureAwait(false);
                    }

                    rows++;
                }
            }

            await importer.CompleteAsync().ConfigureAwait(false);
        }

        return rows;
    }

    /// <summary>
    /// Adds the rest of the chunk's writes, COMMIT follows them: the new revisions (a new partition can
    /// be resumed from its first), the tombstones of the imported keys removed (only partitions that
    /// existed can have any), the index entries, and one commit-log row per partition under the
    /// attempt's operation id (so a lost answer to the COMMIT is resolved like a write's).
    /// </summary>
    public void AddWrites(NpgsqlBatch batch, Guid operationId)
    {
        var oldest = new long[_items.Count];
        for (var n = 0; n < _items.Count; n++)
        {
            oldest[n] = _stored[n] == 0 ? _revisions[n] : 0;
        }

        batch.BatchCommands.Add(BatchCommand(_sql.SetRevisions, P(PartitionKeys), P(_revisions), P(oldest)));
        var tombstones = new List<(string Partition, string Collection, string Key)>();
        for (var n = 0; n < _items.Count; n++)
        {
            if (_stored[n] > 0)
            {
                tombstones.AddRange(_items[n].Partition.Puts.Select(p => (PartitionKeys[n], p.Collection, p.Key)));
            }
        }

        if (tombstones.Count > 0)
        {
            batch.BatchCommands.Add(BatchCommand(
                _sql.DeleteImportedTombstones,
                P(tombstones.ConvertAll(r => r.Partition).ToArray()),
                P(tombstones.ConvertAll(r => r.Collection).ToArray()),
                P(tombstones.ConvertAll(r => r.Key).ToArray())));
        }

        var inserts = Inserts();
        foreach (var type in (ReadOnlySpan<IndexValueType>)[IndexValueType.String, IndexValueType.Int64])
        {
            var rows = inserts.FindAll(d => d.Value.Value.Type == type);
            if (rows.Count > 0)
            {
                batch.BatchCommands.Add(BatchCommand(
                    _sql.Indexes.For(type).InsertEntriesIn,
                    P(rows.ConvertAll(r => r.Value.IndexId).ToArray()),
                    IndexWork.Values(type, rows.ConvertAll(r => r.Value)),
                    P(rows.ConvertAll(r => r.Partition).ToArray()),
                    P(rows.ConvertAll(r => r.Key).ToArray()),
                    P(rows.ConvertAll(r => r.ExpiresAt).ToArray()),
                    P(rows.ConvertAll(r => r.Scope).ToArray())));
            }
        }

        batch.BatchCommands.Add(BatchCommand(_sql.LogCommits, P(PartitionKeys), P(operationId), P(_revisions)));
    }

    /// <summary>The entries of the chunk's live documents, in (index, value, partition, key) order: the order every writer inserts in.</summary>
    private List<Entry> Inserts()
    {
        var inserts = new List<Entry>();
        for (var n = 0; n < _items.Count; n++)
        {
            var puts = _items[n].Partition.Puts;
            var entries = _items[n].Entries;
            for (var op = 0; op < puts.Count; op++)
            {
                if (entries[op] is not { } found || Timestamps.IsExpired(puts[op].ExpiresAt, _now))
                {
                    continue;
                }

                for (var j = 0; j < found.Indexes.Count; j++)
                {
                    var index = found.Indexes[j];
                    foreach (var value in found.Values[j])
                    {
                        inserts.Add(new Entry(new IndexedValue(_indexes.Id(index), value), PartitionKeys[n], puts[op].Key, puts[op].ExpiresAt, StoreIndexes.UniqueScope(index), Takeover: false));
                    }
                }
            }
        }

        inserts.Sort(static (x, y) =>
        {
            var c = x.Value.CompareTo(y.Value);
            c = c != 0 ? c : StorageKeyComparer.Instance.Compare(x.Partition, y.Partition);
            return c != 0 ? c : StorageKeyComparer.Instance.Compare(x.Key, y.Key);
        });
        return inserts;
    }

    /// <summary>An entry to delete or insert.</summary>
    private readonly record struct Entry(IndexedValue Value, string Partition, string Key, DateTimeOffset? ExpiresAt, short Scope, bool Takeover);
}
