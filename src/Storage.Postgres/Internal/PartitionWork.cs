using Storage.Internal;

namespace Storage.Postgres.Internal;

/// <summary>A document's identity inside a partition.</summary>
internal readonly record struct DocumentId(string Collection, string Key);

/// <summary>
/// A document row as the group sees it. Rows read from the database carry their version, creation
/// time and expiry, and their value only in collections with indexes (their entries are computed from
/// it); rows the group writes carry everything, with their index values.
/// </summary>
internal sealed record DocumentRow(long Version, DateTimeOffset CreatedAt, DateTimeOffset? ExpiresAt, DateTimeOffset UpdatedAt = default, ReadOnlyMemory<byte> Value = default, IndexEntries? Entries = null);

/// <summary>An event the group appends: its stream version and the revision of the request that appended it.</summary>
internal sealed record NewEvent(string Stream, long Version, long Revision, EventData Data);

/// <summary>
/// A stream as the group sees it: the stored version, the stored event ids read for retry checks
/// (by version), and the events the group has appended so far.
/// </summary>
internal sealed class StreamState(long storedVersion)
{
    public long StoredVersion { get; } = storedVersion;

    public Dictionary<long, Guid> StoredIds { get; } = [];

    public List<NewEvent> Appended { get; } = [];

    public long Version => StoredVersion + Appended.Count;

    /// <summary>The ids at <paramref name="first"/> onwards: stored ones (read with the lock) or the group's own.</summary>
    public Guid[] IdsFrom(long first, int count)
    {
        var ids = new Guid[count];
        for (var i = 0; i < count; i++)
        {
            var version = first + i;
            ids[i] = version > StoredVersion
                ? Appended[(int)(version - StoredVersion - 1)].Data.Id
                : StoredIds.TryGetValue(version, out var id) ? id : throw new InvalidOperationException($"The id of stored event {version} was not read.");
        }

        return ids;
    }
}

/// <summary>
/// The working state of one partition during a group commit, checked and applied in memory while the
/// transaction holds the partition's row lock: each writer's request applies in turn (each all or
/// nothing, each with its own result or exception), then the net change is written in one go. The
/// same rules as the reference model: conditions and stream expectations against the state before
/// the batch, expired rows treated as absent but left in place unless a put overwrites them, a
/// tombstone for every live document deleted, and a revision only for a commit that changes something.
/// </summary>
internal sealed class PartitionWork
{
    private readonly string _partition;
    private readonly DateTimeOffset _now;
    private readonly Dictionary<DocumentId, DocumentRow?> _original;
    private readonly Dictionary<DocumentId, DocumentRow?> _current;
    private readonly Dictionary<string, long> _sequences;
    private readonly Dictionary<string, long> _sequenceRevisions = new(StringComparer.Ordinal);
    private readonly Dictionary<string, StreamState> _streams;
    private readonly Dictionary<DocumentId, long?> _tombstones = [];
    private readonly long _storedRevision;
    private readonly IndexWork? _indexes;
    private long _revision;
    private bool _exists;

    /// <param name="partition">The partition key.</param>
    /// <param name="storedRevision">The partition row's revision; 0 when the partition does not exist.</param>
    /// <param name="revisionFloor">The store's revision floor: a partition that does not exist continues above it.</param>
    /// <param name="now">The store's clock, truncated.</param>
    /// <param name="documents">The stored rows (expired or not) of every document the group touches; documents without a row are absent.</param>
    /// <param name="sequences">The stored values of every sequence the group touches.</param>
    /// <param name="streams">Every stream the group appends to (version 0 when it does not exist), with the stored ids its appends may compare.</param>
    /// <param name="indexes">The group's index work, when the store has indexes.</param>
    public PartitionWork(string partition, long storedRevision, long revisionFloor, DateTimeOffset now, Dictionary<DocumentId, DocumentRow?> documents, Dictionary<string, long> sequences, Dictionary<string, StreamState> streams, IndexWork? indexes)
    {
        _indexes = indexes;
        _partition = partition;
        _now = now;
        _storedRevision = storedRevision;
        _exists = storedRevision > 0;
        _revision = _exists ? storedRevision : Math.Max(storedRevision, revisionFloor);
        StartRevision = _revision;
        _original = documents;
        _current = new Dictionary<DocumentId, DocumentRow?>(documents);
        _sequences = sequences;
        _streams = streams;
    }

