using Storage.Internal;

namespace Storage.Conformance.Reference;

/// <summary>
/// The reference model of the <see cref="IStore"/> contract: in memory, one lock around
/// everything, no cleverness. It is a backend of the conformance suite and the oracle of the
/// differential test, so it favours being obviously right over being fast.
/// </summary>
/// <remarks>
/// Where the XML docs of the contract leave a choice open, the model follows docs/contract.md,
/// so the differential test holds every backend to the same reading:
/// <list type="bullet">
/// <item>A partition's revisions count up by exactly 1: every commit that changes something, and
/// every sequence increment, takes the current revision + 1.</item>
/// <item>A partition exists (is listed, and <see cref="DeletePartitionAsync"/> returns true) from its
/// first change until it is deleted, even when all its documents are deleted or expired. A
/// partition that does not exist has revision 0, which a commit that changes nothing reports.</item>
/// <item>Deleting a partition raises a store-wide revision floor to its last revision; every
/// partition created afterwards, under any key, starts at floor + 1. No trace of the key is kept.</item>
/// <item>When several conditions of a batch fail, the first failing operation is reported.</item>
/// <item>Expired documents stay until <see cref="PurgeExpiredAsync"/> removes them or a put replaces
/// them (a delete of an expired document changes nothing), so every backend's purge count is the same.</item>
/// <item>The change feed is computed from the state: live documents by version, tombstones (kept
/// until a put of the same key replaces them or the purge drops them past the retention), every
/// event, and each sequence at the revision of its last increment.</item>
/// </list>
/// </remarks>
/// <param name="time">The store's clock.</param>
/// <param name="tombstoneRetention">How long tombstones are kept; <see cref="StoreLimits.DefaultTombstoneRetention"/> when <see langword="null"/>.</param>
/// <param name="indexes">The declared secondary indexes; none when <see langword="null"/>.</param>
/// <param name="data">The contents of an earlier instance to open again (declarations may differ); a new, empty store when <see langword="null"/>.</param>
public sealed class ReferenceStore(TimeProvider time, TimeSpan? tombstoneRetention = null, IEnumerable<IndexDefinition>? indexes = null, ReferenceStore.Contents? data = null) : IStore, IBulkImport
{
    // Index values are recomputed from the live documents at every query: obviously consistent.
    private readonly IndexCatalog _indexes = Validated(new IndexCatalog(indexes), data, time);
    private readonly Contents _data = data ?? new Contents();
    private readonly TimeProvider _time = time ?? throw new ArgumentNullException(nameof(time));
    private readonly TimeSpan _tombstoneRetention = tombstoneRetention ?? StoreLimits.DefaultTombstoneRetention;
    private bool _disposed;

    /// <summary>What this instance stores: pass it to a new instance to open the same store again.</summary>
    public Contents Data => _data;

    private Lock _lock => _data.Lock;

    private SortedDictionary<string, PartitionState> _partitions => _data.Partitions;

    private long _revisionFloor
    {
        get => _data.RevisionFloor;
        set => _data.RevisionFloor = value;
    }

    /// <inheritdoc/>
    public ValueTask<StoredDocument?> GetAsync(string partition, string collection, string key, CancellationToken cancellationToken = default) => Run(() =>
    {
        Identifiers.ValidatePartitionKey(partition);
        Identifiers.ValidateName(collection, nameof(collection));
        Identifiers.ValidateDocumentKey(key);
        cancellationToken.ThrowIfCancellationRequested();
        lock (_lock)
        {
            ThrowIfDisposed();
            return Live(partition, collection, key, Timestamps.Now(_time));
        }
    });

