using System.Diagnostics.CodeAnalysis;

namespace Storage.Engine;

/// <summary>
/// The shared rules of the change feed: argument checks, the resumability check, the order of
/// changes and the whole-commit paging. Backends fetch candidates; this decides the page.
/// </summary>
[Experimental(Experiments.BackendInterface)]
public static class ChangeFeedQuery
{
    /// <summary>The most changes one commit can make (each put, delete, event and increment is one).</summary>
    public const int MaxChangesPerRevision = StoreLimits.MaxBatchOperations;

    /// <summary>Orders changes as the feed returns them.</summary>
    public static IComparer<Change> Order { get; } = Comparer<Change>.Create(Compare);

    /// <summary>
    /// The clock the change feed is read at: before every expiry, so expired documents appear (as the puts of
    /// their latest versions, with their expiry) and a reader's copy converges to what the store holds.
    /// </summary>
    internal static DateTimeOffset ShowsExpired => DateTimeOffset.MinValue;

    /// <summary>Throws unless the arguments of a feed read are valid.</summary>
    /// <param name="partition">The partition key.</param>
    /// <param name="afterRevision">The revision already seen.</param>
    /// <param name="limit">The page size.</param>
    internal static void Validate(string partition, long afterRevision, int limit)
    {
        Identifiers.ValidatePartitionKey(partition);
        if (afterRevision < 0)
        {
            throw new ArgumentOutOfRangeException(nameof(afterRevision), afterRevision, ErrorMessages.InvalidRevision(afterRevision));
        }

        ListQuery.ValidateLimit(limit);
    }

    /// <summary>Throws unless <paramref name="retention"/> is a valid tombstone retention (zero or more).</summary>
    /// <param name="retention">The retention.</param>
    /// <param name="paramName">The option's name.</param>
    internal static void ValidateRetention(TimeSpan retention, string paramName)
    {
        if (retention < TimeSpan.Zero)
        {
            throw new ArgumentOutOfRangeException(paramName, retention, "The tombstone retention must not be negative.");
        }
    }

    /// <summary>
    /// Throws <see cref="ChangeFeedTruncatedException"/> when the feed cannot resume after
    /// <paramref name="afterRevision"/>. Reading from 0 always works. Otherwise the partition must
    /// exist and <paramref name="afterRevision"/> must be at least its oldest resumable revision: its
    /// first revision (when it was created after a delete raised the floor, older readers saw
    /// another incarnation) raised to the newest tombstone dropped.
    /// </summary>
    /// <param name="partition">The partition key.</param>
    /// <param name="afterRevision">The revision already seen.</param>
    /// <param name="exists">Whether the partition exists.</param>
    /// <param name="oldestResumable">The partition's oldest resumable revision.</param>
    internal static void EnsureResumable(string partition, long afterRevision, bool exists, long oldestResumable)
    {
        if (afterRevision == 0)
        {
            return;
        }

        if (!exists)
        {
            throw new ChangeFeedTruncatedException(partition, afterRevision, 0);
        }

        if (afterRevision < oldestResumable)
        {
            throw new ChangeFeedTruncatedException(partition, afterRevision, oldestResumable);
        }
    }

    /// <summary>How many candidates a backend should fetch (in feed order, after the revision) so that <see cref="TakePage"/> can decide: the page size plus one whole commit.</summary>
    /// <param name="limit">The page size.</param>
    /// <returns>The fetch size.</returns>
    public static int FetchSize(int limit) => limit + MaxChangesPerRevision;

    /// <summary>
    /// Builds a page of whole commits: takes commits in order while they fit in
    /// <paramref name="limit"/>, and always the first one whole.
    /// </summary>
    /// <param name="candidates">Changes after <paramref name="afterRevision"/> in feed order: all of them, or at least <see cref="FetchSize"/>.</param>
    /// <param name="limit">The page size.</param>
    /// <param name="afterRevision">The revision already seen.</param>
    /// <param name="currentRevision">The partition's current revision, read in the same snapshot.</param>
    /// <param name="oldestResumable">
    /// The oldest revision the feed can resume after: a read from before it (from 0) takes every change up to
    /// it whole, as one commit, so that the revision it returns can be resumed after.
    /// </param>
    /// <returns>The page.</returns>
    internal static ChangePage TakePage(IReadOnlyList<Change> candidates, int limit, long afterRevision, long currentRevision, long oldestResumable = 0)
    {
        ArgumentNullException.ThrowIfNull(candidates);
        var taken = 0;
        while (taken < candidates.Count)
        {
            var revision = candidates[taken].Revision;
            var end = taken;
            while (end < candidates.Count && candidates[end].Revision == revision)
            {
                end++;
            }

            if (taken > 0 && end > limit && revision > oldestResumable)
            {
                break;
            }

            taken = end;
        }

        if (taken < candidates.Count)
        {
            // Every change up to the oldest resumable revision is in the page: resuming after it misses nothing.
            return new ChangePage(candidates.Take(taken).ToArray(), Math.Max(candidates[taken - 1].Revision, Math.Min(oldestResumable, currentRevision)), true);
        }

        return new ChangePage(candidates, Math.Max(afterRevision, currentRevision), false);
    }

    /// <summary>Feed order: revision; then documents by collection and key, events by stream and version, sequences by name.</summary>
    /// <param name="x">A change.</param>
    /// <param name="y">Another change.</param>
    /// <returns>The comparison.</returns>
    public static int Compare(Change? x, Change? y)
    {
        if (ReferenceEquals(x, y))
        {
            return 0;
        }

        if (x is null || y is null)
        {
            return x is null ? -1 : 1;
        }

        var c = x.Revision.CompareTo(y.Revision);
        if (c != 0)
        {
            return c;
        }

        c = Rank(x.Kind).CompareTo(Rank(y.Kind));
        if (c != 0)
        {
            return c;
        }

        var keys = StorageKeyComparer.Instance;
        return x.Kind switch
        {
            ChangeKind.Put or ChangeKind.Delete => Then(string.CompareOrdinal(x.Collection, y.Collection), keys.Compare(x.Key, y.Key)),
            ChangeKind.Append => Then(keys.Compare(x.Event!.Stream, y.Event!.Stream), x.Event.Version.CompareTo(y.Event.Version)),
            _ => string.CompareOrdinal(x.SequenceName, y.SequenceName),
        };

        static int Then(int first, int second) => first != 0 ? first : second;
    }

    private static int Rank(ChangeKind kind) => kind switch
    {
        ChangeKind.Put or ChangeKind.Delete => 0,
        ChangeKind.Append => 1,
        _ => 2,
    };
}
