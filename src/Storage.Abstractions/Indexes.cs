using Storage.Internal;

namespace Storage;

/// <summary>The type of the values a secondary index holds.</summary>
public enum IndexValueType
{
    /// <summary>JSON strings, ordered by Unicode code point.</summary>
    String = 1,

    /// <summary>JSON integers that fit in 64 bits, ordered numerically.</summary>
    Int64 = 2,
}

/// <summary>Where a unique index enforces uniqueness.</summary>
public enum IndexScope
{
    /// <summary>Within each partition: two partitions may hold the same value.</summary>
    Partition = 1,

    /// <summary>Across all partitions of the store.</summary>
    Global = 2,
}

/// <summary>
/// A secondary index over one collection: the values found at a path in each document, declared in
/// the store's options. Indexes change in the same atomic commit as their documents.
/// </summary>
/// <remarks>
/// <para>
/// The path is a dot-separated list of property names from the document's root object:
/// <c>email</c>, <c>owner.email</c>. Names are matched ordinally; a name cannot contain '.'.
/// When a property occurs twice in an object, the last occurrence counts (as in JavaScript and
/// PostgreSQL's <c>jsonb</c>).
/// </para>
/// <para>
/// A missing path (or one that passes through something other than an object) and a JSON
/// <c>null</c> are not indexed. An array of scalars indexes each distinct element (tags);
/// <c>null</c> elements are skipped. Any other value — a number in a string index, a string, a
/// fraction or an out-of-range number in an integer index, an object, a nested array — makes the
/// put fail with <see cref="ArgumentException"/> naming the index, before anything is written.
/// </para>
/// </remarks>
/// <seealso href="../../docs/indexes.md"/>
public sealed record IndexDefinition
{
    /// <summary>Declares an index.</summary>
    /// <param name="collection">The collection it covers.</param>
    /// <param name="name">The index name: unique within the collection; the same rules as a collection name.</param>
    /// <param name="path">The dot-separated property path of the indexed value.</param>
    /// <param name="valueType">The type of the indexed values.</param>
    /// <param name="unique">Whether two live documents may not share a value (within <paramref name="scope"/>).</param>
    /// <param name="scope">Where uniqueness holds; also the default extent of queries is every partition either way.</param>
    /// <exception cref="ArgumentException">A name or the path is not valid.</exception>
    public IndexDefinition(string collection, string name, string path, IndexValueType valueType, bool unique = false, IndexScope scope = IndexScope.Partition)
    {
        Identifiers.ValidateName(collection, nameof(collection));
        Identifiers.ValidateName(name, nameof(name));
        IndexPath.Parse(path, nameof(path));
        if (!Enum.IsDefined(valueType))
        {
            throw new ArgumentOutOfRangeException(nameof(valueType), valueType, ErrorMessages.InvalidIndexOption(name, "value type"));
        }

        if (!Enum.IsDefined(scope))
        {
            throw new ArgumentOutOfRangeException(nameof(scope), scope, ErrorMessages.InvalidIndexOption(name, "scope"));
        }

        Collection = collection;
        Name = name;
        Path = path;
        ValueType = valueType;
        Unique = unique;
        Scope = scope;
    }

    /// <summary>The collection the index covers.</summary>
    public string Collection { get; }

    /// <summary>The index name, unique within its collection.</summary>
    public string Name { get; }

    /// <summary>The dot-separated property path of the indexed value.</summary>
    public string Path { get; }

    /// <summary>The type of the indexed values.</summary>
    public IndexValueType ValueType { get; }

    /// <summary>Whether two live documents may not share a value within <see cref="Scope"/>.</summary>
    public bool Unique { get; }

    /// <summary>Where uniqueness holds.</summary>
    public IndexScope Scope { get; }
}

