using System.Diagnostics;
using Microsoft.Extensions.Logging;
using Storage.Internal;

namespace Storage.Json.Indexes;

/// <summary>
/// The JSON backend's secondary indexes, kept in memory and rebuilt from the partition files at
/// every open (nothing index-related is written to disk):
/// <list type="bullet">
/// <item>per index, an <see cref="IndexEntryList"/> of every entry (value, partition, key) in
/// query order, for queries across partitions — guarded by a reader-writer lock that writers hold
/// only while they apply a committed delta (never during I/O);</item>
/// <item>per partition, a <see cref="PartitionIndex"/> published with the partition's snapshot;</item>
/// <item>for global unique indexes, a store-wide claim table: which partition holds (or is
/// committing) each value. Commits of different partitions run concurrently, so a commit reserves
/// each global unique value it writes before its file write; a batch that meets another
/// partition's reservation waits for that commit's outcome (outside any commit) and tries again:
/// of two partitions committing one value, exactly one wins, and the loser is refused only once
/// the winner is visible.</item>
/// </list>
/// </summary>
internal sealed class JsonIndexes : IDisposable
{
    private readonly IndexEntryList[] _lists;
    private readonly Dictionary<IndexDefinition, int> _numbers = new(ReferenceEqualityComparer.Instance);
    private readonly int[] _positionInCollection;
    private readonly ReaderWriterLockSlim _entriesLock = new(LockRecursionPolicy.NoRecursion);

    // Lock order: _claimsLock, then _entriesLock.
    private readonly Lock _claimsLock = new();
    private readonly Dictionary<(int Index, IndexValue Value), Claim> _claims = [];

    private JsonIndexes(IndexCatalog catalog, IndexEntryList[] lists)
    {
        Catalog = catalog;
        _lists = lists;
        _positionInCollection = new int[catalog.All.Count];
        for (var n = 0; n < catalog.All.Count; n++)
        {
            var index = catalog.All[n];
            _numbers.Add(index, n);
            _positionInCollection[n] = IndexOf(catalog.For(index.Collection), index);
        }
    }

    public IndexCatalog Catalog { get; }

    /// <summary>
    /// A deliberately broken variant for the race tests only: <see cref="TryReserve"/> checks for a
    /// conflict but reserves nothing (check-then-act), so two partitions can both win a value.
    /// </summary>
    internal bool BreakReservationsForTests { get; set; }

