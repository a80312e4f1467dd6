using System.Diagnostics.CodeAnalysis;

namespace Storage.Engine;

/// <summary>
/// A store's (or one partition's) index entries held in memory: an <see cref="IndexEntryTable{TDocument}"/>
/// per declared index, which answers the queries, counts and unique holders of that index, and the
/// application of a committed change (<see cref="IndexEntryChanges"/>). Backends that keep no
/// entries on disk use it: the memory backend for the whole store, the JSON files backend for the
/// whole store and for each partition's published snapshot.
/// </summary>
/// <typeparam name="TDocument">How the backend holds a document.</typeparam>
/// <seealso href="../../docs/architecture.md"/>
[Experimental(Experiments.BackendInterface)]
public sealed class InMemoryIndexes<TDocument>
    where TDocument : class, IIndexedDocument
{
    private readonly IndexEntryTable<TDocument>[] _tables;

    /// <summary>Entries with no entry in any index.</summary>
    /// <param name="catalog">The declared indexes.</param>
    public InMemoryIndexes(IndexCatalog catalog)
        : this(catalog, [.. (catalog ?? throw new ArgumentNullException(nameof(catalog))).All.Select(static _ => new IndexEntryTable<TDocument>())])
    {
    }

    /// <summary>Entries from tables already built.</summary>
    /// <param name="catalog">The declared indexes.</param>
    /// <param name="tables">A table per index of <paramref name="catalog"/>, in declaration order.</param>
    public InMemoryIndexes(IndexCatalog catalog, IReadOnlyList<IndexEntryTable<TDocument>> tables)
    {
        ArgumentNullException.ThrowIfNull(catalog);
        ArgumentNullException.ThrowIfNull(tables);
        if (tables.Count != catalog.All.Count)
        {
            throw new ArgumentException("There must be one table per declared index.", nameof(tables));
        }

        Catalog = catalog;
        _tables = [.. tables];
    }

    /// <summary>The declared indexes.</summary>
    public IndexCatalog Catalog { get; }

    /// <summary>The tables, in declaration order of the indexes.</summary>
    public IReadOnlyList<IndexEntryTable<TDocument>> Tables => _tables;

    /// <summary>The table of an index.</summary>
    /// <param name="index">A declared index.</param>
    /// <returns>Its table.</returns>
    public IndexEntryTable<TDocument> this[IndexDefinition index] => _tables[Catalog.NumberOf(index)];

    /// <summary>Entries of documents, as a store that opens reads them.</summary>
    /// <param name="catalog">The declared indexes.</param>
    /// <param name="documents">Each live indexed document with its values; cheapest when in (partition, key) order.</param>
    /// <returns>The entries.</returns>
    public static InMemoryIndexes<TDocument> Build(IndexCatalog catalog, IEnumerable<(string Partition, TDocument Document, IndexEntries Entries)> documents)
    {
        ArgumentNullException.ThrowIfNull(catalog);
        ArgumentNullException.ThrowIfNull(documents);
        var lists = catalog.All.Select(static _ => new List<IndexTableEntry<TDocument>>()).ToArray();
        foreach (var (partition, document, entries) in documents)
        {
            for (var j = 0; j < entries.Indexes.Count; j++)
            {
                var list = lists[catalog.NumberOf(entries.Indexes[j])];
                foreach (var value in entries.Values[j])
                {
                    list.Add(new IndexTableEntry<TDocument>(value, partition, document));
                }
            }
        }

        return new InMemoryIndexes<TDocument>(catalog, [.. lists.Select(IndexEntryTable<TDocument>.Create)]);
    }

    /// <summary>Removes the entries a document holds (a purge took it, or its partition was deleted).</summary>
    /// <param name="partition">Its partition.</param>
    /// <param name="key">Its key.</param>
    /// <param name="entries">The values it holds.</param>
    public void Remove(string partition, string key, IndexEntries entries)
    {
        ArgumentNullException.ThrowIfNull(entries);
        for (var j = 0; j < entries.Indexes.Count; j++)
        {
            foreach (var value in entries.Values[j])
            {
                this[entries.Indexes[j]].Remove(value, partition, key);
            }
        }
    }

    /// <summary>Adds the entries a document holds (a restore wrote it).</summary>
    /// <param name="partition">Its partition.</param>
    /// <param name="document">The document.</param>
    /// <param name="entries">The values it holds.</param>
    public void Add(string partition, TDocument document, IndexEntries entries)
    {
        ArgumentNullException.ThrowIfNull(entries);
        for (var j = 0; j < entries.Indexes.Count; j++)
        {
            foreach (var value in entries.Values[j])
            {
                this[entries.Indexes[j]].Add(new IndexTableEntry<TDocument>(value, partition, document));
            }
        }
    }

    /// <summary>
    /// Applies a partition's committed change: its deleted entries go, its kept entries take their
    /// document's new state (and expiry) in place, its inserted entries come.
    /// </summary>
    /// <param name="partition">The partition.</param>
    /// <param name="changes">The change's entries, decided by <see cref="IndexEntryChanges"/>.</param>
    /// <param name="documents">A written document's new state (null when it is gone: its kept entries go).</param>
    public void Apply(string partition, IndexEntryChanges changes, Func<DocumentId, TDocument?> documents)
    {
        ArgumentNullException.ThrowIfNull(changes);
        ArgumentNullException.ThrowIfNull(documents);
        foreach (var entry in changes.Deletes)
        {
            this[entry.Index].Remove(entry.Value, partition, entry.Document.Key);
        }

        foreach (var entry in changes.Kept)
        {
            if (documents(entry.Document) is { } document)
            {
                this[entry.Index].Replace(new IndexTableEntry<TDocument>(entry.Value, partition, document));
            }
            else
            {
                this[entry.Index].Remove(entry.Value, partition, entry.Document.Key);
            }
        }

        foreach (var entry in changes.Inserts)
        {
            if (documents(entry.Document) is { } document)
            {
                this[entry.Index].Add(new IndexTableEntry<TDocument>(entry.Value, partition, document));
            }
        }
    }

    /// <summary>
    /// The documents holding a value of a unique index within its scope — the store for a store-wide
    /// index, <paramref name="partition"/> otherwise — expired or not (<see cref="UniqueValues"/> judges expiry).
    /// </summary>
    /// <param name="index">The index.</param>
    /// <param name="value">The value.</param>
    /// <param name="partition">The writing partition.</param>
    /// <returns>The holders.</returns>
    public IEnumerable<ValueHolder> Holders(IndexDefinition index, IndexValue value, string partition)
    {
        ArgumentNullException.ThrowIfNull(index);
        return this[index].Holders(value, index.Scope == IndexScope.Global ? null : partition)
            .Select(static e => new ValueHolder(e.Partition, e.Document.Key, e.Document.ExpiresAt));
    }
}
