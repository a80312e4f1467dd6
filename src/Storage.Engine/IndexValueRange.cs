namespace Storage.Engine;

/// <summary>
/// An index query's equality, bounds and prefix as one half-open range of values,
/// <c>[Lower, Upper)</c>, for backends that search stored entries in a B-tree (SQL). An exclusive
/// lower bound and an inclusive upper one become the next value: an integer plus one, a string
/// followed by U+0001 (index values cannot hold NUL, so nothing lies between). A prefix narrows the
/// range to <c>[prefix, </c><see cref="KeyRange.PrefixUpperBound"/><c>)</c>. Values are
/// <see cref="long"/> or <see cref="string"/>, by the index's type (<see cref="ToScalar"/>).
/// </summary>
/// <param name="Lower">The smallest value in range (inclusive): <see cref="long.MinValue"/> or the empty string when the query has no lower bound.</param>
/// <param name="Upper">The first value above the range (exclusive), or <see langword="null"/> when no value is above it.</param>
internal readonly record struct IndexValueRange(object Lower, object? Upper)
{
    private const string SmallestSuffix = "\u0001";

    /// <summary>The range of a validated plan.</summary>
    /// <param name="plan">The plan.</param>
    /// <returns>The range, or <see langword="null"/> when no value can be in it.</returns>
    public static IndexValueRange? For(IndexQueryPlan plan)
    {
        object? lower = plan.Lower is not { } from ? (plan.Index.ValueType == IndexValueType.Int64 ? long.MinValue : string.Empty)
            : plan.LowerInclusive ? ToScalar(from) : Next(from);
        object? upper = plan.Upper is not { } to ? null : plan.UpperInclusive ? Next(to) : ToScalar(to);
        if (lower is null)
        {
            // Nothing is above long.MaxValue.
            return null;
        }

        if (plan.Prefix is { } prefix)
        {
            lower = Compare(lower, prefix) < 0 ? prefix : lower;
            if (KeyRange.PrefixUpperBound(prefix) is { } above && (upper is null || Compare(above, upper) < 0))
            {
                upper = above;
            }
        }

        return upper is not null && Compare(lower, upper) >= 0 ? null : new IndexValueRange(lower, upper);
    }

    /// <summary>An index value as the scalar it is: a <see cref="long"/> or a <see cref="string"/>.</summary>
    /// <param name="value">The value.</param>
    /// <returns>The scalar.</returns>
    public static object ToScalar(IndexValue value) => value.Type == IndexValueType.Int64 ? value.AsInt64 : value.AsString;

    /// <summary>Whether a value (of the index's type) lies below the range.</summary>
    /// <param name="value">The value.</param>
    /// <returns><see langword="true"/> when it is below <see cref="Lower"/>.</returns>
    public bool IsBelow(IndexValue value) => Compare(ToScalar(value), Lower) < 0;

    /// <summary>Whether a value (of the index's type) lies at or above the range's upper end.</summary>
    /// <param name="value">The value.</param>
    /// <returns><see langword="true"/> when there is an upper end and the value is not below it.</returns>
    public bool IsAtOrAbove(IndexValue value) => Upper is not null && Compare(ToScalar(value), Upper) >= 0;

    /// <summary>The smallest value above <paramref name="value"/>, or <see langword="null"/> for none.</summary>
    private static object? Next(IndexValue value) => value.Type switch
    {
        IndexValueType.Int64 when value.AsInt64 == long.MaxValue => null,
        IndexValueType.Int64 => value.AsInt64 + 1,
        _ => value.AsString + SmallestSuffix,
    };

    private static int Compare(object x, object y) => x is long a ? a.CompareTo((long)y) : StorageKeyComparer.Instance.Compare((string)x, (string)y);
}
