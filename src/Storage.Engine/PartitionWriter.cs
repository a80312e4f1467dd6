using System.Diagnostics.CodeAnalysis;

namespace Storage.Engine;

/// <summary>
/// The uniqueness side of a write, as a backend enforces it under concurrency (in-memory
/// reservations, or holders read under a lock and a unique index that decides races).
/// </summary>
[Experimental(Experiments.BackendInterface)]
public interface IUniquenessCheck
{
    /// <summary>
    /// Runs once a batch's conditions hold, before it changes anything.
    /// </summary>
    /// <param name="operations">The batch.</param>
    /// <param name="entries">Its puts' index values (<see cref="IndexCatalog.ExtractAll"/>).</param>
    /// <param name="writtenByWrite">Whether an earlier batch of the same write put or deleted a document of the partition (its stored values no longer count).</param>
    /// <returns><see langword="true"/> to apply the batch; <see langword="false"/> to leave it out, unapplied, its outcome to be decided later.</returns>
    /// <exception cref="UniqueConstraintException">A unique value the batch wants is taken: the batch fails.</exception>
    bool Check(IReadOnlyList<WriteOperation> operations, IReadOnlyList<IndexEntries?> entries, Func<DocumentId, bool> writtenByWrite);

    /// <summary>Records the state an applied batch left a document in (<see langword="null"/>: deleted).</summary>
    /// <param name="id">The document.</param>
    /// <param name="row">Its new row.</param>
    void Record(DocumentId id, DocumentRow? row);
}

/// <summary>
/// The batch decision, written once for every backend: applies a partition's write requests in
/// turn (each batch all or nothing, each with its own result or exception) to the state the backend
/// loaded (<see cref="PartitionState"/>), in memory, and yields the net change for the backend to
/// persist atomically. The rules: conditions and stream expectations are checked against the state
/// before the batch, in batch order, the first failure reported; expired documents count as absent
/// but stay until a purge or a put replaces them (a delete of one changes nothing); every live
/// document deleted leaves a tombstone, and a put removes its key's tombstone; a put keeps a live
/// document's creation time; a batch that changes nothing (deletes of missing documents, appends
/// already stored) takes no revision and does not create the partition; every change and every
/// sequence increment takes the partition's next revision — above the store's floor when the
/// partition does not exist.
/// </summary>
[Experimental(Experiments.BackendInterface)]
public sealed class PartitionWriter
{
    private readonly PartitionState _state;
    private readonly DateTimeOffset _now;
    // Only what the write changed: the stored state stays in the loaded PartitionState, never copied.
    private readonly Dictionary<DocumentId, Written> _changes = [];
    private Dictionary<string, (long Value, long Revision)>? _sequences;
    private readonly IUniquenessCheck? _uniqueness;
    private long _revision;
    private bool _exists;

    // The uniqueness check's question, made once per writer rather than once per batch.
    private Func<DocumentId, bool>? _isWritten;

    // Whether a batch appended events: only then are the streams' new events and versions looked for.
    private bool _appended;

    /// <param name="state">The state the backend loaded for the requests to apply.</param>
    /// <param name="now">The store's clock for this write (the backend's precision).</param>
    /// <param name="uniqueness">The uniqueness check, when the store has unique indexes.</param>
    public PartitionWriter(PartitionState state, DateTimeOffset now, IUniquenessCheck? uniqueness = null)
    {
        _state = state;
        _now = now;
        _uniqueness = uniqueness;
        _exists = state.Exists;
        _revision = state.Exists ? state.Revision : Math.Max(state.Revision, state.RevisionFloor);
        StartRevision = _revision;
    }

    /// <summary>The partition key.</summary>
    public string Partition => _state.Partition;

    /// <summary>The revision the partition continues from: its own, or the floor when it does not exist.</summary>
    public long StartRevision { get; }

    /// <summary>The partition's revision after the requests applied so far.</summary>
    public long Revision => _revision;

    /// <summary>Whether anything must be persisted.</summary>
    public bool HasChanges { get; private set; }

