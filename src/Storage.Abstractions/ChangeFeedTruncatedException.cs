namespace Storage;

/// <summary>
/// A change-feed read asked for changes after a revision older than the partition's feed keeps:
/// tombstones older than the retention were dropped, or the partition was deleted (and perhaps
/// created again) since. Reading on would silently miss deletes, so the reader must copy the
/// partition afresh: drop its copy, read the changes from revision 0, and resume from there.
/// </summary>
/// <seealso href="../../docs/streams-and-changes.md#retention"/>
public sealed class ChangeFeedTruncatedException : StorageException
{
    /// <summary>Creates the exception.</summary>
    /// <param name="partition">The partition.</param>
    /// <param name="afterRevision">The revision the reader asked to resume after.</param>
    /// <param name="oldestResumableRevision">The oldest revision the feed can resume after (besides 0), or 0 when the partition does not exist.</param>
    public ChangeFeedTruncatedException(string partition, long afterRevision, long oldestResumableRevision)
        : base(Internal.ErrorMessages.ChangesTruncated(partition, afterRevision, oldestResumableRevision))
    {
        Partition = partition;
        AfterRevision = afterRevision;
        OldestResumableRevision = oldestResumableRevision;
    }

    /// <summary>The partition.</summary>
    public string Partition { get; }

    /// <summary>The revision the reader asked to resume after.</summary>
    public long AfterRevision { get; }

    /// <summary>The oldest revision the feed can resume after (besides 0, which always works), or 0 when the partition does not exist.</summary>
    public long OldestResumableRevision { get; }
}
