namespace Storage.Engine;

/// <summary>
/// Following another store, written once: the store-wide cursor over changed partitions
/// (<see cref="IStoreBackend.ReadChangedPartitionsAsync"/>, paged and checked here), and the
/// version-gated apply of another store's change feed (<see cref="Follows"/>), written as a restore over
/// the revision it was decided on, so it is atomic and never overwrites a write it did not see.
/// </summary>
internal sealed partial class EngineStore
{
    /// <inheritdoc/>
    public ValueTask<PartitionInfo?> GetPartitionAsync(string partition, CancellationToken cancellationToken = default)
    {
        Identifiers.ValidatePartitionKey(partition);
        cancellationToken.ThrowIfCancellationRequested();
        return _telemetry.Enabled
            ? _telemetry.ObserveAsync(Telemetry.GetPartition, partition, null, (Store: this, partition, cancellationToken), static a => a.Store.GetPartitionCoreAsync(a.partition, a.cancellationToken))
            : GetPartitionCoreAsync(partition, cancellationToken);
    }

    private async ValueTask<PartitionInfo?> GetPartitionCoreAsync(string partition, CancellationToken cancellationToken)
    {
        using var scope = _lifetime.Enter();
        return await ReadPartitionInfoAsync(partition, cancellationToken).ConfigureAwait(false);
    }

    // The feed's state without its changes: nothing follows the highest revision there can be.
    private async ValueTask<PartitionInfo?> ReadPartitionInfoAsync(string partition, CancellationToken cancellationToken)
    {
        var read = await _backend.ReadChangesAsync(partition, long.MaxValue, 1, 1, Now(), cancellationToken).ConfigureAwait(false);
        return read.Exists ? new PartitionInfo(partition, read.Revision) : null;
    }

