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
/// decision under concurrency its own way (a unique index, reservations).
/// </summary>
/// <param name="partition">The write's partition.</param>
/// <param name="now">The write's time: an expired holder holds nothing.</param>
/// <param name="storedHolders">The stored documents holding a value of a unique index (in the store for a store-wide index, in the partition otherwise), as they were before the write.</param>
[Experimental(Experiments.BackendInterface)]
public sealed class UniqueValues(string partition, DateTimeOffset now, Func<IndexDefinition, IndexValue, IEnumerable<ValueHolder>> storedHolders) : IUniquenessCheck
{
    private readonly Dictionary<(IndexDefinition Index, IndexValue Value), DocumentId> _claims = [];
    private readonly Dictionary<DocumentId, List<(IndexDefinition, IndexValue)>> _claimsOf = [];

    /// <inheritdoc/>
    public bool Check(IReadOnlyList<WriteOperation> operations, IReadOnlyList<IndexEntries?> entries, Func<DocumentId, bool> writtenByWrite)
    {
        HashSet<DocumentId>? touched = null;
        foreach (var claim in IndexEntries.UniqueClaims(entries))
        {
            var index = claim.Index;
            touched ??= [.. operations.Where(o => o.Kind != WriteOperationKind.Append).Select(o => new DocumentId(o.Collection, o.Key))];
            if (claim.TakenInBatch || IsHeld(index, claim.Value, touched, writtenByWrite))
            {
                throw new UniqueConstraintException(partition, index.Collection, index.Name, index.Scope, claim.Value, claim.OperationIndex);
            }
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
