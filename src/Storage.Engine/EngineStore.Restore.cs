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

        // Units in flight, in input order: a partition each, or — where the backend writes several new
        // partitions in one commit — a group of them. The first failure in input order is the one
        // reported, once the units started have ended.
        var bulk = _backend as IBulkRestoreBackend;
        var inFlight = bulk is null ? _backend.ImportWindow : RestoreGroupsInFlight;
        var seen = new Dictionary<string, long>(StringComparer.Ordinal);
        var window = new Queue<(List<RestoreItem> Items, Task<RestoreOutcome[]> Task)>();
        var group = new List<RestoreItem>();
        long groupDocuments = 0, groupBytes = 0;
        long created = 0, replaced = 0, unchanged = 0, documents = 0, events = 0, index = 0;
        ExceptionDispatchInfo? failure = null;

        void Retire((List<RestoreItem> Items, Task<RestoreOutcome[]> Task) done)
        {
            if (!done.Task.IsCompletedSuccessfully)
            {
                failure ??= ExceptionDispatchInfo.Capture(done.Task.Exception?.InnerException ?? new OperationCanceledException());
                return;
            }

            for (var i = 0; i < done.Items.Count; i++)
            {
                switch (done.Task.Result[i])
                {
                    case RestoreOutcome.Unchanged:
                        unchanged++;
                        continue;
                    case RestoreOutcome.Created:
                        created++;
                        break;
                    default:
                        replaced++;
                        break;
                }

                var state = done.Items[i].State;
                documents += state.Documents.Count;
                events += state.Streams.Sum(static s => (long)s.Events.Count);
            }
        }

        async ValueTask RetireAllAsync()
        {
            while (window.Count > 0)
            {
                var pending = window.Dequeue();
                await ((Task)pending.Task).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
                Retire(pending);
            }
        }

        void Start(List<RestoreItem> items)
        {
            var task = bulk is null
                ? Task.Run(async () => new[] { await RestorePartitionAsync(items[0].State, mode, refuseWhileReadOnly: false, cancellationToken).ConfigureAwait(false) }, CancellationToken.None)
                : Task.Run(() => RestoreGroupAsync(bulk, items, mode, cancellationToken), CancellationToken.None);
            window.Enqueue((items, task));
        }

        void StartGroup()
        {
            if (group.Count > 0)
            {
                Start(group);
                group = [];
                (groupDocuments, groupBytes) = (0, 0);
            }
        }

        var enumerator = partitions.GetAsyncEnumerator(cancellationToken);
        await using (enumerator.ConfigureAwait(false))
        {
            while (failure is null)
            {
                if (window.Count >= inFlight || (window.Count > 0 && window.Peek().Task.IsCompleted))
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
                        StartGroup();
                        break;
                    }

                    var state = enumerator.Current ?? throw new ArgumentException(ErrorMessages.NullImportedPartition(index), nameof(partitions));
                    if (!seen.TryAdd(state.Partition, index))
                    {
                        throw new ArgumentException(ErrorMessages.DuplicateRestoredPartition(state.Partition, seen[state.Partition], index), nameof(partitions));
                    }

                    index++;
                    if (bulk is null)
                    {
                        // Checked in the partition's own task, as a restore of one partition checks it.
                        Start([new RestoreItem(state, Entries: null)]);
                        continue;
                    }

                    var item = new RestoreItem(state, Restores.Validate(state, _indexes));
                    var bytes = state.Documents.Sum(static d => (long)d.Value.Length);
                    if (group.Count > 0 && (groupDocuments + state.Documents.Count > bulk.RestoreGroupDocuments || groupBytes + bytes > StoreLimits.MaxBatchBytes))
                    {
                        StartGroup();
                    }

                    group.Add(item);
                    (groupDocuments, groupBytes) = (groupDocuments + state.Documents.Count, groupBytes + bytes);
                    if (groupDocuments >= bulk.RestoreGroupDocuments)
                    {
                        StartGroup();
                    }
                }
                catch (Exception e)
                {
                    // The partitions before it go first (a group is started), and are retired first: a failure among them comes earlier in input order.
                    StartGroup();
                    await RetireAllAsync().ConfigureAwait(false);
                    failure ??= ExceptionDispatchInfo.Capture(e);
                }
            }

            await RetireAllAsync().ConfigureAwait(false);
        }

        failure?.Throw();
        return new RestoreResult(created, replaced, unchanged, documents, events);
    }

    /// <summary>How many groups of a store's restore a <see cref="IBulkRestoreBackend"/> has in flight: one commits while the next is read.</summary>
    private const int RestoreGroupsInFlight = 2;

    /// <summary>
    /// Restores a group of checked partitions as new ones in one commit; when the backend refuses it (a
    /// partition exists, a unique value is held), one by one, each read, compared and decided as a restore
    /// of one partition is, stopping at the first that fails.
    /// </summary>
    private async Task<RestoreOutcome[]> RestoreGroupAsync(IBulkRestoreBackend bulk, List<RestoreItem> items, RestoreMode mode, CancellationToken cancellationToken)
    {
        using (_lifetime.Enter())
        {
            cancellationToken.ThrowIfCancellationRequested();
            var writes = items.ConvertAll(static i => PendingWrite.Restore(i.State, i.Entries!, over: null));
            if (await bulk.RestoreNewAsync(writes, cancellationToken).ConfigureAwait(false))
            {
                return Enumerable.Repeat(RestoreOutcome.Created, items.Count).ToArray();
            }
        }

        var outcomes = new RestoreOutcome[items.Count];
        for (var i = 0; i < items.Count; i++)
        {
            outcomes[i] = await (_telemetry.Enabled
                ? _telemetry.ObserveAsync(Telemetry.RestorePartition, items[i].State.Partition, null, (Store: this, Item: items[i], mode, cancellationToken), static a => a.Store.RestoreCoreAsync(a.Item.State, a.Item.Entries!, a.mode, refuseWhileReadOnly: false, a.cancellationToken))
                : RestoreCoreAsync(items[i].State, items[i].Entries!, mode, refuseWhileReadOnly: false, cancellationToken)).ConfigureAwait(false);
        }

        return outcomes;
    }

    /// <summary>A partition of a store's restore, with its index values once checked.</summary>
    private sealed record RestoreItem(PartitionExport State, IReadOnlyList<IndexEntries?>? Entries);

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

        // Without replacing, first written as a partition that must not exist — a move into a new store,
        // the common case, reads nothing before it. A replace (a follower bringing a copy up to date, the
        // partition there most of the time) reads first. When it exists, it is compared, and written only
        // over the revision it was read at (read again if it was written since).
        PartitionExport? stored = null;
        var read = mode == RestoreMode.Replace;
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
