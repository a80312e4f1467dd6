namespace Storage.Engine;

/// <summary>
/// The engine's <see cref="IStore"/>: every entry step written once — argument validation,
/// cancellation, the store's lifetime, the clock, group commit, the batch decision, listing and
/// paging tokens, change-feed pages, index query plans, bulk import, a span and a duration
/// measurement per call (<see cref="Telemetry"/>, once its arguments are valid) — over a backend that loads,
/// persists and reads (<see cref="IStoreBackend"/>).
/// </summary>
internal sealed partial class EngineStore : IStore, IBulkImport, IStoreFence
{
    // What a deferred write's group gives its writer: wait, then queue it again.
    private static readonly object s_deferred = new();

    // How many idle partition queues are kept: as many as writers commonly run at once.
    private const int MaxIdleQueues = 64;

    private readonly IStoreBackend _backend;
    private readonly TimeProvider _time;
    private readonly TimeSpan _tombstoneRetention;
    private readonly IndexCatalog _indexes;
    private readonly Telemetry _telemetry;
    private readonly StoreLifetime _lifetime = new();
    private readonly CommitQueue<PendingWrite, object>? _queue;
    private readonly Dictionary<string, PartitionQueue> _partitionQueues = new(StringComparer.Ordinal);

    // Partition queues no writer uses, kept for reuse (guarded by _partitionQueues).
    private readonly Stack<PartitionQueue> _idleQueues = new();
    private readonly Func<IReadOnlyList<CommitQueue<PendingWrite, object>.Entry>, ValueTask> _commitGroup;

    /// <param name="backend">The backend; disposed with the store.</param>
    /// <param name="time">The store's clock.</param>
    /// <param name="tombstoneRetention">How long tombstones are kept (validated by the caller).</param>
    /// <param name="indexes">The declared indexes.</param>
    /// <param name="telemetry">The store's traces and metrics.</param>
    public EngineStore(IStoreBackend backend, TimeProvider time, TimeSpan tombstoneRetention, IndexCatalog indexes, Telemetry telemetry)
    {
        _backend = backend;
        _time = time;
        _tombstoneRetention = tombstoneRetention;
        _indexes = indexes;
        _telemetry = telemetry;
        _commitGroup = CommitGroupAsync;
        _queue = backend.CommitsPerPartition ? null : new CommitQueue<PendingWrite, object>(_commitGroup);
    }

    // Each IStore member checks its arguments, then, when nothing listens (Telemetry.Enabled), returns its
    // operation's own task (the ...CoreAsync method): a store nobody observes runs no telemetry code but
    // that check. Otherwise the same operation runs inside Telemetry.ObserveAsync, started by a static
    // lambda over a tuple of its arguments, so neither path allocates for it (docs/observability.md).

    /// <inheritdoc/>
    public ValueTask<StoredDocument?> GetAsync(string partition, string collection, string key, CancellationToken cancellationToken = default)
    {
        Identifiers.ValidatePartitionKey(partition);
        Identifiers.ValidateName(collection, nameof(collection));
        Identifiers.ValidateDocumentKey(key);
        cancellationToken.ThrowIfCancellationRequested();
        return _telemetry.Enabled
            ? _telemetry.ObserveAsync(Telemetry.Get, partition, collection, (Store: this, partition, collection, key, cancellationToken), static a => a.Store.GetCoreAsync(a.partition, a.collection, a.key, a.cancellationToken))
            : GetCoreAsync(partition, collection, key, cancellationToken);
    }

    private async ValueTask<StoredDocument?> GetCoreAsync(string partition, string collection, string key, CancellationToken cancellationToken)
    {
        using var scope = _lifetime.Enter();
        return await _backend.GetAsync(partition, collection, key, Now(), cancellationToken).ConfigureAwait(false);
    }