    /// <summary>
    /// Builds every index from the partitions' live documents, through <see cref="IndexBuilder"/>:
    /// indexes in declaration order, partitions and documents in code-point order, so a store that
    /// cannot be indexed is refused naming the same document as every backend.
    /// </summary>
    /// <param name="catalog">The declared indexes (at least one).</param>
    /// <param name="partitions">Every partition, in code-point order of keys.</param>
    /// <param name="now">The store's clock: expired documents are not indexed.</param>
    /// <param name="logger">Where the builds are logged.</param>
    /// <param name="partitionIndexes">Each partition's entries, in the order of <paramref name="partitions"/>.</param>
    /// <returns>The indexes.</returns>
    /// <exception cref="IndexBuildException">A live document holds a value of the wrong type or a duplicate unique value.</exception>
    public static JsonIndexes Build(IndexCatalog catalog, IReadOnlyList<PartitionSnapshot> partitions, DateTimeOffset now, ILogger logger, out PartitionIndex[] partitionIndexes)
    {
        var count = catalog.All.Count;
        var perPartition = new PartitionEntry[partitions.Count][][];
        for (var p = 0; p < partitions.Count; p++)
        {
            perPartition[p] = new PartitionEntry[count][];
        }

        var lists = new IndexEntryList[count];
        var partitionEntries = new List<PartitionEntry>();
        for (var n = 0; n < count; n++)
        {
            var index = catalog.All[n];
            var builder = new IndexBuilder(index, "in memory at open", logger);
            var all = new List<IndexEntry>();

            // Documents that share a string value (a tag, a state) share one string in memory.
            var pool = index.ValueType == IndexValueType.String && !index.Unique ? new Dictionary<string, IndexValue>(StringComparer.Ordinal) : null;
            for (var p = 0; p < partitions.Count; p++)
            {
                var partition = partitions[p];
                partitionEntries.Clear();
                if (partition.Collections.TryGetValue(index.Collection, out var documents))
                {
                    foreach (var document in documents)
                    {
                        if (Timestamps.IsExpired(document.ExpiresAt, now))
                        {
                            continue;
                        }

                        foreach (var found in builder.Add(partition.Partition, document.Key, document.Value))
                        {
                            var value = found;
                            if (pool is not null && !pool.TryAdd(value.AsString, value))
                            {
                                value = pool[value.AsString];
                            }

                            all.Add(new IndexEntry(value, partition.Partition, document));
                            partitionEntries.Add(new PartitionEntry(value, document));
                        }
                    }
                }

                perPartition[p][n] = partitionEntries.Count == 0 ? [] : PartitionIndex.Sorted(partitionEntries);
            }

            lists[n] = IndexEntryList.FromSorted(SortByValue(all));
            all.Clear();
            builder.Complete();
        }

        var indexes = new JsonIndexes(catalog, lists);
        for (var n = 0; n < count; n++)
        {
            if (indexes.IsGlobalUnique(n))
            {
                for (var p = 0; p < partitions.Count; p++)
                {
                    foreach (var entry in perPartition[p][n])
                    {
                        indexes._claims.Add((n, entry.Value), new Claim(partitions[p].Partition, entry.Document, null));
                    }
                }
            }
        }

        partitionIndexes = perPartition.Select(static byIndex => new PartitionIndex(byIndex)).ToArray();
        return indexes;
    }

    /// <summary>
    /// Entries gathered in (partition, key) order, sorted into (value, partition, key) order: a
    /// stable sort by value, which compares values and positions instead of partitions and keys.
    /// </summary>
    private static IndexEntry[] SortByValue(List<IndexEntry> entries)
    {
        var keys = new (IndexValue Value, int Position)[entries.Count];
        for (var i = 0; i < keys.Length; i++)
        {
            keys[i] = (entries[i].Value, i);
        }

        keys.AsSpan().Sort(static (x, y) =>
        {
            var c = x.Value.CompareTo(y.Value);
            return c != 0 ? c : x.Position.CompareTo(y.Position);
        });
        var sorted = new IndexEntry[keys.Length];
        for (var i = 0; i < keys.Length; i++)
        {
            sorted[i] = entries[keys[i].Position];
        }

        Debug.Assert(sorted.Length > 10_000 || sorted.AsSpan().SequenceEqual(sorted.Order(Comparer<IndexEntry>.Create(static (x, y) => default(IndexEntryOrder).Compare(x, y))).ToArray()), "The stable sort by value is not the (value, partition, key) order.");
        return sorted;
    }

    public int NumberOf(IndexDefinition index) => _numbers[index];

    /// <summary>Where index <paramref name="n"/> sits among its collection's indexes (the position of its values in <see cref="IndexEntries"/>).</summary>
    public int PositionInCollection(int n) => _positionInCollection[n];

    public bool IsGlobalUnique(int n) => Catalog.All[n].Unique && Catalog.All[n].Scope == IndexScope.Global;

    public PartitionIndex EmptyPartition() => PartitionIndex.Empty(Catalog.All.Count);

    /// <summary>Starts the index side of a group commit of one partition.</summary>
    public IndexWork Begin(string partition, PartitionIndex current, DateTimeOffset now) => new(this, partition, current, now, delete: false);

    /// <summary>The index side of deleting a partition: every entry goes.</summary>
    public IndexWork BeginDelete(string partition, PartitionIndex current) => new(this, partition, current, DateTimeOffset.MinValue, delete: true);

