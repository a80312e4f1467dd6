using System.Buffers.Text;
using System.Text;

namespace Storage.Engine;

/// <summary>
/// A validated listing: its bounds, order, page size and the key to continue after. Backends
/// translate it to their own query; in-memory backends use <see cref="Matches"/>.
/// </summary>
internal sealed class ListQuery
{
    private const byte TokenFormat = 1;

    private ListQuery(string? prefix, string? startKey, string? endKey, bool descending, int limit, string? after)
    {
        Prefix = prefix;
        StartKey = startKey;
        EndKey = endKey;
        Descending = descending;
        Limit = limit;
        After = after;
    }

    /// <summary>Only keys with this prefix, or <see langword="null"/>.</summary>
    public string? Prefix { get; }

    /// <summary>Inclusive lower bound, or <see langword="null"/>.</summary>
    public string? StartKey { get; }

    /// <summary>Exclusive upper bound, or <see langword="null"/>.</summary>
    public string? EndKey { get; }

    /// <summary>Whether the listing runs from the highest key down.</summary>
    public bool Descending { get; }

    /// <summary>The page size.</summary>
    public int Limit { get; }

    /// <summary>The last key of the previous page: this page holds keys strictly after it in listing order; <see langword="null"/> on the first page.</summary>
    public string? After { get; }

    /// <summary>Validates a document listing and decodes its continuation token.</summary>
    /// <param name="partition">The partition key.</param>
    /// <param name="collection">The collection name.</param>
    /// <param name="options">The caller's options, or <see langword="null"/>.</param>
    /// <returns>The query.</returns>
    /// <exception cref="ArgumentException">An identifier or option is not valid.</exception>
    public static ListQuery ForDocuments(string partition, string collection, ListOptions? options)
    {
        Identifiers.ValidatePartitionKey(partition);
        Identifiers.ValidateName(collection, nameof(collection));
        return ForKeys("documents", partition, collection, options);
    }

    private static ListQuery ForKeys(string kind, string partition, string collection, ListOptions? options)
    {
        options ??= new ListOptions();
        if (options.Prefix is not null)
        {
            Identifiers.ValidateKeyFragment(options.Prefix, "prefix", nameof(options));
        }

        if (options.StartKey is not null)
        {
            Identifiers.ValidateKeyFragment(options.StartKey, "start key", nameof(options));
        }

        if (options.EndKey is not null)
        {
            Identifiers.ValidateKeyFragment(options.EndKey, "end key", nameof(options));
        }

        ValidateLimit(options.Limit);
        var scope = Fingerprint(kind, partition, collection, options.Prefix, options.StartKey, options.EndKey, options.Descending ? "desc" : "asc");
        var after = options.ContinuationToken is null ? null : DecodeToken(options.ContinuationToken, scope);
        return new ListQuery(options.Prefix, options.StartKey, options.EndKey, options.Descending, options.Limit, after) { Scope = scope };
    }

    /// <summary>Validates a stream listing and decodes its continuation token.</summary>
    /// <param name="partition">The partition key.</param>
    /// <param name="options">The caller's options, or <see langword="null"/>.</param>
    /// <returns>The query over stream ids.</returns>
    /// <exception cref="ArgumentException">An identifier or option is not valid.</exception>
    public static ListQuery ForStreams(string partition, ListOptions? options)
    {
        Identifiers.ValidatePartitionKey(partition);
        return ForKeys("streams", partition, string.Empty, options);
    }

    /// <summary>Validates a partition listing and decodes its continuation token.</summary>
    /// <param name="options">The caller's options, or <see langword="null"/>.</param>
    /// <returns>The query (ascending, no bounds).</returns>
    /// <exception cref="ArgumentException">An option is not valid.</exception>
    public static ListQuery ForPartitions(PartitionListOptions? options)
    {
        options ??= new PartitionListOptions();
        ValidateLimit(options.Limit);
        var scope = Fingerprint("partitions");
        var after = options.ContinuationToken is null ? null : DecodeToken(options.ContinuationToken, scope);
        return new ListQuery(null, null, null, false, options.Limit, after) { Scope = scope };
    }

    private ulong Scope { get; init; }

