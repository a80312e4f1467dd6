using System.Buffers.Binary;
using System.Buffers.Text;
using System.Diagnostics.CodeAnalysis;
using System.Text;

namespace Storage.Engine;

/// <summary>
/// A validated index query: the index, the partition (or all), the value bounds, the order, the
/// page size and the (value, partition, key) to continue after. Backends translate it to their own
/// scan; in-memory backends use <see cref="Matches"/> and <see cref="Order"/>.
/// </summary>
[Experimental(Experiments.BackendInterface)]
public sealed class IndexQueryPlan
{
    private const byte TokenFormat = 2;
    private readonly ulong _scope;

    private IndexQueryPlan(IndexDefinition index, IndexQuery query, ulong scope)
    {
        Index = index;
        Partition = query.Partition;
        if (query.Equal is { } equal)
        {
            Lower = equal;
            Upper = equal;
            LowerInclusive = true;
            UpperInclusive = true;
        }
        else
        {
            Lower = query.From;
            LowerInclusive = query.FromInclusive;
            Upper = query.To;
            UpperInclusive = query.ToInclusive;
        }

        Prefix = query.Prefix;
        Descending = query.Descending;
        Limit = query.Limit;
        _scope = scope;
    }

    /// <summary>The index queried.</summary>
    public IndexDefinition Index { get; }

    /// <summary>The only partition to search, or <see langword="null"/> for all.</summary>
    public string? Partition { get; }

    /// <summary>The lower bound, or <see langword="null"/>.</summary>
    public IndexValue? Lower { get; }

    /// <summary>Whether <see cref="Lower"/> itself matches.</summary>
    public bool LowerInclusive { get; }

    /// <summary>The upper bound, or <see langword="null"/>.</summary>
    public IndexValue? Upper { get; }

    /// <summary>Whether <see cref="Upper"/> itself matches.</summary>
    public bool UpperInclusive { get; }

    /// <summary>The string prefix every value must start with, or <see langword="null"/>. SQL backends use it as [prefix, <see cref="KeyRange.PrefixUpperBound"/>).</summary>
    public string? Prefix { get; }

    /// <summary>Whether matches run from the highest (value, partition, key) down.</summary>
    public bool Descending { get; }

    /// <summary>The page size.</summary>
    public int Limit { get; }

    /// <summary>The last match of the previous page, or <see langword="null"/> on the first page.</summary>
    public (IndexValue Value, string Partition, string Key)? After { get; private init; }

    /// <summary>Orders matches by value, partition and key (ascending).</summary>
    public static IComparer<IndexMatch> Order { get; } = Comparer<IndexMatch>.Create((x, y) => Compare(x!.Value, x.Document.Partition, x.Document.Key, y!.Value, y.Document.Partition, y.Document.Key));

    /// <summary>Validates a query against the store's indexes and decodes its continuation token.</summary>
    /// <param name="catalog">The store's indexes.</param>
    /// <param name="query">The query.</param>
    /// <param name="forCount">Whether the query is for a count (page size and token are ignored).</param>
    /// <returns>The plan.</returns>
    /// <exception cref="ArgumentException">The query is not valid or names an index that is not declared.</exception>
    internal static IndexQueryPlan Create(IndexCatalog catalog, IndexQuery query, bool forCount = false)
    {
        ArgumentNullException.ThrowIfNull(catalog);
        ArgumentNullException.ThrowIfNull(query);
        Identifiers.ValidateName(query.Collection, nameof(query));
        Identifiers.ValidateName(query.Index, nameof(query));
        var index = catalog.Get(query.Collection, query.Index);
        if (query.Partition is not null)
        {
            Identifiers.ValidatePartitionKey(query.Partition, nameof(query));
        }

        if (query.Equal is not null && (query.From is not null || query.To is not null || query.Prefix is not null))
        {
            throw Invalid(index, "an equality cannot be combined with a range or a prefix");
        }

        foreach (var bound in new[] { query.Equal, query.From, query.To })
        {
            if (bound is { } b && b.Type != index.ValueType)
            {
                throw Invalid(index, $"the index holds {Describe(index.ValueType)} but the query compares with {Describe(b.Type)}");
            }
        }

        if (query.Prefix is not null)
        {
            if (index.ValueType != IndexValueType.String)
            {
                throw Invalid(index, "a prefix needs a string index");
            }

            IndexValues.ValidateString(query.Prefix, nameof(query));
            if (query.Prefix.Length == 0)
            {
                throw Invalid(index, "the prefix is empty");
            }
        }

        if (!forCount)
        {
            ListQuery.ValidateLimit(query.Limit);
        }

        var scope = ListQuery.Fingerprint(
            "index", index.Collection, index.Name, query.Partition, Text(query.Equal), Text(query.From), query.FromInclusive ? "i" : "x",
            Text(query.To), query.ToInclusive ? "i" : "x", query.Prefix, query.Descending ? "desc" : "asc");
        var plan = new IndexQueryPlan(index, query, scope);
        return forCount || query.ContinuationToken is null ? plan : new IndexQueryPlan(index, query, scope) { After = plan.DecodeToken(query.ContinuationToken) };
    }

