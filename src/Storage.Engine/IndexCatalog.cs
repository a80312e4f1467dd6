using System.Diagnostics.CodeAnalysis;
using System.Globalization;

namespace Storage.Engine;

/// <summary>The validated set of a store's declared indexes.</summary>
[Experimental(Experiments.BackendInterface)]
public sealed class IndexCatalog
{
    private readonly Dictionary<(string Collection, string Name), IndexDefinition> _byName = [];
    private readonly Dictionary<string, IndexDefinition[]> _byCollection = new(StringComparer.Ordinal);
    private readonly Dictionary<IndexDefinition, int> _numbers = new(ReferenceEqualityComparer.Instance);

    /// <summary>Validates a store's index declarations.</summary>
    /// <param name="indexes">The declarations; <see langword="null"/> for none.</param>
    /// <exception cref="ArgumentException">An index is declared twice or is null.</exception>
    public IndexCatalog(IEnumerable<IndexDefinition>? indexes)
    {
        var all = new List<IndexDefinition>();
        foreach (var index in indexes ?? [])
        {
            if (index is null)
            {
                throw new ArgumentException("An index declaration is null.", nameof(indexes));
            }

            if (!_byName.TryAdd((index.Collection, index.Name), index))
            {
                throw new ArgumentException(ErrorMessages.DuplicateIndex(index.Collection, index.Name), nameof(indexes));
            }

            _numbers.Add(index, all.Count);
            all.Add(index);
        }

        All = all;
        foreach (var group in all.GroupBy(i => i.Collection, StringComparer.Ordinal))
        {
            _byCollection.Add(group.Key, [.. group]);
        }
    }

    /// <summary>An empty catalog.</summary>
    public static IndexCatalog Empty { get; } = new(null);

    /// <summary>
    /// A catalog that stands for the declarations the store keeps (<see cref="StoreOptions.KeepStoredIndexes"/>):
    /// empty until an open reads them — <see cref="IndexSynchronization.Plan"/> replaces it with them, and
    /// changes nothing; a backend that keeps no declarations opens with none.
    /// </summary>
    public static IndexCatalog Stored { get; } = new(null) { KeepsStored = true };

    /// <summary>Whether this is <see cref="Stored"/>: the open adopts the stored declarations instead of bringing them in line.</summary>
    public bool KeepsStored { get; private init; }

    /// <summary>Every declared index, in declaration order.</summary>
    public IReadOnlyList<IndexDefinition> All { get; }

    /// <summary>The indexes of one collection.</summary>
    /// <param name="collection">The collection.</param>
    /// <returns>Its indexes; empty when it has none.</returns>
    public IReadOnlyList<IndexDefinition> For(string collection) => _byCollection.TryGetValue(collection, out var found) ? found : [];

    /// <summary>The position of a declared index in <see cref="All"/>.</summary>
    /// <param name="index">The index (the declared instance).</param>
    /// <returns>Its position.</returns>
    /// <exception cref="KeyNotFoundException">The index is not one of this catalog's.</exception>
    public int NumberOf(IndexDefinition index) => _numbers[index];

    /// <summary>Finds an index.</summary>
    /// <param name="collection">The collection.</param>
    /// <param name="name">The index name.</param>
    /// <returns>The index.</returns>
    /// <exception cref="ArgumentException">No such index is declared.</exception>
    public IndexDefinition Get(string collection, string name)
        => _byName.TryGetValue((collection, name), out var index) ? index : throw new ArgumentException(ErrorMessages.UnknownIndex(collection, name), nameof(name));

    /// <summary>
    /// A stable text that changes whenever the index's meaning changes: backends that persist index
    /// entries compare it at open to rebuild a changed index and drop a removed one.
    /// </summary>
    /// <param name="index">The index.</param>
    /// <returns>The signature.</returns>
    public static string Signature(IndexDefinition index)
    {
        ArgumentNullException.ThrowIfNull(index);
        return string.Create(CultureInfo.InvariantCulture, $"v1|{index.Collection}|{index.Name}|{index.Path}|{index.ValueType}|{(index.Unique ? "unique" : "non-unique")}|{index.Scope}");
    }

