using Storage.Internal;

namespace Storage.Postgres.Internal;

/// <summary>A document's identity inside a partition.</summary>
internal readonly record struct DocumentId(string Collection, string Key);

/// <summary>
/// A document row as the group sees it. Rows read from the database carry no value (the group only
/// needs their version, creation time and expiry); rows the group writes carry everything.
/// </summary>
internal sealed record DocumentRow(long Version, DateTimeOffset CreatedAt, DateTimeOffset? ExpiresAt, DateTimeOffset UpdatedAt = default, ReadOnlyMemory<byte> Value = default);

/// <summary>
/// The working state of one partition during a group commit, checked and applied in memory while the
/// transaction holds the partition's row lock: each writer's request applies in turn (each all or
/// nothing, each with its own result or exception), then the net change is written in one go. The
/// same rules as the JSON backend's <c>PartitionBuilder</c>: conditions against the state before the
/// batch, expired rows treated as absent but left in place unless a put overwrites them, and a
/// revision only for a commit that changes something.
/// </summary>
internal sealed class PartitionWork
{
    private readonly string _partition;
    private readonly DateTimeOffset _now;
    private readonly Dictionary<DocumentId, DocumentRow?> _original;
    private readonly Dictionary<DocumentId, DocumentRow?> _current;
    private readonly Dictionary<string, long> _sequences;
    private readonly HashSet<string> _changedSequences = new(StringComparer.Ordinal);
    private readonly long _storedRevision;
    private long _revision;
    private bool _exists;

    /// <param name="partition">The partition key.</param>
    /// <param name="storedRevision">The partition row's revision; 0 when the partition does not exist.</param>
    /// <param name="revisionFloor">The store's revision floor: a partition that does not exist continues above it.</param>
    /// <param name="now">The store's clock, truncated.</param>
    /// <param name="documents">The stored rows (expired or not) of every document the group touches; documents without a row are absent.</param>
    /// <param name="sequences">The stored values of every sequence the group touches.</param>
    public PartitionWork(string partition, long storedRevision, long revisionFloor, DateTimeOffset now, Dictionary<DocumentId, DocumentRow?> documents, Dictionary<string, long> sequences)
    {
        _partition = partition;
        _now = now;
        _storedRevision = storedRevision;
        _exists = storedRevision > 0;
        _revision = _exists ? storedRevision : Math.Max(storedRevision, revisionFloor);
        StartRevision = _revision;
        _original = documents;
        _current = new Dictionary<DocumentId, DocumentRow?>(documents);
        _sequences = sequences;
    }

    /// <summary>The revision the partition continues from: its own, or the floor when it does not exist.</summary>
    public long StartRevision { get; }

    /// <summary>The partition's revision after the requests applied so far.</summary>
    public long Revision => _revision;

    /// <summary>Whether anything must be written.</summary>
    public bool HasChanges { get; private set; }

    /// <summary>Whether the partition did not exist before the group.</summary>
    public bool IsNewPartition => _storedRevision == 0;

    public CommitResult ApplyBatch(IReadOnlyList<WriteOperation> operations)
    {
        // Check every condition against the state before the batch; nothing changes on a conflict.
        var live = new DocumentRow?[operations.Count];
        var changes = false;
        for (var i = 0; i < operations.Count; i++)
        {
            var op = operations[i];
            live[i] = Live(_current[new DocumentId(op.Collection, op.Key)]);
            if (!op.Condition.IsSatisfiedBy(live[i]?.Version))
            {
                throw new VersionConflictException(_partition, op.Collection, op.Key, op.Condition, live[i]?.Version, i);
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
            var id = new DocumentId(op.Collection, op.Key);
            if (op.Kind == WriteOperationKind.Put)
            {
                // A put over an expired document replaces it, with a fresh creation time.
                _current[id] = new DocumentRow(revision, live[i]?.CreatedAt ?? _now, op.ExpiresAt, _now, op.Value);
                outcomes[i] = new OperationOutcome(live[i] is not null, revision);
            }
            else
            {
                // An expired document stays until a purge (or a put) removes it, so purge counts match every backend.
                if (live[i] is not null)
                {
                    _current[id] = null;
                }

                outcomes[i] = new OperationOutcome(live[i] is not null, null);
            }
        }

        HasChanges = _exists = true;
        return new CommitResult(revision, changed: true, outcomes);
    }

    public long Increment(string name, long delta)
    {
        var value = Batches.AddToSequence(name, _sequences.GetValueOrDefault(name), delta);
        _sequences[name] = value;
        _changedSequences.Add(name);
        _revision++;
        HasChanges = _exists = true;
        return value;
    }

    /// <summary>The documents to write: every touched document whose row the group replaced.</summary>
    public IEnumerable<(DocumentId Id, DocumentRow Row)> Upserts()
    {
        foreach (var (id, row) in _current)
        {
            if (row is not null && !ReferenceEquals(row, _original[id]))
            {
                yield return (id, row);
            }
        }
    }

    /// <summary>The documents to delete: every touched document that had a row and has none now.</summary>
    public IEnumerable<DocumentId> Deletes()
    {
        foreach (var (id, row) in _current)
        {
            if (row is null && _original[id] is not null)
            {
                yield return id;
            }
        }
    }

    /// <summary>The sequences to write, with their new values.</summary>
    public IEnumerable<(string Name, long Value)> SequenceWrites()
    {
        foreach (var name in _changedSequences)
        {
            yield return (name, _sequences[name]);
        }
    }

    private DocumentRow? Live(DocumentRow? row) => row is not null && !Timestamps.IsExpired(row.ExpiresAt, _now) ? row : null;
}
