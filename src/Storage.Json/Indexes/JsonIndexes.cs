using System.Diagnostics;
using Microsoft.Extensions.Logging;
using Storage.Internal;

namespace Storage.Json.Indexes;

/// <summary>
/// The JSON backend's secondary indexes, kept in memory and rebuilt from the partition files at
/// every open (nothing index-related is written to disk):
/// <list type="bullet">
/// <item>every entry (value, partition, key) of the store, in the engine's
/// <see cref="InMemoryIndexes{TDocument}"/>, for queries across partitions — guarded by a
/// reader-writer lock that writers hold only while they apply a committed delta (never during I/O);</item>
/// <item>per partition, its own <see cref="InMemoryIndexes{TDocument}"/>, built by each commit and
/// published with the partition's snapshot (never changed once published, so read without a lock);</item>
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
    private readonly InMemoryIndexes<DocumentRecord> _all;
    private readonly int[] _positionInCollection;
    private readonly ReaderWriterLockSlim _entriesLock = new(LockRecursionPolicy.NoRecursion);

    // Lock order: _claimsLock, then _entriesLock.
    private readonly Lock _claimsLock = new();
    private readonly Dictionary<(int Index, IndexValue Value), Claim> _claims = [];

    private JsonIndexes(InMemoryIndexes<DocumentRecord> all)
    {
        Catalog = all.Catalog;
        _all = all;
        _positionInCollection = new int[Catalog.All.Count];
        for (var n = 0; n < Catalog.All.Count; n++)
        {
            var index = Catalog.All[n];
            _positionInCollection[n] = IndexOf(Catalog.For(index.Collection), index);
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
    public static JsonIndexes Build(IndexCatalog catalog, IReadOnlyList<PartitionSnapshot> partitions, DateTimeOffset now, ILogger logger, out InMemoryIndexes<DocumentRecord>[] partitionIndexes)
    {
        var count = catalog.All.Count;
        var perPartition = new IndexEntryTable<DocumentRecord>[partitions.Count][];
        for (var p = 0; p < partitions.Count; p++)
        {
            perPartition[p] = new IndexEntryTable<DocumentRecord>[count];
        }

        var tables = new IndexEntryTable<DocumentRecord>[count];
        var partitionEntries = new List<IndexTableEntry<DocumentRecord>>();
        var all = new List<IndexTableEntry<DocumentRecord>>();
        for (var n = 0; n < count; n++)
        {
            var index = catalog.All[n];
            var builder = new IndexBuilder(index, "in memory at open", logger);

            // Documents that share a string value (a tag, a state) share one string in memory.
            var pool = index.ValueType == IndexValueType.String && !index.Unique ? new Dictionary<string, IndexValue>(StringComparer.Ordinal) : null;
            for (var p = 0; p < partitions.Count; p++)
            {
                var partition = partitions[p];
                partitionEntries.Clear();
                foreach (var document in partition.Collections.GetValueOrDefault(index.Collection) ?? [])
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

                        partitionEntries.Add(new IndexTableEntry<DocumentRecord>(value, partition.Partition, document));
                    }
                }

                all.AddRange(partitionEntries);
                perPartition[p][n] = IndexEntryTable<DocumentRecord>.Create(partitionEntries);
            }

            tables[n] = IndexEntryTable<DocumentRecord>.Create(all);
            all.Clear();
            builder.Complete();
        }

        var indexes = new JsonIndexes(new InMemoryIndexes<DocumentRecord>(catalog, tables));
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

        partitionIndexes = perPartition.Select(byIndex => new InMemoryIndexes<DocumentRecord>(catalog, byIndex)).ToArray();
        return indexes;
    }

    public int NumberOf(IndexDefinition index) => Catalog.NumberOf(index);

    /// <summary>Where index <paramref name="n"/> sits among its collection's indexes (the position of its values in <see cref="IndexEntries"/>).</summary>
    public int PositionInCollection(int n) => _positionInCollection[n];

    public bool IsGlobalUnique(int n) => Catalog.All[n].Unique && Catalog.All[n].Scope == IndexScope.Global;

    public InMemoryIndexes<DocumentRecord> EmptyPartition() => new(Catalog);

    /// <summary>Starts the index side of a group commit of one partition.</summary>
    public IndexWork Begin(string partition, InMemoryIndexes<DocumentRecord> current, DateTimeOffset now) => new(this, partition, current, now, delete: false);

    /// <summary>The index side of deleting a partition: every entry goes.</summary>
    public IndexWork BeginDelete(string partition, InMemoryIndexes<DocumentRecord> current) => new(this, partition, current, DateTimeOffset.MinValue, delete: true);

    /// <summary>The index side of restoring a partition: every entry goes, the restored documents' come (<see cref="IndexWork.CompleteRestore"/>).</summary>
    public IndexWork BeginRestore(string partition, InMemoryIndexes<DocumentRecord> current, DateTimeOffset now) => new(this, partition, current, now, delete: true);

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
                    _all.Tables[n].Remove(entry.Value, partition, entry.Document.Key);
                }

                foreach (var (n, entry) in work.Kept)
                {
                    _all.Tables[n].Replace(entry);
                }

                foreach (var (n, entry) in work.Added)
                {
                    _all.Tables[n].Add(entry);
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
    public List<IndexTableEntry<DocumentRecord>> Scan(IndexQueryPlan plan, DateTimeOffset now)
    {
        _entriesLock.EnterReadLock();
        try
        {
            return _all[plan.Index].Query(plan, now);
        }
        finally
        {
            _entriesLock.ExitReadLock();
        }
    }

    /// <summary>How many live matches there are across partitions.</summary>
    public long Count(IndexQueryPlan plan, DateTimeOffset now)
    {
        _entriesLock.EnterReadLock();
        try
        {
            return _all[plan.Index].CountMatches(plan, now);
        }
        finally
        {
            _entriesLock.ExitReadLock();
        }
    }

    public void Dispose() => _entriesLock.Dispose();

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
