using System.Collections.Frozen;
using Storage.Internal;

namespace Storage.Json;

/// <summary>
/// The working copy of one partition during a group commit. The engine's <see cref="PartitionWriter"/>
/// decides the requests (conditions, stream expectations, revisions, tombstones, outcomes) over the
/// state <see cref="Begin"/> gives it; <see cref="Merge"/> takes its net change in, and <see cref="Build"/>
/// makes the next snapshot. Only what a commit touches is copied: a collection, the tombstones, a
/// stream's new events.
/// </summary>
internal sealed class PartitionBuilder : IPartitionImage, IDisposable
{
    private readonly PartitionSnapshot _base;
    private readonly DateTimeOffset _now;
    private readonly Dictionary<string, CollectionDraft> _touched = new(StringComparer.Ordinal);
    private Dictionary<string, SequenceRecord>? _sequences;
    private Dictionary<(string Collection, string Key), TombstoneRecord>? _tombstones;
    private Dictionary<string, StreamDraft>? _streams;
    private DocumentEntryWriter? _entries;
    private long _revision;
    private long _oldestResumable;
    private bool _exists;

    public PartitionBuilder(PartitionSnapshot current, long revisionFloor, DateTimeOffset now)
    {
        _base = current;
        _now = now;

        // A partition without a file (never written, or deleted) continues above the store's floor.
        _revision = current.Exists ? current.Revision : Math.Max(current.Revision, revisionFloor);
        _oldestResumable = current.OldestResumable;
        _exists = current.Exists;
    }

    /// <summary>Whether anything must be written.</summary>
    public bool HasChanges { get; private set; }

    /// <summary>
    /// A writer to decide requests with, over the working state <paramref name="reads"/> names: documents
    /// (expired or not), sequences, stream versions and the stored ids the reads ask for.
    /// </summary>
    /// <param name="reads">What the requests need.</param>
    /// <param name="uniqueness">The uniqueness check, when indexes are declared.</param>
    /// <param name="state">The state the writer is created over.</param>
    /// <returns>The writer; its net change comes back through <see cref="Merge"/>.</returns>
    public PartitionWriter Begin(PartitionReads reads, IUniquenessCheck? uniqueness, out PartitionState state)
    {
        state = IPartitionImage.Load(new PartitionState(_base.Partition, reads) { Exists = _exists, Revision = _revision }, reads, this);
        return new PartitionWriter(state, _now, uniqueness);
    }

    /// <inheritdoc/>
    public DocumentRow? Document(DocumentId id)
        => Find(id.Collection, id.Key) is { } record ? new DocumentRow(record.Version, record.CreatedAt, record.ExpiresAt) : null;

    /// <inheritdoc/>
    public bool TryGetSequence(string name, out long value)
    {
        var found = (_sequences ?? _base.Sequences).TryGetValue(name, out var sequence);
        value = sequence.Value;
        return found;
    }

    /// <inheritdoc/>
    public long StreamVersion(string stream) => Draft(stream).Version;

    /// <inheritdoc/>
    public Guid EventId(string stream, long version) => Draft(stream).At(version).Id;

    /// <summary>Takes in the net change of a writer from <see cref="Begin"/>.</summary>
    /// <param name="writer">The writer; <see langword="null"/> when none was begun.</param>
    public void Merge(PartitionWriter? writer)
    {
        if (writer is not { HasChanges: true })
        {
            return;
        }

        foreach (var (id, row) in writer.Upserts())
        {
            _entries ??= new DocumentEntryWriter();
            Touch(id.Collection).Put(_entries.Create(id.Key, row.Value.Span, row.Version, row.CreatedAt, row.UpdatedAt, row.ExpiresAt));
        }

        foreach (var id in writer.Deletes())
        {
            Touch(id.Collection).Remove(id.Key);
        }

        foreach (var (id, revision) in writer.TombstoneWrites())
        {
            Tombstones()[(id.Collection, id.Key)] = new TombstoneRecord(id.Collection, id.Key, revision, writer.Now);
        }

        foreach (var id in writer.TombstoneDeletes())
        {
            if (HasTombstone(id.Collection, id.Key))
            {
                Tombstones().Remove((id.Collection, id.Key));
            }
        }

        foreach (var e in writer.NewEvents())
        {
            Draft(e.Stream).Added.Add(new StoredEvent(_base.Partition, e.Stream, e.Version, e.Revision, e.Data.Id, e.Data.Type, e.Data.Data.ToArray(), e.Data.Metadata.IsEmpty ? ReadOnlyMemory<byte>.Empty : e.Data.Metadata.ToArray(), writer.Now));
        }

        foreach (var (name, value, revision) in writer.SequenceWrites())
        {
            _sequences ??= new Dictionary<string, SequenceRecord>(_base.Sequences, StringComparer.Ordinal);
            _sequences[name] = new SequenceRecord(value, revision);
        }

        // The first revision of a partition is also the oldest a change-feed reader can resume after.
        _oldestResumable = writer.CreatedAtRevision ?? _oldestResumable;
        _revision = writer.Revision;
        HasChanges = _exists = true;
    }

