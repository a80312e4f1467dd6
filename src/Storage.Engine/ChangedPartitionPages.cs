using System.Diagnostics.CodeAnalysis;

namespace Storage.Engine;

/// <summary>
/// A page of the store-wide cursor cut from the candidates a backend holds in memory (or read whole):
/// ordered by position, then key in code-point order, whole positions only — the page ends with the
/// position that reaches the limit (<see cref="IStoreBackend.ReadChangedPartitionsAsync"/>).
/// </summary>
[Experimental(Experiments.BackendInterface)]
public static class ChangedPartitionPages
{
    /// <summary>Cuts the page.</summary>
    /// <param name="changed">The live partitions and marks with a position after the reader's, in any order (sorted here).</param>
    /// <param name="limit">How many partitions the page should reach.</param>
    /// <param name="currentPosition">The current position of the read.</param>
    /// <param name="oldestPosition">The oldest position.</param>
    /// <param name="revisionFloor">The revision floor.</param>
    /// <returns>The page.</returns>
    public static ChangedPartitions Cut(IEnumerable<PartitionChange> changed, int limit, long currentPosition, long oldestPosition, long revisionFloor)
    {
        ArgumentNullException.ThrowIfNull(changed);
        var ordered = changed.OrderBy(static c => c.Position).ThenBy(static c => c.Partition, StorageKeyComparer.Instance).ToList();

        // Whole positions: the page ends with the position that reaches the limit.
        var taken = Math.Min(limit, ordered.Count);
        while (taken > 0 && taken < ordered.Count && ordered[taken].Position == ordered[taken - 1].Position)
        {
            taken++;
        }

        var more = taken < ordered.Count;
        if (more)
        {
            ordered.RemoveRange(taken, ordered.Count - taken);
        }

        return new ChangedPartitions(ordered, more, currentPosition, oldestPosition, revisionFloor);
    }
}
