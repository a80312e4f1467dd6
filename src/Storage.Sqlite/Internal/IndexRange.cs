using Storage.Internal;

namespace Storage.Sqlite.Internal;

/// <summary>
/// A query's bounds as one half-open range of index values, <c>[Lower, Upper)</c>, the form every
/// index statement takes, plus the cursor to continue after. Values are bound as SQLite compares
/// them: integers as INTEGER, strings as TEXT (BINARY, code-point order). An open end is bound as
/// the extreme of its storage class or as a value of the next one — SQLite orders INTEGER before
/// TEXT before BLOB — so an unbounded side needs no statement of its own.
/// </summary>
/// <param name="Lower">The smallest value in range (inclusive).</param>
/// <param name="Upper">The value above the range (exclusive).</param>
/// <param name="IsEmpty">Whether no value can be in range.</param>
internal readonly record struct IndexRange(object Lower, object Upper, bool IsEmpty)
{
    /// <summary>
    /// The smallest string above a string and every string it begins: index values cannot contain
    /// NUL, so nothing lies between <c>s</c> and <c>s + U+0001</c>.
    /// </summary>
    private const string SmallestSuffix = "\u0001";

    /// <summary>Above every TEXT value (a BLOB sorts after all text).</summary>
    private static readonly byte[] s_aboveAllText = [0];

    /// <summary>The range of a validated query: its equality, bounds and prefix combined.</summary>
    public static IndexRange For(IndexQueryPlan plan)
    {
        var type = plan.Index.ValueType;
        object? lower = plan.Lower is { } l ? SqliteIndexes.Bind(l) : null;
        var lowerInclusive = plan.LowerInclusive;
        object? upper = plan.Upper is { } u ? SqliteIndexes.Bind(u) : null;
        var upperInclusive = plan.UpperInclusive;
        if (plan.Prefix is { } prefix)
        {
            // [prefix, PrefixUpperBound(prefix)) intersected with the bounds.
            var c = lower is null ? -1 : Compare(lower, prefix);
            if (c < 0)
            {
                (lower, lowerInclusive) = (prefix, true);
            }

            if (KeyRange.PrefixUpperBound(prefix) is { } above)
            {
                c = upper is null ? 1 : Compare(upper, above);
                if (c > 0 || (c == 0 && upperInclusive))
                {
                    (upper, upperInclusive) = (above, false);
                }
            }
        }

        // To [Lower, Upper).
        var empty = false;
        if (lower is null)
        {
            lower = type == IndexValueType.Int64 ? long.MinValue : string.Empty;
        }
        else if (!lowerInclusive)
        {
            if (lower is long n)
            {
                empty = n == long.MaxValue;
                lower = n == long.MaxValue ? n : n + 1;
            }
            else
            {
                lower = (string)lower + SmallestSuffix;
            }
        }

        if (upper is long m && upperInclusive)
        {
            upper = m == long.MaxValue ? null : m + 1;
        }
        else if (upper is string s && upperInclusive)
        {
            upper = s + SmallestSuffix;
        }

        if (upper is null)
        {
            upper = type == IndexValueType.Int64 ? string.Empty : s_aboveAllText;
        }

        return new IndexRange(lower, upper, empty || Compare(lower, upper) >= 0);
    }

    /// <summary>Whether a value lies below the range.</summary>
    public bool IsBelow(IndexValue value) => Compare(SqliteIndexes.Bind(value), Lower) < 0;

    /// <summary>Whether a value lies at or above the range's upper end.</summary>
    public bool IsAtOrAbove(IndexValue value) => Compare(SqliteIndexes.Bind(value), Upper) >= 0;

    /// <summary>
    /// The key to compare (value, key) with in one partition, for a cursor that may name another
    /// partition (a valid token never does): the cursor's key in the same partition; below every key
    /// when the cursor's partition sorts before (all of the cursor's value lies after it); above every
    /// key when it sorts after (all of the cursor's value lies before it).
    /// </summary>
    public static object CursorKey(string partition, string cursorPartition, string cursorKey)
    {
        var c = StorageKeyComparer.Instance.Compare(cursorPartition, partition);
        return c == 0 ? cursorKey : c < 0 ? string.Empty : s_aboveAllText;
    }

    /// <summary>Compares two bound values as SQLite does: INTEGER before TEXT (by code point) before BLOB.</summary>
    private static int Compare(object x, object y)
    {
        var c = Rank(x).CompareTo(Rank(y));
        return c != 0 ? c : x switch
        {
            long a => a.CompareTo((long)y),
            string a => StorageKeyComparer.Instance.Compare(a, (string)y),
            _ => 0,
        };

        static int Rank(object value) => value switch
        {
            long => 0,
            string => 1,
            _ => 2,
        };
    }
}
