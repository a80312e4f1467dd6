namespace Storage;

/// <summary>
/// A store whose exact stored state can be read out, partition by partition, each partition at one
/// revision: a capability a store may implement beside <see cref="IStore"/> (test with
/// <c>store is IStoreExport export</c>). Every backend of this library implements it. What an export
/// carries, and the digest that verifies it (<see cref="ExportDigest"/>), are in docs/upgrade-path.md.
/// </summary>
/// <seealso href="../../docs/upgrade-path.md"/>
public interface IStoreExport
{
    /// <summary>What the store holds besides its partitions: its revision floor and its index declarations.</summary>
    /// <param name="cancellationToken">Cancels the read.</param>
    /// <returns>The store's information.</returns>
    /// <exception cref="StoreUnavailableException">The backend could not be reached within its retry budget.</exception>
    ValueTask<StoreExportInfo> GetExportInfoAsync(CancellationToken cancellationToken = default);

    /// <summary>
    /// Exports every partition, in key order (code-point order, <see cref="StorageKeyComparer"/>), each at
    /// one revision (read in one snapshot, transaction or lock of the backend). Partitions are listed page
    /// by page as the enumeration goes: one created after its place in the order was passed is not
    /// exported, one deleted before it is read is left out. At most one partition is held at a time.
    /// </summary>
    /// <param name="cancellationToken">Stops the enumeration.</param>
    /// <returns>The partitions.</returns>
    /// <exception cref="StoreUnavailableException">The backend could not be reached within its retry budget.</exception>
    /// <exception cref="CorruptDataException">A partition's stored data is damaged.</exception>
    IAsyncEnumerable<PartitionExport> ExportAsync(CancellationToken cancellationToken = default);

    /// <summary>Exports one partition at one revision.</summary>
    /// <param name="partition">The partition key.</param>
    /// <param name="cancellationToken">Cancels the read.</param>
    /// <returns>The partition's state, or <see langword="null"/> when it does not exist.</returns>
    /// <exception cref="ArgumentException"><paramref name="partition"/> is not a valid partition key.</exception>
    /// <exception cref="StoreUnavailableException">The backend could not be reached within its retry budget.</exception>
    /// <exception cref="CorruptDataException">The partition's stored data is damaged.</exception>
    ValueTask<PartitionExport?> ExportPartitionAsync(string partition, CancellationToken cancellationToken = default);

    /// <summary>Reads a partition's current revision.</summary>
    /// <param name="partition">The partition key.</param>
    /// <param name="cancellationToken">Cancels the read.</param>
    /// <returns>The partition and its revision, or <see langword="null"/> when it does not exist.</returns>
    /// <exception cref="ArgumentException"><paramref name="partition"/> is not a valid partition key.</exception>
    /// <exception cref="StoreUnavailableException">The backend could not be reached within its retry budget.</exception>
    ValueTask<PartitionInfo?> GetPartitionAsync(string partition, CancellationToken cancellationToken = default);

    /// <summary>
    /// The store-wide cursor: which partitions changed — written, restored, imported or deleted — after a
    /// position, each once, at the position of its latest change, in position order, a page at a time. A
    /// reader that resumes from the returned <see cref="PartitionChangePage.LastPosition"/> never misses a
    /// partition that changed; it may see one again that changed again. Reading after 0 lists every
    /// partition that exists and the deleted ones whose mark is kept; a deleted partition's mark is kept
    /// for the store's tombstone retention (or until the partition is created again).
    /// </summary>
    /// <param name="afterPosition">The position already seen; 0 to list every partition.</param>
    /// <param name="limit">
    /// The most partitions one page returns, 1 to <see cref="StoreLimits.MaxPageSize"/>; a page holds every
    /// partition of the commits it reaches, so one commit over more partitions returns them all. A page read
    /// from 0 after marks were dropped also holds every partition unchanged since (positions below the oldest
    /// one a reader can resume from) and the first after them, however many that is, so that a listing can
    /// always go on from its last position.
    /// </param>
    /// <param name="cancellationToken">Cancels the read.</param>
    /// <returns>The partitions, the position to resume after, whether more follow, and the store's revision floor.</returns>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="afterPosition"/> is negative or <paramref name="limit"/> is out of range.</exception>
    /// <exception cref="ChangedPartitionsTruncatedException"><paramref name="afterPosition"/> is above 0 but older than the cursor keeps: read it afresh from 0.</exception>
    /// <exception cref="StoreUnavailableException">The backend could not be reached within its retry budget.</exception>
    /// <seealso href="../../docs/upgrade-path.md#following-a-live-store"/>
    ValueTask<PartitionChangePage> ReadChangedPartitionsAsync(long afterPosition, int limit = StoreLimits.DefaultPageSize, CancellationToken cancellationToken = default);
}

/// <summary>What a store holds besides its partitions.</summary>
/// <param name="RevisionFloor">The store's revision floor: a partition created from now on starts above it (the highest revision of a deleted partition).</param>
/// <param name="Indexes">The index declarations the store was opened with, in declaration order.</param>
public sealed record StoreExportInfo(long RevisionFloor, IReadOnlyList<IndexDefinition> Indexes);

