using System.Diagnostics.CodeAnalysis;

namespace Storage.Engine;

/// <summary>An index declaration a backend stored at an earlier open: the backend's id for it, its collection, name and <see cref="IndexCatalog.Signature"/>.</summary>
/// <param name="Id">The backend's id of the stored declaration (its entries are kept under it).</param>
/// <param name="Collection">The index's collection.</param>
/// <param name="Name">The index's name.</param>
/// <param name="Signature">The declaration's signature when it was stored.</param>
[Experimental(Experiments.BackendInterface)]
public readonly record struct StoredIndex(long Id, string Collection, string Name, string Signature);

/// <summary>An index an open builds from the live documents.</summary>
/// <param name="Index">The declaration to build (one of the catalog's own).</param>
/// <param name="Reason">Why, for <see cref="IndexBuilder"/>'s log: "new", or "changed" when it replaces a stored declaration of the same collection and name.</param>
/// <param name="Replaces">The stored declaration it replaces (to remove with its entries first), or <see langword="null"/> for a new one.</param>
[Experimental(Experiments.BackendInterface)]
public readonly record struct IndexBuild(IndexDefinition Index, string Reason, StoredIndex? Replaces);

/// <summary>
/// What an open does to bring a backend's stored index declarations in line with the declared ones,
/// decided once for every backend that stores them: a declaration stored with the same signature is
/// kept with its entries; a new one is built, and one whose definition changed is removed and built
/// again; a stored one no longer declared is dropped with its entries. Any change raises the catalog
/// generation, so that instances opened with the old declarations can refuse to write. A store opened
/// with <see cref="IndexCatalog.Stored"/> (a tool that reads a store its app owns) adopts the stored
/// declarations and changes nothing.
/// </summary>
[Experimental(Experiments.BackendInterface)]
public sealed class IndexSynchronization
{
    private IndexSynchronization(IndexCatalog catalog, Dictionary<IndexDefinition, long> kept, List<IndexBuild> builds, List<StoredIndex> drops, List<StoredIndex> removals, long generation)
    {
        Catalog = catalog;
        Kept = kept;
        Builds = builds;
        Drops = drops;
        Removals = removals;
        Generation = generation;
    }

    /// <summary>
    /// The declarations the store opens with: the declared ones, or for <see cref="IndexCatalog.Stored"/> the
    /// stored ones, read from their signatures (every one kept, nothing built or dropped).
    /// </summary>
    public IndexCatalog Catalog { get; }

    /// <summary>The declarations kept as stored, each with its stored id (keyed by the catalog's own definitions).</summary>
    public IReadOnlyDictionary<IndexDefinition, long> Kept { get; }

    /// <summary>The declarations to build, in declaration order.</summary>
    public IReadOnlyList<IndexBuild> Builds { get; }

    /// <summary>The stored declarations no longer declared, in stored order: removed with their entries and logged as dropped (<see cref="IndexBuilder.Dropped"/>).</summary>
    public IReadOnlyList<StoredIndex> Drops { get; }

    /// <summary>Every stored declaration that goes, in stored order: the <see cref="Drops"/> and those a build replaces.</summary>
    public IReadOnlyList<StoredIndex> Removals { get; }

    /// <summary>Whether anything is built or removed.</summary>
    public bool HasChanges => Removals.Count > 0 || Builds.Count > 0;

    /// <summary>The catalog generation the store opens with: the stored one, raised by one when anything changes.</summary>
    public long Generation { get; }

    /// <summary>Decides what an open keeps, builds and drops.</summary>
    /// <param name="catalog">The declared indexes.</param>
    /// <param name="stored">The stored declarations, in the backend's order (at most one per collection and name).</param>
    /// <param name="generation">The stored catalog generation.</param>
    /// <returns>The plan.</returns>
    public static IndexSynchronization Plan(IndexCatalog catalog, IEnumerable<StoredIndex> stored, long generation)
    {
        ArgumentNullException.ThrowIfNull(catalog);
        ArgumentNullException.ThrowIfNull(stored);
        var all = stored.ToList();
        if (catalog.KeepsStored)
        {
            var adopted = all.ConvertAll(s => IndexCatalog.FromSignature(s.Signature));
            var adoptedCatalog = new IndexCatalog(adopted);
            var ids = new Dictionary<IndexDefinition, long>(ReferenceEqualityComparer.Instance);
            for (var i = 0; i < all.Count; i++)
            {
                ids.Add(adopted[i], all[i].Id);
            }

            return new IndexSynchronization(adoptedCatalog, ids, [], [], [], generation);
        }

        var byName = all.ToDictionary(s => (s.Collection, s.Name));
        var kept = new Dictionary<IndexDefinition, long>(ReferenceEqualityComparer.Instance);
        var builds = new List<IndexBuild>();
        var replaced = new HashSet<long>();
        foreach (var index in catalog.All)
        {
            if (!byName.TryGetValue((index.Collection, index.Name), out var existing))
            {
                builds.Add(new IndexBuild(index, "new", null));
            }
            else if (string.Equals(existing.Signature, IndexCatalog.Signature(index), StringComparison.Ordinal))
            {
                kept.Add(index, existing.Id);
            }
            else
            {
                builds.Add(new IndexBuild(index, "changed", existing));
                replaced.Add(existing.Id);
            }
        }

        var removals = all.FindAll(s => !kept.ContainsValue(s.Id));
        var drops = removals.FindAll(s => !replaced.Contains(s.Id));
        return new IndexSynchronization(catalog, kept, builds, drops, removals, removals.Count > 0 || builds.Count > 0 ? generation + 1 : generation);
    }
}