    /// <inheritdoc/>
    public ValueTask<CommitResult> CommitAsync(string partition, IReadOnlyList<WriteOperation> operations, CancellationToken cancellationToken = default) => Run(() =>
    {
        Batches.Validate(partition, operations);
        var entries = _indexes.ExtractAll(operations);
        cancellationToken.ThrowIfCancellationRequested();
        lock (_lock)
        {
            ThrowIfDisposed();
            var now = Timestamps.Now(_time);

            // Check every condition against the state before the batch; nothing changes yet.
            var before = new StoredDocument?[operations.Count];
            var decisions = new AppendDecision[operations.Count];
            var streamVersions = new long[operations.Count];
            var changes = false;
            for (var i = 0; i < operations.Count; i++)
            {
                var op = operations[i];
                if (op.Kind == WriteOperationKind.Append)
                {
                    var events = StreamOf(partition, op.Stream!);
                    streamVersions[i] = events.Count;
                    var plan = AppendPlan.Create(op.ExpectedVersion, events.Count, op.Events.Count);
                    var stored = plan.Decision == AppendDecision.CompareStoredIds
                        ? events.Skip((int)plan.WindowFirst - 1).Take(op.Events.Count).Select(e => e.Id).ToList()
                        : [];
                    decisions[i] = plan.Resolve(op.ExpectedVersion, op.Events, stored);
                    if (decisions[i] == AppendDecision.Conflict)
                    {
                        throw new VersionConflictException(partition, op.Stream!, op.ExpectedVersion, events.Count, i);
                    }

                    changes |= decisions[i] == AppendDecision.Append;
                    continue;
                }

                before[i] = Live(partition, op.Collection, op.Key, now);
                if (!op.Condition.IsSatisfiedBy(before[i]?.Version))
                {
                    throw new VersionConflictException(partition, op.Collection, op.Key, op.Condition, before[i]?.Version, i);
                }

                changes |= op.Kind == WriteOperationKind.Put || before[i] is not null;
            }

            CheckUniqueness(partition, operations, entries, now);
            var outcomes = new OperationOutcome[operations.Count];
            if (!changes)
            {
                for (var i = 0; i < operations.Count; i++)
                {
                    outcomes[i] = operations[i].Kind == WriteOperationKind.Append
                        ? new OperationOutcome(true, AlreadyStoredVersion(operations[i], streamVersions[i]))
                        : new OperationOutcome(false, null);
                }

                return new CommitResult(CurrentRevision(partition), false, outcomes);
            }

            var state = TakeNextRevision(partition);
            for (var i = 0; i < operations.Count; i++)
            {
                var op = operations[i];
                if (op.Kind == WriteOperationKind.Append)
                {
                    if (decisions[i] == AppendDecision.AlreadyStored)
                    {
                        outcomes[i] = new OperationOutcome(true, AlreadyStoredVersion(op, streamVersions[i]));
                        continue;
                    }

                    var events = state.Stream(op.Stream!);
                    foreach (var e in op.Events)
                    {
                        events.Add(new StoredEvent(partition, op.Stream!, events.Count + 1, state.Revision, e.Id, e.Type, e.Data.ToArray(), e.Metadata.ToArray(), now));
                    }

                    outcomes[i] = new OperationOutcome(streamVersions[i] > 0, events.Count);
                    continue;
                }

                var documents = state.Collection(op.Collection);
                if (op.Kind == WriteOperationKind.Put)
                {
                    documents[op.Key] = new StoredDocument(partition, op.Collection, op.Key, op.Value.ToArray(), state.Revision, before[i]?.CreatedAt ?? now, now, op.ExpiresAt);
                    state.Tombstones.Remove((op.Collection, op.Key));
                    outcomes[i] = new OperationOutcome(before[i] is not null, state.Revision);
                }
                else
                {
                    if (before[i] is not null)
                    {
                        documents.Remove(op.Key);
                        state.Tombstones[(op.Collection, op.Key)] = new Tombstone(state.Revision, now);
                    }

                    outcomes[i] = new OperationOutcome(before[i] is not null, null);
                }
            }

            return new CommitResult(state.Revision, true, outcomes);
        }
    });