    /// <summary>Whether <paramref name="key"/> belongs on this page or a later one.</summary>
    /// <param name="key">A key.</param>
    /// <returns><see langword="true"/> when the key is inside the bounds and after the cursor.</returns>
    public bool Matches(string key)
    {
        var comparer = StorageKeyComparer.Instance;
        return (Prefix is null || key.StartsWith(Prefix, StringComparison.Ordinal))
            && (StartKey is null || comparer.Compare(key, StartKey) >= 0)
            && (EndKey is null || comparer.Compare(key, EndKey) < 0)
            && (After is null || (Descending ? comparer.Compare(key, After) < 0 : comparer.Compare(key, After) > 0));
    }

    /// <summary>The token that continues after <paramref name="lastKey"/>.</summary>
    /// <param name="lastKey">The last key of the page just returned.</param>
    /// <returns>An opaque, URL-safe token.</returns>
    public string CreateToken(string lastKey)
    {
        var keyBytes = Encoding.UTF8.GetBytes(lastKey);
        var raw = new byte[1 + sizeof(ulong) + keyBytes.Length];
        raw[0] = TokenFormat;
        BitConverter.TryWriteBytes(raw.AsSpan(1), Scope);
        keyBytes.CopyTo(raw.AsSpan(1 + sizeof(ulong)));
        return Base64Url.EncodeToString(raw);
    }

    /// <summary>Builds a page: takes up to <see cref="Limit"/> items and a token when more followed.</summary>
    /// <typeparam name="T">The item type.</typeparam>
    /// <param name="candidates">The matching items in listing order; at most <see cref="Limit"/> + 1 are read.</param>
    /// <param name="keyOf">The item's key.</param>
    /// <returns>The page's items and the token for the next page, or <see langword="null"/>.</returns>
    public (List<T> Items, string? Token) TakePage<T>(IEnumerable<T> candidates, Func<T, string> keyOf)
    {
        ArgumentNullException.ThrowIfNull(candidates);
        ArgumentNullException.ThrowIfNull(keyOf);
        var items = new List<T>(Math.Min(Limit, 64));
        foreach (var item in candidates)
        {
            if (items.Count == Limit)
            {
                return (items, CreateToken(keyOf(items[^1])));
            }

            items.Add(item);
        }

        return (items, null);
    }

    /// <summary>Throws unless <paramref name="limit"/> is a valid page size.</summary>
    /// <param name="limit">The page size.</param>
    public static void ValidateLimit(int limit)
    {
        if (limit is < 1 or > StoreLimits.MaxPageSize)
        {
            throw new ArgumentOutOfRangeException(nameof(limit), limit, ErrorMessages.InvalidLimit(limit));
        }
    }

    private static string DecodeToken(string token, ulong scope)
    {
        byte[] raw;
        try
        {
            raw = Base64Url.DecodeFromChars(token);
        }
        catch (FormatException e)
        {
            throw new ArgumentException(ErrorMessages.InvalidContinuationToken, nameof(token), e);
        }

        if (raw.Length <= 1 + sizeof(ulong) || raw[0] != TokenFormat || BitConverter.ToUInt64(raw, 1) != scope)
        {
            throw new ArgumentException(ErrorMessages.InvalidContinuationToken, nameof(token));
        }

        var keyBytes = raw.AsSpan(1 + sizeof(ulong));
        if (!System.Text.Unicode.Utf8.IsValid(keyBytes))
        {
            throw new ArgumentException(ErrorMessages.InvalidContinuationToken, nameof(token));
        }

        return Encoding.UTF8.GetString(keyBytes);
    }

    // FNV-1a over the listing's defining options: a token is only accepted by the listing that made it.
    internal static ulong Fingerprint(params string?[] parts)
    {
        var hash = 14695981039346656037UL;
        foreach (var part in parts)
        {
            hash = Mix(hash, part is null ? (byte)0 : (byte)1);
            foreach (var b in Encoding.UTF8.GetBytes(part ?? string.Empty))
            {
                hash = Mix(hash, b);
            }

            hash = Mix(hash, 0xFF);
        }

        return hash;

        static ulong Mix(ulong h, byte b) => (h ^ b) * 1099511628211UL;
    }
}