    /// <inheritdoc/>
    public ValueTask<PartitionChangePage> ReadChangedPartitionsAsync(long afterPosition, int limit = StoreLimits.DefaultPageSize, CancellationToken cancellationToken = default)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(afterPosition);
        ArgumentOutOfRangeException.ThrowIfLessThan(limit, 1);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(limit, StoreLimits.MaxPageSize);
        cancellationToken.ThrowIfCancellationRequested();
        return _telemetry.Enabled
            ? _telemetry.ObserveAsync(Telemetry.ReadChangedPartitions, null, null, (Store: this, afterPosition, limit, cancellationToken), static a => a.Store.ReadChangedPartitionsCoreAsync(a.afterPosition, a.limit, a.cancellationToken))
            : ReadChangedPartitionsCoreAsync(afterPosition, limit, cancellationToken);
    }

    private async ValueTask<PartitionChangePage> ReadChangedPartitionsCoreAsync(long afterPosition, int limit, CancellationToken cancellationToken)
    {
        using var scope = _lifetime.Enter();
        var read = await _backend.ReadChangedPartitionsAsync(afterPosition, limit, cancellationToken).ConfigureAwait(false);
        if (afterPosition > 0 && afterPosition < read.OldestPosition)
        {
            throw new ChangedPartitionsTruncatedException(afterPosition, read.OldestPosition);
        }

        // A listing from 0 goes on from its pages' last positions, and no position below the oldest can be
        // resumed from (marks there were dropped): its first page holds every partition that has not changed
        // since, however many, and the first one after them, so that it ends above the oldest position.
        if (read.HasMore && read.Items[^1].Position < read.OldestPosition)
        {
            var asked = limit;
            while (read.HasMore && read.Items[^1].Position < read.OldestPosition)
            {
                asked = (int)Math.Min(4L * asked, int.MaxValue);
                read = await _backend.ReadChangedPartitionsAsync(afterPosition, asked, cancellationToken).ConfigureAwait(false);
            }

            var below = read.Items.Count(c => c.Position < read.OldestPosition);
            read = ChangedPartitionPages.Cut(read.Items, Math.Max(limit, below + 1), read.CurrentPosition, read.OldestPosition, read.RevisionFloor) is { HasMore: true } cut
                ? cut
                : read;
        }

        var last = read.HasMore ? read.Items[^1].Position : Math.Max(afterPosition, read.CurrentPosition);
        return new PartitionChangePage(read.Items, last, read.HasMore, read.RevisionFloor);
    }

    /// <inheritdoc/>
    public ValueTask<ApplyResult> ApplyChangesAsync(string partition, long afterRevision, ChangePage page, CancellationToken cancellationToken = default)
    {
        Identifiers.ValidatePartitionKey(partition);
        ArgumentOutOfRangeException.ThrowIfNegative(afterRevision);
        ArgumentNullException.ThrowIfNull(page);
        Follows.Validate(partition, afterRevision, page);
        cancellationToken.ThrowIfCancellationRequested();
        return _telemetry.Enabled
            ? _telemetry.ObserveAsync(Telemetry.ApplyChanges, partition, null, (Store: this, partition, afterRevision, page, cancellationToken), static a => a.Store.ApplyChangesCoreAsync(a.partition, a.afterRevision, a.page, a.cancellationToken))
            : ApplyChangesCoreAsync(partition, afterRevision, page, cancellationToken);
    }

    private async ValueTask<ApplyResult> ApplyChangesCoreAsync(string partition, long afterRevision, ChangePage page, CancellationToken cancellationToken)
    {
        using var scope = _lifetime.Enter();
        await RefuseWhileReadOnlyAsync(cancellationToken).ConfigureAwait(false);
        while (true)
        {
            // Decided over the partition as stored and written only over that revision: a write in between
            // makes it decide again.
            var stored = await _backend.ReadPartitionAsync(partition, cancellationToken).ConfigureAwait(false);
            var current = stored?.Revision ?? 0;
            if (current < afterRevision)
            {
                throw new ArgumentException(ErrorMessages.ApplyGap(partition, afterRevision, current), nameof(afterRevision));
            }

            var (state, applied, skipped) = Follows.Merge(partition, stored, page);
            if (state is null)
            {
                return new ApplyResult(0, skipped, current);
            }

            var entries = Restores.Validate(state, _indexes);
            if ((bool)await EnqueueAsync(PendingWrite.Restore(state, entries, stored?.Revision), cancellationToken).ConfigureAwait(false))
            {
                return new ApplyResult(applied, skipped, state.Revision);
            }
        }
    }

    /// <inheritdoc/>
    public ValueTask<bool> ApplyPartitionDeleteAsync(string partition, long revision, CancellationToken cancellationToken = default)
    {
        Identifiers.ValidatePartitionKey(partition);
        ArgumentOutOfRangeException.ThrowIfNegative(revision);
        cancellationToken.ThrowIfCancellationRequested();
        return _telemetry.Enabled
            ? _telemetry.ObserveAsync(Telemetry.ApplyPartitionDelete, partition, null, (Store: this, partition, revision, cancellationToken), static a => a.Store.ApplyPartitionDeleteCoreAsync(a.partition, a.revision, a.cancellationToken))
            : ApplyPartitionDeleteCoreAsync(partition, revision, cancellationToken);
    }

    private async ValueTask<bool> ApplyPartitionDeleteCoreAsync(string partition, long revision, CancellationToken cancellationToken)
    {
        using var scope = _lifetime.Enter();
        await RefuseWhileReadOnlyAsync(cancellationToken).ConfigureAwait(false);
        var deleted = false;
        if (await ReadPartitionInfoAsync(partition, cancellationToken).ConfigureAwait(false) is { } info && info.Revision <= revision)
        {
            deleted = (bool)await EnqueueAsync(PendingWrite.DeletePartition(partition), cancellationToken).ConfigureAwait(false);
        }

        await _backend.RaiseRevisionFloorAsync(revision, cancellationToken).ConfigureAwait(false);
        return deleted;
    }
}
