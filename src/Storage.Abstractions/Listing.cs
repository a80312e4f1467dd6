namespace Storage;

/// <summary>
/// Which documents of a collection a listing returns, in what order and how many at a time. Keys
/// are ordered by Unicode code point (the order of their UTF-8 bytes) in every backend.
/// </summary>
/// <seealso href="../../docs/contract.md#listing"/>
public sealed record ListOptions
{
    /// <summary>Only keys that start with this prefix (ordinal, no normalization); <see langword="null"/> for all. An empty string is rejected.</summary>
    public string? Prefix { get; init; }

    /// <summary>Only keys at or after this key (inclusive); <see langword="null"/> for no lower bound. An empty string is rejected.</summary>
    public string? StartKey { get; init; }

    /// <summary>Only keys before this key (exclusive); <see langword="null"/> for no upper bound. An empty string is rejected.</summary>
    public string? EndKey { get; init; }

    /// <summary>Whether to list from the highest key down.</summary>
    public bool Descending { get; init; }

    /// <summary>The most documents one page returns: 1 to <see cref="StoreLimits.MaxPageSize"/>.</summary>
    public int Limit { get; init; } = StoreLimits.DefaultPageSize;

    /// <summary>
    /// The token of the previous page, to continue after it. The prefix, the bounds and the order
    /// must be the same as for that page (the page size may change); a token from another listing
    /// is rejected with <see cref="ArgumentException"/>. Paging stays correct while other writers insert and delete: no key is
    /// returned twice, and no key that existed throughout is skipped.
    /// </summary>
    public string? ContinuationToken { get; init; }
}

/// <summary>One page of a listing.</summary>
/// <param name="Items">The documents of this page, in order.</param>
/// <param name="ContinuationToken">The token for the next page, or <see langword="null"/> when this is the last.</param>
public sealed record DocumentPage(IReadOnlyList<StoredDocument> Items, string? ContinuationToken);

/// <summary>Which partitions a partition listing returns, and how many at a time.</summary>
public sealed record PartitionListOptions
{
    /// <summary>The most partitions one page returns: 1 to <see cref="StoreLimits.MaxPageSize"/>.</summary>
    public int Limit { get; init; } = StoreLimits.DefaultPageSize;

    /// <summary>The token of the previous page, to continue after it.</summary>
    public string? ContinuationToken { get; init; }
}

/// <summary>A partition and its current revision.</summary>
/// <param name="Partition">The partition key.</param>
/// <param name="Revision">The revision of its latest commit.</param>
public sealed record PartitionInfo(string Partition, long Revision);

/// <summary>One page of a partition listing, in code-point order of the keys.</summary>
/// <param name="Items">The partitions of this page.</param>
/// <param name="ContinuationToken">The token for the next page, or <see langword="null"/> when this is the last.</param>
public sealed record PartitionPage(IReadOnlyList<PartitionInfo> Items, string? ContinuationToken);
