using Storage.Internal;

namespace Storage.Postgres.Internal;

/// <summary>
/// The indexes a store instance opened with: the validated declarations, the id of each in
/// <c>index_definitions</c>, and the catalog generation its writes must still find.
/// </summary>
internal sealed class StoreIndexes
{
    private readonly Dictionary<IndexDefinition, int> _ids;

    /// <param name="catalog">The declarations.</param>
    /// <param name="ids">The id of each of the catalog's definitions (compared by reference).</param>
    /// <param name="generation">The catalog generation.</param>
    public StoreIndexes(IndexCatalog catalog, Dictionary<IndexDefinition, int> ids, long generation)
    {
        Catalog = catalog;
        Generation = generation;
        _ids = ids;
    }

    public IndexCatalog Catalog { get; }

    /// <summary>The value of <c>storage_meta.index_generation</c> after this instance's open.</summary>
    public long Generation { get; }

    /// <summary>Whether any index is declared.</summary>
    public bool Any => _ids.Count > 0;

    /// <summary>The id of a declared index (one of <see cref="Catalog"/>'s own definitions).</summary>
    public int Id(IndexDefinition index) => _ids[index];

    /// <summary>The <c>unique_scope</c> column of an index's entries.</summary>
    public static short UniqueScope(IndexDefinition index)
        => !index.Unique ? Schema.NotUnique : index.Scope == IndexScope.Global ? Schema.UniqueInStore : Schema.UniqueInPartition;

    /// <summary>
    /// The entries a stored document was given in the indexes of its collection (parsed once): its
    /// values in each, in declaration order; none in an index that cannot index it (an expired
    /// document that a later build skipped).
    /// </summary>
    public static IEnumerable<(IndexDefinition Index, IndexValue Value)> EntriesOf(IReadOnlyList<IndexDefinition> indexes, ReadOnlyMemory<byte> json)
    {
        IReadOnlyList<IndexValue>[] values;
        try
        {
            values = IndexValues.Extract(indexes, json);
        }
        catch (ArgumentException)
        {
            values = [.. indexes.Select(index => IndexValues.TryExtract(index, json, out var found, out _) ? found : [])];
        }

        return indexes.SelectMany((index, j) => values[j].Select(value => (index, value)));
    }
}

/// <summary>An index value identified by its index's id: a key of unique values in a group.</summary>
internal readonly record struct IndexedValue(int IndexId, IndexValue Value) : IComparable<IndexedValue>
{
    public int CompareTo(IndexedValue other)
    {
        var c = IndexId.CompareTo(other.IndexId);
        return c != 0 ? c : Value.CompareTo(other.Value);
    }
}
