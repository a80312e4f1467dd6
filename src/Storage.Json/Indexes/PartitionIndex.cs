using Storage.Internal;

namespace Storage.Json.Indexes;

/// <summary>
/// The index entries of one partition, per declared index an immutable array sorted by (value,
/// key), published with the partition's snapshot. They serve queries restricted to the partition
/// (a binary search, whatever the size of the store), the uniqueness checks inside the partition,
/// and they are the entries each document holds: a commit drops the entries whose document it
/// replaced or removed (from here and from the store-wide lists) and adds the new ones.
/// </summary>
internal sealed class PartitionIndex
{
    public PartitionIndex(PartitionEntry[][] byIndex)
    {
        ByIndex = byIndex;
        Expiring = new bool[byIndex.Length];
        for (var n = 0; n < byIndex.Length; n++)
        {
            foreach (var entry in byIndex[n])
            {
                if (entry.Document.ExpiresAt is not null)
                {
                    Expiring[n] = true;
                    break;
                }
            }
        }
    }

    /// <summary>Per index (in declaration order), the partition's entries sorted by (value, key).</summary>
    public PartitionEntry[][] ByIndex { get; }

    /// <summary>Per index, whether any entry belongs to a document with an expiry (a count checks those one by one).</summary>
    public bool[] Expiring { get; }

    public static PartitionIndex Empty(int indexCount)
    {
        var byIndex = new PartitionEntry[indexCount][];
        Array.Fill(byIndex, []);
        return new PartitionIndex(byIndex);
    }

    /// <summary>The offset of the first entry of index <paramref name="n"/> above the probe.</summary>
    public int Seek(int n, string partition, in IndexProbe probe)
    {
        var entries = ByIndex[n];
        int low = 0, high = entries.Length - 1;
        while (low <= high)
        {
            var mid = low + ((high - low) >> 1);
            var entry = entries[mid];
            if (probe.CompareEntry(entry.Value, partition, entry.Document.Key) > 0)
            {
                high = mid - 1;
            }
            else
            {
                low = mid + 1;
            }
        }

        return low;
    }

    /// <summary>The entries of index <paramref name="n"/> with exactly this value, as [start, end) offsets.</summary>
    public (int Start, int End) Holders(int n, string partition, IndexValue value)
        => (Seek(n, partition, IndexProbe.Before(value)), Seek(n, partition, IndexProbe.After(value)));

    /// <summary>The [start, end) offsets of a query's range in index <paramref name="n"/>.</summary>
    public (int Start, int End) Range(int n, string partition, IndexRange range)
    {
        var start = 0;
        foreach (var probe in range.Lower)
        {
            start = Math.Max(start, Seek(n, partition, probe));
        }

        var end = ByIndex[n].Length;
        foreach (var probe in range.Upper)
        {
            end = Math.Min(end, Seek(n, partition, probe));
        }

        return (start, Math.Max(start, end));
    }

    /// <summary>Sorts entries into an index array.</summary>
    public static PartitionEntry[] Sorted(List<PartitionEntry> entries)
    {
        var array = entries.ToArray();
        array.AsSpan().Sort(default(PartitionEntryOrder));
        return array;
    }
}
