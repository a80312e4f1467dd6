using System.Diagnostics.CodeAnalysis;

namespace Storage.Engine;

/// <summary>One index entry: a document's value in one index, with the expiry it carries (its document's).</summary>
/// <param name="Document">The document (its collection is the index's).</param>
/// <param name="Index">The index.</param>
/// <param name="Value">The value.</param>
/// <param name="ExpiresAt">The document's expiry: an entry of an expired document matches no query and holds no unique value.</param>
[Experimental(Experiments.BackendInterface)]
public readonly record struct IndexEntry(DocumentId Document, IndexDefinition Index, IndexValue Value, DateTimeOffset? ExpiresAt);

/// <summary>
/// The index entries a partition's net change (<see cref="PartitionWriter.Changed"/>) moves, decided
/// once for every backend that persists entries: for each document the change wrote, the entries of
/// its stored state that it no longer has go, those of its new state that it did not have come, and
/// an entry it keeps stays — with the new expiry when the document's expiry moved. A backend applies
/// <see cref="Deletes"/>, then <see cref="ExpiryMoves"/>, then <see cref="Inserts"/> in their order.
/// </summary>
/// <remarks>
/// The inserts come in the order of <see cref="IndexEntries.UniqueClaims"/>: documents in the order
/// the change first wrote them (for one batch, batch order), each document's indexes in declaration
/// order, each index's values ascending. So a backend whose unique index decides uniqueness as the
/// entries go in (the first refused insert fails the batch) reports the conflict
/// <see cref="UniqueValues"/> and the reference model report. That is why an entry is kept only when
/// its document stays a live holder (it was live before the change, which may have given its values
/// to no one else) and no other document of the change wants the same unique value: such a value goes
/// and comes again in claim order, so the later of the two claims is the one refused.
/// </remarks>
[Experimental(Experiments.BackendInterface)]
public sealed class IndexEntryChanges
{
    private readonly HashSet<DocumentId> _documents = [];
    private List<IndexEntry>? _deletes;
    private List<IndexEntry>? _inserts;
    private List<IndexEntry>? _kept;
    private List<(DocumentId Document, DateTimeOffset? ExpiresAt)>? _expiryMoves;

    private IndexEntryChanges()
    {
    }

    /// <summary>The entries to remove, with the expiry of their document's stored state.</summary>
    public IReadOnlyList<IndexEntry> Deletes => _deletes ?? [];

    /// <summary>The documents whose kept entries take a new expiry (every entry of the document, in its collection's indexes).</summary>
    public IReadOnlyList<(DocumentId Document, DateTimeOffset? ExpiresAt)> ExpiryMoves => _expiryMoves ?? [];

    /// <summary>
    /// The entries a written document keeps, with its new expiry: a backend that holds each entry with
    /// its document's state (in memory) points them at the new state; one that persists entries needs
    /// only <see cref="ExpiryMoves"/>.
    /// </summary>
    public IReadOnlyList<IndexEntry> Kept => _kept ?? [];

    /// <summary>The entries to add, in claim order (see the remarks of <see cref="IndexEntryChanges"/>).</summary>
    public IReadOnlyList<IndexEntry> Inserts => _inserts ?? [];

    /// <summary>
    /// Decides the entry changes of a partition's net change.
    /// </summary>
    /// <param name="change">The partition's writer, after its requests applied.</param>
    /// <param name="catalog">The store's indexes: documents of collections without any are skipped.</param>
    /// <param name="storedEntries">
    /// The entries a document's stored row holds, as the backend has them (read from its entry table,
    /// or extracted from the row's value); called once for each written document of an indexed
    /// collection that had a row.
    /// </param>
    /// <param name="movesExpiry">
    /// Whether the backend moves the expiry of kept entries (<see cref="ExpiryMoves"/>); when
    /// <see langword="false"/>, a document whose expiry changed keeps no entry: all of them go and come again.
    /// </param>
    /// <returns>The changes.</returns>
    public static IndexEntryChanges Of(PartitionWriter change, IndexCatalog catalog, Func<DocumentId, DocumentRow, IEnumerable<(IndexDefinition Index, IndexValue Value)>> storedEntries, bool movesExpiry = true)
    {
        ArgumentNullException.ThrowIfNull(change);
        return Of(change.Changed(), change.Now, catalog, storedEntries, movesExpiry);
    }

