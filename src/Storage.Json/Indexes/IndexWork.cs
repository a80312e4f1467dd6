using Storage.Internal;

namespace Storage.Json.Indexes;

/// <summary>
/// The index side of one group commit of a partition (or of deleting it): the stored holders of a
/// unique value as the group has changed the partition so far, and the reservations of global unique
/// values store-wide (the engine's <see cref="UniqueValues"/> decides with both); once the group is
/// built, the entries the partition drops and adds, and its new entries (<see cref="NewIndex"/>).
/// </summary>
internal sealed class IndexWork : IUniqueValueReservations
{
    private static readonly object s_settled = new();

    private readonly JsonIndexes _indexes;
    private readonly InMemoryIndexes<DocumentRecord> _base;
    private readonly DateTimeOffset _now;

    // The documents of indexed collections the group's writers wrote, merged as each writer ends: the
    // row before the group's first writer of it, and the row its last writer left (with its index
    // values; null when deleted). The partition's state is the base, overlaid by the current rows.
    private readonly Dictionary<DocumentId, (DocumentRow? Original, DocumentRow? Current)> _changed = [];
    private bool _purged;

    // Null while the commit runs and nobody waits; a completion once someone waits; s_settled once it ended.
    private object? _settled;

    public IndexWork(JsonIndexes indexes, string partition, InMemoryIndexes<DocumentRecord> current, DateTimeOffset now, bool delete)
    {
        _indexes = indexes;
        _base = current;
        _now = now;
        Partition = partition;
        NewIndex = current;
        if (delete)
        {
            for (var n = 0; n < current.Tables.Count; n++)
            {
                foreach (var entry in current.Tables[n])
                {
                    Dropped.Add((n, entry));
                }
            }

            NewIndex = indexes.EmptyPartition();
        }
    }

    public string Partition { get; }

    /// <summary>The global unique values reserved so far, in order (see <see cref="JsonIndexes.TryReserve"/>).</summary>
    public List<Reservation> Reservations { get; } = [];

    /// <summary>The partition's entries after the group (set by <see cref="Complete"/>).</summary>
    public InMemoryIndexes<DocumentRecord> NewIndex { get; private set; }

    /// <summary>The entries the group's documents gave up, or lost to a purge or a partition delete.</summary>
    public List<(int Index, IndexTableEntry<DocumentRecord> Entry)> Dropped { get; } = [];

    /// <summary>Entries a rewritten document kept, with its new record (same value and key, so the same place in every list).</summary>
    public List<(int Index, IndexTableEntry<DocumentRecord> Entry)> Kept { get; } = [];

    /// <summary>The entries the group's documents gained.</summary>
    public List<(int Index, IndexTableEntry<DocumentRecord> Entry)> Added { get; } = [];

    /// <summary>Commits of other partitions the batch about to be checked already waited for (see <see cref="JsonIndexes.TryReserve"/>).</summary>
    public IReadOnlyList<IndexWork>? Waited { get; set; }

    /// <summary>When a reservation answered <see cref="ReservationAnswer.Busy"/>: the commit in flight the batch left out must wait for.</summary>
    public IndexWork? Busy { get; private set; }

    /// <inheritdoc/>
    public int Count => Reservations.Count;

    /// <inheritdoc/>
    /// <remarks>See <see cref="JsonIndexes.TryReserve"/>: another partition's commit in flight is busy unless the batch already waited for it (<see cref="Waited"/>).</remarks>
    public ReservationAnswer Reserve(IndexDefinition index, IndexValue value)
    {
        if (_indexes.TryReserve(this, _indexes.NumberOf(index), value, _now, Waited, out var busy))
        {
            return ReservationAnswer.Reserved;
        }

        Busy = busy;
        return busy is null ? ReservationAnswer.Taken : ReservationAnswer.Busy;
    }

    /// <inheritdoc/>
    public void Release(int from) => _indexes.Release(this, from);

