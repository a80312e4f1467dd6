namespace Storage;

/// <summary>
/// The limits every backend enforces identically. A value at a limit is accepted; one past it is
/// rejected with an <see cref="ArgumentException"/> before any I/O.
/// </summary>
/// <seealso href="../../docs/contract.md#limits"/>
public static class StoreLimits
{
    /// <summary>The largest partition key, in UTF-8 bytes.</summary>
    public const int MaxPartitionKeyBytes = 512;

    /// <summary>The largest document key, in UTF-8 bytes.</summary>
    public const int MaxDocumentKeyBytes = 512;

    /// <summary>The longest collection or sequence name, in characters (ASCII only).</summary>
    public const int MaxNameLength = 64;

    /// <summary>The largest document value, in UTF-8 bytes of JSON.</summary>
    public const int MaxValueBytes = 1024 * 1024;

    /// <summary>The most operations one batch may hold.</summary>
    public const int MaxBatchOperations = 1000;

    /// <summary>The largest sum of the value sizes of one batch, in bytes.</summary>
    public const int MaxBatchBytes = 8 * 1024 * 1024;

    /// <summary>The largest page a listing may ask for.</summary>
    public const int MaxPageSize = 1000;

    /// <summary>The page size of a listing that does not say.</summary>
    public const int DefaultPageSize = 100;

    /// <summary>The earliest expiry time a document may carry.</summary>
    public static DateTimeOffset MinExpiry => DateTimeOffset.UnixEpoch;

    /// <summary>The latest expiry time a document may carry (the end of year 9999, UTC).</summary>
    public static DateTimeOffset MaxExpiry { get; } = new(9999, 12, 31, 23, 59, 59, 999, TimeSpan.Zero);

    /// <summary>How long the change feed keeps a delete's tombstone by default: 7 days. Set per store in its options.</summary>
    public static TimeSpan DefaultTombstoneRetention { get; } = TimeSpan.FromDays(7);

    /// <summary>The longest string an index holds, in UTF-8 bytes (an empty string is a valid value).</summary>
    public const int MaxIndexValueBytes = 512;

    /// <summary>The most distinct values one document may give one index (an array's elements).</summary>
    public const int MaxIndexValuesPerDocument = 1000;
}