    /// <summary>Removes expired documents and tombstones deleted at or before <paramref name="tombstoneCutoff"/>; takes no revision.</summary>
    /// <returns>How many documents were removed.</returns>
    public long PurgeExpired(DateTimeOffset? tombstoneCutoff)
    {
        long purged = 0;
        foreach (var collection in _base.Collections.Keys.Concat(_touched.Keys).Distinct(StringComparer.Ordinal).ToList())
        {
            var documents = Touch(collection);
            foreach (var expired in documents.Documents.Where(d => Timestamps.IsExpired(d.ExpiresAt, _now)).ToList())
            {
                documents.Remove(expired.Key);
                purged++;

                // A reader behind the purged version never saw it: it must start over.
                _oldestResumable = Math.Max(_oldestResumable, expired.Version);
            }
        }

        var old = (_tombstones?.Values ?? (IEnumerable<TombstoneRecord>)_base.Tombstones).Where(t => t.DeletedAt <= tombstoneCutoff).ToList();
        foreach (var tombstone in old)
        {
            Tombstones().Remove((tombstone.Collection, tombstone.Key));

            // A reader behind the dropped tombstone would miss the delete: it must start over.
            _oldestResumable = Math.Max(_oldestResumable, tombstone.Revision);
        }

        HasChanges |= purged > 0 || old.Count > 0;
        return purged;
    }

    /// <summary>Whether the purge would change <paramref name="partition"/>: an expired document or a tombstone deleted at or before the cutoff.</summary>
    public static bool NeedsPurge(PartitionSnapshot partition, DateTimeOffset now, DateTimeOffset? tombstoneCutoff)
        => partition.Collections.Values.Any(documents => documents.Any(d => Timestamps.IsExpired(d.ExpiresAt, now)))
            || partition.Tombstones.Any(t => t.DeletedAt <= tombstoneCutoff);

    public PartitionSnapshot Build()
    {
        var collections = new Dictionary<string, DocumentRecord[]>(_base.Collections, StringComparer.Ordinal);
        foreach (var (name, draft) in _touched)
        {
            var documents = draft.Build();
            if (documents.Length == 0)
            {
                collections.Remove(name);
            }
            else
            {
                collections[name] = documents;
            }
        }

        return new PartitionSnapshot(
            _base.Partition,
            _revision,
            exists: true,
            _oldestResumable,
            collections.ToFrozenDictionary(StringComparer.Ordinal),
            (_sequences ?? _base.Sequences).ToFrozenDictionary(StringComparer.Ordinal),
            _tombstones is null ? _base.Tombstones : PartitionSnapshot.SortTombstones(_tombstones.Values),
            _streams is null ? _base.Streams : BuildStreams());
    }

    public void Dispose() => _entries?.Dispose();

    private StreamRecord[] BuildStreams()
    {
        var streams = new List<StreamRecord>(_base.Streams);
        var added = false;
        foreach (var (name, draft) in _streams!)
        {
            if (draft.Added.Count == 0)
            {
                continue;
            }

            var record = new StreamRecord(name, [.. draft.Stored, .. draft.Added]);
            var index = PartitionSnapshot.IndexOf(_base.Streams, name, static s => s.Name);
            if (index >= 0)
            {
                streams[index] = record;
            }
            else
            {
                streams.Add(record);
                added = true;
            }
        }

        var result = streams.ToArray();
        if (added)
        {
            Array.Sort(result, static (a, b) => StorageKeyComparer.Instance.Compare(a.Name, b.Name));
        }

        return result;
    }