    /// <summary>
    /// The partition's first revision when this write created it (the oldest a change-feed reader can
    /// resume after); <see langword="null"/> when it existed or the write changed nothing.
    /// </summary>
    public long? CreatedAtRevision => HasChanges && !_state.Exists ? StartRevision + 1 : null;

    /// <summary>The time the write commits at.</summary>
    public DateTimeOffset Now => _now;

    /// <summary>Applies one batch, all or nothing: its conditions, then its unique values, against the state the write has reached.</summary>
    /// <param name="operations">The batch (validated: each document and stream named once).</param>
    /// <param name="entries">Its puts' index values, or <see langword="null"/> when the store has no indexes.</param>
    /// <returns>The batch's result; <see langword="null"/> when the uniqueness check left it out.</returns>
    /// <exception cref="VersionConflictException">A condition or stream expectation does not hold.</exception>
    /// <exception cref="UniqueConstraintException">A unique value is taken.</exception>
    public CommitResult? ApplyBatch(IReadOnlyList<WriteOperation> operations, IReadOnlyList<IndexEntries?>? entries = null)
    {
        // Check every condition and expectation against the state before the batch; nothing changes on a conflict.
        var live = new DocumentRow?[operations.Count];
        AppendDecision[]? appends = null;
        var changes = false;
        for (var i = 0; i < operations.Count; i++)
        {
            var op = operations[i];
            if (op.Kind == WriteOperationKind.Append)
            {
                var stream = Stream(op.Stream!);
                var plan = AppendPlan.Create(op.ExpectedVersion, stream.Version, op.Events.Count);
                var stored = plan.Decision == AppendDecision.CompareStoredIds ? stream.IdsFrom(plan.WindowFirst, op.Events.Count) : [];
                appends ??= new AppendDecision[operations.Count];
                appends[i] = plan.Resolve(op.ExpectedVersion, op.Events, stored);
                if (appends[i] == AppendDecision.Conflict)
                {
                    throw new VersionConflictException(Partition, op.Stream!, op.ExpectedVersion, stream.Version, i);
                }

                changes |= appends[i] == AppendDecision.Append;
                continue;
            }

            live[i] = Live(Document(new DocumentId(op.Collection, op.Key)));
            if (!op.Condition.IsSatisfiedBy(live[i]?.Version))
            {
                throw new VersionConflictException(Partition, op.Collection, op.Key, op.Condition, live[i]?.Version, i);
            }

            changes |= op.Kind == WriteOperationKind.Put || live[i] is not null;
        }

        if (_uniqueness is not null && entries is not null && !_uniqueness.Check(operations, entries, _isWritten ??= IsWritten))
        {
            return null;
        }

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

        var revision = NextRevision();
        _changes.EnsureCapacity(_changes.Count + operations.Count);
        for (var i = 0; i < operations.Count; i++)
        {
            var op = operations[i];
            if (op.Kind == WriteOperationKind.Append)
            {
                outcomes[i] = appends![i] == AppendDecision.AlreadyStored ? AlreadyStored(op) : Append(op, revision);
                continue;
            }

            var id = new DocumentId(op.Collection, op.Key);
            if (op.Kind == WriteOperationKind.Put)
            {
                // A put over an expired document replaces it, with a fresh creation time; a tombstone of the key goes.
                _changes[id] = new Written(new DocumentRow(revision, live[i]?.CreatedAt ?? _now, op.ExpiresAt, _now, op.Value, entries?[i]), null);
                outcomes[i] = new OperationOutcome(live[i] is not null, revision);
            }
            else
            {
                // An expired document stays until a purge (or a put) removes it, so purge counts match every backend.
                if (live[i] is not null)
                {
                    _changes[id] = new Written(null, revision);
                }

                outcomes[i] = new OperationOutcome(live[i] is not null, null);
            }

            _uniqueness?.Record(id, Document(id));
        }

        return new CommitResult(revision, changed: true, outcomes);
    }

