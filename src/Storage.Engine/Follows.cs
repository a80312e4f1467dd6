namespace Storage.Engine;

/// <summary>
/// The rules of following another store, written once: which changes of a page a partition already
/// holds (version-gated), and the partition's state with the others applied.
/// </summary>
internal static class Follows
{
    /// <summary>Checks a change page's shape against the partition it is applied to and the revision it was read after.</summary>
    public static void Validate(string partition, long afterRevision, ChangePage page)
    {
        if (page.LastRevision < afterRevision)
        {
            throw Invalid(partition, $"the page's last revision {page.LastRevision}", $"is below the revision it was read after ({afterRevision})");
        }

        foreach (var change in page.Items)
        {
            if (change is null)
            {
                throw Invalid(partition, "a change", "is null");
            }

            var item = Describe(change);
            if (change.Revision <= afterRevision || change.Revision > page.LastRevision)
            {
                throw Invalid(partition, item, $"has revision {change.Revision}, outside the page ({afterRevision} to {page.LastRevision})");
            }

            switch (change.Kind)
            {
                case ChangeKind.Put when !string.Equals(change.Document!.Partition, partition, StringComparison.Ordinal):
                    throw Invalid(partition, item, $"belongs to partition '{change.Document.Partition}'");
                case ChangeKind.Append when !string.Equals(change.Event!.Partition, partition, StringComparison.Ordinal):
                    throw Invalid(partition, item, $"belongs to partition '{change.Event.Partition}'");
                case ChangeKind.Delete when change.DeletedAt is null:
                    throw Invalid(partition, item, "carries no deletion time (Change.DeletedAt), which the tombstone must keep");
                case ChangeKind.Put or ChangeKind.Delete or ChangeKind.Append or ChangeKind.Sequence:
                    break;
                default:
                    throw Invalid(partition, item, "is of an unknown kind");
            }
        }
    }

    /// <summary>
    /// Applies the page's changes to <paramref name="stored"/> (the partition as stored here, or
    /// <see langword="null"/>): the state to write, or <see langword="null"/> when the partition already
    /// holds every change and the page's revision.
    /// </summary>
    public static (PartitionExport? State, int Applied, int Skipped) Merge(string partition, PartitionExport? stored, ChangePage page)
    {
        var current = stored?.Revision ?? 0;
        var documents = new Dictionary<DocumentId, StoredDocument>();
        var tombstones = new Dictionary<DocumentId, ExportedTombstone>();
        var sequences = new Dictionary<string, ExportedSequence>(StringComparer.Ordinal);
        var streams = new Dictionary<string, List<StoredEvent>>(StringComparer.Ordinal);
        if (stored is not null)
        {
            foreach (var d in stored.Documents)
            {
                documents[new(d.Collection, d.Key)] = d;
            }

            foreach (var t in stored.Tombstones)
            {
                tombstones[new(t.Collection, t.Key)] = t;
            }

            foreach (var s in stored.Sequences)
            {
                sequences[s.Name] = s;
            }

            foreach (var s in stored.Streams)
            {
                streams[s.Stream] = [.. s.Events];
            }
        }

        int applied = 0, skipped = 0;
        foreach (var change in page.Items)
        {
            bool apply;
            switch (change.Kind)
            {
                case ChangeKind.Put:
                {
                    var id = new DocumentId(change.Collection!, change.Key!);
                    if (apply = Holds(documents, tombstones, id) < change.Revision)
                    {
                        documents[id] = change.Document!;
                        tombstones.Remove(id);
                    }

                    break;
                }

                case ChangeKind.Delete:
                {
                    var id = new DocumentId(change.Collection!, change.Key!);
                    if (apply = Holds(documents, tombstones, id) < change.Revision)
                    {
                        documents.Remove(id);
                        tombstones[id] = new ExportedTombstone(id.Collection, id.Key, change.Revision, change.DeletedAt!.Value);
                    }

                    break;
                }

                case ChangeKind.Append:
                {
                    var e = change.Event!;
                    if (!streams.TryGetValue(e.Stream, out var events))
                    {
                        streams[e.Stream] = events = [];
                    }

                    if (apply = e.Version > events.Count)
                    {
                        if (e.Version != events.Count + 1)
                        {
                            throw Invalid(partition, Describe(change), $"would leave a gap: the stream has {events.Count} events here");
                        }

                        events.Add(e);
                    }
                    else if (events[(int)e.Version - 1].Id != e.Id)
                    {
                        throw Invalid(partition, Describe(change), $"differs from the event stored here at that version (id {events[(int)e.Version - 1].Id})");
                    }

                    break;
                }

                default:
                {
                    if (apply = !sequences.TryGetValue(change.SequenceName!, out var s) || s.Revision < change.Revision)
                    {
                        sequences[change.SequenceName!] = new ExportedSequence(change.SequenceName!, change.SequenceValue, change.Revision);
                    }

                    break;
                }
            }

            if (apply)
            {
                applied++;
            }
            else
            {
                skipped++;
            }
        }

        var revision = Math.Max(current, page.LastRevision);
        if (applied == 0 && revision == current)
        {
            return (null, 0, skipped);
        }

        // A partition made here from the source's feed keeps the source's oldest resumable revision, so its
        // own feed refuses the readers the source's would; one that exists keeps its own.
        var oldest = stored?.OldestResumable ?? Math.Clamp(page.OldestResumableRevision, 1, revision);
        var state = new PartitionExport(partition, revision, oldest, documents.Values, tombstones.Values, sequences.Values, streams.Where(static s => s.Value.Count > 0).Select(static s => new ExportedStream(s.Key, s.Value)));
        return (state, applied, skipped);
    }

    // The version or revision a partition holds for a document: its live version, its tombstone's revision, or 0.
    private static long Holds(Dictionary<DocumentId, StoredDocument> documents, Dictionary<DocumentId, ExportedTombstone> tombstones, DocumentId id)
        => documents.TryGetValue(id, out var d) ? d.Version : tombstones.TryGetValue(id, out var t) ? t.Revision : 0;

    private static string Describe(Change change) => change.Kind switch
    {
        ChangeKind.Put or ChangeKind.Delete => $"the {change.Kind.ToString().ToLowerInvariant()} of '{change.Collection}/{change.Key}' at revision {change.Revision}",
        ChangeKind.Append => $"event {change.Event!.Version} of stream '{change.Event.Stream}'",
        ChangeKind.Sequence => $"the value of sequence '{change.SequenceName}' at revision {change.Revision}",
        _ => $"a change at revision {change.Revision}",
    };

    private static ArgumentException Invalid(string partition, string item, string rule)
        => new(ErrorMessages.InvalidChange(partition, item, rule), "page");
}