/// <summary>
/// A partition's complete stored state at one revision: everything a backend keeps for it except what
/// is derived from it (index entries) or operational (a commit log). Documents include those that have
/// expired but are not purged yet, and tombstones every one still stored, so that the state moves
/// losslessly; reads hide the expired documents, as they do in the store.
/// </summary>
/// <remarks>
/// The constructor orders every list canonically: documents and tombstones by collection, then key;
/// sequences and streams by name; events by version (names and keys in code-point order,
/// <see cref="StorageKeyComparer"/>).
/// </remarks>
public sealed class PartitionExport
{
    /// <summary>Creates a partition's state; the lists are copied in canonical order.</summary>
    /// <param name="partition">The partition key.</param>
    /// <param name="revision">The partition's revision (of its latest commit).</param>
    /// <param name="oldestResumable">The oldest revision a change-feed reader can resume after (besides 0).</param>
    /// <param name="documents">Every stored document, expired or not.</param>
    /// <param name="tombstones">Every stored tombstone.</param>
    /// <param name="sequences">Every sequence.</param>
    /// <param name="streams">Every stream with all its events.</param>
    public PartitionExport(string partition, long revision, long oldestResumable, IEnumerable<StoredDocument> documents, IEnumerable<ExportedTombstone> tombstones, IEnumerable<ExportedSequence> sequences, IEnumerable<ExportedStream> streams)
    {
        ArgumentNullException.ThrowIfNull(partition);
        ArgumentNullException.ThrowIfNull(documents);
        ArgumentNullException.ThrowIfNull(tombstones);
        ArgumentNullException.ThrowIfNull(sequences);
        ArgumentNullException.ThrowIfNull(streams);
        Partition = partition;
        Revision = revision;
        OldestResumable = oldestResumable;
        Documents = Sorted(documents, static (x, y) => CompareIds(x.Collection, x.Key, y.Collection, y.Key));
        Tombstones = Sorted(tombstones, static (x, y) => CompareIds(x.Collection, x.Key, y.Collection, y.Key));
        Sequences = Sorted(sequences, static (x, y) => StorageKeyComparer.Instance.Compare(x.Name, y.Name));
        Streams = Sorted(streams, static (x, y) => StorageKeyComparer.Instance.Compare(x.Stream, y.Stream));
    }

    /// <summary>The partition key.</summary>
    public string Partition { get; }

    /// <summary>The partition's revision: that of its latest commit.</summary>
    public long Revision { get; }

    /// <summary>The oldest revision a change-feed reader can resume after (besides 0): the partition's first revision, raised by purged tombstones.</summary>
    public long OldestResumable { get; }

    /// <summary>Every stored document, expired or not, by collection, then key.</summary>
    public IReadOnlyList<StoredDocument> Documents { get; }

    /// <summary>Every stored tombstone, by collection, then key.</summary>
    public IReadOnlyList<ExportedTombstone> Tombstones { get; }

    /// <summary>Every sequence, by name.</summary>
    public IReadOnlyList<ExportedSequence> Sequences { get; }

    /// <summary>Every stream, by name, each with all its events.</summary>
    public IReadOnlyList<ExportedStream> Streams { get; }

    /// <summary>Compares two documents' or tombstones' identities: collection, then key, in code-point order.</summary>
    internal static int CompareIds(string collection1, string key1, string collection2, string key2)
    {
        var c = StorageKeyComparer.Instance.Compare(collection1, collection2);
        return c != 0 ? c : StorageKeyComparer.Instance.Compare(key1, key2);
    }

    private static T[] Sorted<T>(IEnumerable<T> items, Comparison<T> order)
    {
        var sorted = items.ToArray();
        Array.Sort(sorted, order);
        return sorted;
    }
}

/// <summary>The trace a delete of a live document leaves for the change feed, until a put of the key or a purge past the retention removes it.</summary>
/// <param name="Collection">The collection.</param>
/// <param name="Key">The key.</param>
/// <param name="Revision">The revision of the delete.</param>
/// <param name="DeletedAt">When it was deleted.</param>
public sealed record ExportedTombstone(string Collection, string Key, long Revision, DateTimeOffset DeletedAt);

/// <summary>A sequence.</summary>
/// <param name="Name">The name.</param>
/// <param name="Value">The value.</param>
/// <param name="Revision">The revision of the increment that set it (where the change feed reports it).</param>
public sealed record ExportedSequence(string Name, long Value, long Revision);

/// <summary>A stream and all its events.</summary>
public sealed class ExportedStream
{
    /// <summary>Creates a stream; the events are copied in version order.</summary>
    /// <param name="stream">The stream's id.</param>
    /// <param name="events">All its events.</param>
    public ExportedStream(string stream, IEnumerable<StoredEvent> events)
    {
        ArgumentNullException.ThrowIfNull(stream);
        ArgumentNullException.ThrowIfNull(events);
        Stream = stream;
        var sorted = events.ToArray();
        Array.Sort(sorted, static (x, y) => x.Version.CompareTo(y.Version));
        Events = sorted;
    }

    /// <summary>The stream's id.</summary>
    public string Stream { get; }

    /// <summary>All its events, by version (event <c>v</c> at index <c>v - 1</c>).</summary>
    public IReadOnlyList<StoredEvent> Events { get; }

    /// <summary>The stream's version: how many events it has.</summary>
    public long Version => Events.Count;
}