    /// <summary>Compares two (value, partition, key) positions.</summary>
    /// <param name="value1">The first value.</param>
    /// <param name="partition1">The first partition.</param>
    /// <param name="key1">The first key.</param>
    /// <param name="value2">The second value.</param>
    /// <param name="partition2">The second partition.</param>
    /// <param name="key2">The second key.</param>
    /// <returns>The comparison.</returns>
    public static int Compare(IndexValue value1, string partition1, string key1, IndexValue value2, string partition2, string key2)
    {
        var c = value1.CompareTo(value2);
        if (c == 0)
        {
            c = StorageKeyComparer.Instance.Compare(partition1, partition2);
        }

        return c != 0 ? c : StorageKeyComparer.Instance.Compare(key1, key2);
    }

    /// <summary>Whether an entry matches the bounds, the partition and lies after the cursor (in the query's order). Expiry is the caller's.</summary>
    /// <param name="value">The entry's value.</param>
    /// <param name="partition">The document's partition.</param>
    /// <param name="key">The document's key.</param>
    /// <returns><see langword="true"/> when it belongs on this page or a later one.</returns>
    public bool Matches(IndexValue value, string partition, string key)
    {
        if (Partition is not null && !string.Equals(Partition, partition, StringComparison.Ordinal))
        {
            return false;
        }

        if (Lower is { } lower && (LowerInclusive ? value < lower : value <= lower))
        {
            return false;
        }

        if (Upper is { } upper && (UpperInclusive ? value > upper : value >= upper))
        {
            return false;
        }

        if (Prefix is not null && !value.AsString.StartsWith(Prefix, StringComparison.Ordinal))
        {
            return false;
        }

        if (After is { } after)
        {
            var c = Compare(value, partition, key, after.Value, after.Partition, after.Key);
            return Descending ? c < 0 : c > 0;
        }

        return true;
    }

    /// <summary>Builds a page from matches in the query's order: up to <see cref="Limit"/> and a token when more followed.</summary>
    /// <param name="ordered">The matches in the query's order; at most <see cref="Limit"/> + 1 are read.</param>
    /// <returns>The page.</returns>
    internal QueryPage TakePage(IEnumerable<IndexMatch> ordered)
    {
        ArgumentNullException.ThrowIfNull(ordered);
        var items = new List<IndexMatch>(Math.Min(Limit, 64));
        foreach (var match in ordered)
        {
            if (items.Count == Limit)
            {
                return new QueryPage(items, CreateToken(items[^1]));
            }

            items.Add(match);
        }

        return new QueryPage(items, null);
    }

    /// <summary>The token that continues after <paramref name="last"/>.</summary>
    /// <param name="last">The last match of the page just returned.</param>
    /// <returns>An opaque, URL-safe token.</returns>
    internal string CreateToken(IndexMatch last)
    {
        ArgumentNullException.ThrowIfNull(last);
        var buffer = new List<byte>(64) { TokenFormat };
        buffer.AddRange(BitConverter.GetBytes(_scope));
        buffer.Add((byte)last.Value.Type);
        if (last.Value.Type == IndexValueType.Int64)
        {
            var number = new byte[8];
            BinaryPrimitives.WriteInt64LittleEndian(number, last.Value.AsInt64);
            buffer.AddRange(number);
        }
        else
        {
            AddString(buffer, last.Value.AsString);
        }

        AddString(buffer, last.Document.Partition);
        AddString(buffer, last.Document.Key);
        return Base64Url.EncodeToString(buffer.ToArray());

        static void AddString(List<byte> buffer, string text)
        {
            var bytes = Encoding.UTF8.GetBytes(text);
            buffer.Add((byte)(bytes.Length >> 8));
            buffer.Add((byte)bytes.Length);
            buffer.AddRange(bytes);
        }
    }

    private (IndexValue, string, string) DecodeToken(string token)
    {
        try
        {
            var raw = Base64Url.DecodeFromChars(token);
            var span = raw.AsSpan();
            if (span.Length < 10 || span[0] != TokenFormat || BitConverter.ToUInt64(span[1..9]) != _scope || span[9] != (byte)Index.ValueType)
            {
                throw new FormatException();
            }

            span = span[10..];
            IndexValue value = Index.ValueType == IndexValueType.Int64 ? IndexValue.Of(BinaryPrimitives.ReadInt64LittleEndian(span)) : IndexValue.Of(ReadString(ref span));
            if (Index.ValueType == IndexValueType.Int64)
            {
                span = span[8..];
            }

            var partition = ReadString(ref span);
            var key = ReadString(ref span);
            if (!span.IsEmpty || !Identifiers.IsValidPartitionKey(partition) || !Identifiers.IsValidDocumentKey(key))
            {
                throw new FormatException();
            }

            return (value, partition, key);
        }
        catch (Exception e) when (e is FormatException or ArgumentException or ArgumentOutOfRangeException or IndexOutOfRangeException)
        {
            throw new ArgumentException(ErrorMessages.InvalidContinuationToken, nameof(token), e);
        }

        static string ReadString(ref Span<byte> span)
        {
            var length = (span[0] << 8) | span[1];
            var bytes = span.Slice(2, length);
            if (!System.Text.Unicode.Utf8.IsValid(bytes))
            {
                throw new FormatException();
            }

            var text = Encoding.UTF8.GetString(bytes);
            span = span[(2 + length)..];
            return text;
        }
    }

    private static ArgumentException Invalid(IndexDefinition index, string reason)
        => new(ErrorMessages.InvalidIndexQuery(index.Collection, index.Name, reason), "query");

    private static string Describe(IndexValueType type) => type == IndexValueType.String ? "strings" : "64-bit integers";

    private static string? Text(IndexValue? value) => value is { } v ? $"{(int)v.Type}:{v}" : null;
}