    /// <inheritdoc/>
    public ValueTask<DocumentPage> ListAsync(string partition, string collection, ListOptions? options = null, CancellationToken cancellationToken = default) => Run(() =>
    {
        var query = ListQuery.ForDocuments(partition, collection, options);
        cancellationToken.ThrowIfCancellationRequested();
        lock (_lock)
        {
            ThrowIfDisposed();
            var now = Timestamps.Now(_time);
            var comparer = StorageKeyComparer.Instance;
            IEnumerable<StoredDocument> documents = _partitions.TryGetValue(partition, out var state) && state.Collections.TryGetValue(collection, out var all)
                ? all.Values
                : [];
            if (query.Descending)
            {
                documents = documents.Reverse();
            }

            var matching = documents
                .Where(d => !Timestamps.IsExpired(d.ExpiresAt, now))
                .Where(d => query.Prefix is null || d.Key.StartsWith(query.Prefix, StringComparison.Ordinal))
                .Where(d => query.StartKey is null || comparer.Compare(d.Key, query.StartKey) >= 0)
                .Where(d => query.EndKey is null || comparer.Compare(d.Key, query.EndKey) < 0)
                .Where(d => query.After is null || (query.Descending ? comparer.Compare(d.Key, query.After) < 0 : comparer.Compare(d.Key, query.After) > 0))
                .Take(query.Limit + 1)
                .ToList();
            return matching.Count > query.Limit
                ? new DocumentPage(matching[..query.Limit], query.CreateToken(matching[query.Limit - 1].Key))
                : new DocumentPage(matching, null);
        }
    });

    /// <inheritdoc/>
    public ValueTask<long> IncrementSequenceAsync(string partition, string name, long delta = 1, CancellationToken cancellationToken = default) => Run(() =>
    {
        Batches.ValidateIncrement(partition, name, delta);
        cancellationToken.ThrowIfCancellationRequested();
        lock (_lock)
        {
            ThrowIfDisposed();
            var current = _partitions.TryGetValue(partition, out var existing) ? existing.Sequences.GetValueOrDefault(name).Value : 0;
            var next = Batches.AddToSequence(name, current, delta);
            var state = TakeNextRevision(partition);
            state.Sequences[name] = (next, state.Revision);
            return next;
        }
    });

    /// <inheritdoc/>
    public ValueTask<long> GetSequenceAsync(string partition, string name, CancellationToken cancellationToken = default) => Run(() =>
    {
        Identifiers.ValidatePartitionKey(partition);
        Identifiers.ValidateName(name);
        cancellationToken.ThrowIfCancellationRequested();
        lock (_lock)
        {
            ThrowIfDisposed();
            return _partitions.TryGetValue(partition, out var state) ? state.Sequences.GetValueOrDefault(name).Value : 0;
        }
    });

    /// <inheritdoc/>
    public ValueTask<PartitionPage> ListPartitionsAsync(PartitionListOptions? options = null, CancellationToken cancellationToken = default) => Run(() =>
    {
        var query = ListQuery.ForPartitions(options);
        cancellationToken.ThrowIfCancellationRequested();
        lock (_lock)
        {
            ThrowIfDisposed();
            var matching = _partitions
                .Where(p => query.After is null || StorageKeyComparer.Instance.Compare(p.Key, query.After) > 0)
                .Select(p => new PartitionInfo(p.Key, p.Value.Revision))
                .Take(query.Limit + 1)
                .ToList();
            return matching.Count > query.Limit
                ? new PartitionPage(matching[..query.Limit], query.CreateToken(matching[query.Limit - 1].Partition))
                : new PartitionPage(matching, null);
        }
    });

    /// <inheritdoc/>
    public ValueTask<bool> DeletePartitionAsync(string partition, CancellationToken cancellationToken = default) => Run(() =>
    {
        Identifiers.ValidatePartitionKey(partition);
        cancellationToken.ThrowIfCancellationRequested();
        lock (_lock)
        {
            ThrowIfDisposed();
            if (!_partitions.Remove(partition, out var state))
            {
                return false;
            }

            _revisionFloor = Math.Max(_revisionFloor, state.Revision);
            return true;
        }
    });

