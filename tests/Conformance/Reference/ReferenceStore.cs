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
/// </list>
/// </remarks>
public sealed class ReferenceStore(TimeProvider time) : IStore
{
    private readonly Lock _lock = new();
    private readonly TimeProvider _time = time ?? throw new ArgumentNullException(nameof(time));
    private readonly SortedDictionary<string, PartitionState> _partitions = new(StorageKeyComparer.Instance);
    private long _revisionFloor;
    private bool _disposed;

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
        cancellationToken.ThrowIfCancellationRequested();
        lock (_lock)
        {
            ThrowIfDisposed();
            var now = Timestamps.Now(_time);

            // Check every condition against the state before the batch; nothing changes yet.
            var before = new StoredDocument?[operations.Count];
            var changes = false;
            for (var i = 0; i < operations.Count; i++)
            {
                var op = operations[i];
                before[i] = Live(partition, op.Collection, op.Key, now);
                if (!op.Condition.IsSatisfiedBy(before[i]?.Version))
                {
                    throw new VersionConflictException(partition, op.Collection, op.Key, op.Condition, before[i]?.Version, i);
                }

                changes |= op.Kind == WriteOperationKind.Put || before[i] is not null;
            }

            var outcomes = new OperationOutcome[operations.Count];
            if (!changes)
            {
                Array.Fill(outcomes, new OperationOutcome(false, null));
                return new CommitResult(CurrentRevision(partition), false, outcomes);
            }

            var state = TakeNextRevision(partition);
            for (var i = 0; i < operations.Count; i++)
            {
                var op = operations[i];
                var documents = state.Collection(op.Collection);
                if (op.Kind == WriteOperationKind.Put)
                {
                    documents[op.Key] = new StoredDocument(partition, op.Collection, op.Key, op.Value.ToArray(), state.Revision, before[i]?.CreatedAt ?? now, now, op.ExpiresAt);
                    outcomes[i] = new OperationOutcome(before[i] is not null, state.Revision);
                }
                else
                {
                    if (before[i] is not null)
                    {
                        documents.Remove(op.Key);
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
            var current = _partitions.TryGetValue(partition, out var existing) ? existing.Sequences.GetValueOrDefault(name) : 0;
            if (current > long.MaxValue - delta)
            {
                throw new OverflowException(ErrorMessages.SequenceOverflow(name, current, delta));
            }

            var state = TakeNextRevision(partition);
            state.Sequences[name] = current + delta;
            return current + delta;
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
            return _partitions.TryGetValue(partition, out var state) ? state.Sequences.GetValueOrDefault(name) : 0;
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
            foreach (var documents in _partitions.Values.SelectMany(p => p.Collections.Values))
            {
                foreach (var expired in documents.Values.Where(d => Timestamps.IsExpired(d.ExpiresAt, now)).ToList())
                {
                    documents.Remove(expired.Key);
                    purged++;
                }
            }

            return purged;
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

    private long CurrentRevision(string partition)
        => _partitions.TryGetValue(partition, out var state) ? state.Revision : 0;

    private PartitionState TakeNextRevision(string partition)
    {
        if (!_partitions.TryGetValue(partition, out var state))
        {
            state = new PartitionState { Revision = _revisionFloor };
            _partitions.Add(partition, state);
        }

        state.Revision++;
        return state;
    }

    private void ThrowIfDisposed()
    {
        if (_disposed)
        {
            throw new ObjectDisposedException(nameof(ReferenceStore), ErrorMessages.Disposed);
        }
    }

    private sealed class PartitionState
    {
        public long Revision { get; set; }

        public Dictionary<string, SortedDictionary<string, StoredDocument>> Collections { get; } = new(StringComparer.Ordinal);

        public Dictionary<string, long> Sequences { get; } = new(StringComparer.Ordinal);

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
}
