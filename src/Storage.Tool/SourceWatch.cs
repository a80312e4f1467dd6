namespace Storage.Tool;

/// <summary>
/// Whether a store was written between two moments, from its store-wide cursor
/// (<see cref="IStoreExport.ReadChangedPartitionsAsync"/>): every commit, partition delete, sequence
/// increment and append moves it.
/// </summary>
internal static class SourceWatch
{
    /// <summary>The store's current position: the cursor read to its end (a page of up to 1,000 partitions at a time).</summary>
    public static async Task<long> PositionAsync(IStoreExport store, CancellationToken cancellationToken)
    {
        long position = 0;
        while (true)
        {
            var page = await store.ReadChangedPartitionsAsync(position, StoreLimits.MaxPageSize, cancellationToken);
            position = page.LastPosition;
            if (!page.HasMore)
            {
                return position;
            }
        }
    }

    /// <summary>Whether anything changed after <paramref name="position"/> (a cursor that no longer reaches back that far counts as changed).</summary>
    public static async Task<bool> ChangedSinceAsync(IStoreExport store, long position, CancellationToken cancellationToken)
    {
        try
        {
            return (await store.ReadChangedPartitionsAsync(position, 1, cancellationToken)).Items.Count > 0;
        }
        catch (ChangedPartitionsTruncatedException)
        {
            return true;
        }
    }
}
