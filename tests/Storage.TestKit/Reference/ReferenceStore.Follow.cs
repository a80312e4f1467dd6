using Storage.Internal;

namespace Storage.Conformance.Reference;

/// <summary>
/// The reference model's side of following a store, written from docs/upgrade-path.md ("Following a live
/// store") and the XML docs of <see cref="IStoreExport.ReadChangedPartitionsAsync"/> and
/// <see cref="IStoreRestore.ApplyChangesAsync"/>: a counter of positions, the marks of deleted partitions,
/// and changes applied item by item to a copy of the partition that then replaces it.
/// </summary>
public sealed partial class ReferenceStore
{
    /// <inheritdoc/>
    public ValueTask<PartitionInfo?> GetPartitionAsync(string partition, CancellationToken cancellationToken = default) => Run(() =>
    {
        Identifiers.ValidatePartitionKey(partition);
        cancellationToken.ThrowIfCancellationRequested();
        lock (_lock)
        {
            ThrowIfDisposed();
            return _partitions.TryGetValue(partition, out var state) ? new PartitionInfo(partition, state.Revision) : null;
        }
    });

    /// <inheritdoc/>
    public ValueTask<PartitionChangePage> ReadChangedPartitionsAsync(long afterPosition, int limit = StoreLimits.DefaultPageSize, CancellationToken cancellationToken = default) => Run(() =>
    {
        ArgumentOutOfRangeException.ThrowIfNegative(afterPosition);
        ArgumentOutOfRangeException.ThrowIfLessThan(limit, 1);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(limit, StoreLimits.MaxPageSize);
        cancellationToken.ThrowIfCancellationRequested();
        lock (_lock)
        {
            ThrowIfDisposed();
            if (afterPosition > 0 && afterPosition < _data.OldestPosition)
            {
                throw new ChangedPartitionsTruncatedException(afterPosition, _data.OldestPosition);
            }

            var all = _partitions.Select(p => new PartitionChange(p.Key, p.Value.Revision, false, p.Value.Position))
                .Concat(_data.Deleted.Select(d => new PartitionChange(d.Key, d.Value.Revision, true, d.Value.Position)))
                .Where(c => c.Position > afterPosition)
                .OrderBy(c => c.Position)
                .ThenBy(c => c.Partition, StorageKeyComparer.Instance)
                .ToList();
            if (all.Count <= limit)
            {
                return new PartitionChangePage(all, Math.Max(afterPosition, _data.Position), false, _revisionFloor);
            }

            // Every position is one commit of one partition here, so a page is simply the first `limit` — and at
            // least every partition below the oldest position and the first after them: no reader can resume below it.
            var page = all.Take(Math.Max(limit, all.Count(c => c.Position < _data.OldestPosition) + 1)).ToList();
            if (page.Count == all.Count)
            {
                return new PartitionChangePage(all, Math.Max(afterPosition, _data.Position), false, _revisionFloor);
            }

            return new PartitionChangePage(page, page[^1].Position, true, _revisionFloor);
        }
    });

