using Storage.Internal;

namespace Storage.Json.Indexes;

/// <summary>
/// The index side of one group commit of a partition (or of deleting it): checks each batch's
/// unique values against the partition's state as the group has changed it so far and reserves
/// global unique values store-wide; once the group is built, computes the entries the partition
/// drops and adds, and its new <see cref="PartitionIndex"/>. Runs on the partition's commit turn, as
/// the uniqueness check of the engine's <see cref="PartitionWriter"/>.
/// </summary>
internal sealed class IndexWork : IUniquenessCheck
{
    private static readonly object s_settled = new();

    private readonly JsonIndexes _indexes;
    private readonly PartitionIndex _base;
    private readonly DateTimeOffset _now;

    // The documents of indexed collections the group's earlier batches put (rows with their index
    // values) or deleted (null): the partition's state is the base, overlaid by these.
    private readonly Dictionary<DocumentId, DocumentRow?> _changed = [];
    private bool _purged;

    // Null while the commit runs and nobody waits; a completion once someone waits; s_settled once it ended.
    private object? _settled;

    public IndexWork(JsonIndexes indexes, string partition, PartitionIndex current, DateTimeOffset now, bool delete)
    {
        _indexes = indexes;
        _base = current;
        _now = now;
        Partition = partition;
        NewIndex = current;
        if (delete)
        {
            for (var n = 0; n < current.ByIndex.Length; n++)
            {
                foreach (var entry in current.ByIndex[n])
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
    public PartitionIndex NewIndex { get; private set; }

    /// <summary>The entries of documents the group replaced or removed.</summary>
    public List<(int Index, PartitionEntry Entry)> Dropped { get; } = [];

    /// <summary>The entries of the documents the group wrote.</summary>
    public List<(int Index, PartitionEntry Entry)> Added { get; } = [];

    /// <summary>Commits of other partitions the batch about to be checked already waited for (see <see cref="JsonIndexes.TryReserve"/>).</summary>
    public IReadOnlyList<IndexWork>? Waited { get; set; }

    /// <summary>When <see cref="Check"/> left a batch out: the commit in flight whose outcome it must wait for.</summary>
    public IndexWork? Busy { get; private set; }

    /// <inheritdoc/>
    public void Record(DocumentId id, DocumentRow? row)
    {
        // A row without index values is a stored one the batch left as it was (a delete of an expired document).
        if (_indexes.Catalog.For(id.Collection).Count > 0 && (row is null || row.Entries is not null))
        {
            _changed[id] = row;
        }
    }

    /// <summary>
    /// Checks a batch whose conditions passed: walks its puts in order, each put's unique indexes in
    /// declaration order, each index's values ascending; the first value that an earlier put of the
    /// batch took, that a live document of the partition not touched by the batch holds, or (global
    /// scope) that another partition's live document holds, fails the batch. Global values that pass
    /// are reserved. The first value another partition's commit in flight reserved stops the check
    /// instead: the batch is left out, its caller waits for that commit's outcome and tries again
    /// (<see cref="JsonIndexes.TryReserve"/>; <see cref="Busy"/> names that commit). A batch that fails
    /// or is left out gives its reservations back at once, so a batch never waits holding a reservation.
    /// The group's earlier batches count through what <see cref="Record"/> noted, across the writers
    /// of a group that a purge splits, so <paramref name="writtenByWrite"/> is not needed.
    /// </summary>
    /// <param name="operations">The batch.</param>
    /// <param name="entries">Its values (<see cref="IndexCatalog.ExtractAll"/>).</param>
    /// <param name="writtenByWrite">Unused.</param>
    /// <returns>Whether the batch passed; <see langword="false"/> when it is left out.</returns>
    /// <exception cref="UniqueConstraintException">A value is taken.</exception>
    public bool Check(IReadOnlyList<WriteOperation> operations, IReadOnlyList<IndexEntries?> entries, Func<DocumentId, bool> writtenByWrite)
    {
        HashSet<DocumentId>? touched = null;
        var mark = Reservations.Count;
        Busy = null;
        try
        {
            foreach (var claim in IndexEntries.UniqueClaims(entries))
            {
                var index = claim.Index;
                var n = _indexes.NumberOf(index);
                touched ??= operations.Where(static o => o.Kind != WriteOperationKind.Append).Select(static o => new DocumentId(o.Collection, o.Key)).ToHashSet();
                IndexWork? busy = null;
                if (claim.TakenInBatch
                    || HeldInPartition(n, index.Collection, claim.Value, touched)
                    || (index.Scope == IndexScope.Global && !_indexes.TryReserve(this, n, claim.Value, _now, Waited, out busy) && busy is null))
                {
                    throw new UniqueConstraintException(Partition, index.Collection, index.Name, index.Scope, claim.Value, claim.OperationIndex);
                }

                if (busy is not null)
                {
                    _indexes.Release(this, mark);
                    Busy = busy;
                    return false;
                }
            }
        }
        catch
        {
            _indexes.Release(this, mark);
            throw;
        }

        return true;
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

    /// <summary>Computes the entries the group drops and adds, and the partition's new entries.</summary>
    /// <param name="next">The partition's new snapshot.</param>
    public void Complete(PartitionSnapshot next)
    {
        if (_changed.Count == 0 && !_purged)
        {
            return;
        }

        var catalog = _indexes.Catalog;
        var byIndex = (PartitionEntry[][])_base.ByIndex.Clone();
        var collections = _changed.Keys.Select(static k => k.Collection).ToHashSet(StringComparer.Ordinal);
        for (var n = 0; n < byIndex.Length; n++)
        {
            var collection = catalog.All[n].Collection;
            if (!_purged && !collections.Contains(collection))
            {
                continue;
            }

            var old = _base.ByIndex[n];
            var entries = new List<PartitionEntry>(old.Length);
            foreach (var entry in old)
            {
                // A document the group did not touch keeps its record (and its entries).
                if (ReferenceEquals(next.Find(collection, entry.Document.Key), entry.Document))
                {
                    entries.Add(entry);
                }
                else
                {
                    Dropped.Add((n, entry));
                }
            }

            var position = _indexes.PositionInCollection(n);
            foreach (var (id, row) in _changed)
            {
                // What a row the group wrote became in the snapshot (gone if a purge took it).
                if (row is not null && string.Equals(id.Collection, collection, StringComparison.Ordinal) && next.Find(collection, id.Key) is { } record)
                {
                    foreach (var value in row.Entries!.Values[position])
                    {
                        var entry = new PartitionEntry(value, record);
                        entries.Add(entry);
                        Added.Add((n, entry));
                    }
                }
            }

            byIndex[n] = entries.Count == 0 ? [] : PartitionIndex.Sorted(entries);
        }

        NewIndex = new PartitionIndex(byIndex);
    }

    // Whether a live document of the partition (as the group has changed it), not touched by the
    // batch being checked, holds the value.
    private bool HeldInPartition(int n, string collection, IndexValue value, HashSet<DocumentId> touched)
    {
        var entries = _base.ByIndex[n];
        var (start, end) = _base.Holders(n, Partition, value);
        for (var i = start; i < end; i++)
        {
            var document = entries[i].Document;
            var id = new DocumentId(collection, document.Key);
            if (!touched.Contains(id) && !_changed.ContainsKey(id) && !Timestamps.IsExpired(document.ExpiresAt, _now))
            {
                return true;
            }
        }

        var position = _indexes.PositionInCollection(n);
        foreach (var (id, row) in _changed)
        {
            if (row is not null
                && string.Equals(id.Collection, collection, StringComparison.Ordinal)
                && !touched.Contains(id)
                && !Timestamps.IsExpired(row.ExpiresAt, _now)
                && row.Entries!.Values[position].Contains(value))
            {
                return true;
            }
        }

        return false;
    }
}