    /// <inheritdoc/>
    public ValueTask<long> PurgeExpiredAsync(CancellationToken cancellationToken = default) => Run(() =>
    {
        cancellationToken.ThrowIfCancellationRequested();
        lock (_lock)
        {
            ThrowIfDisposed();
            var now = Timestamps.Now(_time);
            long purged = 0;
            foreach (var state in _partitions.Values)
            {
                foreach (var documents in state.Collections.Values)
                {
                    foreach (var expired in documents.Values.Where(d => Timestamps.IsExpired(d.ExpiresAt, now)).ToList())
                    {
                        documents.Remove(expired.Key);
                        purged++;
                    }
                }

                foreach (var (key, tombstone) in state.Tombstones.Where(t => now - t.Value.DeletedAt >= _tombstoneRetention).ToList())
                {
                    state.Tombstones.Remove(key);
                    state.OldestResumable = Math.Max(state.OldestResumable, tombstone.Revision);
                }
            }

            return purged;
        }
    });

    /// <inheritdoc/>
    public ValueTask<EventPage> ReadStreamAsync(string partition, string stream, ReadStreamOptions? options = null, CancellationToken cancellationToken = default) => Run(() =>
    {
        var read = StreamRead.Create(partition, stream, options);
        cancellationToken.ThrowIfCancellationRequested();
        lock (_lock)
        {
            ThrowIfDisposed();
            var events = StreamOf(partition, stream);
            var range = read.Range(events.Count);
            var fetched = range is { } r ? events.Skip((int)r.First - 1).Take((int)(r.Last - r.First + 1)).ToList() : [];
            return read.ToPage(events.Count, fetched);
        }
    });

    /// <inheritdoc/>
    public ValueTask<StreamPage> ListStreamsAsync(string partition, ListOptions? options = null, CancellationToken cancellationToken = default) => Run(() =>
    {
        var query = ListQuery.ForStreams(partition, options);
        cancellationToken.ThrowIfCancellationRequested();
        lock (_lock)
        {
            ThrowIfDisposed();
            IEnumerable<KeyValuePair<string, List<StoredEvent>>> streams = _partitions.TryGetValue(partition, out var state) ? state.Streams : [];
            if (query.Descending)
            {
                streams = streams.Reverse();
            }

            var (items, token) = query.TakePage(streams.Where(s => query.Matches(s.Key)).Select(s => new StreamInfo(s.Key, s.Value.Count)), s => s.Stream);
            return new StreamPage(items, token);
        }
    });

    /// <inheritdoc/>
    public ValueTask<ChangePage> ReadChangesAsync(string partition, long afterRevision, int limit = StoreLimits.DefaultPageSize, CancellationToken cancellationToken = default) => Run(() =>
    {
        ChangeFeedQuery.Validate(partition, afterRevision, limit);
        cancellationToken.ThrowIfCancellationRequested();
        lock (_lock)
        {
            ThrowIfDisposed();
            var exists = _partitions.TryGetValue(partition, out var state);
            ChangeFeedQuery.EnsureResumable(partition, afterRevision, exists, state?.OldestResumable ?? 0);
            if (state is null)
            {
                return new ChangePage([], afterRevision, false);
            }

            var now = Timestamps.Now(_time);
            var changes = new List<Change>();
            changes.AddRange(state.Collections.Values.SelectMany(c => c.Values)
                .Where(d => d.Version > afterRevision && !Timestamps.IsExpired(d.ExpiresAt, now))
                .Select(Change.Put));
            changes.AddRange(state.Tombstones
                .Where(t => t.Value.Revision > afterRevision)
                .Select(t => Change.Delete(t.Value.Revision, t.Key.Collection, t.Key.Key)));
            changes.AddRange(state.Streams.Values.SelectMany(s => s)
                .Where(e => e.Revision > afterRevision)
                .Select(Change.Append));
            changes.AddRange(state.Sequences
                .Where(s => s.Value.Revision > afterRevision)
                .Select(s => Change.Sequence(s.Value.Revision, s.Key, s.Value.Value)));
            changes.Sort(ChangeFeedQuery.Order);
            return ChangeFeedQuery.TakePage(changes, limit, afterRevision, state.Revision);
        }
    });

    /// <inheritdoc/>
    public ValueTask<QueryPage> QueryAsync(IndexQuery query, CancellationToken cancellationToken = default) => Run(() =>
    {
        var plan = IndexQueryPlan.Create(_indexes, query);
        cancellationToken.ThrowIfCancellationRequested();
        lock (_lock)
        {
            ThrowIfDisposed();
            var matches = Matches(plan);
            if (plan.Descending)
            {
                matches.Reverse();
            }

            return plan.TakePage(matches);
        }
    });