    /// <inheritdoc/>
    public ValueTask<CommitResult> CommitAsync(string partition, IReadOnlyList<WriteOperation> operations, CancellationToken cancellationToken = default)
    {
        Batches.Validate(partition, operations);

        // Index values are extracted (a value of the wrong type fails the batch) before anything is written.
        var write = PendingWrite.Batch(partition, operations, _indexes.ExtractAll(operations));
        return _telemetry.Enabled
            ? _telemetry.ObserveBatchAsync(partition, operations, (Store: this, write, cancellationToken), static a => a.Store.CommitCoreAsync(a.write, a.cancellationToken))
            : CommitCoreAsync(write, cancellationToken);
    }

    private async ValueTask<CommitResult> CommitCoreAsync(PendingWrite write, CancellationToken cancellationToken)
        => (CommitResult)await EnqueueAsync(write, cancellationToken).ConfigureAwait(false);

    /// <inheritdoc/>
    public ValueTask<ImportResult> ImportAsync(IAsyncEnumerable<ImportedPartition> partitions, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(partitions);
        return _telemetry.Enabled
            ? _telemetry.ObserveAsync(Telemetry.Import, null, null, (Store: this, partitions, cancellationToken), static a => a.Store.ImportCoreAsync(a.partitions, a.cancellationToken))
            : ImportCoreAsync(partitions, cancellationToken);
    }

    private async ValueTask<ImportResult> ImportCoreAsync(IAsyncEnumerable<ImportedPartition> partitions, CancellationToken cancellationToken)
    {
        using var scope = _lifetime.Enter();
        await RefuseWhileReadOnlyAsync(cancellationToken).ConfigureAwait(false);

        if (_backend is IBulkImportBackend bulk)
        {
            return await bulk.ImportAsync(partitions, _indexes, cancellationToken).ConfigureAwait(false);
        }

        // Each partition on a thread of its own, so that the group commit merges the partitions in flight;
        // index values are extracted (a value of the wrong type fails the partition) before it is queued.
        return await BatchImport.RunAsync(
            partitions,
            (partition, token) => Task.Run(() => EnqueueAsync(PendingWrite.Import(partition, _indexes.ExtractAll(partition.Puts)), token).AsTask(), CancellationToken.None),
            _backend.ImportWindow,
            cancellationToken).ConfigureAwait(false);
    }

    /// <inheritdoc/>
    public ValueTask<DocumentPage> ListAsync(string partition, string collection, ListOptions? options = null, CancellationToken cancellationToken = default)
    {
        var query = ListQuery.ForDocuments(partition, collection, options);
        cancellationToken.ThrowIfCancellationRequested();
        return _telemetry.Enabled
            ? _telemetry.ObserveAsync(Telemetry.List, partition, collection, (Store: this, partition, collection, query, cancellationToken), static a => a.Store.ListCoreAsync(a.partition, a.collection, a.query, a.cancellationToken))
            : ListCoreAsync(partition, collection, query, cancellationToken);
    }

    private async ValueTask<DocumentPage> ListCoreAsync(string partition, string collection, ListQuery query, CancellationToken cancellationToken)
    {
        using var scope = _lifetime.Enter();
        var range = KeyRange.For(query);
        var rows = range.IsEmpty ? [] : await _backend.ListDocumentsAsync(partition, collection, range, query.Descending, query.Limit + 1, Now(), cancellationToken).ConfigureAwait(false);
        var (items, token) = query.TakePage(rows, static d => d.Key);
        return new DocumentPage(items, token);
    }

    /// <inheritdoc/>
    public ValueTask<long> IncrementSequenceAsync(string partition, string name, long delta = 1, CancellationToken cancellationToken = default)
    {
        Batches.ValidateIncrement(partition, name, delta);
        var write = PendingWrite.Increment(partition, name, delta);
        return _telemetry.Enabled
            ? _telemetry.ObserveAsync(Telemetry.IncrementSequence, partition, null, (Store: this, write, cancellationToken), static a => a.Store.IncrementSequenceCoreAsync(a.write, a.cancellationToken))
            : IncrementSequenceCoreAsync(write, cancellationToken);
    }

    private async ValueTask<long> IncrementSequenceCoreAsync(PendingWrite write, CancellationToken cancellationToken)
        => (long)await EnqueueAsync(write, cancellationToken).ConfigureAwait(false);