    /// <inheritdoc/>
    public ValueTask<ApplyResult> ApplyChangesAsync(string partition, long afterRevision, ChangePage page, CancellationToken cancellationToken = default) => Run(() =>
    {
        Identifiers.ValidatePartitionKey(partition);
        ArgumentOutOfRangeException.ThrowIfNegative(afterRevision);
        ArgumentNullException.ThrowIfNull(page);
        if (page.LastRevision < afterRevision || page.Items.Any(c => c is null || c.Revision <= afterRevision || c.Revision > page.LastRevision
            || (c.Kind == ChangeKind.Put && c.Document!.Partition != partition)
            || (c.Kind == ChangeKind.Append && c.Event!.Partition != partition)
            || (c.Kind == ChangeKind.Delete && c.DeletedAt is null)))
        {
            throw new ArgumentException("The page does not fit the partition or the revision it was read after.", nameof(page));
        }

        cancellationToken.ThrowIfCancellationRequested();
        lock (_lock)
        {
            ThrowIfDisposed();
            ThrowIfReadOnly();
            var stored = ExportPartitionAsync(partition).AsTask().GetAwaiter().GetResult();
            var revision = stored?.Revision ?? 0;
            if (revision < afterRevision)
            {
                throw new ArgumentException($"Partition '{partition}' is at revision {revision}, behind {afterRevision}.", nameof(afterRevision));
            }

            var documents = (stored?.Documents ?? []).ToDictionary(d => (d.Collection, d.Key));
            var tombstones = (stored?.Tombstones ?? []).ToDictionary(t => (t.Collection, t.Key));
            var sequences = (stored?.Sequences ?? []).ToDictionary(s => s.Name, StringComparer.Ordinal);
            var streams = (stored?.Streams ?? []).ToDictionary(s => s.Stream, s => s.Events.ToList(), StringComparer.Ordinal);
            int applied = 0, skipped = 0;
            foreach (var change in page.Items)
            {
                var held = change.Kind switch
                {
                    ChangeKind.Put or ChangeKind.Delete => documents.TryGetValue((change.Collection!, change.Key!), out var d) ? d.Version
                        : tombstones.TryGetValue((change.Collection!, change.Key!), out var t) ? t.Revision : 0,
                    ChangeKind.Sequence => sequences.TryGetValue(change.SequenceName!, out var s) ? s.Revision : 0,
                    _ => streams.TryGetValue(change.Event!.Stream, out var e) && e.Count >= change.Event.Version ? long.MaxValue : 0,
                };
                if (held >= change.Revision)
                {
                    if (change.Kind == ChangeKind.Append && streams[change.Event!.Stream][(int)change.Event.Version - 1].Id != change.Event.Id)
                    {
                        throw new ArgumentException("An applied event differs from the one stored at its version.", nameof(page));
                    }

                    skipped++;
                    continue;
                }

                applied++;
                switch (change.Kind)
                {
                    case ChangeKind.Put:
                        documents[(change.Collection!, change.Key!)] = change.Document!;
                        tombstones.Remove((change.Collection!, change.Key!));
                        break;
                    case ChangeKind.Delete:
                        documents.Remove((change.Collection!, change.Key!));
                        tombstones[(change.Collection!, change.Key!)] = new ExportedTombstone(change.Collection!, change.Key!, change.Revision, change.DeletedAt!.Value);
                        break;
                    case ChangeKind.Sequence:
                        sequences[change.SequenceName!] = new ExportedSequence(change.SequenceName!, change.SequenceValue, change.Revision);
                        break;
                    default:
                        var events = streams.TryGetValue(change.Event!.Stream, out var list) ? list : streams[change.Event.Stream] = [];
                        if (events.Count + 1 != change.Event.Version)
                        {
                            throw new ArgumentException("An applied event would leave a gap in its stream.", nameof(page));
                        }

                        events.Add(change.Event);
                        break;
                }
            }

            var newRevision = Math.Max(revision, page.LastRevision);
            if (applied == 0 && newRevision == revision)
            {
                return new ApplyResult(0, skipped, revision);
            }

            var state = new PartitionExport(partition, newRevision, stored?.OldestResumable ?? Math.Clamp(page.OldestResumableRevision, 1, newRevision), documents.Values, tombstones.Values, sequences.Values, streams.Select(s => new ExportedStream(s.Key, s.Value)));
            RestorePartitionAsync(state, RestoreMode.Replace).AsTask().GetAwaiter().GetResult();
            return new ApplyResult(applied, skipped, newRevision);
        }
    });

    /// <inheritdoc/>
    public ValueTask<bool> ApplyPartitionDeleteAsync(string partition, long revision, CancellationToken cancellationToken = default) => Run(() =>
    {
        Identifiers.ValidatePartitionKey(partition);
        ArgumentOutOfRangeException.ThrowIfNegative(revision);
        cancellationToken.ThrowIfCancellationRequested();
        lock (_lock)
        {
            ThrowIfDisposed();
            ThrowIfReadOnly();
            var deleted = _partitions.TryGetValue(partition, out var state) && state.Revision <= revision
                && DeletePartitionAsync(partition).AsTask().GetAwaiter().GetResult();
            _revisionFloor = Math.Max(_revisionFloor, revision);
            return deleted;
        }
    });

    // The partition changed: it takes the next position, and its mark (if it was deleted) goes.
    private void Moved(string partition, ModelPartition state)
    {
        state.Position = ++_data.Position;
        _data.Deleted.Remove(partition);
    }
}