    /// <inheritdoc/>
    /// <remarks>Through batches, like the JSON and SQLite backends: each partition one <see cref="CommitAsync"/> of must-not-exist puts.</remarks>
    public async ValueTask<ImportResult> ImportAsync(IAsyncEnumerable<ImportedPartition> partitions, CancellationToken cancellationToken = default)
    {
        lock (_lock)
        {
            ThrowIfDisposed();
        }

        return await BatchImport.RunAsync(this, partitions, cancellationToken);
    }

    /// <inheritdoc/>
    public ValueTask<long> CountAsync(IndexQuery query, CancellationToken cancellationToken = default) => Run(() =>
    {
        var plan = IndexQueryPlan.Create(_indexes, query, forCount: true);
        cancellationToken.ThrowIfCancellationRequested();
        lock (_lock)
        {
            ThrowIfDisposed();
            return (long)Matches(plan).Count;
        }
    });

    /// <inheritdoc/>
    public ValueTask DisposeAsync()
    {
        lock (_lock)
        {
            _disposed = true;
        }

        return ValueTask.CompletedTask;
    }

    // Like an async method: every exception, argument errors included, arrives through the task.
    private static ValueTask<T> Run<T>(Func<T> operation)
    {
        try
        {
            return ValueTask.FromResult(operation());
        }
        catch (Exception e)
        {
            return ValueTask.FromException<T>(e);
        }
    }

    private StoredDocument? Live(string partition, string collection, string key, DateTimeOffset now)
        => _partitions.TryGetValue(partition, out var state)
            && state.Collections.TryGetValue(collection, out var documents)
            && documents.TryGetValue(key, out var document)
            && !Timestamps.IsExpired(document.ExpiresAt, now)
            ? document
            : null;

    // Every live document's index entries that the plan matches, in ascending (value, partition, key) order.
    private List<IndexMatch> Matches(IndexQueryPlan plan)
    {
        var now = Timestamps.Now(_time);
        var matches = new List<IndexMatch>();
        foreach (var (key, state) in _partitions)
        {
            if (!state.Collections.TryGetValue(plan.Index.Collection, out var documents))
            {
                continue;
            }

            foreach (var document in documents.Values.Where(d => !Timestamps.IsExpired(d.ExpiresAt, now)))
            {
                matches.AddRange(IndexValues.Extract(plan.Index, document.Value)
                    .Where(v => plan.Matches(v, key, document.Key))
                    .Select(v => new IndexMatch(v, document)));
            }
        }

        matches.Sort(IndexQueryPlan.Order);
        return matches;
    }

    // A unique value may be held by one live document (per partition or store-wide) after the batch:
    // documents the batch writes or deletes give up their old values; expired documents hold none.
    private void CheckUniqueness(string partition, IReadOnlyList<WriteOperation> operations, IReadOnlyList<IndexEntries?> entries, DateTimeOffset now)
    {
        var touched = operations.Where(o => o.Kind != WriteOperationKind.Append).Select(o => (o.Collection, o.Key)).ToHashSet();
        var taken = new HashSet<(string Collection, string Index, IndexValue Value)>();
        for (var i = 0; i < operations.Count; i++)
        {
            if (entries[i] is not { } found)
            {
                continue;
            }

            for (var j = 0; j < found.Indexes.Count; j++)
            {
                var index = found.Indexes[j];
                if (!index.Unique)
                {
                    continue;
                }

                foreach (var value in found.Values[j])
                {
                    if (!taken.Add((index.Collection, index.Name, value)) || HeldElsewhere(partition, index, value, touched, now))
                    {
                        throw new UniqueConstraintException(partition, index.Collection, index.Name, index.Scope, value, i);
                    }
                }
            }
        }
    }