    /// <summary>The revision the partition continues from: its own, or the floor when it does not exist.</summary>
    public long StartRevision { get; }

    /// <summary>The partition's revision after the requests applied so far.</summary>
    public long Revision => _revision;

    /// <summary>Whether anything must be written.</summary>
    public bool HasChanges { get; private set; }

    /// <summary>Whether the partition did not exist before the group.</summary>
    public bool IsNewPartition => _storedRevision == 0;

    /// <summary>The time the group commits at.</summary>
    public DateTimeOffset Now => _now;

    /// <summary>Applies one batch, all or nothing: its conditions, then its unique values, against the state the group has reached.</summary>
    /// <param name="operations">The batch.</param>
    /// <param name="entries">Its puts' index values.</param>
    /// <returns>The batch's result.</returns>
    /// <exception cref="VersionConflictException">A condition or stream expectation does not hold.</exception>
    /// <exception cref="UniqueConstraintException">A unique value is taken.</exception>
    public CommitResult ApplyBatch(IReadOnlyList<WriteOperation> operations, IReadOnlyList<IndexEntries?> entries)
    {
        // Check every condition and expectation against the state before the batch; nothing changes on a conflict.
        var live = new DocumentRow?[operations.Count];
        var appends = new AppendDecision[operations.Count];
        var changes = false;
        for (var i = 0; i < operations.Count; i++)
        {
            var op = operations[i];
            if (op.Kind == WriteOperationKind.Append)
            {
                var stream = _streams[op.Stream!];
                var plan = AppendPlan.Create(op.ExpectedVersion, stream.Version, op.Events.Count);
                var stored = plan.Decision == AppendDecision.CompareStoredIds ? stream.IdsFrom(plan.WindowFirst, op.Events.Count) : [];
                appends[i] = plan.Resolve(op.ExpectedVersion, op.Events, stored);
                if (appends[i] == AppendDecision.Conflict)
                {
                    throw new VersionConflictException(_partition, op.Stream!, op.ExpectedVersion, stream.Version, i);
                }

                changes |= appends[i] == AppendDecision.Append;
                continue;
            }

            live[i] = Live(_current[new DocumentId(op.Collection, op.Key)]);
            if (!op.Condition.IsSatisfiedBy(live[i]?.Version))
            {
                throw new VersionConflictException(_partition, op.Collection, op.Key, op.Condition, live[i]?.Version, i);
            }

            changes |= op.Kind == WriteOperationKind.Put || live[i] is not null;
        }

        _indexes?.CheckUnique(operations, entries, IsWritten);
        var outcomes = new OperationOutcome[operations.Count];
        if (!changes)
        {
            // Only deletes of missing documents and appends already stored: no revision is taken. A partition that does not exist has revision 0.
            for (var i = 0; i < operations.Count; i++)
            {
                outcomes[i] = operations[i].Kind == WriteOperationKind.Append ? AlreadyStored(operations[i]) : new OperationOutcome(false, null);
            }

            return new CommitResult(_exists ? _revision : 0, changed: false, outcomes);
        }

        var revision = ++_revision;
        for (var i = 0; i < operations.Count; i++)
        {
            var op = operations[i];
            if (op.Kind == WriteOperationKind.Append)
            {
                outcomes[i] = appends[i] == AppendDecision.AlreadyStored ? AlreadyStored(op) : Append(op, revision);
                continue;
            }

            var id = new DocumentId(op.Collection, op.Key);
            if (op.Kind == WriteOperationKind.Put)
            {
                // A put over an expired document replaces it, with a fresh creation time; a tombstone of the key goes.
                _current[id] = new DocumentRow(revision, live[i]?.CreatedAt ?? _now, op.ExpiresAt, _now, op.Value, entries[i]);
                _tombstones[id] = null;
                outcomes[i] = new OperationOutcome(live[i] is not null, revision);
            }
            else
            {
                // An expired document stays until a purge (or a put) removes it, so purge counts match every backend.
                if (live[i] is not null)
                {
                    _current[id] = null;
                    _tombstones[id] = revision;
                }

                outcomes[i] = new OperationOutcome(live[i] is not null, null);
            }

            _indexes?.Record(id, _current[id]);
        }

        HasChanges = _exists = true;
        return new CommitResult(revision, changed: true, outcomes);
    }

