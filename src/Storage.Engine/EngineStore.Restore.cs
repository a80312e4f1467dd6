using System.Runtime.ExceptionServices;

namespace Storage.Engine;

/// <summary>
/// The restore of an exported state (<see cref="IStoreRestore"/>), written once: the state is checked
/// (<see cref="Restores.Validate"/>), written by the backend in the partition's turn
/// (<see cref="PendingWrite.IsRestore"/>) as a partition that must not exist; when it exists, compared
/// with what it holds — equal is a no-op, different is refused unless replacing — and written
/// atomically only if the partition is still at the revision it was read at.
/// </summary>
internal sealed partial class EngineStore : IStoreRestore
{
    /// <inheritdoc/>
    public ValueTask<RestoreOutcome> RestorePartitionAsync(PartitionExport partition, RestoreMode mode = RestoreMode.FailIfDifferent, CancellationToken cancellationToken = default)
        => RestorePartitionAsync(partition, mode, refuseWhileReadOnly: true, cancellationToken);

    // A whole store's restore checks the fence once, up front; each partition's commit checks it again, atomically.
    private ValueTask<RestoreOutcome> RestorePartitionAsync(PartitionExport partition, RestoreMode mode, bool refuseWhileReadOnly, CancellationToken cancellationToken)
    {
        ValidateMode(mode);
        var entries = Restores.Validate(partition, _indexes);
        cancellationToken.ThrowIfCancellationRequested();
        return _telemetry.Enabled
            ? _telemetry.ObserveAsync(Telemetry.RestorePartition, partition.Partition, null, (Store: this, partition, entries, mode, refuseWhileReadOnly, cancellationToken), static a => a.Store.RestoreCoreAsync(a.partition, a.entries, a.mode, a.refuseWhileReadOnly, a.cancellationToken))
            : RestoreCoreAsync(partition, entries, mode, refuseWhileReadOnly, cancellationToken);
    }

    /// <inheritdoc/>
    public ValueTask<RestoreResult> RestoreAsync(StoreExportInfo info, IAsyncEnumerable<PartitionExport> partitions, RestoreMode mode = RestoreMode.FailIfDifferent, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(info);
        ArgumentNullException.ThrowIfNull(partitions);
        ValidateMode(mode);
        return _telemetry.Enabled
            ? _telemetry.ObserveAsync(Telemetry.Restore, null, null, (Store: this, info, partitions, mode, cancellationToken), static a => a.Store.RestoreStoreCoreAsync(a.info, a.partitions, a.mode, a.cancellationToken))
            : RestoreStoreCoreAsync(info, partitions, mode, cancellationToken);
    }

    private async ValueTask<RestoreResult> RestoreStoreCoreAsync(StoreExportInfo info, IAsyncEnumerable<PartitionExport> partitions, RestoreMode mode, CancellationToken cancellationToken)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(info.RevisionFloor, nameof(info));
        await RaiseRevisionFloorCoreAsync(info.RevisionFloor, cancellationToken).ConfigureAwait(false);

        // Several partitions in flight, as an import keeps them (each is written whole in its own turn);
        // the first failure in input order is the one reported, once the partitions started have ended.
        var seen = new Dictionary<string, long>(StringComparer.Ordinal);
        var window = new Queue<(long Index, PartitionExport State, Task<RestoreOutcome> Task)>();
        long created = 0, replaced = 0, unchanged = 0, documents = 0, events = 0, index = 0;
        ExceptionDispatchInfo? failure = null;

        void Retire((long Index, PartitionExport State, Task<RestoreOutcome> Task) done)
        {
            if (!done.Task.IsCompletedSuccessfully)
            {
                failure ??= ExceptionDispatchInfo.Capture(done.Task.Exception?.InnerException ?? new OperationCanceledException());
                return;
            }

            switch (done.Task.Result)
            {
                case RestoreOutcome.Unchanged:
                    unchanged++;
                    return;
                case RestoreOutcome.Created:
                    created++;
                    break;
                default:
                    replaced++;
                    break;
            }

            documents += done.State.Documents.Count;
            events += done.State.Streams.Sum(static s => (long)s.Events.Count);
        }