    private bool HeldElsewhere(string partition, IndexDefinition index, IndexValue value, HashSet<(string, string)> touched, DateTimeOffset now)
    {
        foreach (var (key, state) in _partitions)
        {
            var samePartition = string.Equals(key, partition, StringComparison.Ordinal);
            if ((index.Scope == IndexScope.Partition && !samePartition) || !state.Collections.TryGetValue(index.Collection, out var documents))
            {
                continue;
            }

            foreach (var document in documents.Values)
            {
                if ((samePartition && touched.Contains((index.Collection, document.Key))) || Timestamps.IsExpired(document.ExpiresAt, now))
                {
                    continue;
                }

                if (IndexValues.Extract(index, document.Value).Contains(value))
                {
                    return true;
                }
            }
        }

        return false;
    }

    private List<StoredEvent> StreamOf(string partition, string stream)
        => _partitions.TryGetValue(partition, out var state) && state.Streams.TryGetValue(stream, out var events) ? events : [];

    // A recognized retry reports the version of the last of its events, as stored earlier.
    private static long AlreadyStoredVersion(WriteOperation append, long streamVersion)
        => AppendPlan.AlreadyStoredVersion(append.ExpectedVersion, streamVersion, append.Events.Count);

    private long CurrentRevision(string partition)
        => _partitions.TryGetValue(partition, out var state) ? state.Revision : 0;

    private PartitionState TakeNextRevision(string partition)
    {
        if (!_partitions.TryGetValue(partition, out var state))
        {
            state = new PartitionState { Revision = _revisionFloor, OldestResumable = _revisionFloor + 1 };
            _partitions.Add(partition, state);
        }

        state.Revision++;
        return state;
    }

    private void ThrowIfDisposed()
    {
        if (_disposed)
        {
            throw new ObjectDisposedException(nameof(IStore), ErrorMessages.Disposed);
        }
    }

    // Opening a store with indexes builds them from the live documents: a document that cannot be
    // indexed refuses the open, as every backend does (IndexBuilder), in (partition, collection, key) order.
    private static IndexCatalog Validated(IndexCatalog catalog, Contents? data, TimeProvider time)
    {
        if (data is null)
        {
            return catalog;
        }

        lock (data.Lock)
        {
            var now = Timestamps.Now(time);
            foreach (var index in catalog.All)
            {
                var builder = new IndexBuilder(index);
                foreach (var (partition, state) in data.Partitions)
                {
                    if (state.Collections.TryGetValue(index.Collection, out var documents))
                    {
                        foreach (var document in documents.Values.Where(d => !Timestamps.IsExpired(d.ExpiresAt, now)))
                        {
                            builder.Add(partition, document.Key, document.Value);
                        }
                    }
                }
            }
        }

        return catalog;
    }

    /// <summary>The contents of a reference store, shared by the instances that open it in turn.</summary>
    public sealed class Contents
    {
        internal Lock Lock { get; } = new();

        internal SortedDictionary<string, PartitionState> Partitions { get; } = new(StorageKeyComparer.Instance);

        internal long RevisionFloor { get; set; }
    }

    internal sealed class PartitionState
    {
        public long Revision { get; set; }

        public Dictionary<string, SortedDictionary<string, StoredDocument>> Collections { get; } = new(StringComparer.Ordinal);

        // The oldest revision a change-feed reader may resume after (besides 0).
        public long OldestResumable { get; set; }

        public Dictionary<string, (long Value, long Revision)> Sequences { get; } = new(StringComparer.Ordinal);

        public Dictionary<(string Collection, string Key), Tombstone> Tombstones { get; } = [];

        public SortedDictionary<string, List<StoredEvent>> Streams { get; } = new(StorageKeyComparer.Instance);

        public List<StoredEvent> Stream(string name)
        {
            if (!Streams.TryGetValue(name, out var events))
            {
                events = [];
                Streams.Add(name, events);
            }

            return events;
        }

        public SortedDictionary<string, StoredDocument> Collection(string name)
        {
            if (!Collections.TryGetValue(name, out var documents))
            {
                documents = new SortedDictionary<string, StoredDocument>(StorageKeyComparer.Instance);
                Collections.Add(name, documents);
            }

            return documents;
        }
    }

    internal readonly record struct Tombstone(long Revision, DateTimeOffset DeletedAt);
}
