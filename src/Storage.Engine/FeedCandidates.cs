using System.Diagnostics.CodeAnalysis;

namespace Storage.Engine;

/// <summary>
/// The change candidates of a partition a backend holds in memory (<see cref="IStoreBackend.ReadChangesAsync"/>):
/// its compacted changes — documents, tombstones and sequences, each once — merged with its streams'
/// events. A stream's events are in revision order, so each stream starts at a binary search and only
/// the events that can reach the page are read.
/// </summary>
[Experimental(Experiments.BackendInterface)]
public static class FeedCandidates
{
    /// <summary>The partition's changes after <paramref name="afterRevision"/> in feed order (<see cref="ChangeFeedQuery.Order"/>), at most <paramref name="fetch"/>.</summary>
    /// <param name="compacted">The live documents, tombstones and sequences changed after <paramref name="afterRevision"/>, in any order (sorted here).</param>
    /// <param name="streams">Each stream's events, in version order.</param>
    /// <param name="afterRevision">The revision the read starts after.</param>
    /// <param name="fetch">The most changes to return (<see cref="ChangeFeedQuery.FetchSize"/>).</param>
    /// <returns>The candidates.</returns>
    public static List<Change> Merge(List<Change> compacted, IEnumerable<IReadOnlyList<StoredEvent>> streams, long afterRevision, int fetch)
    {
        ArgumentNullException.ThrowIfNull(compacted);
        ArgumentNullException.ThrowIfNull(streams);
        compacted.Sort(ChangeFeedQuery.Order);

        // Merge them with the streams, each already in feed order, up to the fetch size.
        var sources = new PriorityQueue<IEnumerator<Change>, Change>(ChangeFeedQuery.Order);
        Add(sources, compacted.GetEnumerator());
        foreach (var events in streams)
        {
            var first = FirstAfter(events, afterRevision);
            if (first < events.Count)
            {
                Add(sources, Appends(events, first));
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

    private static IEnumerator<Change> Appends(IReadOnlyList<StoredEvent> events, int first)
    {
        for (var i = first; i < events.Count; i++)
        {
            yield return Change.Append(events[i]);
        }
    }

    /// <summary>The index of the first event with a revision above <paramref name="afterRevision"/> (revisions never decrease along a stream).</summary>
    private static int FirstAfter(IReadOnlyList<StoredEvent> events, long afterRevision)
    {
        int low = 0, high = events.Count;
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