    /// <inheritdoc/>
    public ValueTask<long> GetSequenceAsync(string partition, string name, CancellationToken cancellationToken = default)
    {
        Identifiers.ValidatePartitionKey(partition);
        Identifiers.ValidateName(name);
        cancellationToken.ThrowIfCancellationRequested();
        return _telemetry.Enabled
            ? _telemetry.ObserveAsync(Telemetry.GetSequence, partition, null, (Store: this, partition, name, cancellationToken), static a => a.Store.GetSequenceCoreAsync(a.partition, a.name, a.cancellationToken))
            : GetSequenceCoreAsync(partition, name, cancellationToken);
    }

    private async ValueTask<long> GetSequenceCoreAsync(string partition, string name, CancellationToken cancellationToken)
    {
        using var scope = _lifetime.Enter();
        return await _backend.GetSequenceAsync(partition, name, cancellationToken).ConfigureAwait(false);
    }

    /// <inheritdoc/>
    public ValueTask<PartitionPage> ListPartitionsAsync(PartitionListOptions? options = null, CancellationToken cancellationToken = default)
    {
        var query = ListQuery.ForPartitions(options);
        cancellationToken.ThrowIfCancellationRequested();
        return _telemetry.Enabled
            ? _telemetry.ObserveAsync(Telemetry.ListPartitions, null, null, (Store: this, query, cancellationToken), static a => a.Store.ListPartitionsCoreAsync(a.query, a.cancellationToken))
            : ListPartitionsCoreAsync(query, cancellationToken);
    }

    private async ValueTask<PartitionPage> ListPartitionsCoreAsync(ListQuery query, CancellationToken cancellationToken)
    {
        using var scope = _lifetime.Enter();
        var rows = await _backend.ListPartitionsAsync(query.After, query.Limit + 1, cancellationToken).ConfigureAwait(false);
        var (items, token) = query.TakePage(rows, static p => p.Partition);
        return new PartitionPage(items, token);
    }

    /// <inheritdoc/>
    public ValueTask<bool> DeletePartitionAsync(string partition, CancellationToken cancellationToken = default)
    {
        Identifiers.ValidatePartitionKey(partition);
        var write = PendingWrite.DeletePartition(partition);
        return _telemetry.Enabled
            ? _telemetry.ObserveAsync(Telemetry.DeletePartition, partition, null, (Store: this, write, cancellationToken), static a => a.Store.DeletePartitionCoreAsync(a.write, a.cancellationToken))
            : DeletePartitionCoreAsync(write, cancellationToken);
    }

    private async ValueTask<bool> DeletePartitionCoreAsync(PendingWrite write, CancellationToken cancellationToken)
        => (bool)await EnqueueAsync(write, cancellationToken).ConfigureAwait(false);

    /// <inheritdoc/>
    public ValueTask<long> PurgeExpiredAsync(CancellationToken cancellationToken = default)
    {
        cancellationToken.ThrowIfCancellationRequested();
        return _telemetry.Enabled
            ? _telemetry.ObserveAsync(Telemetry.PurgeExpired, null, null, (Store: this, cancellationToken), static a => a.Store.PurgeExpiredCoreAsync(a.cancellationToken))
            : PurgeExpiredCoreAsync(cancellationToken);
    }

    private async ValueTask<long> PurgeExpiredCoreAsync(CancellationToken cancellationToken)
    {
        using var scope = _lifetime.Enter();
        await RefuseWhileReadOnlyAsync(cancellationToken).ConfigureAwait(false);

        var now = Now();
        var cutoff = Timestamps.TombstoneCutoff(now, _tombstoneRetention);
        return await _backend.PurgeAsync(
            now,
            cutoff,
            async (partition, token) => (long)await EnqueueAsync(PendingWrite.Purge(partition, cutoff), token).ConfigureAwait(false),
            cancellationToken).ConfigureAwait(false);
    }

