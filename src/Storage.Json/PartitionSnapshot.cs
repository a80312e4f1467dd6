using System.Collections.Frozen;

namespace Storage.Json;

/// <summary>
/// One stored document of a partition, kept as its entry in the partition file: the exact bytes the
/// file holds for it (see <see cref="DocumentEntryWriter"/>), rendered once when the record is made,
/// so that a commit copies the documents it did not change instead of serializing them again. The
/// value is a slice of those bytes, so the entry costs only its metadata's text in memory.
/// </summary>
/// <remarks>Made by <see cref="DocumentEntryWriter.Create"/>, which renders the entry.</remarks>
internal sealed class DocumentRecord(string key, long version, DateTimeOffset createdAt, DateTimeOffset updatedAt, DateTimeOffset? expiresAt, byte[] entry, int valueStart, int valueLength)
    : IIndexedDocument
{
    public string Key { get; } = key;

    /// <summary>The document's UTF-8 JSON value, exactly as written.</summary>
    public ReadOnlyMemory<byte> Value => entry.AsMemory(valueStart, valueLength);

    public long Version { get; } = version;

    public DateTimeOffset CreatedAt { get; } = createdAt;

    public DateTimeOffset UpdatedAt { get; } = updatedAt;

    public DateTimeOffset? ExpiresAt { get; } = expiresAt;

    /// <summary>The document's entry in the partition file, from the opening quote of its key to its closing brace.</summary>
    public ReadOnlySpan<byte> Entry => entry;

    /// <summary>The document as reads return it.</summary>
    public StoredDocument ToDocument(string partition, string collection) => new(partition, collection, Key, Value, Version, CreatedAt, UpdatedAt, ExpiresAt);
}

/// <summary>A sequence's value and the revision of the increment that set it (the change feed reports it there).</summary>
internal readonly record struct SequenceRecord(long Value, long Revision);

/// <summary>The trace a delete leaves for the change feed, until a put of the key or the purge past the retention removes it.</summary>
internal sealed record TombstoneRecord(string Collection, string Key, long Revision, DateTimeOffset DeletedAt);

/// <summary>A stream and its events, in version order (event <c>v</c> at index <c>v - 1</c>: versions have no gaps).</summary>
internal sealed record StreamRecord(string Name, StoredEvent[] Events)
{
    public long Version => Events.Length;
}

/// <summary>
/// An immutable view of one partition as committed: readers use it without locks, and each commit
/// publishes a new one. Documents of a collection, the streams and the tombstones are kept in arrays
/// sorted by code point, so point reads and range scans are binary searches; a stream's events are
/// an array indexed by version, so a stream read is a slice.
/// </summary>
internal sealed class PartitionSnapshot(
    string partition,
    long revision,
    bool exists,
    long oldestResumable,
    IReadOnlyDictionary<string, DocumentRecord[]> collections,
    IReadOnlyDictionary<string, SequenceRecord> sequences,
    TombstoneRecord[] tombstones,
    StreamRecord[] streams)
{
    public string Partition { get; } = partition;

    /// <summary>The revision of the latest commit (for a partition without a file: the store's revision floor).</summary>
    public long Revision { get; } = revision;

    /// <summary>Whether the partition has a file.</summary>
    public bool Exists { get; } = exists;

    /// <summary>The oldest revision a change-feed reader may resume after (besides 0): the partition's first revision, raised by dropped tombstones.</summary>
    public long OldestResumable { get; } = oldestResumable;

    public IReadOnlyDictionary<string, DocumentRecord[]> Collections { get; } = collections;

    public IReadOnlyDictionary<string, SequenceRecord> Sequences { get; } = sequences;

    /// <summary>Sorted by collection (ordinal), then key (code point).</summary>
    public TombstoneRecord[] Tombstones { get; } = tombstones;

    /// <summary>Sorted by stream id (code point).</summary>
    public StreamRecord[] Streams { get; } = streams;

    public static PartitionSnapshot Empty(string partition, long revisionFloor)
        => new(partition, revisionFloor, exists: false, oldestResumable: 0, FrozenDictionary<string, DocumentRecord[]>.Empty, FrozenDictionary<string, SequenceRecord>.Empty, [], []);

    public DocumentRecord? Find(string collection, string key)
    {
        if (!Collections.TryGetValue(collection, out var documents))
        {
            return null;
        }

        var index = IndexOf(documents, key);
        return index >= 0 ? documents[index] : null;
    }

    /// <summary>The events of a stream; empty when it does not exist.</summary>
    public StoredEvent[] StreamEvents(string stream)
    {
        var index = IndexOf(Streams, stream, static s => s.Name);
        return index >= 0 ? Streams[index].Events : [];
    }

    /// <summary>The order of tombstones in a snapshot and in a file: collection (ordinal), then key (code point).</summary>
    public static IComparer<TombstoneRecord> TombstoneOrder { get; } = Comparer<TombstoneRecord>.Create(static (x, y) =>
    {
        var c = string.CompareOrdinal(x!.Collection, y!.Collection);
        return c != 0 ? c : StorageKeyComparer.Instance.Compare(x.Key, y.Key);
    });

    /// <summary>Tombstones in <see cref="TombstoneOrder"/>.</summary>
    public static TombstoneRecord[] SortTombstones(IEnumerable<TombstoneRecord> tombstones)
    {
        var sorted = tombstones.ToArray();
        Array.Sort(sorted, TombstoneOrder);
        return sorted;
    }

    /// <summary>Binary search by code point; the complement of the insertion point when missing.</summary>
    public static int IndexOf(DocumentRecord[] documents, string key) => IndexOf(documents, key, static d => d.Key);

    /// <summary>Binary search of an array sorted by code point of <paramref name="keyOf"/>; the complement of the insertion point when missing.</summary>
    public static int IndexOf<T>(T[] items, string key, Func<T, string> keyOf)
    {
        var comparer = StorageKeyComparer.Instance;
        int low = 0, high = items.Length - 1;
        while (low <= high)
        {
            var mid = low + ((high - low) >> 1);
            var order = comparer.Compare(keyOf(items[mid]), key);
            if (order == 0)
            {
                return mid;
            }

            if (order < 0)
            {
                low = mid + 1;
            }
            else
            {
                high = mid - 1;
            }
        }

        return ~low;
    }
}
