using Storage.Internal;

namespace Storage;

/// <summary>
/// A partition the store-wide cursor (<see cref="IStoreExport.ReadChangedPartitionsAsync"/>) reports as
/// changed: where its latest change stands in the store's order of commits, and what it is now.
/// </summary>
/// <param name="Partition">The partition key.</param>
/// <param name="Revision">Its revision: its latest one, or the one it had when it was deleted.</param>
/// <param name="Deleted">Whether the partition was deleted (and not created again since).</param>
/// <param name="Position">The store-wide position of its latest change (or of its delete).</param>
/// <seealso href="../../docs/upgrade-path.md#following-a-live-store"/>
public sealed record PartitionChange(string Partition, long Revision, bool Deleted, long Position);

/// <summary>A page of the store-wide cursor over changed partitions.</summary>
/// <param name="Items">The partitions, by position, then key (code-point order).</param>
/// <param name="LastPosition">
/// The position the reader has now seen everything up to: pass it as the next <c>afterPosition</c>.
/// When <paramref name="HasMore"/> is <see langword="false"/> it is the store's current position.
/// </param>
/// <param name="HasMore">Whether later changes were left for the next page.</param>
/// <param name="RevisionFloor">The store's revision floor when the page was read.</param>
public sealed record PartitionChangePage(IReadOnlyList<PartitionChange> Items, long LastPosition, bool HasMore, long RevisionFloor);

/// <summary>What applying a page of another store's change feed did (<see cref="IStoreRestore.ApplyChangesAsync"/>).</summary>
/// <param name="Applied">Changes written.</param>
/// <param name="Skipped">Changes the partition already held (at their version or a later one).</param>
/// <param name="Revision">The partition's revision afterwards: the page's <see cref="ChangePage.LastRevision"/>, or the partition's own when it is ahead.</param>
public sealed record ApplyResult(int Applied, int Skipped, long Revision);

/// <summary>
/// A read of the store-wide cursor asked for changes after a position older than the cursor keeps: the
/// marks of deleted partitions older than the tombstone retention were dropped, so reading on could
/// miss a delete. Read the cursor afresh from position 0 (it lists every partition) and drop the copies
/// of partitions it does not list.
/// </summary>
/// <seealso href="../../docs/upgrade-path.md#following-a-live-store"/>
public sealed class ChangedPartitionsTruncatedException : StorageException
{
    /// <summary>Creates the exception.</summary>
    /// <param name="afterPosition">The position the reader asked to resume after.</param>
    /// <param name="oldestResumablePosition">The oldest position the cursor can resume after (besides 0).</param>
    public ChangedPartitionsTruncatedException(long afterPosition, long oldestResumablePosition)
        : base(ErrorMessages.ChangedPartitionsTruncated(afterPosition, oldestResumablePosition))
    {
        AfterPosition = afterPosition;
        OldestResumablePosition = oldestResumablePosition;
    }

    /// <summary>The position the reader asked to resume after.</summary>
    public long AfterPosition { get; }

    /// <summary>The oldest position the cursor can resume after (besides 0, which always works).</summary>
    public long OldestResumablePosition { get; }
}
