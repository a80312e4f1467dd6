using System.Runtime.CompilerServices;
using Storage.Internal;

namespace Storage.Conformance.Reference;

/// <summary>The reference model's export: its own partitions as they are, copied under its lock (nothing shared with the library's backends).</summary>
public sealed partial class ReferenceStore : IStoreExport
{
    /// <inheritdoc/>
    public ValueTask<StoreExportInfo> GetExportInfoAsync(CancellationToken cancellationToken = default) => Run(() =>
    {
        cancellationToken.ThrowIfCancellationRequested();
        lock (_lock)
        {
            ThrowIfDisposed();
            return new StoreExportInfo(_revisionFloor, [.. _indexes]);
        }
    });

    /// <inheritdoc/>
    public async IAsyncEnumerable<PartitionExport> ExportAsync([EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        string[] keys;
        lock (_lock)
        {
            ThrowIfDisposed();
            keys = [.. _partitions.Keys];
        }

        foreach (var key in keys)
        {
            if (await ExportPartitionAsync(key, cancellationToken).ConfigureAwait(false) is { } partition)
            {
                yield return partition;
            }
        }
    }

    /// <inheritdoc/>
    public ValueTask<PartitionExport?> ExportPartitionAsync(string partition, CancellationToken cancellationToken = default) => Run(() =>
    {
        Identifiers.ValidatePartitionKey(partition);
        cancellationToken.ThrowIfCancellationRequested();
        lock (_lock)
        {
            ThrowIfDisposed();
            if (!_partitions.TryGetValue(partition, out var state))
            {
                return null;
            }

            return (PartitionExport?)new PartitionExport(
                partition,
                state.Revision,
                state.OldestResumable,
                [.. state.Collections.Values.SelectMany(c => c.Values)],
                [.. state.Tombstones.Select(t => new ExportedTombstone(t.Key.Collection, t.Key.Key, t.Value.Revision, t.Value.DeletedAt))],
                [.. state.Sequences.Select(s => new ExportedSequence(s.Key, s.Value.Value, s.Value.Revision))],
                [.. state.Streams.Where(s => s.Value.Count > 0).Select(s => new ExportedStream(s.Key, [.. s.Value]))]);
        }
    });
}