    /// <summary>
    /// The partition's documents that hold <paramref name="value"/> of a unique index, as the group's
    /// earlier writers left them, expired or not (the engine judges expiry and the writer's own
    /// changes). Other partitions' holders are the reservations' business (<see cref="Reserve"/>).
    /// </summary>
    public IEnumerable<ValueHolder> StoredHolders(IndexDefinition index, IndexValue value)
    {
        foreach (var holder in _base.Holders(index, value, Partition))
        {
            if (!_changed.ContainsKey(new DocumentId(index.Collection, holder.Key)))
            {
                yield return holder;
            }
        }

        var position = _indexes.PositionInCollection(_indexes.NumberOf(index));
        foreach (var (id, (_, row)) in _changed)
        {
            if (row is not null && string.Equals(id.Collection, index.Collection, StringComparison.Ordinal) && row.Entries!.Values[position].Contains(value))
            {
                yield return new ValueHolder(Partition, id.Key, row.ExpiresAt);
            }
        }
    }

    /// <summary>Takes in what a writer of the group changed in indexed collections.</summary>
    /// <param name="writer">The writer, once it has decided its requests; <see langword="null"/> when none was begun.</param>
    public void Merge(PartitionWriter? writer)
    {
        foreach (var (id, original, row) in writer?.Changed() ?? [])
        {
            if (_indexes.Catalog.For(id.Collection).Count > 0)
            {
                _changed[id] = (_changed.TryGetValue(id, out var earlier) ? earlier.Original : original, row);
            }
        }
    }