    /// <summary>
    /// Reserves a global unique value for a put of a commit in flight, unless a live document of
    /// another partition holds it or another partition's commit in flight reserved it.
    /// </summary>
    /// <remarks>
    /// A value reserved by another partition's commit is not refused at once: that commit is not
    /// visible yet and may still fail, so a refusal now could name a value nobody will hold, and a
    /// query right after it would find no holder. The caller is handed that commit instead
    /// (<paramref name="busy"/>) and waits for it outside any commit, holding no reservation (so
    /// commits never wait on each other), then tries again: by then the value is the committed
    /// document's, or given back. Only a commit the caller already waited for that still holds
    /// the value — its write failed and its outcome could not be read back — refuses it.
    /// </remarks>
    /// <param name="work">The commit reserving.</param>
    /// <param name="n">The index.</param>
    /// <param name="value">The value.</param>
    /// <param name="now">The store's clock: an expired holder holds nothing.</param>
    /// <param name="waited">Commits the batch already waited for.</param>
    /// <param name="busy">When the value is not reserved: the commit in flight to wait for, or null if the value is taken.</param>
    /// <returns>Whether the value is now reserved by <paramref name="work"/>.</returns>
    public bool TryReserve(IndexWork work, int n, IndexValue value, DateTimeOffset now, IReadOnlyList<IndexWork>? waited, out IndexWork? busy)
    {
        busy = null;
        lock (_claimsLock)
        {
            var slot = (n, value);
            if (_claims.TryGetValue(slot, out var claim) && !string.Equals(claim.Partition, work.Partition, StringComparison.Ordinal))
            {
                // Another partition: its commit in flight, or its live document, wins. (Its own
                // partition's claims were checked against the partition's state by the caller.)
                if (claim.Pending is { } pending)
                {
                    if (waited is null || !waited.Contains(pending))
                    {
                        busy = pending;
                    }

                    return false;
                }

                if (!Timestamps.IsExpired(claim.Record!.ExpiresAt, now))
                {
                    return false;
                }
            }

            if (BreakReservationsForTests)
            {
                return true;
            }

            work.Reservations.Add(new Reservation(slot, _claims.TryGetValue(slot, out var previous) ? previous : null));
            _claims[slot] = new Claim(work.Partition, null, work);
            return true;
        }
    }

    /// <summary>Gives back the reservations <paramref name="work"/> made from the <paramref name="from"/>-th on, newest first.</summary>
    public void Release(IndexWork work, int from = 0)
    {
        lock (_claimsLock)
        {
            for (var i = work.Reservations.Count - 1; i >= from; i--)
            {
                var reservation = work.Reservations[i];
                if (_claims.TryGetValue(reservation.Slot, out var claim) && ReferenceEquals(claim.Pending, work))
                {
                    if (reservation.Previous is { } previous)
                    {
                        _claims[reservation.Slot] = previous;
                    }
                    else
                    {
                        _claims.Remove(reservation.Slot);
                    }
                }
            }

            work.Reservations.RemoveRange(from, work.Reservations.Count - from);
        }
    }