    /// <summary>Adds <paramref name="delta"/> to a sequence (loaded by the backend); takes a revision.</summary>
    /// <param name="name">The sequence.</param>
    /// <param name="delta">What to add.</param>
    /// <returns>The new value.</returns>
    /// <exception cref="OverflowException">The value would leave the range of <see cref="long"/>.</exception>
    public long Increment(string name, long delta)
    {
        _sequences ??= new(StringComparer.Ordinal);
        var current = _sequences.TryGetValue(name, out var written) ? written.Value : _state.Sequences.GetValueOrDefault(name);
        var value = Batches.AddToSequence(name, current, delta);
        _sequences[name] = (value, NextRevision());
        return value;
    }

    /// <summary>The documents to write: every named document whose row the write replaced, with its new row.</summary>
    public Changes<(DocumentId Id, DocumentRow Row)> Upserts()
        => new(this, static (DocumentId id, in Written written, PartitionState _, out (DocumentId Id, DocumentRow Row) item) =>
        {
            item = (id, written.Row!);
            return written.Row is not null;
        });

    /// <summary>The documents to remove: every named document that had a row and has none now.</summary>
    public Changes<DocumentId> Deletes()
        => new(this, static (DocumentId id, in Written written, PartitionState state, out DocumentId item) =>
        {
            item = id;
            return written.Row is null && state.Documents[id] is not null;
        });

    /// <summary>Every document the write changed: its stored row and its new one.</summary>
    public Changes<(DocumentId Id, DocumentRow? Original, DocumentRow? Current)> Changed()
        => new(this, static (DocumentId id, in Written written, PartitionState state, out (DocumentId Id, DocumentRow? Original, DocumentRow? Current) item) =>
        {
            item = (id, state.Documents[id], written.Row);
            return true;
        });

    /// <summary>The sequences to write, with their new values and the revisions of their last increments.</summary>
    public IEnumerable<(string Name, long Value, long Revision)> SequenceWrites() => _sequences is null ? [] : SequenceWrites(_sequences);

    /// <summary>The tombstones to write: documents the write deleted last, with the revision of that delete.</summary>
    public Changes<(DocumentId Id, long Revision)> TombstoneWrites()
        => new(this, static (DocumentId id, in Written written, PartitionState _, out (DocumentId Id, long Revision) item) =>
        {
            item = (id, written.Tombstone.GetValueOrDefault());
            return written.Tombstone is not null;
        });

    /// <summary>
    /// The tombstones to remove: documents the write put last that had no row before (a key with a row
    /// has no tombstone: a delete removes the row as it writes one, a put removes it as it writes the row).
    /// </summary>
    public Changes<DocumentId> TombstoneDeletes()
        => new(this, static (DocumentId id, in Written written, PartitionState state, out DocumentId item) =>
        {
            item = id;
            return written.Row is not null && state.Documents[id] is null;
        });

    /// <summary>The streams the write appended to, with their new versions.</summary>
    public IEnumerable<(string Stream, long Version)> StreamWrites() => _appended ? StreamWrites(_state.Streams) : [];

    /// <summary>The events the write appended, stream by stream, in version order.</summary>
    public IEnumerable<NewEvent> NewEvents() => _appended ? _state.Streams.Values.SelectMany(static s => s.Appended) : [];

    private static IEnumerable<(string Name, long Value, long Revision)> SequenceWrites(Dictionary<string, (long Value, long Revision)> sequences)
    {
        foreach (var (name, (value, revision)) in sequences)
        {
            yield return (name, value, revision);
        }
    }

    private static IEnumerable<(string Stream, long Version)> StreamWrites(Dictionary<string, StreamState> streams)
    {
        foreach (var (name, stream) in streams)
        {
            if (stream.Appended.Count > 0)
            {
                yield return (name, stream.Version);
            }
        }
    }

    /// <summary>Takes the next revision.</summary>
    private long NextRevision()
    {
        HasChanges = _exists = true;
        return ++_revision;
    }