    /// <inheritdoc/>
    public ValueTask<EventPage> ReadStreamAsync(string partition, string stream, ReadStreamOptions? options = null, CancellationToken cancellationToken = default)
    {
        var read = StreamRead.Create(partition, stream, options);
        cancellationToken.ThrowIfCancellationRequested();
        return _telemetry.Enabled
            ? _telemetry.ObserveAsync(Telemetry.ReadStream, partition, null, (Store: this, partition, stream, read, cancellationToken), static a => a.Store.ReadStreamCoreAsync(a.partition, a.stream, a.read, a.cancellationToken))
            : ReadStreamCoreAsync(partition, stream, read, cancellationToken);
    }

    private async ValueTask<EventPage> ReadStreamCoreAsync(string partition, string stream, StreamRead read, CancellationToken cancellationToken)
    {
        using var scope = _lifetime.Enter();
        var (version, events) = await _backend.ReadStreamAsync(partition, stream, read, cancellationToken).ConfigureAwait(false);
        return read.ToPage(version, events);
    }

    /// <inheritdoc/>
    public ValueTask<StreamPage> ListStreamsAsync(string partition, ListOptions? options = null, CancellationToken cancellationToken = default)
    {
        var query = ListQuery.ForStreams(partition, options);
        cancellationToken.ThrowIfCancellationRequested();
        return _telemetry.Enabled
            ? _telemetry.ObserveAsync(Telemetry.ListStreams, partition, null, (Store: this, partition, query, cancellationToken), static a => a.Store.ListStreamsCoreAsync(a.partition, a.query, a.cancellationToken))
            : ListStreamsCoreAsync(partition, query, cancellationToken);
    }

    private async ValueTask<StreamPage> ListStreamsCoreAsync(string partition, ListQuery query, CancellationToken cancellationToken)
    {
        using var scope = _lifetime.Enter();
        var range = KeyRange.For(query);
        var rows = range.IsEmpty ? [] : await _backend.ListStreamsAsync(partition, range, query.Descending, query.Limit + 1, cancellationToken).ConfigureAwait(false);
        var (items, token) = query.TakePage(rows, static s => s.Stream);
        return new StreamPage(items, token);
    }

    /// <inheritdoc/>
    public ValueTask<ChangePage> ReadChangesAsync(string partition, long afterRevision, int limit = StoreLimits.DefaultPageSize, CancellationToken cancellationToken = default)
    {
        ChangeFeedQuery.Validate(partition, afterRevision, limit);
        cancellationToken.ThrowIfCancellationRequested();
        return _telemetry.Enabled
            ? _telemetry.ObserveAsync(Telemetry.ReadChanges, partition, null, (Store: this, partition, afterRevision, limit, cancellationToken), static a => a.Store.ReadChangesCoreAsync(a.partition, a.afterRevision, a.limit, a.cancellationToken))
            : ReadChangesCoreAsync(partition, afterRevision, limit, cancellationToken);
    }

    private async ValueTask<ChangePage> ReadChangesCoreAsync(string partition, long afterRevision, int limit, CancellationToken cancellationToken)
    {
        using var scope = _lifetime.Enter();
        // The feed hides nothing: an expired document appears as the put of its latest version, its expiry
        // in it, so a copy made from the feed holds what the source holds (docs/streams-and-changes.md).
        var read = await _backend.ReadChangesAsync(partition, afterRevision, limit, ChangeFeedQuery.FetchSize(limit), ChangeFeedQuery.ShowsExpired, cancellationToken).ConfigureAwait(false);
        ChangeFeedQuery.EnsureResumable(partition, afterRevision, read.Exists, read.OldestResumable);
        if (read.Exists && afterRevision < read.OldestResumable && read.Changes.Count >= limit && read.Changes[^1].Revision <= read.OldestResumable)
        {
            // A read from 0 must reach the oldest resumable revision (older tombstones or expired documents were
            // purged): the backend may have stopped before it, so everything is read.
            read = await _backend.ReadChangesAsync(partition, afterRevision, int.MaxValue, int.MaxValue, ChangeFeedQuery.ShowsExpired, cancellationToken).ConfigureAwait(false);
        }

        return read.Exists
            ? ChangeFeedQuery.TakePage(read.Changes, limit, afterRevision, read.Revision, read.OldestResumable) with { OldestResumableRevision = read.OldestResumable }
            : new ChangePage([], afterRevision, false);
    }

