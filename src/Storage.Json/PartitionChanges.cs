using Storage.Internal;

namespace Storage.Json;

/// <summary>
/// The change feed of one partition, computed from its immutable snapshot (so a page is consistent
/// with the snapshot's revision): live documents, tombstones and sequences changed after the
/// revision, merged with each stream's events after it. A stream's events are in revision order,
/// so each stream starts at a binary search and only the events that can reach the page are read.
/// </summary>
internal static class PartitionChanges
{
    /// <summary>The partition's changes after <paramref name="afterRevision"/> in feed order, at most <paramref name="fetch"/> (<see cref="ChangeFeedQuery.FetchSize"/>).</summary>
    public static List<Change> Read(PartitionSnapshot partition, long afterRevision, int fetch, DateTimeOffset now)
    {
        // Documents, tombstones and sequences appear once each (the feed is compacted): all of them
        // after the revision, in feed order.
        var compacted = new List<Change>();
        foreach (var (collection, documents) in partition.Collections)
        {
            foreach (var d in documents)
            {
                if (d.Version > afterRevision && !Timestamps.IsExpired(d.ExpiresAt, now))
                {
                    compacted.Add(Change.Put(d.ToDocument(partition.Partition, collection)));
                }
            }
        }

        foreach (var t in partition.Tombstones)
        {
            if (t.Revision > afterRevision)
            {
                compacted.Add(Change.Delete(t.Revision, t.Collection, t.Key));
            }
        }

        foreach (var (name, sequence) in partition.Sequences)
        {
            if (sequence.Revision > afterRevision)
            {
                compacted.Add(Change.Sequence(sequence.Revision, name, sequence.Value));
            }
        }

        compacted.Sort(ChangeFeedQuery.Order);

        // Merge them with the streams, each already in feed order, up to the fetch size.
        var sources = new PriorityQueue<IEnumerator<Change>, Change>(ChangeFeedQuery.Order);
        Add(sources, compacted.GetEnumerator());
        foreach (var stream in partition.Streams)
        {
            var first = FirstAfter(stream.Events, afterRevision);
            if (first < stream.Events.Length)
            {
                Add(sources, Appends(stream.Events, first));
            }
        }

        var candidates = new List<Change>(Math.Min(fetch, 256));
        while (candidates.Count < fetch && sources.TryDequeue(out var source, out var change))
        {
            candidates.Add(change);
            Add(sources, source);
        }

        return candidates;
    }

    private static void Add(PriorityQueue<IEnumerator<Change>, Change> sources, IEnumerator<Change> source)
    {
        if (source.MoveNext())
        {
            sources.Enqueue(source, source.Current);
        }
    }

    private static IEnumerator<Change> Appends(StoredEvent[] events, int first)
    {
        for (var i = first; i < events.Length; i++)
        {
            yield return Change.Append(events[i]);
        }
    }

    /// <summary>The index of the first event with a revision above <paramref name="afterRevision"/> (revisions never decrease along a stream).</summary>
    private static int FirstAfter(StoredEvent[] events, long afterRevision)
    {
        int low = 0, high = events.Length;
        while (low < high)
        {
            var mid = low + ((high - low) >> 1);
            if (events[mid].Revision > afterRevision)
            {
                high = mid;
            }
            else
            {
                low = mid + 1;
            }
        }

        return low;
    }
}
