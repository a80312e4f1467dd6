using System.Collections.Frozen;
using Storage.Internal;

namespace Storage.Json;

/// <summary>
/// The working copy of one partition during a group commit: applies each writer's request in turn
/// (each all-or-nothing, each with its own result or exception), then builds the next snapshot.
/// Only what a request touches is copied: a collection, the tombstones, a stream's new events.
/// </summary>
internal sealed class PartitionBuilder : IDisposable
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

    /// <summary>Applies a batch all-or-nothing.</summary>
    /// <param name="operations">The batch.</param>
    /// <param name="checkUniqueness">
    /// Runs once the batch's conditions passed, before anything changes: it throws to fail the batch
    /// (unique values), or returns <see langword="false"/> to leave the batch out, unapplied, for its
    /// outcome to be decided later (a value another partition's commit in flight reserved).
    /// </param>
    /// <returns>The batch's result, or <see langword="null"/> when <paramref name="checkUniqueness"/> left it out.</returns>
    public CommitResult? ApplyBatch(IReadOnlyList<WriteOperation> operations, Func<bool>? checkUniqueness = null)
    {
        // Check every condition and stream expectation against the state before the batch, in
        // batch order; nothing changes on a conflict.
        var live = new DocumentRecord?[operations.Count];
        var decisions = new AppendDecision[operations.Count];
        var streamVersions = new long[operations.Count];
        var changes = false;
        for (var i = 0; i < operations.Count; i++)
        {
            var op = operations[i];
            if (op.Kind == WriteOperationKind.Append)
            {
                var stream = op.Stream!;
                var version = streamVersions[i] = StreamVersion(stream);
                var plan = AppendPlan.Create(op.ExpectedVersion, version, op.Events.Count);
                var stored = plan.Decision == AppendDecision.CompareStoredIds ? StoredIds(stream, plan.WindowFirst, op.Events.Count) : [];
                decisions[i] = plan.Resolve(op.ExpectedVersion, op.Events, stored);
                if (decisions[i] == AppendDecision.Conflict)
                {
                    throw new VersionConflictException(_base.Partition, stream, op.ExpectedVersion, version, i);
                }

                changes |= decisions[i] == AppendDecision.Append;
                continue;
            }

            live[i] = Live(Find(op.Collection, op.Key));
            if (!op.Condition.IsSatisfiedBy(live[i]?.Version))
            {
                throw new VersionConflictException(_base.Partition, op.Collection, op.Key, op.Condition, live[i]?.Version, i);
            }

            changes |= op.Kind == WriteOperationKind.Put || live[i] is not null;
        }

        if (checkUniqueness is not null && !checkUniqueness())
        {
            return null;
        }

        var outcomes = new OperationOutcome[operations.Count];
        if (!changes)
        {
            // Only deletes of missing documents and retried appends: no revision is taken. A
            // partition that does not exist has revision 0.
            for (var i = 0; i < operations.Count; i++)
            {
                outcomes[i] = operations[i].Kind == WriteOperationKind.Append
                    ? new OperationOutcome(true, AlreadyStoredVersion(operations[i], streamVersions[i]))
                    : new OperationOutcome(false, null);
            }

            return new CommitResult(_exists ? _revision : 0, changed: false, outcomes);
        }

        var revision = NextRevision();
        for (var i = 0; i < operations.Count; i++)
        {
            var op = operations[i];
            switch (op.Kind)
            {
                case WriteOperationKind.Append when decisions[i] == AppendDecision.AlreadyStored:
                    outcomes[i] = new OperationOutcome(true, AlreadyStoredVersion(op, streamVersions[i]));
                    break;
                case WriteOperationKind.Append:
                    var draft = Draft(op.Stream!);
                    foreach (var e in op.Events)
                    {
                        draft.Added.Add(new StoredEvent(_base.Partition, op.Stream!, draft.Version + 1, revision, e.Id, e.Type, e.Data.ToArray(), e.Metadata.IsEmpty ? ReadOnlyMemory<byte>.Empty : e.Metadata.ToArray(), _now));
                    }

                    outcomes[i] = new OperationOutcome(streamVersions[i] > 0, draft.Version);
                    break;
                case WriteOperationKind.Put:
                    _entries ??= new DocumentEntryWriter();
                    Touch(op.Collection).Put(_entries.Create(op.Key, op.Value.Span, revision, live[i]?.CreatedAt ?? _now, _now, op.ExpiresAt));
                    if (HasTombstone(op.Collection, op.Key))
                    {
                        Tombstones().Remove((op.Collection, op.Key));
                    }

                    outcomes[i] = new OperationOutcome(live[i] is not null, revision);
                    break;
                default:
                    if (live[i] is not null)
                    {
                        Touch(op.Collection).Remove(op.Key);
                        Tombstones()[(op.Collection, op.Key)] = new TombstoneRecord(op.Collection, op.Key, revision, _now);
                    }

                    outcomes[i] = new OperationOutcome(live[i] is not null, null);
                    break;
            }
        }

        return new CommitResult(revision, changed: true, outcomes);
    }

    public long Increment(string name, long delta)
    {
        _sequences ??= new Dictionary<string, SequenceRecord>(_base.Sequences, StringComparer.Ordinal);
        var value = Batches.AddToSequence(name, _sequences.GetValueOrDefault(name).Value, delta);
        _sequences[name] = new SequenceRecord(value, NextRevision());
        return value;
    }

    /// <summary>Removes expired documents and tombstones older than <paramref name="tombstoneRetention"/>; takes no revision.</summary>
    /// <returns>How many documents were removed.</returns>
    public long PurgeExpired(TimeSpan tombstoneRetention)
    {
        long purged = 0;
        foreach (var collection in _base.Collections.Keys.Concat(_touched.Keys).Distinct(StringComparer.Ordinal).ToList())
        {
            var documents = Touch(collection);
            foreach (var expired in documents.Documents.Where(d => Timestamps.IsExpired(d.ExpiresAt, _now)).ToList())
            {
                documents.Remove(expired.Key);
                purged++;
            }
        }

        var old = (_tombstones?.Values ?? (IEnumerable<TombstoneRecord>)_base.Tombstones).Where(t => IsPastRetention(t, _now, tombstoneRetention)).ToList();
        foreach (var tombstone in old)
        {
            Tombstones().Remove((tombstone.Collection, tombstone.Key));

            // A reader behind the dropped tombstone would miss the delete: it must start over.
            _oldestResumable = Math.Max(_oldestResumable, tombstone.Revision);
        }

        HasChanges |= purged > 0 || old.Count > 0;
        return purged;
    }

    /// <summary>Whether the purge would change <paramref name="partition"/>: an expired document or a tombstone past the retention.</summary>
    public static bool NeedsPurge(PartitionSnapshot partition, DateTimeOffset now, TimeSpan tombstoneRetention)
        => partition.Collections.Values.Any(documents => documents.Any(d => Timestamps.IsExpired(d.ExpiresAt, now)))
            || partition.Tombstones.Any(t => IsPastRetention(t, now, tombstoneRetention));

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

    private static bool IsPastRetention(TombstoneRecord tombstone, DateTimeOffset now, TimeSpan retention)
        => Timestamps.TombstoneCutoff(now, retention) is { } cutoff && tombstone.DeletedAt <= cutoff;

    private static long AlreadyStoredVersion(WriteOperation append, long streamVersion)
        => AppendPlan.AlreadyStoredVersion(append.ExpectedVersion, streamVersion, append.Events.Count);

    /// <summary>Takes the next revision; the first one of a partition is also the oldest a change-feed reader can resume after.</summary>
    private long NextRevision()
    {
        var revision = ++_revision;
        if (!_exists)
        {
            _oldestResumable = revision;
        }

        HasChanges = _exists = true;
        return revision;
    }

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

    private long StreamVersion(string stream)
        => _streams is not null && _streams.TryGetValue(stream, out var draft) ? draft.Version : _base.StreamEvents(stream).Length;

    private Guid[] StoredIds(string stream, long first, int count)
    {
        var draft = Draft(stream);
        var ids = new Guid[count];
        for (var i = 0; i < count; i++)
        {
            ids[i] = draft.At(first + i).Id;
        }

        return ids;
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
    public DocumentRecord? Find(string collection, string key)
        => _touched.TryGetValue(collection, out var documents) ? documents.Find(key) : _base.Find(collection, key);

    private DocumentRecord? Live(DocumentRecord? record) => record is not null && !Timestamps.IsExpired(record.ExpiresAt, _now) ? record : null;

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