    /// <summary>
    /// Makes a committed group visible: the store-wide lists and the claims change, then
    /// <paramref name="publish"/> swaps the partition's snapshot and entries — all under the write
    /// lock, so a query sees the documents and entries of one state.
    /// </summary>
    /// <param name="work">The completed group.</param>
    /// <param name="limbo">The partition's claims kept after an earlier commit of unknown durability.</param>
    /// <param name="durable">
    /// Whether the new state is durable. When it is not (a write that failed after its rename — the
    /// file holds the new state, but a power loss could bring back the old one), the values the
    /// partition gave up stay claimed (<paramref name="limbo"/>) until a durable commit of the
    /// partition, so no other partition can take a value a power loss could give back.
    /// </param>
    /// <param name="publish">Publishes the partition's snapshot and <see cref="IndexWork.NewIndex"/>.</param>
    public void Publish(IndexWork work, List<LimboClaim> limbo, bool durable, Action publish)
    {
        var partition = work.Partition;
        if (work.Dropped.Count == 0 && work.Kept.Count == 0 && work.Added.Count == 0 && work.Reservations.Count == 0 && (limbo.Count == 0 || !durable))
        {
            // Nothing indexed changed (a sequence, a stream, an unindexed collection).
            publish();
            return;
        }

        lock (_claimsLock)
        {
            _entriesLock.EnterWriteLock();
            try
            {
                foreach (var (n, entry) in work.Dropped)
                {
                    _lists[n].Remove(new IndexEntry(entry.Value, partition, entry.Document));
                }

                foreach (var (n, entry) in work.Kept)
                {
                    _lists[n].Replace(new IndexEntry(entry.Value, partition, entry.Document));
                }

                foreach (var (n, entry) in work.Added)
                {
                    _lists[n].Add(new IndexEntry(entry.Value, partition, entry.Document));
                }

                if (durable)
                {
                    foreach (var kept in limbo)
                    {
                        RemoveClaim(kept.Slot, partition, kept.Record);
                    }

                    limbo.Clear();
                }

                var previous = new Dictionary<(int, IndexValue), Claim>();
                foreach (var (n, entry) in work.Dropped)
                {
                    if (IsGlobalUnique(n) && _claims.TryGetValue((n, entry.Value), out var claim) && RemoveClaim((n, entry.Value), partition, entry.Document))
                    {
                        previous.TryAdd((n, entry.Value), claim);
                    }
                }

                foreach (var reservation in work.Reservations)
                {
                    if (_claims.TryGetValue(reservation.Slot, out var claim) && ReferenceEquals(claim.Pending, work))
                    {
                        _claims.Remove(reservation.Slot);
                    }

                    if (reservation.Previous is { Pending: null } before && string.Equals(before.Partition, partition, StringComparison.Ordinal))
                    {
                        previous.TryAdd(reservation.Slot, before);
                    }
                }

                // A kept value is held by its document's new record (the claim judges its expiry).
                foreach (var (n, entry) in work.Kept.Concat(work.Added))
                {
                    if (IsGlobalUnique(n))
                    {
                        _claims[(n, entry.Value)] = new Claim(partition, entry.Document, null);
                    }
                }

                if (!durable)
                {
                    foreach (var (slot, claim) in previous)
                    {
                        if (_claims.TryAdd(slot, claim))
                        {
                            limbo.Add(new LimboClaim(slot, claim.Record!));
                        }
                    }
                }

                work.Reservations.Clear();
                publish();
            }
            finally
            {
                _entriesLock.ExitWriteLock();
            }
        }
    }

    /// <summary>Up to <see cref="IndexQueryPlan.Limit"/> + 1 live matches across partitions, in the query's order.</summary>
    public List<IndexEntry> Scan(IndexQueryPlan plan, DateTimeOffset now)
    {
        var range = IndexRange.For(plan);
        _entriesLock.EnterReadLock();
        try
        {
            var list = _lists[NumberOf(plan.Index)];
            var (start, end) = Range(list, range);
            return Live(Between(list, start, end, plan.Descending), now).Take(plan.Limit + 1).ToList();
        }
        finally
        {
            _entriesLock.ExitReadLock();
        }
    }

    /// <summary>How many live matches there are across partitions.</summary>
    public long Count(IndexQueryPlan plan, DateTimeOffset now)
    {
        var range = IndexRange.For(plan);
        _entriesLock.EnterReadLock();
        try
        {
            var list = _lists[NumberOf(plan.Index)];
            var (start, end) = Range(list, range);
            return list.Expiring == 0 ? list.CountBetween(start, end) : Live(Between(list, start, end, descending: false), now).LongCount();
        }
        finally
        {
            _entriesLock.ExitReadLock();
        }
    }