    /// <summary>
    /// The declaration a <see cref="Signature"/> was made from. Unambiguous: collection and index names
    /// cannot contain '|', and the path (which can) sits between them and the three fixed fields.
    /// </summary>
    /// <param name="signature">A signature from <see cref="Signature"/>.</param>
    /// <returns>The declaration.</returns>
    /// <exception cref="FormatException">The text is not a signature this version wrote.</exception>
    public static IndexDefinition FromSignature(string signature)
    {
        ArgumentNullException.ThrowIfNull(signature);
        var head = signature.Split('|', 4);
        var tail = head.Length == 4 ? head[3].Split('|') : [];
        if (head[0] != "v1" || tail.Length < 4)
        {
            throw new FormatException($"'{signature}' is not an index signature this version reads.");
        }

        var path = string.Join('|', tail[..^3]);
        try
        {
            return new IndexDefinition(
                head[1],
                head[2],
                path,
                Enum.Parse<IndexValueType>(tail[^3], ignoreCase: false),
                tail[^2] switch { "unique" => true, "non-unique" => false, _ => throw new FormatException($"'{tail[^2]}' is neither unique nor non-unique.") },
                Enum.Parse<IndexScope>(tail[^1], ignoreCase: false));
        }
        catch (ArgumentException e)
        {
            throw new FormatException($"'{signature}' is not an index signature this version reads: {e.Message}", e);
        }
    }

    /// <summary>
    /// Computes every index value of the puts of a batch before anything is written, so a value of
    /// the wrong type fails the batch with <see cref="ArgumentException"/>.
    /// </summary>
    /// <param name="operations">The validated batch.</param>
    /// <returns>Per operation, per index of its collection, the document's values (null for deletes, appends and collections without indexes).</returns>
    public IReadOnlyList<IndexEntries?> ExtractAll(IReadOnlyList<WriteOperation> operations)
    {
        ArgumentNullException.ThrowIfNull(operations);
        var result = new IndexEntries?[operations.Count];
        if (_byName.Count == 0)
        {
            return result;
        }

        for (var i = 0; i < operations.Count; i++)
        {
            var op = operations[i];
            if (op.Kind != WriteOperationKind.Put)
            {
                continue;
            }

            var indexes = For(op.Collection);
            if (indexes.Count == 0)
            {
                continue;
            }

            result[i] = new IndexEntries(indexes, IndexValues.Extract(indexes, op.Value));
        }

        return result;
    }
}

/// <summary>One unique value a put of a batch wants (see <see cref="IndexEntries.UniqueClaims"/>).</summary>
/// <param name="OperationIndex">The position of the put in its batch.</param>
/// <param name="Index">The unique index.</param>
/// <param name="Value">The value.</param>
/// <param name="TakenInBatch">Whether an earlier put of the same batch wants it too (the batch fails on this claim).</param>
[Experimental(Experiments.BackendInterface)]
public readonly record struct UniqueClaim(int OperationIndex, IndexDefinition Index, IndexValue Value, bool TakenInBatch);

/// <summary>One document's values for each index of its collection.</summary>
/// <param name="Indexes">The collection's indexes.</param>
/// <param name="Values">The document's distinct values per index, in index order (same positions as <paramref name="Indexes"/>).</param>
[Experimental(Experiments.BackendInterface)]
public sealed record IndexEntries(IReadOnlyList<IndexDefinition> Indexes, IReadOnlyList<IReadOnlyList<IndexValue>> Values)
{
    /// <summary>
    /// The unique values a batch's puts want, in the order every backend checks them: puts in batch
    /// order, each put's indexes in declaration order, each index's values ascending. The first claim
    /// that is <see cref="UniqueClaim.TakenInBatch"/>, or whose value a live document the batch does
    /// not touch holds, fails the batch with <see cref="UniqueConstraintException"/>.
    /// </summary>
    /// <param name="entries">Per operation, its values (<see cref="IndexCatalog.ExtractAll"/>).</param>
    /// <returns>The claims, lazily.</returns>
    public static IEnumerable<UniqueClaim> UniqueClaims(IReadOnlyList<IndexEntries?> entries)
    {
        ArgumentNullException.ThrowIfNull(entries);
        HashSet<(IndexDefinition, IndexValue)>? wanted = null;
        for (var i = 0; i < entries.Count; i++)
        {
            if (entries[i] is not { } found)
            {
                continue;
            }

            for (var j = 0; j < found.Indexes.Count; j++)
            {
                var index = found.Indexes[j];
                if (!index.Unique)
                {
                    continue;
                }

                foreach (var value in found.Values[j])
                {
                    wanted ??= [];
                    yield return new UniqueClaim(i, index, value, !wanted.Add((index, value)));
                }
            }
        }
    }
}
