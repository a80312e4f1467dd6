using System.Collections.Frozen;

namespace Storage.Json;

/// <summary>One stored document of a partition.</summary>
internal sealed record DocumentRecord(string Key, byte[] Value, long Version, DateTimeOffset CreatedAt, DateTimeOffset UpdatedAt, DateTimeOffset? ExpiresAt);

/// <summary>
/// An immutable view of one partition as committed: readers use it without locks, and each commit
/// publishes a new one. Documents of a collection are kept in an array sorted by code point, so
/// point reads and range scans are binary searches.
/// </summary>
internal sealed class PartitionSnapshot
{
    public PartitionSnapshot(string partition, long revision, bool exists, IReadOnlyDictionary<string, DocumentRecord[]> collections, IReadOnlyDictionary<string, long> sequences)
    {
        Partition = partition;
        Revision = revision;
        Exists = exists;
        Collections = collections;
        Sequences = sequences;
    }

    public string Partition { get; }

    /// <summary>The revision of the latest commit (for a partition without a file: the store's revision floor).</summary>
    public long Revision { get; }

    /// <summary>Whether the partition has a file.</summary>
    public bool Exists { get; }

    public IReadOnlyDictionary<string, DocumentRecord[]> Collections { get; }

    public IReadOnlyDictionary<string, long> Sequences { get; }

    public static PartitionSnapshot Empty(string partition, long revisionFloor)
        => new(partition, revisionFloor, exists: false, FrozenDictionary<string, DocumentRecord[]>.Empty, FrozenDictionary<string, long>.Empty);

    public DocumentRecord? Find(string collection, string key)
    {
        if (!Collections.TryGetValue(collection, out var documents))
        {
            return null;
        }

        var index = IndexOf(documents, key);
        return index >= 0 ? documents[index] : null;
    }

    /// <summary>Binary search by code point; the complement of the insertion point when missing.</summary>
    public static int IndexOf(DocumentRecord[] documents, string key)
    {
        var comparer = StorageKeyComparer.Instance;
        int low = 0, high = documents.Length - 1;
        while (low <= high)
        {
            var mid = low + ((high - low) >> 1);
            var order = comparer.Compare(documents[mid].Key, key);
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