    /// <inheritdoc/>
    public ValueTask<QueryPage> QueryAsync(IndexQuery query, CancellationToken cancellationToken = default)
    {
        var plan = IndexQueryPlan.Create(_indexes, query);
        cancellationToken.ThrowIfCancellationRequested();
        return _telemetry.Enabled
            ? _telemetry.ObserveAsync(Telemetry.Query, query.Partition, query.Collection, (Store: this, plan, cancellationToken), static a => a.Store.QueryCoreAsync(a.plan, a.cancellationToken))
            : QueryCoreAsync(plan, cancellationToken);
    }

    private async ValueTask<QueryPage> QueryCoreAsync(IndexQueryPlan plan, CancellationToken cancellationToken)
    {
        using var scope = _lifetime.Enter();
        return plan.TakePage(await _backend.QueryAsync(plan, Now(), cancellationToken).ConfigureAwait(false));
    }

    /// <inheritdoc/>
    public ValueTask<long> CountAsync(IndexQuery query, CancellationToken cancellationToken = default)
    {
        var plan = IndexQueryPlan.Create(_indexes, query, forCount: true);
        cancellationToken.ThrowIfCancellationRequested();
        return _telemetry.Enabled
            ? _telemetry.ObserveAsync(Telemetry.Count, query.Partition, query.Collection, (Store: this, plan, cancellationToken), static a => a.Store.CountCoreAsync(a.plan, a.cancellationToken))
            : CountCoreAsync(plan, cancellationToken);
    }

    private async ValueTask<long> CountCoreAsync(IndexQueryPlan plan, CancellationToken cancellationToken)
    {
        using var scope = _lifetime.Enter();
        return await _backend.CountAsync(plan, Now(), cancellationToken).ConfigureAwait(false);
    }

    /// <inheritdoc/>
    public async ValueTask SetReadOnlyAsync(bool readOnly, CancellationToken cancellationToken = default)
    {
        cancellationToken.ThrowIfCancellationRequested();
        await (_telemetry.Enabled
            ? _telemetry.ObserveAsync(Telemetry.SetReadOnly, null, null, (Store: this, readOnly, cancellationToken), static a => a.Store.SetReadOnlyCoreAsync(a.readOnly, a.cancellationToken))
            : SetReadOnlyCoreAsync(readOnly, cancellationToken)).ConfigureAwait(false);
    }

    private async ValueTask<bool> SetReadOnlyCoreAsync(bool readOnly, CancellationToken cancellationToken)
    {
        using var scope = _lifetime.Enter();
        RefuseWritesOfReader();
        await _backend.SetReadOnlyAsync(readOnly, cancellationToken).ConfigureAwait(false);
        return readOnly;
    }

    /// <inheritdoc/>
    public ValueTask<bool> IsReadOnlyAsync(CancellationToken cancellationToken = default)
    {
        cancellationToken.ThrowIfCancellationRequested();
        return _telemetry.Enabled
            ? _telemetry.ObserveAsync(Telemetry.IsReadOnly, null, null, (Store: this, cancellationToken), static a => a.Store.IsReadOnlyCoreAsync(a.cancellationToken))
            : IsReadOnlyCoreAsync(cancellationToken);
    }

    private async ValueTask<bool> IsReadOnlyCoreAsync(CancellationToken cancellationToken)
    {
        using var scope = _lifetime.Enter();
        return await _backend.IsReadOnlyAsync(cancellationToken).ConfigureAwait(false);
    }

    /// <summary>How many writes of a partition wait for its next group commit (for tests that build a group on purpose).</summary>
    /// <param name="partition">The partition.</param>
    /// <returns>The count; the store's queue's when writes are not grouped per partition.</returns>
    internal int WaitingRequests(string partition)
    {
        if (_queue is not null)
        {
            return _queue.Waiting;
        }

        lock (_partitionQueues)
        {
            return _partitionQueues.TryGetValue(partition, out var handle) ? handle.Queue.Waiting : 0;
        }
    }

