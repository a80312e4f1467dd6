using Storage.Internal;

namespace Storage;

/// <summary>
/// A store into which an exported state (<see cref="PartitionExport"/>, read from any store by
/// <see cref="IStoreExport"/>) can be written exactly: the same versions, times, revisions, streams and
/// sequences, so that the destination answers every read as the source did and a version a client holds
/// still matches. A capability a store may implement beside <see cref="IStore"/>; every backend of this
/// library implements it. See docs/upgrade-path.md.
/// </summary>
/// <seealso href="../../docs/upgrade-path.md#restore"/>
public interface IStoreRestore
{
    /// <summary>
    /// Writes one partition's exported state, atomically: afterwards the partition is exactly
    /// <paramref name="partition"/> (its export equals it), or, on any error, as it was. Index entries are
    /// built for the destination's own index declarations and its unique values enforced. The store's
    /// revision floor is not changed (see <see cref="RaiseRevisionFloorAsync"/>).
    /// </summary>
    /// <param name="partition">The state to write: checked in full before anything is written.</param>
    /// <param name="mode">What to do when the partition exists with a different state.</param>
    /// <param name="cancellationToken">Cancels before the partition is written.</param>
    /// <returns>What the restore did: <see cref="RestoreOutcome.Unchanged"/> when the partition already held exactly this state (a restore repeated is a no-op).</returns>
    /// <exception cref="ArgumentException"><paramref name="partition"/> is not a state a store can hold (the message names the item and the rule).</exception>
    /// <exception cref="RestoreConflictException">The partition exists with a different state and <paramref name="mode"/> is <see cref="RestoreMode.FailIfDifferent"/>.</exception>
    /// <exception cref="UniqueConstraintException">A live document of the state holds a value of a unique index that another document holds.</exception>
    /// <exception cref="StoreReadOnlyException">The store's read-only fence is set.</exception>
    /// <exception cref="StoreUnavailableException">The backend could not be reached within its retry budget.</exception>
    ValueTask<RestoreOutcome> RestorePartitionAsync(PartitionExport partition, RestoreMode mode = RestoreMode.FailIfDifferent, CancellationToken cancellationToken = default);

    /// <summary>
    /// Restores a whole exported store: raises the revision floor to <paramref name="info"/>'s, then
    /// restores every partition (<see cref="RestorePartitionAsync"/>), several at a time. Stops at the
    /// first partition that fails, after the ones already started have ended: each partition is whole or
    /// as it was, and a rerun with the same input completes the rest (restored partitions are
    /// <see cref="RestoreOutcome.Unchanged"/>).
    /// </summary>
    /// <param name="info">The source's information (<see cref="IStoreExport.GetExportInfoAsync"/>): its revision floor is carried over.</param>
    /// <param name="partitions">The partitions (<see cref="IStoreExport.ExportAsync"/>), each key once.</param>
    /// <param name="mode">What to do with a partition that exists with a different state.</param>
    /// <param name="cancellationToken">Stops the restore between partitions.</param>
    /// <returns>How many partitions were created, replaced and found unchanged.</returns>
    /// <exception cref="ArgumentException">A partition is not valid, or appears twice.</exception>
    /// <exception cref="RestoreConflictException">A partition exists with a different state and <paramref name="mode"/> is <see cref="RestoreMode.FailIfDifferent"/>.</exception>
    /// <exception cref="UniqueConstraintException">A unique value is held by two documents.</exception>
    /// <exception cref="StoreReadOnlyException">The store's read-only fence is set.</exception>
    ValueTask<RestoreResult> RestoreAsync(StoreExportInfo info, IAsyncEnumerable<PartitionExport> partitions, RestoreMode mode = RestoreMode.FailIfDifferent, CancellationToken cancellationToken = default);

    /// <summary>
    /// Raises the store's revision floor to at least <paramref name="floor"/> (never lowers it): a
    /// partition created from now on starts above it, so no version handed out by the source before a move
    /// is handed out again for a different document.
    /// </summary>
    /// <param name="floor">The floor (0 or more).</param>
    /// <param name="cancellationToken">Cancels before the floor is changed.</param>
    /// <returns>A task that completes once the floor is stored.</returns>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="floor"/> is negative.</exception>
    /// <exception cref="StoreReadOnlyException">The store's read-only fence is set.</exception>
    ValueTask RaiseRevisionFloorAsync(long floor, CancellationToken cancellationToken = default);

