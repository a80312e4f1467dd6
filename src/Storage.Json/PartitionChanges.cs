using Storage.Internal;

namespace Storage.Json;

/// <summary>
/// The change feed of one partition, computed from its immutable snapshot (so a page is consistent
/// with the snapshot's revision): live documents, tombstones and sequences changed after the
/// revision, merged with each stream's events after it by the engine (<see cref="FeedCandidates"/>).
/// </summary>
internal static class PartitionChanges
{
    /// <summary>The partition's changes after <paramref name="afterRevision"/> in feed order, at most <paramref name="fetch"/> (<see cref="ChangeFeedQuery.FetchSize"/>).</summary>
    public static List<Change> Read(PartitionSnapshot partition, long afterRevision, int fetch, DateTimeOffset now)
    {
        // Documents, tombstones and sequences appear once each (the feed is compacted): all of them
        // after the revision.
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
                compacted.Add(Change.Delete(t.Revision, t.Collection, t.Key, t.DeletedAt));
            }
        }

        foreach (var (name, sequence) in partition.Sequences)
        {
            if (sequence.Revision > afterRevision)
            {
                compacted.Add(Change.Sequence(sequence.Revision, name, sequence.Value));
            }
        }

        return FeedCandidates.Merge(compacted, partition.Streams.Select(static s => s.Events), afterRevision, fetch);
    }
}
