using System.Runtime.CompilerServices;

namespace Storage.Engine;

/// <summary>The export of a store's exact state (<see cref="IStoreExport"/>), written once over <see cref="IStoreBackend.ReadPartitionAsync"/>.</summary>
internal sealed partial class EngineStore : IStoreExport
{
    /// <summary>How many partitions an export lists at a time.</summary>
    internal const int ExportPageSize = 256;

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
        string? after = null;
        while (true)
        {
            cancellationToken.ThrowIfCancellationRequested();
            IReadOnlyList<PartitionInfo> page;
            using (_lifetime.Enter())
            {
                page = await _backend.ListPartitionsAsync(after, ExportPageSize, cancellationToken).ConfigureAwait(false);
            }

            if (_backend is IBatchedExportBackend batched)
            {
                // Several partitions a read (one snapshot); a partition deleted since the listing is left out.
                foreach (var chunk in page.Chunk(Math.Max(1, batched.ExportBatchPartitions)))
                {
                    foreach (var partition in await ReadPartitionsAsync(batched, [.. chunk.Select(static i => i.Partition)], cancellationToken).ConfigureAwait(false))
                    {
                        yield return partition;
                    }
                }
            }
            else
            {
                foreach (var info in page)
                {
                    // A partition deleted since the listing is left out.
                    if (await ReadPartitionAsync(info.Partition, cancellationToken).ConfigureAwait(false) is { } partition)
                    {
                        yield return partition;
                    }
                }
            }

            if (page.Count < ExportPageSize)
            {
                yield break;
            }

            after = page[^1].Partition;
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

    // A batched read is one traced operation (its span names no partition).
    private ValueTask<IReadOnlyList<PartitionExport>> ReadPartitionsAsync(IBatchedExportBackend batched, IReadOnlyList<string> partitions, CancellationToken cancellationToken)
        => _telemetry.Enabled
            ? _telemetry.ObserveAsync(Telemetry.ExportPartition, null, null, (Store: this, batched, partitions, cancellationToken), static a => a.Store.ReadPartitionsCoreAsync(a.batched, a.partitions, a.cancellationToken), partitions.Count)
            : ReadPartitionsCoreAsync(batched, partitions, cancellationToken);

    private async ValueTask<IReadOnlyList<PartitionExport>> ReadPartitionsCoreAsync(IBatchedExportBackend batched, IReadOnlyList<string> partitions, CancellationToken cancellationToken)
    {
        using var scope = _lifetime.Enter();
        return await batched.ReadPartitionsAsync(partitions, cancellationToken).ConfigureAwait(false);
    }

    private async ValueTask<PartitionExport?> ReadPartitionCoreAsync(string partition, CancellationToken cancellationToken)
    {
        using var scope = _lifetime.Enter();
        return await _backend.ReadPartitionAsync(partition, cancellationToken).ConfigureAwait(false);
    }
}
