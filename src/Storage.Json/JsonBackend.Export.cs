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
    /// <remarks>
    /// Read from disk, each time: the journal (<see cref="ChangeJournal"/>) whole — its highest position is
    /// the current one, as every record is appended once its commit is visible — then the manifest's
    /// revision floor, which a delete raises before its mark is appended. So it reads the same from a
    /// process that does not own the store. The owner first writes the records a failed append kept.
    /// </remarks>
    public ValueTask<ChangedPartitions> ReadChangedPartitionsAsync(long afterPosition, int limit, CancellationToken cancellationToken)
    {
        cancellationToken.ThrowIfCancellationRequested();
        _journal?.TryFlush();
        var journalPath = Path.Combine(_root, ChangeJournal.FileName);
        var contents = Io(journalPath, () => ChangeJournal.Read(_files, _root)) ?? new JournalContents(0, 0, [], 0, false);
        var manifestPath = Path.Combine(_root, Manifest.FileName);
        var floor = Manifest.Parse(Io(manifestPath, () => _files.ReadAllBytes(manifestPath)), manifestPath).RevisionFloor;
        return ValueTask.FromResult(contents.Page(afterPosition, limit, floor));
    }

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
