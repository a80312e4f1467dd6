using Storage.Internal;

namespace Storage.Json.Indexes;

/// <summary>
/// One entry of an index across the store: a value, the partition and the document that holds it
/// (the document's key is <see cref="DocumentRecord.Key"/>; the record is the one of the partition's
/// published snapshot, so a query returns it without another lookup).
/// </summary>
internal readonly record struct IndexEntry(IndexValue Value, string Partition, DocumentRecord Document);

/// <summary>One entry of an index inside one partition: a value and the document that holds it.</summary>
internal readonly record struct PartitionEntry(IndexValue Value, DocumentRecord Document);

/// <summary>
/// A seek position between the entries of an index, in (value, partition, key) order: just before
/// or just after every entry that starts with the probe's parts. A probe never equals an entry, so
/// "the first entry above the probe" is well defined. The value part is kept as raw text or a
/// number, because a bound need not be a valid index value (a prefix's upper bound can be one
/// UTF-8 byte longer than the longest value).
/// </summary>
internal readonly struct IndexProbe(string? text, long number, string? partition, string? key, bool after)
{
    /// <summary>Just before every entry with this value.</summary>
    public static IndexProbe Before(IndexValue value) => Of(value, null, null, after: false);

    /// <summary>Just after every entry with this value.</summary>
    public static IndexProbe After(IndexValue value) => Of(value, null, null, after: true);

    /// <summary>Just before every string entry with this text, which need not be a valid index value.</summary>
    public static IndexProbe BeforeText(string text) => new(text, 0, null, null, after: false);

    /// <summary>Just before the entry (value, partition, key).</summary>
    public static IndexProbe Before(IndexValue value, string partition, string key) => Of(value, partition, key, after: false);

    /// <summary>Just after the entry (value, partition, key).</summary>
    public static IndexProbe After(IndexValue value, string partition, string key) => Of(value, partition, key, after: true);

    /// <summary>The sign of (entry - probe): never 0.</summary>
    public int CompareEntry(IndexValue value, string entryPartition, string entryKey)
    {
        var c = text is not null ? StorageKeyComparer.Instance.Compare(value.AsString, text) : value.AsInt64.CompareTo(number);
        if (c != 0)
        {
            return c;
        }

        if (partition is null)
        {
            return after ? -1 : 1;
        }

        c = StorageKeyComparer.Instance.Compare(entryPartition, partition);
        if (c != 0)
        {
            return c;
        }

        if (key is null)
        {
            return after ? -1 : 1;
        }

        c = StorageKeyComparer.Instance.Compare(entryKey, key);
        return c != 0 ? c : after ? -1 : 1;
    }

    private static IndexProbe Of(IndexValue value, string? partition, string? key, bool after)
        => value.Type == IndexValueType.String ? new(value.AsString, 0, partition, key, after) : new(null, value.AsInt64, partition, key, after);
}

/// <summary>Orders entries by (value, partition, key): the order of query results.</summary>
internal readonly struct IndexEntryOrder : IComparer<IndexEntry>
{
    public int Compare(IndexEntry x, IndexEntry y) => IndexQueryPlan.Compare(x.Value, x.Partition, x.Document.Key, y.Value, y.Partition, y.Document.Key);
}

/// <summary>Orders the entries of one partition by (value, key).</summary>
internal readonly struct PartitionEntryOrder : IComparer<PartitionEntry>
{
    public int Compare(PartitionEntry x, PartitionEntry y)
    {
        var c = x.Value.CompareTo(y.Value);
        return c != 0 ? c : StorageKeyComparer.Instance.Compare(x.Document.Key, y.Document.Key);
    }
}

/// <summary>
/// The bounds of a query as probes in ascending (value, partition, key) order: the matches lie
/// between the first entry above every lower probe and the first entry above any upper probe
/// (exclusive). The cursor of a continued query is one of them: a lower probe when ascending, an
/// upper one when descending.
/// </summary>
internal sealed class IndexRange
{
    private IndexRange(List<IndexProbe> lower, List<IndexProbe> upper)
    {
        Lower = lower;
        Upper = upper;
    }

    public IReadOnlyList<IndexProbe> Lower { get; }

    public IReadOnlyList<IndexProbe> Upper { get; }

    public static IndexRange For(IndexQueryPlan plan)
    {
        var lower = new List<IndexProbe>(3);
        var upper = new List<IndexProbe>(3);
        if (plan.Lower is { } l)
        {
            lower.Add(plan.LowerInclusive ? IndexProbe.Before(l) : IndexProbe.After(l));
        }

        if (plan.Upper is { } u)
        {
            upper.Add(plan.UpperInclusive ? IndexProbe.After(u) : IndexProbe.Before(u));
        }

        if (plan.Prefix is { } prefix)
        {
            lower.Add(IndexProbe.BeforeText(prefix));
            if (KeyRange.PrefixUpperBound(prefix) is { } above)
            {
                upper.Add(IndexProbe.BeforeText(above));
            }
        }

        if (plan.After is { } after)
        {
            if (plan.Descending)
            {
                upper.Add(IndexProbe.Before(after.Value, after.Partition, after.Key));
            }
            else
            {
                lower.Add(IndexProbe.After(after.Value, after.Partition, after.Key));
            }
        }

        return new IndexRange(lower, upper);
    }
}
