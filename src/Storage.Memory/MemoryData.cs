namespace Storage.Memory;

/// <summary>
/// What a memory store holds, apart from its instance: a new instance can open it again, as a store
/// on disk is opened again after a restart (the conformance suite reopens stores this way).
/// </summary>
internal sealed class MemoryData
{
    /// <summary>The lock every instance over this data takes.</summary>
    public Lock Lock { get; } = new();

    /// <summary>The partitions by key, in code-point order.</summary>
    public SortedDictionary<string, MemoryBackend.Partition> Partitions { get; } = new(StorageKeyComparer.Instance);

    /// <summary>The store's revision floor: the highest revision of a deleted partition.</summary>
    public long RevisionFloor { get; set; }

    /// <summary>Whether the read-only fence is set: every instance over this data refuses writes.</summary>
    public bool ReadOnly { get; set; }

    /// <summary>The store-wide position of the latest change (see <c>IStoreBackend.ReadChangedPartitionsAsync</c>).</summary>
    public long Position { get; set; }

    /// <summary>The highest position of a dropped mark of a deleted partition.</summary>
    public long OldestPosition { get; set; }

    /// <summary>The marks of deleted partitions: the revision each had, the delete's position and time.</summary>
    public Dictionary<string, (long Revision, long Position, DateTimeOffset DeletedAt)> Deleted { get; } = new(StringComparer.Ordinal);
}
