using Npgsql;
using Storage.Internal;
using static Storage.Postgres.Internal.Commands;

namespace Storage.Postgres.Internal;

/// <summary>
/// A query's value bounds as one half-open range [lower, upper) for a B-tree scan: an exclusive lower
/// bound and an inclusive upper one become the next value (an integer plus one; a string followed by
/// U+0001, since values cannot hold NUL nothing lies between), and a prefix narrows the range to
/// [prefix, <see cref="KeyRange.PrefixUpperBound"/>).
/// </summary>
/// <param name="Lower">The lower bound (inclusive).</param>
/// <param name="Upper">The upper bound (exclusive), if any.</param>
internal sealed record IndexBounds(IndexValue Lower, IndexValue? Upper)
{
    private const string SmallestSuffix = "\u0001";

    /// <summary>The range of a query, or <see langword="null"/> when it holds no value at all.</summary>
    public static IndexBounds? For(IndexQueryPlan plan)
    {
        if (plan.Index.ValueType == IndexValueType.Int64)
        {
            var lower = long.MinValue;
            if (plan.Lower is { } l)
            {
                if (!plan.LowerInclusive && l.AsInt64 == long.MaxValue)
                {
                    return null;
                }

                lower = plan.LowerInclusive ? l.AsInt64 : l.AsInt64 + 1;
            }

            long? upper = null;
            if (plan.Upper is { } u)
            {
                upper = !plan.UpperInclusive ? u.AsInt64 : u.AsInt64 == long.MaxValue ? null : u.AsInt64 + 1;
            }

            return upper is { } end && lower >= end ? null : new IndexBounds(IndexValue.Of(lower), upper is { } e ? IndexValue.Of(e) : (IndexValue?)null);
        }

        var from = plan.Lower is { } sl ? (plan.LowerInclusive ? sl.AsString : sl.AsString + SmallestSuffix) : string.Empty;
        var to = plan.Upper is { } su ? (plan.UpperInclusive ? su.AsString + SmallestSuffix : su.AsString) : null;
        if (plan.Prefix is { } prefix)
        {
            if (StorageKeyComparer.Instance.Compare(prefix, from) > 0)
            {
                from = prefix;
            }

            if (KeyRange.PrefixUpperBound(prefix) is { } bound && (to is null || StorageKeyComparer.Instance.Compare(bound, to) < 0))
            {
                to = bound;
            }
        }

        return to is not null && StorageKeyComparer.Instance.Compare(from, to) >= 0 ? null : new IndexBounds(IndexValue.Of(from), to is null ? (IndexValue?)null : IndexValue.Of(to));
    }

    /// <summary>A parameter holding an index value: text or bigint.</summary>
    public static NpgsqlParameter Parameter(IndexValue value)
        => value.Type == IndexValueType.String ? P(value.AsString) : P(value.AsInt64);

    /// <summary>New parameters of a query or count of <paramref name="plan"/>, in their order: the lower bound, the upper bound if any, the partition if any.</summary>
    public NpgsqlParameter[] Parameters(IndexQueryPlan plan)
        => [Parameter(Lower), .. Upper is { } upper ? [Parameter(upper)] : (NpgsqlParameter[])[], .. plan.Partition is { } partition ? [P(partition)] : (NpgsqlParameter[])[]];
}