    /// <inheritdoc/>
    public async ValueTask DisposeAsync()
    {
        if (!_lifetime.TryBeginDispose(out var drained))
        {
            return;
        }

        await drained.ConfigureAwait(false);
        await _backend.DisposeAsync().ConfigureAwait(false);
    }

    /// <summary>For tests: how many writes wait for their group at this moment.</summary>
    internal int QueuedWrites
    {
        get
        {
            if (_queue is not null)
            {
                return _queue.Waiting;
            }

            lock (_partitionQueues)
            {
                return _partitionQueues.Values.Sum(static q => q.Queue.Waiting);
            }
        }
    }

    /// <summary>
    /// For tests: runs <paramref name="action"/> in a turn of <paramref name="partition"/>'s group commit
    /// (the store's, when the backend does not commit per partition), as a write would: writes queued
    /// while it runs wait, and land in one group after it.
    /// </summary>
    /// <param name="partition">The partition whose turn to take.</param>
    /// <param name="action">What to run.</param>
    /// <returns>What the action returned.</returns>
    internal async ValueTask<T> RunInTurnAsync<T>(string partition, Func<T> action)
        => (T)await EnqueueAsync(PendingWrite.InTurn(partition, () => action()!), CancellationToken.None).ConfigureAwait(false);

    /// <summary>
    /// Marks an operation of the backend's own (a backup, an integrity check) as running, as every
    /// <see cref="IStore"/> member is: disposal waits for it, and it fails once the store is disposed.
    /// </summary>
    /// <returns>The scope; dispose it when the operation ends.</returns>
    /// <exception cref="ObjectDisposedException">The store is disposed or being disposed.</exception>
    internal StoreLifetime.Scope EnterOperation() => _lifetime.Enter();

    private DateTimeOffset Now() => Timestamps.Now(_time);

    /// <summary>
    /// Refuses an import or a purge up front while the read-only fence is set, even one with nothing to
    /// write, so that every backend refuses them alike; each commit of theirs checks the fence again,
    /// atomically, which catches a fence set while they run.
    /// </summary>
    private async ValueTask RefuseWhileReadOnlyAsync(CancellationToken cancellationToken)
    {
        RefuseWritesOfReader();
        if (await _backend.IsReadOnlyAsync(cancellationToken).ConfigureAwait(false))
        {
            throw new StoreReadOnlyException();
        }
    }

    /// <summary>
    /// Refuses a write of a store opened as a reader (<see cref="IStoreBackend.IsReader"/>) before it
    /// reaches the backend: every write passes here (<see cref="EnqueueAsync"/>,
    /// <see cref="RefuseWhileReadOnlyAsync"/>, setting the fence). An <see cref="InvalidOperationException"/>,
    /// not a <see cref="StoreReadOnlyException"/>: a reader never writes, so retrying is pointless
    /// (that exception is transient, and says the fence is set, which <see cref="IsReadOnlyAsync"/> of a
    /// reader reports as the owner left it).
    /// </summary>
    private void RefuseWritesOfReader()
    {
        if (_backend.IsReader)
        {
            throw new InvalidOperationException(ErrorMessages.Reader);
        }
    }

    private async ValueTask<object> EnqueueAsync(PendingWrite write, CancellationToken cancellationToken)
    {
        cancellationToken.ThrowIfCancellationRequested();
        RefuseWritesOfReader();
        using var scope = _lifetime.Enter();
        while (true)
        {
            object result;
            if (_queue is not null)
            {
                result = await _queue.EnqueueAsync(write, cancellationToken).ConfigureAwait(false);
            }
            else
            {
                var handle = TakePartitionQueue(write.Partition);
                try
                {
                    result = await handle.Queue.EnqueueAsync(write, cancellationToken).ConfigureAwait(false);
                }
                finally
                {
                    ReturnPartitionQueue(write.Partition, handle);
                }
            }

            if (!ReferenceEquals(result, s_deferred))
            {
                return result;
            }

            // Outside any commit turn, holding nothing: no two commits ever wait on each other.
            await write.TakeDeferral().WaitAsync(cancellationToken).ConfigureAwait(false);
        }
    }

