using System.Runtime.CompilerServices;

namespace Storage.Engine;

/// <summary>The export of a store's exact state (<see cref="IStoreExport"/>), written once over <see cref="IStoreBackend.ReadPartitionAsync"/>.</summary>
internal sealed partial class EngineStore : IStoreExport
{
    /// <summary>How many partitions an export lists at a time.</summary>
    internal const int ExportPageSize = 256;

    /// <summary>How many partitions an export reads ahead of the one it yields: memory holds at most this many more partitions.</summary>
    internal const int ExportReadAhead = 4;

    /// <inheritdoc/>
    public ValueTask<StoreExportInfo> GetExportInfoAsync(CancellationToken cancellationToken = default)
    {
        cancellationToken.ThrowIfCancellationRequested();
        return _telemetry.Enabled
            ? _telemetry.ObserveAsync(Telemetry.GetExportInfo, null, null, (Store: this, cancellationToken), static a => a.Store.GetExportInfoCoreAsync(a.cancellationToken))
            : GetExportInfoCoreAsync(cancellationToken);
    }

    private async ValueTask<StoreExportInfo> GetExportInfoCoreAsync(CancellationToken cancellationToken)
    {
        using var scope = _lifetime.Enter();
        var floor = await _backend.ReadRevisionFloorAsync(cancellationToken).ConfigureAwait(false);
        return new StoreExportInfo(floor, _indexes.All);
    }

    /// <inheritdoc/>
    public async IAsyncEnumerable<PartitionExport> ExportAsync([EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        // The next few partitions are read while the caller handles one (their reads' round trips and the
        // caller's work overlap); each is still read in a snapshot of its own, and yielded in key order.
        var reads = new Queue<Task<PartitionExport?>>();
        try
        {
            IReadOnlyList<PartitionInfo> page = [];
            var next = 0;
            var listed = false;
            while (true)
            {
                cancellationToken.ThrowIfCancellationRequested();
                while (reads.Count < ExportReadAhead)
                {
                    if (next == page.Count)
                    {
                        if (listed && page.Count < ExportPageSize)
                        {
                            break;
                        }

                        using (_lifetime.Enter())
                        {
                            page = await _backend.ListPartitionsAsync(page.Count == 0 ? null : page[^1].Partition, ExportPageSize, cancellationToken).ConfigureAwait(false);
                        }

                        (next, listed) = (0, true);
                        if (page.Count == 0)
                        {
                            break;
                        }
                    }

                    reads.Enqueue(ReadPartitionAsync(page[next++].Partition, cancellationToken).AsTask());
                }

                if (reads.Count == 0)
                {
                    yield break;
                }

                // A partition deleted since the listing is left out.
                if (await reads.Dequeue().ConfigureAwait(false) is { } partition)
                {
                    yield return partition;
                }
            }
        }
        finally
        {
            // A caller that stops early leaves no read running.
            while (reads.Count > 0)
            {
                await ((Task)reads.Dequeue()).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
            }
        }
    }

    /// <inheritdoc/>
    public ValueTask<PartitionExport?> ExportPartitionAsync(string partition, CancellationToken cancellationToken = default)
    {
        Identifiers.ValidatePartitionKey(partition);
        cancellationToken.ThrowIfCancellationRequested();
        return ReadPartitionAsync(partition, cancellationToken);
    }

    // Each partition an export reads is one traced operation, whether asked for alone or as part of ExportAsync.
    private ValueTask<PartitionExport?> ReadPartitionAsync(string partition, CancellationToken cancellationToken)
        => _telemetry.Enabled
            ? _telemetry.ObserveAsync(Telemetry.ExportPartition, partition, null, (Store: this, partition, cancellationToken), static a => a.Store.ReadPartitionCoreAsync(a.partition, a.cancellationToken))
            : ReadPartitionCoreAsync(partition, cancellationToken);

    private async ValueTask<PartitionExport?> ReadPartitionCoreAsync(string partition, CancellationToken cancellationToken)
    {
        using var scope = _lifetime.Enter();
        return await _backend.ReadPartitionAsync(partition, cancellationToken).ConfigureAwait(false);
    }
}