    /// <summary>
    /// Decides the entry changes of a net change a backend gathered itself — over the writers of one
    /// commit, say, with purges between them: each document once, with its row before the first
    /// writer and its row after the last, in the order the commit first wrote them.
    /// </summary>
    /// <param name="changed">The written documents: each with its stored row (<see langword="null"/> when it had none) and its new row (<see langword="null"/> when deleted).</param>
    /// <param name="now">The commit's time: a document expired before it keeps no entry.</param>
    /// <param name="catalog">The store's indexes: documents of collections without any are skipped.</param>
    /// <param name="storedEntries">The entries a document's stored row holds, as the backend has them (see the other overload).</param>
    /// <param name="movesExpiry">Whether the backend moves the expiry of kept entries (see the other overload).</param>
    /// <returns>The changes.</returns>
    internal static IndexEntryChanges Of(IEnumerable<(DocumentId Id, DocumentRow? Original, DocumentRow? Current)> changed, DateTimeOffset now, IndexCatalog catalog, Func<DocumentId, DocumentRow, IEnumerable<(IndexDefinition Index, IndexValue Value)>> storedEntries, bool movesExpiry)
    {
        ArgumentNullException.ThrowIfNull(changed);
        ArgumentNullException.ThrowIfNull(catalog);
        ArgumentNullException.ThrowIfNull(storedEntries);
        var result = new IndexEntryChanges();
        var written = new List<(DocumentId Id, DocumentRow? Original, DocumentRow? Current)>();
        foreach (var document in changed)
        {
            if (catalog.For(document.Id.Collection).Count > 0)
            {
                written.Add(document);
                result._documents.Add(document.Id);
            }
        }

        // The unique values a second written document wants too (claimed in the change's order, as a batch's are).
        var contested = written.Count < 2 ? null
            : IndexEntries.UniqueClaims([.. written.Select(w => w.Current?.Entries)]).Where(c => c.TakenInBatch).Select(c => (c.Index, c.Value)).ToHashSet();
        foreach (var (id, original, current) in written)
        {
            HashSet<(IndexDefinition Index, IndexValue Value)>? stored = original is null ? null : [.. storedEntries(id, original)];
            var keeps = stored is not null && current is not null && !Timestamps.IsExpired(original!.ExpiresAt, now) && (movesExpiry || original.ExpiresAt == current.ExpiresAt);
            var kept = false;
            if (current?.Entries is { } values)
            {
                foreach (var entry in Entries(id, values, current.ExpiresAt))
                {
                    if (keeps && contested?.Contains((entry.Index, entry.Value)) != true && stored!.Remove((entry.Index, entry.Value)))
                    {
                        kept = true;
                        (result._kept ??= []).Add(entry);
                        continue;
                    }

                    (result._inserts ??= []).Add(entry);
                }
            }

            foreach (var (index, value) in stored ?? [])
            {
                (result._deletes ??= []).Add(new IndexEntry(id, index, value, original!.ExpiresAt));
            }

            if (kept && original!.ExpiresAt != current!.ExpiresAt)
            {
                (result._expiryMoves ??= []).Add((id, current.ExpiresAt));
            }
        }

        return result;
    }

    /// <summary>
    /// A put's entries, in claim order: its indexes in declaration order, each index's values ascending.
    /// </summary>
    /// <param name="document">The document.</param>
    /// <param name="values">Its index values (<see cref="IndexCatalog.ExtractAll"/>).</param>
    /// <param name="expiresAt">Its expiry.</param>
    /// <returns>The entries.</returns>
    public static IEnumerable<IndexEntry> Entries(DocumentId document, IndexEntries values, DateTimeOffset? expiresAt)
    {
        ArgumentNullException.ThrowIfNull(values);
        for (var j = 0; j < values.Indexes.Count; j++)
        {
            foreach (var value in values.Values[j])
            {
                yield return new IndexEntry(document, values.Indexes[j], value, expiresAt);
            }
        }
    }

    /// <summary>
    /// Whether the change wrote a document of an indexed collection: a unique value such a document
    /// holds is one the change claimed (a second claim of it fails the batch), not a stored holder's.
    /// </summary>
    /// <param name="document">The document.</param>
    /// <returns>Whether the change wrote it.</returns>
    public bool Wrote(DocumentId document) => _documents.Contains(document);
}