    /// <summary>
    /// Applies a page of another store's change feed (<see cref="IStore.ReadChangesAsync"/>) to a
    /// partition, version-gated and atomically: a change is written only if the partition holds that item
    /// at an older version or revision (a replayed or older change does nothing), with its version, times
    /// and bytes; the partition's revision becomes the page's <see cref="ChangePage.LastRevision"/> (never
    /// lower). Applying the pages of a partition in order, from any revision the partition here already
    /// reached, keeps it equal to the source's, item by item.
    /// </summary>
    /// <param name="partition">The partition key.</param>
    /// <param name="afterRevision">The revision the page was read after: the partition here must be at it or later (0 when it does not exist), or changes would be missing.</param>
    /// <param name="page">The page, as the source returned it.</param>
    /// <param name="cancellationToken">Cancels before the partition is written.</param>
    /// <returns>How many changes were written and skipped, and the partition's revision afterwards.</returns>
    /// <exception cref="ArgumentException">The partition is behind <paramref name="afterRevision"/>, or a change is not valid (of another partition, a delete without its time, an event out of order).</exception>
    /// <exception cref="UniqueConstraintException">A document applied holds a value of a unique index that another document holds.</exception>
    /// <exception cref="StoreReadOnlyException">The store's read-only fence is set.</exception>
    /// <seealso href="../../docs/upgrade-path.md#following-a-live-store"/>
    ValueTask<ApplyResult> ApplyChangesAsync(string partition, long afterRevision, ChangePage page, CancellationToken cancellationToken = default);

    /// <summary>
    /// Applies another store's partition delete (<see cref="PartitionChange.Deleted"/>), version-gated:
    /// the partition here is deleted if its revision is at most <paramref name="revision"/> (a later one
    /// is a newer life of the partition, already copied), and the revision floor is raised to
    /// <paramref name="revision"/> either way.
    /// </summary>
    /// <param name="partition">The partition key.</param>
    /// <param name="revision">The revision the partition had when the source deleted it.</param>
    /// <param name="cancellationToken">Cancels before anything is changed.</param>
    /// <returns>Whether a partition was deleted here.</returns>
    /// <exception cref="ArgumentException"><paramref name="partition"/> is not a valid partition key, or <paramref name="revision"/> is negative.</exception>
    /// <exception cref="StoreReadOnlyException">The store's read-only fence is set.</exception>
    ValueTask<bool> ApplyPartitionDeleteAsync(string partition, long revision, CancellationToken cancellationToken = default);
}

/// <summary>What a restore does with a partition that exists with a different state.</summary>
public enum RestoreMode
{
    /// <summary>Refuse it with <see cref="RestoreConflictException"/>, writing nothing.</summary>
    FailIfDifferent,

    /// <summary>Replace it: everything of the partition is removed and the restored state written, in one atomic step.</summary>
    Replace,
}

/// <summary>What a restore did with one partition.</summary>
public enum RestoreOutcome
{
    /// <summary>The partition did not exist; it was written.</summary>
    Created,

    /// <summary>The partition already held exactly this state; nothing was written.</summary>
    Unchanged,

    /// <summary>The partition existed with a different state; it was replaced (<see cref="RestoreMode.Replace"/>).</summary>
    Replaced,
}

/// <summary>What a restore of a store did.</summary>
/// <param name="Created">Partitions written that did not exist.</param>
/// <param name="Replaced">Partitions replaced.</param>
/// <param name="Unchanged">Partitions that already held their state.</param>
/// <param name="Documents">Documents in the partitions written (created or replaced).</param>
/// <param name="Events">Events in the partitions written (created or replaced).</param>
public sealed record RestoreResult(long Created, long Replaced, long Unchanged, long Documents, long Events);

/// <summary>
/// A restore met a partition that exists with a state different from the one restored, and was not told
/// to replace it (<see cref="RestoreMode.FailIfDifferent"/>). Nothing of the partition was written.
/// </summary>
public sealed class RestoreConflictException : StorageException
{
    /// <summary>Creates the exception.</summary>
    /// <param name="partition">The partition.</param>
    /// <param name="differences">What differs (<see cref="ExportComparison.Compare"/>), the restored state being the source.</param>
    public RestoreConflictException(string partition, IReadOnlyList<ExportItem> differences)
        : base(ErrorMessages.RestoreConflict(partition, differences ?? []))
    {
        Partition = partition;
        Differences = differences ?? [];
    }

    /// <summary>The partition.</summary>
    public string Partition { get; }

    /// <summary>What differs between the restored state and the stored one.</summary>
    public IReadOnlyList<ExportItem> Differences { get; }
}
