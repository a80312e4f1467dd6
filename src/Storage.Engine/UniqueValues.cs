using System.Diagnostics.CodeAnalysis;

namespace Storage.Engine;

/// <summary>A stored document that holds an index value.</summary>
/// <param name="Partition">Its partition.</param>
/// <param name="Key">Its key (its collection is the index's).</param>
/// <param name="ExpiresAt">Its expiry: an expired holder holds nothing.</param>
[Experimental(Experiments.BackendInterface)]
public sealed record ValueHolder(string Partition, string Key, DateTimeOffset? ExpiresAt);

/// <summary>
/// The uniqueness decision, written once: a batch whose conditions hold fails on the first unique
/// value it wants — walking its puts in order, each put's indexes in declaration order, each index's
/// values ascending (<see cref="IndexEntries.UniqueClaims"/>) — that an earlier put of the batch
/// wants too, or that a live document holds which neither this batch nor an earlier batch of the same
/// write put or deleted; values an earlier batch of the write took are held by the document it put.
/// The backend supplies the stored holders (read under its lock, or from memory) and enforces the
/// decision under concurrency its own way: a unique index that decides races (no hook), or
/// reservations of store-wide values (<see cref="IUniqueValueReservations"/>) for the holders its
/// lock does not cover.
/// </summary>
/// <param name="partition">The write's partition.</param>
/// <param name="now">The write's time: an expired holder holds nothing.</param>
/// <param name="storedHolders">The stored documents holding a value of a unique index (in the store for a store-wide index, in the partition otherwise), as they were before the write.</param>
[Experimental(Experiments.BackendInterface)]
public sealed class UniqueValues(string partition, DateTimeOffset now, Func<IndexDefinition, IndexValue, IEnumerable<ValueHolder>> storedHolders) : IUniquenessCheck
{
    private readonly Dictionary<(IndexDefinition Index, IndexValue Value), DocumentId> _claims = [];
    private readonly Dictionary<DocumentId, List<(IndexDefinition, IndexValue)>> _claimsOf = [];
    private readonly IUniqueValueReservations? _reservations;

    /// <summary>The decision for a backend that reserves store-wide values (see <see cref="IUniqueValueReservations"/>).</summary>
    /// <param name="partition">The write's partition.</param>
    /// <param name="now">The write's time: an expired holder holds nothing.</param>
    /// <param name="storedHolders">The stored documents holding a value of a unique index that the backend's lock covers, as they were before the write.</param>
    /// <param name="reservations">Reserves each store-wide value a batch wants that no holder of <paramref name="storedHolders"/> holds.</param>
    public UniqueValues(string partition, DateTimeOffset now, Func<IndexDefinition, IndexValue, IEnumerable<ValueHolder>> storedHolders, IUniqueValueReservations reservations)
        : this(partition, now, storedHolders)
    {
        _reservations = reservations;
    }

    /// <inheritdoc/>
    /// <remarks>
    /// With reservations, a store-wide value that passes is reserved before the next claim is
    /// checked; a batch that fails, or meets a value another commit in flight reserved (it is then
    /// left out), gives back what it reserved at once, so a batch never waits holding a reservation.
    /// </remarks>
    public bool Check(IReadOnlyList<WriteOperation> operations, IReadOnlyList<IndexEntries?> entries, Func<DocumentId, bool> writtenByWrite)
    {
        HashSet<DocumentId>? touched = null;
        var mark = _reservations?.Count ?? 0;
        try
        {
            foreach (var claim in IndexEntries.UniqueClaims(entries))
            {
                var index = claim.Index;
                touched ??= [.. operations.Where(o => o.Kind != WriteOperationKind.Append).Select(o => new DocumentId(o.Collection, o.Key))];
                var answer = claim.TakenInBatch || IsHeld(index, claim.Value, touched, writtenByWrite) ? ReservationAnswer.Taken
                    : _reservations is not null && index.Scope == IndexScope.Global ? _reservations.Reserve(index, claim.Value)
                    : ReservationAnswer.Reserved;
                if (answer == ReservationAnswer.Taken)
                {
                    throw new UniqueConstraintException(partition, index.Collection, index.Name, index.Scope, claim.Value, claim.OperationIndex);
                }

                if (answer == ReservationAnswer.Busy)
                {
                    _reservations!.Release(mark);
                    return false;
                }
            }
        }
        catch when (_reservations is not null)
        {
            _reservations.Release(mark);
            throw;
        }

        return true;
    }

    /// <inheritdoc/>
    public void Record(DocumentId id, DocumentRow? row)
    {
        if (_claimsOf.Remove(id, out var released))
        {
            foreach (var value in released)
            {
                _claims.Remove(value);
            }
        }

        if (row?.Entries is not { } entries || Timestamps.IsExpired(row.ExpiresAt, now))
        {
            return;
        }

        List<(IndexDefinition, IndexValue)>? held = null;
        for (var j = 0; j < entries.Indexes.Count; j++)
        {
            if (!entries.Indexes[j].Unique)
            {
                continue;
            }

            foreach (var value in entries.Values[j])
            {
                _claims[(entries.Indexes[j], value)] = id;
                (held ??= []).Add((entries.Indexes[j], value));
            }
        }

        if (held is not null)
        {
            _claimsOf[id] = held;
        }
    }

    private bool IsHeld(IndexDefinition index, IndexValue value, HashSet<DocumentId> touched, Func<DocumentId, bool> writtenByWrite)
    {
        // A value the write itself moved: its current holder decides.
        if (_claims.TryGetValue((index, value), out var claimant))
        {
            return !touched.Contains(claimant);
        }

        foreach (var holder in storedHolders(index, value))
        {
            // A stored holder that this batch or an earlier one of the write rewrote gave its stored values up.
            var id = new DocumentId(index.Collection, holder.Key);
            var rewritten = string.Equals(holder.Partition, partition, StringComparison.Ordinal) && (touched.Contains(id) || writtenByWrite(id));
            if (!rewritten && !Timestamps.IsExpired(holder.ExpiresAt, now))
            {
                return true;
            }
        }

        return false;
    }
}

/// <summary>What a reservation of a store-wide unique value answers.</summary>
[Experimental(Experiments.BackendInterface)]
public enum ReservationAnswer
{
    /// <summary>The value is the write's now: no other partition holds it or is committing it.</summary>
    Reserved,

    /// <summary>Another partition's live document holds it: the batch fails.</summary>
    Taken,

    /// <summary>Another partition's commit in flight reserved it: the batch is left out, to be tried again once that commit has ended.</summary>
    Busy,
}

/// <summary>
/// How a backend whose lock covers one partition at a time enforces store-wide unique values under
/// concurrency: it reserves each value a batch wants (JSON's claim table), so that of two partitions
/// committing one value exactly one wins. Backends with a unique index that decides races pass none.
/// </summary>
[Experimental(Experiments.BackendInterface)]
public interface IUniqueValueReservations
{
    /// <summary>How many values the write has reserved so far: a mark for <see cref="Release"/>.</summary>
    int Count { get; }

    /// <summary>Reserves a value of a store-wide unique index for the write.</summary>
    /// <param name="index">The index.</param>
    /// <param name="value">The value.</param>
    /// <returns>Whether it is reserved, taken, or reserved by a commit in flight.</returns>
    ReservationAnswer Reserve(IndexDefinition index, IndexValue value);

    /// <summary>Gives back the reservations made from the <paramref name="from"/>-th on.</summary>
    /// <param name="from">A <see cref="Count"/> taken earlier.</param>
    void Release(int from);
}