    public long Increment(string name, long delta)
    {
        var value = Batches.AddToSequence(name, _sequences.GetValueOrDefault(name), delta);
        _sequences[name] = value;
        _sequenceRevisions[name] = ++_revision;
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

    /// <summary>Every document the group wrote (put or deleted): its stored row and its new one.</summary>
    public IEnumerable<(DocumentId Id, DocumentRow? Original, DocumentRow? Current)> Changed()
    {
        foreach (var (id, row) in _current)
        {
            if (!ReferenceEquals(row, _original[id]))
            {
                yield return (id, _original[id], row);
            }
        }
    }

    /// <summary>The sequences to write, with their new values and the revisions of their last increments.</summary>
    public IEnumerable<(string Name, long Value, long Revision)> SequenceWrites()
    {
        foreach (var (name, revision) in _sequenceRevisions)
        {
            yield return (name, _sequences[name], revision);
        }
    }

    /// <summary>The tombstones to write: documents the group deleted last, with the revision of that delete.</summary>
    public IEnumerable<(DocumentId Id, long Revision)> TombstoneWrites()
    {
        foreach (var (id, revision) in _tombstones)
        {
            if (revision is { } r)
            {
                yield return (id, r);
            }
        }
    }

    /// <summary>
    /// The tombstones to remove: documents the group put last that had no row before (a key with a row
    /// has no tombstone: a delete removes the row as it writes one, a put removes it as it writes the row).
    /// </summary>
    public IEnumerable<DocumentId> TombstoneDeletes()
    {
        foreach (var (id, revision) in _tombstones)
        {
            if (revision is null && _original[id] is null)
            {
                yield return id;
            }
        }
    }

    /// <summary>The streams the group appended to, with their new versions.</summary>
    public IEnumerable<(string Stream, long Version)> StreamWrites()
    {
        foreach (var (name, stream) in _streams)
        {
            if (stream.Appended.Count > 0)
            {
                yield return (name, stream.Version);
            }
        }
    }

    /// <summary>The events the group appended.</summary>
    public IEnumerable<NewEvent> NewEvents() => _streams.Values.SelectMany(s => s.Appended);

    private OperationOutcome Append(WriteOperation op, long revision)
    {
        var stream = _streams[op.Stream!];
        var existed = stream.Version > 0;
        foreach (var e in op.Events)
        {
            stream.Appended.Add(new NewEvent(op.Stream!, stream.Version + 1, revision, e));
        }

        return new OperationOutcome(existed, stream.Version);
    }

    // A recognized retry writes nothing and reports the version of the last of its events.
    private OperationOutcome AlreadyStored(WriteOperation op)
        => new(true, AppendPlan.AlreadyStoredVersion(op.ExpectedVersion, _streams[op.Stream!].Version, op.Events.Count));

    /// <summary>Whether an earlier batch of the group wrote the document.</summary>
    private bool IsWritten(DocumentId id) => _current.TryGetValue(id, out var row) && !ReferenceEquals(row, _original[id]);

    private DocumentRow? Live(DocumentRow? row) => row is not null && !Timestamps.IsExpired(row.ExpiresAt, _now) ? row : null;
}
