namespace Storage.Json;

/// <summary>The export of a partition's exact state: its published snapshot, or its file read without caching it.</summary>
internal sealed partial class JsonBackend
{
    /// <inheritdoc/>
    /// <remarks>
    /// One snapshot: the partition's published state when it is cached, else its file, read and parsed
    /// without publishing it (a commit replaces the file atomically, so the read sees one commit's
    /// state), so an export of the whole store holds one partition at a time.
    /// </remarks>
    public ValueTask<PartitionExport?> ReadPartitionAsync(string partition, CancellationToken cancellationToken)
    {
        if (FindPartition(partition) is not { } handle)
        {
            return ValueTask.FromResult<PartitionExport?>(null);
        }

        var snapshot = PublishedOrFileSnapshot(handle);
        if (!snapshot.Exists)
        {
            return ValueTask.FromResult<PartitionExport?>(null);
        }

        var key = snapshot.Partition;
        return ValueTask.FromResult<PartitionExport?>(new PartitionExport(
            key,
            snapshot.Revision,
            snapshot.OldestResumable,
            snapshot.Collections.SelectMany(c => c.Value.Select(d => d.ToDocument(key, c.Key))),
            snapshot.Tombstones.Select(static t => new ExportedTombstone(t.Collection, t.Key, t.Revision, t.DeletedAt)),
            snapshot.Sequences.Select(static s => new ExportedSequence(s.Key, s.Value.Value, s.Value.Revision)),
            snapshot.Streams.Select(static s => new ExportedStream(s.Name, s.Events))));
    }

    /// <inheritdoc/>
    public ValueTask<ChangedPartitions> ReadChangedPartitionsAsync(long afterPosition, int limit, CancellationToken cancellationToken)
        => throw new NotSupportedException("The store-wide cursor is not built for this backend yet.");

    /// <inheritdoc/>
    /// <remarks>A reader reads it from the manifest each time: the owner raises it.</remarks>
    public ValueTask<long> ReadRevisionFloorAsync(CancellationToken cancellationToken) => ValueTask.FromResult(_reader ? ReadManifest(_files, _root).RevisionFloor : CurrentFloor);

    /// <summary>
    /// The partition's published snapshot, or its file's state read without publishing it (so without
    /// keeping it in memory): for an export and for listing partitions. A write of unknown outcome is
    /// resolved first, as a read does.
    /// </summary>
    private PartitionSnapshot PublishedOrFileSnapshot(Partition handle)
    {
        lock (handle.LoadLock)
        {
            if (handle.Snapshot is { } cached)
            {
                return cached;
            }

            if (handle.Unresolved is null)
            {
                return ReadFile(handle);
            }
        }

        return Load(handle);
    }
}