    /// <summary>The group commit of <paramref name="partition"/>, counted as used until <see cref="ReturnPartitionQueue"/>.</summary>
    private PartitionQueue TakePartitionQueue(string partition)
    {
        lock (_partitionQueues)
        {
            if (!_partitionQueues.TryGetValue(partition, out var handle))
            {
                handle = _idleQueues.TryPop(out var idle) ? idle : new PartitionQueue(new CommitQueue<PendingWrite, object>(_commitGroup));
                _partitionQueues.Add(partition, handle);
            }

            handle.Users++;
            return handle;
        }
    }

    private void ReturnPartitionQueue(string partition, PartitionQueue handle)
    {
        // Queues live while someone uses them, so a store that touches millions of partitions keeps only the busy ones.
        lock (_partitionQueues)
        {
            if (--handle.Users == 0)
            {
                _partitionQueues.Remove(partition);

                // No writer holds or waits for its turn any more: a lone writer of another partition takes it
                // instead of allocating a queue of its own.
                if (_idleQueues.Count < MaxIdleQueues)
                {
                    _idleQueues.Push(handle);
                }
            }
        }
    }

    private async ValueTask CommitGroupAsync(IReadOnlyList<CommitQueue<PendingWrite, object>.Entry> group)
    {
        var writes = new PendingWrite[group.Count];
        for (var i = 0; i < group.Count; i++)
        {
            writes[i] = group[i].Request;
        }

        Exception? failure = null;
        try
        {
            await CommitWritesAsync(writes).ConfigureAwait(false);
        }
        catch (Exception e)
        {
            failure = e;
        }

        // Writes the backend completed keep their outcome, also when a later one of the group failed.
        for (var i = 0; i < group.Count; i++)
        {
            var write = writes[i];
            if (!write.IsCompleted && write.DeferredUntil is not null)
            {
                // Its writer waits and queues it again (EnqueueAsync), whatever the rest of the group became.
                group[i].Complete(s_deferred);
            }
            else if (!write.IsCompleted)
            {
                group[i].Fail(failure ?? new InvalidOperationException("The backend left a write of the group without an outcome."));
            }
            else if (write.Error is { } error)
            {
                group[i].Fail(error);
            }
            else
            {
                group[i].Complete(write.Result!);
            }
        }
    }

    /// <summary>Passes the group to the backend; a test's action (<see cref="PendingWrite.InTurn"/>) runs where it stands, between the commits of the writes before and after it.</summary>
    private ValueTask CommitWritesAsync(PendingWrite[] writes)
    {
        foreach (var write in writes)
        {
            if (write.Action is not null)
            {
                return CommitAroundActionsAsync(writes);
            }
        }

        // The common case returns the backend's task itself: no async layer of its own.
        return _backend.CommitAsync(writes, Now(), CancellationToken.None);
    }

    private async ValueTask CommitAroundActionsAsync(PendingWrite[] writes)
    {
        var start = 0;
        for (var i = 0; i < writes.Length; i++)
        {
            if (writes[i].Action is { } action)
            {
                if (i > start)
                {
                    await _backend.CommitAsync(new ArraySegment<PendingWrite>(writes, start, i - start), Now(), CancellationToken.None).ConfigureAwait(false);
                }

                writes[i].Complete(action());
                start = i + 1;
            }
        }

        if (start < writes.Length)
        {
            await _backend.CommitAsync(new ArraySegment<PendingWrite>(writes, start, writes.Length - start), Now(), CancellationToken.None).ConfigureAwait(false);
        }
    }

    /// <summary>A partition's group commit and how many writers use it.</summary>
    private sealed class PartitionQueue(CommitQueue<PendingWrite, object> queue)
    {
        public CommitQueue<PendingWrite, object> Queue { get; } = queue;

        public int Users { get; set; }
    }
}