    private StreamDraft Draft(string stream)
    {
        _streams ??= new Dictionary<string, StreamDraft>(StringComparer.Ordinal);
        if (!_streams.TryGetValue(stream, out var draft))
        {
            draft = new StreamDraft(_base.StreamEvents(stream));
            _streams.Add(stream, draft);
        }

        return draft;
    }

    private bool HasTombstone(string collection, string key)
        => _tombstones?.ContainsKey((collection, key))
            ?? Array.BinarySearch(_base.Tombstones, new TombstoneRecord(collection, key, 0, default), PartitionSnapshot.TombstoneOrder) >= 0;

    private Dictionary<(string Collection, string Key), TombstoneRecord> Tombstones()
        => _tombstones ??= _base.Tombstones.ToDictionary(static t => (t.Collection, t.Key));

    /// <summary>The document under a key in the working state (expired ones included), or <see langword="null"/>.</summary>
    private DocumentRecord? Find(string collection, string key)
        => _touched.TryGetValue(collection, out var documents) ? documents.Find(key) : _base.Find(collection, key);

    private CollectionDraft Touch(string collection)
    {
        if (!_touched.TryGetValue(collection, out var documents))
        {
            documents = new CollectionDraft(_base.Collections.GetValueOrDefault(collection) ?? []);
            _touched.Add(collection, documents);
        }

        return documents;
    }

    /// <summary>
    /// A collection during the commit: its stored documents (the snapshot's sorted array, shared,
    /// never copied until the build) and what the commit changed. The build merges the two, so a
    /// commit costs O(changes × log n) comparisons and one copy of the array, not a sort of it.
    /// </summary>
    private sealed class CollectionDraft(DocumentRecord[] stored)
    {
        // A removed document maps to null.
        private readonly Dictionary<string, DocumentRecord?> _changes = new(StringComparer.Ordinal);

        /// <summary>The documents in the working state, in no particular order.</summary>
        public IEnumerable<DocumentRecord> Documents
            => stored.Where(d => !_changes.ContainsKey(d.Key)).Concat(_changes.Values.OfType<DocumentRecord>());

        public DocumentRecord? Find(string key)
        {
            if (_changes.TryGetValue(key, out var changed))
            {
                return changed;
            }

            var index = PartitionSnapshot.IndexOf(stored, key);
            return index >= 0 ? stored[index] : null;
        }

        public void Put(DocumentRecord document) => _changes[document.Key] = document;

        public void Remove(string key) => _changes[key] = null;

        /// <summary>The documents sorted by code point: runs of the stored array between the changed keys, and the changes.</summary>
        public DocumentRecord[] Build()
        {
            if (_changes.Count == 0)
            {
                return stored;
            }

            var keys = _changes.Keys.ToArray();
            Array.Sort(keys, StorageKeyComparer.Instance);
            var documents = new List<DocumentRecord>(stored.Length + keys.Length);
            var next = 0;
            foreach (var key in keys)
            {
                var index = PartitionSnapshot.IndexOf(stored, key);
                var end = index >= 0 ? index : ~index;
                documents.AddRange(new ArraySegment<DocumentRecord>(stored, next, end - next));
                next = index >= 0 ? index + 1 : end;
                if (_changes[key] is { } document)
                {
                    documents.Add(document);
                }
            }

            documents.AddRange(new ArraySegment<DocumentRecord>(stored, next, stored.Length - next));
            return documents.ToArray();
        }
    }

    /// <summary>A stream during the commit: its stored events (shared with the snapshot, never copied until the build) and the ones appended.</summary>
    private sealed class StreamDraft(StoredEvent[] stored)
    {
        public StoredEvent[] Stored { get; } = stored;

        public List<StoredEvent> Added { get; } = [];

        public long Version => Stored.Length + Added.Count;

        public StoredEvent At(long version) => version <= Stored.Length ? Stored[version - 1] : Added[(int)(version - 1 - Stored.Length)];
    }
}
