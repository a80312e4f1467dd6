using System.ComponentModel;

namespace Storage.Internal;

/// <summary>
/// Builds one index from a store's existing live documents (at open, when the index is new or its
/// declaration changed): extracts each document's values and checks a unique index's values are
/// distinct, failing with <see cref="IndexBuildException"/> naming the index and the document.
/// Every backend builds through this one class, so they refuse the same stores. Not a supported API.
/// </summary>
/// <param name="index">The index to build.</param>
[EditorBrowsable(EditorBrowsableState.Never)]
public sealed class IndexBuilder(IndexDefinition index)
{
    private readonly HashSet<(string Partition, IndexValue Value)> _taken = [];

    /// <summary>The index being built.</summary>
    public IndexDefinition Index { get; } = index ?? throw new ArgumentNullException(nameof(index));

    /// <summary>How many documents were added.</summary>
    public long Documents { get; private set; }

    /// <summary>How many entries (document, value) the added documents hold.</summary>
    public long Entries { get; private set; }

    /// <summary>Adds one live document of the index's collection.</summary>
    /// <param name="partition">The document's partition.</param>
    /// <param name="key">The document's key.</param>
    /// <param name="utf8Json">The document's value.</param>
    /// <returns>The document's values for the index (empty when it is not indexed).</returns>
    /// <exception cref="IndexBuildException">The document holds a value of the wrong type, or a unique value another added document holds.</exception>
    public IReadOnlyList<IndexValue> Add(string partition, string key, ReadOnlyMemory<byte> utf8Json)
    {
        IReadOnlyList<IndexValue> values;
        try
        {
            values = IndexValues.Extract(Index, utf8Json);
        }
        catch (ArgumentException e)
        {
            throw new IndexBuildException(Index.Collection, Index.Name, partition, key, "cannot be indexed: " + e.Message, e);
        }

        if (Index.Unique)
        {
            var scope = Index.Scope == IndexScope.Partition ? partition : string.Empty;
            foreach (var value in values)
            {
                if (!_taken.Add((scope, value)))
                {
                    throw new IndexBuildException(
                        Index.Collection, Index.Name, partition, key,
                        $"holds the value '{value}', which another document {(Index.Scope == IndexScope.Partition ? "of its partition" : "of the store")} holds too, but the index is unique");
                }
            }
        }

        Documents++;
        Entries += values.Count;
        return values;
    }
}