    /// <summary>
    /// Completes when the commit this work belongs to has ended — published, failed and its
    /// reservations given back, or failed with an outcome not read back yet (its reservations stay
    /// until it is; see <see cref="JsonIndexes.TryReserve"/>). Batches of other partitions that
    /// found a value reserved by it wait for this.
    /// </summary>
    public Task Settled
    {
        get
        {
            var current = Volatile.Read(ref _settled);
            if (current is null)
            {
                // The first waiter creates the completion: a commit nobody waits for allocates nothing.
                current = Interlocked.CompareExchange(ref _settled, new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously), null) ?? _settled;
            }

            return current is TaskCompletionSource completion ? completion.Task : Task.CompletedTask;
        }
    }

    /// <summary>Marks the commit as ended (see <see cref="Settled"/>); called once its reservations are published, given back or left unresolved.</summary>
    public void Settle()
    {
        var waiting = Interlocked.Exchange(ref _settled, s_settled);
        (waiting as TaskCompletionSource)?.TrySetResult();
    }

    /// <summary>Notes that the group purged expired documents (their entries go).</summary>
    public void Purged() => _purged = true;

    /// <summary>
    /// For a restore (<see cref="JsonIndexes.BeginRestore"/>, which drops every entry the partition
    /// held): the entries of the restored documents, added, and the partition's new entries. A document
    /// expired at the commit's time gets none, as at open: it matches no query and holds no unique
    /// value (<see cref="PendingWrite.CheckRestore"/> claimed nothing for it).
    /// </summary>
    /// <param name="records">The restored documents, by position in the restored state.</param>
    /// <param name="entries">Their index values, by the same position.</param>
    public void CompleteRestore(IReadOnlyList<DocumentRecord> records, IReadOnlyList<IndexEntries?> entries)
    {
        var lists = new List<IndexTableEntry<DocumentRecord>>[_indexes.Catalog.All.Count];
        for (var i = 0; i < records.Count; i++)
        {
            if (entries[i] is not { } values || Timestamps.IsExpired(records[i].ExpiresAt, _now))
            {
                continue;
            }

            for (var j = 0; j < values.Indexes.Count; j++)
            {
                var n = _indexes.NumberOf(values.Indexes[j]);
                foreach (var value in values.Values[j])
                {
                    var entry = new IndexTableEntry<DocumentRecord>(value, Partition, records[i]);
                    (lists[n] ??= []).Add(entry);
                    Added.Add((n, entry));
                }
            }
        }

        NewIndex = new InMemoryIndexes<DocumentRecord>(_indexes.Catalog, [.. lists.Select(static l => IndexEntryTable<DocumentRecord>.Create(l ?? []))]);
    }

    /// <summary>
    /// Computes the entries the group drops, keeps and adds, and the partition's new entries. Which
    /// entries of a written document go, stay or come is the engine's decision
    /// (<see cref="IndexEntryChanges"/>, over the group's net change and the entries the partition
    /// holds); a kept entry takes the document's new record (its value and expiry). Entries of a
    /// document no longer in <paramref name="next"/> go: a purge took it (before a writer put it
    /// again, or after), or it was written and then purged.
    /// </summary>
    /// <param name="next">The partition's new snapshot.</param>
    public void Complete(PartitionSnapshot next)
    {
        if (_changed.Count == 0 && !_purged)
        {
            return;
        }

        var catalog = _indexes.Catalog;
        var byIndex = _base.Tables.ToArray();
        var entries = new List<IndexTableEntry<DocumentRecord>>?[byIndex.Length];
        var collections = _changed.Keys.Select(static k => k.Collection).ToHashSet(StringComparer.Ordinal);

        // One walk of the touched indexes: the written documents' entries are set aside for the
        // decision, the others stay — unless a purge took their document.
        var stored = new Dictionary<DocumentId, List<(int Index, IndexTableEntry<DocumentRecord> Entry)>>();
        for (var n = 0; n < byIndex.Length; n++)
        {
            var collection = catalog.All[n].Collection;
            if (!_purged && !collections.Contains(collection))
            {
                continue;
            }

            var rebuilt = entries[n] = new List<IndexTableEntry<DocumentRecord>>(_base.Tables[n].Count);
            foreach (var entry in _base.Tables[n])
            {
                var id = new DocumentId(collection, entry.Document.Key);
                if (_changed.ContainsKey(id))
                {
                    (stored.TryGetValue(id, out var held) ? held : stored[id] = []).Add((n, entry));
                }
                else if (!_purged || ReferenceEquals(next.Find(collection, entry.Document.Key), entry.Document))
                {
                    rebuilt.Add(entry);
                }
                else
                {
                    Dropped.Add((n, entry));
                }
            }
        }

        var changes = IndexEntryChanges.Of(
            _changed.Select(static c => (c.Key, c.Value.Original, c.Value.Current)),
            _now,
            catalog,
            (id, _) => stored.TryGetValue(id, out var held) ? held.Select(h => (catalog.All[h.Index], h.Entry.Value)) : [],
            movesExpiry: true);
        var deletes = changes.Deletes.Select(e => (_indexes.NumberOf(e.Index), e.Value, e.Document.Key)).ToHashSet();
        foreach (var (id, held) in stored)
        {
            // Entries of a document whose stored row the decision did not see (a purge took it before the group wrote it) go.
            var record = _changed[id].Original is null ? null : next.Find(id.Collection, id.Key);
            foreach (var (n, entry) in held)
            {
                if (record is not null && !deletes.Contains((n, entry.Value, id.Key)))
                {
                    var moved = entry with { Document = record };
                    entries[n]!.Add(moved);
                    Kept.Add((n, moved));
                }
                else
                {
                    Dropped.Add((n, entry));
                }
            }
        }

        foreach (var insert in changes.Inserts)
        {
            if (next.Find(insert.Document.Collection, insert.Document.Key) is { } record)
            {
                var n = _indexes.NumberOf(insert.Index);
                var entry = new IndexTableEntry<DocumentRecord>(insert.Value, Partition, record);
                entries[n]!.Add(entry);
                Added.Add((n, entry));
            }
        }

        for (var n = 0; n < byIndex.Length; n++)
        {
            if (entries[n] is { } touched)
            {
                byIndex[n] = IndexEntryTable<DocumentRecord>.Create(touched);
            }
        }

        NewIndex = new InMemoryIndexes<DocumentRecord>(catalog, byIndex);
    }
}