/// <summary>One value of an index: a string or a 64-bit integer.</summary>
public readonly record struct IndexValue : IComparable<IndexValue>
{
    private readonly string? _string;
    private readonly long _int64;

    private IndexValue(IndexValueType type, string? s, long i)
    {
        Type = type;
        _string = s;
        _int64 = i;
    }

    /// <summary>The value's type.</summary>
    public IndexValueType Type { get; }

    /// <summary>The string value.</summary>
    /// <exception cref="InvalidOperationException">The value is not a string.</exception>
    public string AsString => Type == IndexValueType.String ? _string! : throw new InvalidOperationException("The index value is not a string.");

    /// <summary>The integer value.</summary>
    /// <exception cref="InvalidOperationException">The value is not an integer.</exception>
    public long AsInt64 => Type == IndexValueType.Int64 ? _int64 : throw new InvalidOperationException("The index value is not an integer.");

    /// <summary>A string value.</summary>
    /// <param name="value">The string: valid Unicode without NUL, at most <see cref="StoreLimits.MaxIndexValueBytes"/> UTF-8 bytes.</param>
    /// <returns>The value.</returns>
    /// <exception cref="ArgumentException">The string is not a valid index value.</exception>
    public static IndexValue Of(string value)
    {
        ArgumentNullException.ThrowIfNull(value);
        IndexValues.ValidateString(value, nameof(value));
        return new(IndexValueType.String, value, 0);
    }

    /// <summary>An integer value.</summary>
    /// <param name="value">The integer.</param>
    /// <returns>The value.</returns>
    public static IndexValue Of(long value) => new(IndexValueType.Int64, null, value);

    /// <summary>A string value.</summary>
    /// <param name="value">The string.</param>
    public static implicit operator IndexValue(string value) => Of(value);

    /// <summary>An integer value.</summary>
    /// <param name="value">The integer.</param>
    public static implicit operator IndexValue(long value) => Of(value);

    /// <summary>Orders values of one type: strings by code point, integers numerically.</summary>
    /// <param name="other">A value of the same type.</param>
    /// <returns>The comparison.</returns>
    /// <exception cref="ArgumentException">The types differ.</exception>
    public int CompareTo(IndexValue other)
    {
        if (other.Type != Type)
        {
            throw new ArgumentException("Index values of different types cannot be compared.", nameof(other));
        }

        return Type == IndexValueType.String ? StorageKeyComparer.Instance.Compare(_string, other._string) : _int64.CompareTo(other._int64);
    }

    /// <summary>Whether this value sorts before another of the same type.</summary>
    /// <param name="left">A value.</param>
    /// <param name="right">Another.</param>
    /// <returns>The comparison.</returns>
    public static bool operator <(IndexValue left, IndexValue right) => left.CompareTo(right) < 0;

    /// <summary>Whether this value sorts after another of the same type.</summary>
    /// <param name="left">A value.</param>
    /// <param name="right">Another.</param>
    /// <returns>The comparison.</returns>
    public static bool operator >(IndexValue left, IndexValue right) => left.CompareTo(right) > 0;

    /// <summary>Whether this value sorts before or equal to another of the same type.</summary>
    /// <param name="left">A value.</param>
    /// <param name="right">Another.</param>
    /// <returns>The comparison.</returns>
    public static bool operator <=(IndexValue left, IndexValue right) => left.CompareTo(right) <= 0;

    /// <summary>Whether this value sorts after or equal to another of the same type.</summary>
    /// <param name="left">A value.</param>
    /// <param name="right">Another.</param>
    /// <returns>The comparison.</returns>
    public static bool operator >=(IndexValue left, IndexValue right) => left.CompareTo(right) >= 0;

    /// <inheritdoc/>
    public override string ToString() => Type == IndexValueType.String ? _string ?? string.Empty : _int64.ToString(System.Globalization.CultureInfo.InvariantCulture);
}

/// <summary>
/// A query of one index: equality, a range or a prefix, in one partition or across all of them.
/// Results come in (value, partition, key) order — ascending or descending as a whole.
/// </summary>
/// <seealso href="../../docs/indexes.md#queries"/>
public sealed record IndexQuery
{
    /// <summary>Creates a query of an index.</summary>
    /// <param name="collection">The collection of the index.</param>
    /// <param name="index">The index name.</param>
    public IndexQuery(string collection, string index)
    {
        Collection = collection;
        Index = index;
    }

    /// <summary>The collection of the index.</summary>
    public string Collection { get; init; }

    /// <summary>The index name.</summary>
    public string Index { get; init; }

    /// <summary>Only documents of this partition; <see langword="null"/> for every partition.</summary>
    public string? Partition { get; init; }

    /// <summary>Only this value; cannot be combined with a range or prefix.</summary>
    public IndexValue? Equal { get; init; }

    /// <summary>The lower bound of a range, or <see langword="null"/> for none.</summary>
    public IndexValue? From { get; init; }

    /// <summary>Whether <see cref="From"/> itself matches (default <see langword="true"/>).</summary>
    public bool FromInclusive { get; init; } = true;

    /// <summary>The upper bound of a range, or <see langword="null"/> for none.</summary>
    public IndexValue? To { get; init; }

    /// <summary>Whether <see cref="To"/> itself matches (default <see langword="false"/>).</summary>
    public bool ToInclusive { get; init; }

    /// <summary>Only string values that start with this prefix (ordinal); string indexes only. May be combined with a range.</summary>
    public string? Prefix { get; init; }

    /// <summary>Whether to return the highest (value, partition, key) first.</summary>
    public bool Descending { get; init; }

    /// <summary>The most matches one page returns: 1 to <see cref="StoreLimits.MaxPageSize"/>. Ignored by a count.</summary>
    public int Limit { get; init; } = StoreLimits.DefaultPageSize;

    /// <summary>The token of the previous page of the same query (the page size may change). Ignored by a count.</summary>
    public string? ContinuationToken { get; init; }
}

/// <summary>A document found by an index query, with the index value that matched.</summary>
/// <param name="Value">The index value that matched (a document with an array of values can match once per value).</param>
/// <param name="Document">The document with its metadata.</param>
public sealed record IndexMatch(IndexValue Value, StoredDocument Document);

/// <summary>One page of an index query.</summary>
/// <param name="Items">The matches, in (value, partition, key) order.</param>
/// <param name="ContinuationToken">The token for the next page, or <see langword="null"/> when this is the last.</param>
public sealed record QueryPage(IReadOnlyList<IndexMatch> Items, string? ContinuationToken);