    /// <summary>Up to <see cref="IndexQueryPlan.Limit"/> + 1 live matches in one partition, in the query's order.</summary>
    public List<PartitionEntry> Scan(PartitionIndex index, string partition, IndexQueryPlan plan, DateTimeOffset now)
    {
        var n = NumberOf(plan.Index);
        var (start, end) = index.Range(n, partition, IndexRange.For(plan));
        var entries = new ArraySegment<PartitionEntry>(index.ByIndex[n], start, end - start);
        return (plan.Descending ? Enumerable.Reverse(entries) : entries).Where(e => !Timestamps.IsExpired(e.Document.ExpiresAt, now)).Take(plan.Limit + 1).ToList();
    }

    /// <summary>How many live matches there are in one partition.</summary>
    public long Count(PartitionIndex index, string partition, IndexQueryPlan plan, DateTimeOffset now)
    {
        var n = NumberOf(plan.Index);
        var (start, end) = index.Range(n, partition, IndexRange.For(plan));
        return !index.Expiring[n] ? end - start : new ArraySegment<PartitionEntry>(index.ByIndex[n], start, end - start).LongCount(e => !Timestamps.IsExpired(e.Document.ExpiresAt, now));
    }

    private static IEnumerable<IndexEntry> Live(IEnumerable<IndexEntry> entries, DateTimeOffset now) => entries.Where(e => !Timestamps.IsExpired(e.Document.ExpiresAt, now));

    /// <summary>The entries from <paramref name="start"/> up to <paramref name="end"/> (exclusive), in either direction.</summary>
    private static IEnumerable<IndexEntry> Between(IndexEntryList list, IndexEntryList.Position start, IndexEntryList.Position end, bool descending)
    {
        if (!descending)
        {
            for (var p = start; p.CompareTo(end) < 0; p = list.Next(p))
            {
                yield return list[p];
            }
        }
        else if (start.CompareTo(end) < 0)
        {
            for (var p = list.Previous(end); ; p = list.Previous(p))
            {
                yield return list[p];
                if (p.CompareTo(start) == 0)
                {
                    break;
                }
            }
        }
    }

    public void Dispose() => _entriesLock.Dispose();

    private static (IndexEntryList.Position Start, IndexEntryList.Position End) Range(IndexEntryList list, IndexRange range)
    {
        var start = new IndexEntryList.Position(0, 0);
        foreach (var probe in range.Lower)
        {
            var p = list.Seek(probe);
            if (p.CompareTo(start) > 0)
            {
                start = p;
            }
        }

        var end = list.End;
        foreach (var probe in range.Upper)
        {
            var p = list.Seek(probe);
            if (p.CompareTo(end) < 0)
            {
                end = p;
            }
        }

        return (start, end);
    }

    private static int IndexOf(IReadOnlyList<IndexDefinition> indexes, IndexDefinition index)
    {
        for (var i = 0; i < indexes.Count; i++)
        {
            if (ReferenceEquals(indexes[i], index))
            {
                return i;
            }
        }

        throw new InvalidOperationException("An index is missing from its collection's list.");
    }

    // Removes a committed claim only if it is still the one of this partition's document.
    private bool RemoveClaim((int, IndexValue) slot, string partition, DocumentRecord record)
    {
        if (_claims.TryGetValue(slot, out var claim) && claim.Pending is null && ReferenceEquals(claim.Record, record) && string.Equals(claim.Partition, partition, StringComparison.Ordinal))
        {
            _claims.Remove(slot);
            return true;
        }

        return false;
    }
}

/// <summary>
/// Who holds a global unique value: a partition's committed document (<see cref="Record"/>), or a
/// commit of the partition in flight (<see cref="Pending"/>) that reserved it.
/// </summary>
internal readonly record struct Claim(string Partition, DocumentRecord? Record, IndexWork? Pending);

/// <summary>A reservation a commit made, with the claim it replaced (given back if the commit fails).</summary>
internal readonly record struct Reservation((int Index, IndexValue Value) Slot, Claim? Previous);

/// <summary>A claim a partition keeps on a value it gave up in a commit whose durability is unknown.</summary>
internal readonly record struct LimboClaim((int Index, IndexValue Value) Slot, DocumentRecord Record);