    private OperationOutcome Append(WriteOperation op, long revision)
    {
        var stream = Stream(op.Stream!);
        var existed = stream.Version > 0;
        _appended = true;
        for (var i = 0; i < op.Events.Count; i++)
        {
            stream.Appended.Add(new NewEvent(op.Stream!, stream.Version + 1, revision, op.Events[i]));
        }

        return new OperationOutcome(existed, stream.Version);
    }

    // A recognized retry writes nothing and reports the version of the last of its events.
    private OperationOutcome AlreadyStored(WriteOperation op)
        => new(true, AppendPlan.AlreadyStoredVersion(op.ExpectedVersion, Stream(op.Stream!).Version, op.Events.Count));

    /// <summary>Whether an earlier batch of the write put or deleted the document.</summary>
    private bool IsWritten(DocumentId id) => _changes.ContainsKey(id);

    private DocumentRow? Document(DocumentId id)
        => _changes.TryGetValue(id, out var written) ? written.Row
            : _state.Documents.TryGetValue(id, out var stored) ? stored
            : throw new InvalidOperationException($"The document '{id.Collection}/{id.Key}' was not loaded for the write.");

    private StreamState Stream(string name)
        => _state.Streams.TryGetValue(name, out var stream) ? stream : throw new InvalidOperationException($"The stream '{name}' was not loaded for the write.");

    private DocumentRow? Live(DocumentRow? row) => row is not null && !Timestamps.IsExpired(row.ExpiresAt, _now) ? row : null;

    /// <summary>A document the write changed: its new row (null: deleted) and, when its last change was a delete, that delete's revision (its tombstone).</summary>
    internal readonly record struct Written(DocumentRow? Row, long? Tombstone);

    /// <summary>Picks a changed document for a view of the write's changes and gives its item.</summary>
    internal delegate bool Selector<T>(DocumentId id, in Written written, PartitionState state, out T item);

    /// <summary>
    /// A view of the documents the write changed, as a backend persists them: enumerated by a struct
    /// enumerator over the writer's changes, so persisting a write allocates no iterator.
    /// </summary>
    /// <typeparam name="T">What the view gives for each document it picks.</typeparam>
    public readonly struct Changes<T> : IEnumerable<T>
    {
        private readonly PartitionWriter _writer;
        private readonly Selector<T> _select;

        internal Changes(PartitionWriter writer, Selector<T> select)
        {
            _writer = writer;
            _select = select;
        }

        /// <summary>Starts enumerating the view.</summary>
        /// <returns>The enumerator.</returns>
        /// <remarks>A default view (<c>[]</c>, <see langword="default"/>) is empty.</remarks>
        public Enumerator GetEnumerator() => _writer is null ? default : new(_writer, _select);

        /// <inheritdoc/>
        IEnumerator<T> IEnumerable<T>.GetEnumerator() => GetEnumerator();

        /// <inheritdoc/>
        System.Collections.IEnumerator System.Collections.IEnumerable.GetEnumerator() => GetEnumerator();

        /// <summary>Enumerates a view of the write's changes.</summary>
        public struct Enumerator : IEnumerator<T>
        {
            private readonly PartitionState _state;
            private readonly Selector<T> _select;
            private Dictionary<DocumentId, Written>.Enumerator _changes;

            internal Enumerator(PartitionWriter writer, Selector<T> select)
            {
                _state = writer._state;
                _select = select;
                _changes = writer._changes.GetEnumerator();
                Current = default!;
            }

            /// <inheritdoc/>
            public T Current { get; private set; }

            /// <inheritdoc/>
            readonly object? System.Collections.IEnumerator.Current => Current;

            /// <inheritdoc/>
            public bool MoveNext()
            {
                // The enumerator of a default view has no writer's changes to walk.
                if (_select is null)
                {
                    return false;
                }

                while (_changes.MoveNext())
                {
                    var (id, written) = _changes.Current;
                    if (_select(id, written, _state, out var item))
                    {
                        Current = item;
                        return true;
                    }
                }

                return false;
            }

            /// <inheritdoc/>
            readonly void System.Collections.IEnumerator.Reset() => throw new NotSupportedException();

            /// <inheritdoc/>
            public readonly void Dispose()
            {
            }
        }
    }
}