        var enumerator = partitions.GetAsyncEnumerator(cancellationToken);
        await using (enumerator.ConfigureAwait(false))
        {
            while (failure is null)
            {
                if (window.Count >= _backend.ImportWindow || (window.Count > 0 && window.Peek().Task.IsCompleted))
                {
                    var oldest = window.Dequeue();
                    await ((Task)oldest.Task).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
                    Retire(oldest);
                    continue;
                }

                try
                {
                    cancellationToken.ThrowIfCancellationRequested();
                    if (!await enumerator.MoveNextAsync().ConfigureAwait(false))
                    {
                        break;
                    }

                    var state = enumerator.Current ?? throw new ArgumentException(ErrorMessages.NullImportedPartition(index), nameof(partitions));
                    if (!seen.TryAdd(state.Partition, index))
                    {
                        throw new ArgumentException(ErrorMessages.DuplicateRestoredPartition(state.Partition, seen[state.Partition], index), nameof(partitions));
                    }

                    var task = Task.Run(() => RestorePartitionAsync(state, mode, refuseWhileReadOnly: false, cancellationToken).AsTask(), CancellationToken.None);
                    window.Enqueue((index++, state, task));
                }
                catch (Exception e)
                {
                    // The partitions before it are retired first: a failure among them comes earlier in input order.
                    while (window.Count > 0)
                    {
                        var pending = window.Dequeue();
                        await ((Task)pending.Task).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
                        Retire(pending);
                    }

                    failure ??= ExceptionDispatchInfo.Capture(e);
                }
            }

            while (window.Count > 0)
            {
                var pending = window.Dequeue();
                await ((Task)pending.Task).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
                Retire(pending);
            }
        }

        failure?.Throw();
        return new RestoreResult(created, replaced, unchanged, documents, events);
    }

    /// <inheritdoc/>
    public async ValueTask RaiseRevisionFloorAsync(long floor, CancellationToken cancellationToken = default)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(floor);
        cancellationToken.ThrowIfCancellationRequested();
        await (_telemetry.Enabled
            ? _telemetry.ObserveAsync(Telemetry.RaiseRevisionFloor, null, null, (Store: this, floor, cancellationToken), static a => a.Store.RaiseRevisionFloorCoreAsync(a.floor, a.cancellationToken))
            : RaiseRevisionFloorCoreAsync(floor, cancellationToken)).ConfigureAwait(false);
    }

    private async ValueTask<long> RaiseRevisionFloorCoreAsync(long floor, CancellationToken cancellationToken)
    {
        using var scope = _lifetime.Enter();
        await RefuseWhileReadOnlyAsync(cancellationToken).ConfigureAwait(false);
        await _backend.RaiseRevisionFloorAsync(floor, cancellationToken).ConfigureAwait(false);
        return floor;
    }

    private static void ValidateMode(RestoreMode mode)
    {
        if (mode is not (RestoreMode.FailIfDifferent or RestoreMode.Replace))
        {
            throw new ArgumentOutOfRangeException(nameof(mode), mode, "The restore mode must be FailIfDifferent or Replace.");
        }
    }

    private async ValueTask<RestoreOutcome> RestoreCoreAsync(PartitionExport state, IReadOnlyList<IndexEntries?> entries, RestoreMode mode, bool refuseWhileReadOnly, CancellationToken cancellationToken)
    {
        using var scope = _lifetime.Enter();
        if (refuseWhileReadOnly)
        {
            await RefuseWhileReadOnlyAsync(cancellationToken).ConfigureAwait(false);
        }

        // First written as a partition that must not exist — a move into a new store, the common case,
        // reads nothing before it; when it exists (or was written since it was read), it is read and
        // compared, and written only over the revision it was read at.
        PartitionExport? stored = null;
        var read = false;
        while (true)
        {
            if (read && (stored = await _backend.ReadPartitionAsync(state.Partition, cancellationToken).ConfigureAwait(false)) is not null)
            {
                var differences = ExportComparison.Compare(state, stored);
                if (differences.Count == 0)
                {
                    return RestoreOutcome.Unchanged;
                }

                if (mode == RestoreMode.FailIfDifferent)
                {
                    throw new RestoreConflictException(state.Partition, differences);
                }
            }

            if ((bool)await EnqueueAsync(PendingWrite.Restore(state, entries, stored?.Revision), cancellationToken).ConfigureAwait(false))
            {
                return stored is null ? RestoreOutcome.Created : RestoreOutcome.Replaced;
            }

            read = true;
        }
    }
}
