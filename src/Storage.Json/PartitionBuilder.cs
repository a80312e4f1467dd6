using System.Collections.Frozen;
using Storage.Internal;

namespace Storage.Json;

/// <summary>
/// The working copy of one partition during a group commit: applies each writer's request in turn
/// (each all-or-nothing, each with its own result or exception), then builds the next snapshot.
/// </summary>
internal sealed class PartitionBuilder
{
    private readonly PartitionSnapshot _base;
    private readonly DateTimeOffset _now;
    private readonly Dictionary<string, SortedDictionary<string, DocumentRecord>> _touched = new(StringComparer.Ordinal);
    private Dictionary<string, long>? _sequences;
    private long _revision;
    private bool _exists;

    public PartitionBuilder(PartitionSnapshot current, long revisionFloor, DateTimeOffset now)
    {
        _base = current;
        _now = now;

        // A partition without a file (never written, or deleted) continues above the store's floor.
        _revision = current.Exists ? current.Revision : Math.Max(current.Revision, revisionFloor);
        _exists = current.Exists;
    }

    /// <summary>Whether anything must be written.</summary>
    public bool HasChanges { get; private set; }

    public CommitResult ApplyBatch(IReadOnlyList<WriteOperation> operations)
    {
        // Check every condition against the state before the batch; nothing changes on a conflict.
        var live = new DocumentRecord?[operations.Count];
        var changes = false;
        for (var i = 0; i < operations.Count; i++)
        {
            var op = operations[i];
            live[i] = Live(Find(op.Collection, op.Key));
            if (!op.Condition.IsSatisfiedBy(live[i]?.Version))
            {
                throw new VersionConflictException(_base.Partition, op.Collection, op.Key, op.Condition, live[i]?.Version, i);
            }

            changes |= op.Kind == WriteOperationKind.Put || live[i] is not null;
        }

        var outcomes = new OperationOutcome[operations.Count];
        if (!changes)
        {
            // Only deletes of missing documents: no revision is taken. A partition that does not exist has revision 0.
            Array.Fill(outcomes, new OperationOutcome(false, null));
            return new CommitResult(_exists ? _revision : 0, changed: false, outcomes);
        }

        var revision = ++_revision;
        for (var i = 0; i < operations.Count; i++)
        {
            var op = operations[i];
            var documents = Touch(op.Collection);
            if (op.Kind == WriteOperationKind.Put)
            {
                documents[op.Key] = new DocumentRecord(op.Key, op.Value.ToArray(), revision, live[i]?.CreatedAt ?? _now, _now, op.ExpiresAt);
                outcomes[i] = new OperationOutcome(live[i] is not null, revision);
            }
            else
            {
                if (live[i] is not null)
                {
                    documents.Remove(op.Key);
                }

                outcomes[i] = new OperationOutcome(live[i] is not null, null);
            }
        }

        HasChanges = _exists = true;
        return new CommitResult(revision, changed: true, outcomes);
    }

    public long Increment(string name, long delta)
    {
        _sequences ??= new Dictionary<string, long>(_base.Sequences, StringComparer.Ordinal);
        var value = Batches.AddToSequence(name, _sequences.GetValueOrDefault(name), delta);
        _sequences[name] = value;
        _revision++;
        HasChanges = _exists = true;
        return value;
    }

    public long PurgeExpired()
    {
        long purged = 0;
        foreach (var collection in _base.Collections.Keys.Concat(_touched.Keys).Distinct(StringComparer.Ordinal).ToList())
        {
            var documents = Touch(collection);
            foreach (var expired in documents.Values.Where(d => Timestamps.IsExpired(d.ExpiresAt, _now)).ToList())
            {
                documents.Remove(expired.Key);
                purged++;
            }
        }

        HasChanges |= purged > 0;
        return purged;
    }

    public PartitionSnapshot Build()
    {
        var collections = new Dictionary<string, DocumentRecord[]>(_base.Collections, StringComparer.Ordinal);
        foreach (var (name, documents) in _touched)
        {
            if (documents.Count == 0)
            {
                collections.Remove(name);
            }
            else
            {
                collections[name] = documents.Values.ToArray();
            }
        }

        return new PartitionSnapshot(
            _base.Partition,
            _revision,
            exists: true,
            collections.ToFrozenDictionary(StringComparer.Ordinal),
            (_sequences ?? _base.Sequences).ToFrozenDictionary(StringComparer.Ordinal));
    }

    private DocumentRecord? Find(string collection, string key)
        => _touched.TryGetValue(collection, out var documents) ? documents.GetValueOrDefault(key) : _base.Find(collection, key);

    private DocumentRecord? Live(DocumentRecord? record) => record is not null && !Timestamps.IsExpired(record.ExpiresAt, _now) ? record : null;

    private SortedDictionary<string, DocumentRecord> Touch(string collection)
    {
        if (!_touched.TryGetValue(collection, out var documents))
        {
            documents = new SortedDictionary<string, DocumentRecord>(StorageKeyComparer.Instance);
            if (_base.Collections.TryGetValue(collection, out var existing))
            {
                foreach (var record in existing)
                {
                    documents.Add(record.Key, record);
                }
            }

            _touched.Add(collection, documents);
        }

        return documents;
    }
}
