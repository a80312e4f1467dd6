using System.Diagnostics.CodeAnalysis;
using Storage.Engine;

namespace Storage;

/// <summary>
/// The base of every store: the whole <see cref="IStore"/> contract, run by the engine over a backend
/// (<see cref="IStoreBackend"/>). The engine validates arguments, tracks the store's lifetime, reads
/// the clock, groups commits, decides every batch, and traces and measures every call
/// (<see cref="StoreTelemetry"/>); the backend loads, persists and reads. Each
/// backend's store (<c>JsonStore</c>, <c>SqliteStore</c>, <c>PostgresStore</c>, <c>MemoryStore</c>)
/// derives from it and adds only what is its own: how it opens, and operations such as a backup.
/// </summary>
/// <remarks>
/// A store is safe to use from many threads at once. Disposing it waits for running operations, then
/// disposes the backend; every operation after that fails with <see cref="ObjectDisposedException"/>.
/// </remarks>
/// <seealso href="../../docs/architecture.md#writing-a-backend"/>
public abstract class Store : IStore, IBulkImport, IStoreFence, IStoreExport, IStoreRestore, IAsyncDisposable
{
    private readonly EngineStore _engine;

    /// <summary>Creates a store: the engine over <paramref name="backend"/>.</summary>
    /// <param name="backend">The backend, open; the store disposes it.</param>
    /// <param name="options">The options, validated by <see cref="ValidateOptions"/>; the store keeps their clock, tombstone retention and telemetry settings.</param>
    /// <param name="indexes">The declared indexes, as <see cref="ValidateOptions"/> returned them for <paramref name="options"/>.</param>
    [Experimental(Experiments.BackendInterface)]
    protected Store(IStoreBackend backend, StoreOptions options, IndexCatalog indexes)
    {
        ArgumentNullException.ThrowIfNull(backend);
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(indexes);
        _engine = new EngineStore(backend, options.TimeProvider, options.TombstoneRetention, indexes, new Telemetry(backend.SystemName, options));
    }

    /// <summary>
    /// Validates what every backend's options share — the clock, the tombstone retention and the index
    /// declarations — the same way for every backend. A backend's open calls it before it creates or
    /// changes anything.
    /// </summary>
    /// <param name="options">The options.</param>
    /// <returns>The validated index declarations, for the backend and the store's constructor.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="options"/> or its <see cref="StoreOptions.TimeProvider"/> is <see langword="null"/>.</exception>
    /// <exception cref="ArgumentOutOfRangeException">The tombstone retention is negative.</exception>
    /// <exception cref="ArgumentException">An index is declared twice or is null, or indexes are declared with <see cref="StoreOptions.KeepStoredIndexes"/>.</exception>
    [Experimental(Experiments.BackendInterface)]
    public static IndexCatalog ValidateOptions(StoreOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(options.TimeProvider, "options.TimeProvider");
        ChangeFeedQuery.ValidateRetention(options.TombstoneRetention, nameof(options));
        if (options.KeepStoredIndexes)
        {
            return options.Indexes is null or { Count: 0 }
                ? IndexCatalog.Stored
                : throw new ArgumentException($"{nameof(StoreOptions.KeepStoredIndexes)} opens with the declarations the store keeps: {nameof(StoreOptions.Indexes)} must be empty ({options.Indexes.Count} declared).", nameof(options));
        }

        return new IndexCatalog(options.Indexes);
    }

    /// <summary>For tests: how many writes wait for their group at this moment.</summary>
    internal int QueuedWrites => _engine.QueuedWrites;

    /// <inheritdoc/>
    public ValueTask<StoredDocument?> GetAsync(string partition, string collection, string key, CancellationToken cancellationToken = default)
        => _engine.GetAsync(partition, collection, key, cancellationToken);

    /// <inheritdoc/>
    public ValueTask<CommitResult> CommitAsync(string partition, IReadOnlyList<WriteOperation> operations, CancellationToken cancellationToken = default)
        => _engine.CommitAsync(partition, operations, cancellationToken);

    /// <inheritdoc/>
    public ValueTask<ImportResult> ImportAsync(IAsyncEnumerable<ImportedPartition> partitions, CancellationToken cancellationToken = default)
        => _engine.ImportAsync(partitions, cancellationToken);

    /// <inheritdoc/>
    public ValueTask<DocumentPage> ListAsync(string partition, string collection, ListOptions? options = null, CancellationToken cancellationToken = default)
        => _engine.ListAsync(partition, collection, options, cancellationToken);

    /// <inheritdoc/>
    public ValueTask<long> IncrementSequenceAsync(string partition, string name, long delta = 1, CancellationToken cancellationToken = default)
        => _engine.IncrementSequenceAsync(partition, name, delta, cancellationToken);

    /// <inheritdoc/>
    public ValueTask<long> GetSequenceAsync(string partition, string name, CancellationToken cancellationToken = default)
        => _engine.GetSequenceAsync(partition, name, cancellationToken);

    /// <inheritdoc/>
    public ValueTask<PartitionPage> ListPartitionsAsync(PartitionListOptions? options = null, CancellationToken cancellationToken = default)
        => _engine.ListPartitionsAsync(options, cancellationToken);

    /// <inheritdoc/>
    public ValueTask<bool> DeletePartitionAsync(string partition, CancellationToken cancellationToken = default)
        => _engine.DeletePartitionAsync(partition, cancellationToken);

    /// <inheritdoc/>
    public ValueTask<long> PurgeExpiredAsync(CancellationToken cancellationToken = default)
        => _engine.PurgeExpiredAsync(cancellationToken);

    /// <inheritdoc/>
    public ValueTask<EventPage> ReadStreamAsync(string partition, string stream, ReadStreamOptions? options = null, CancellationToken cancellationToken = default)
        => _engine.ReadStreamAsync(partition, stream, options, cancellationToken);

    /// <inheritdoc/>
    public ValueTask<StreamPage> ListStreamsAsync(string partition, ListOptions? options = null, CancellationToken cancellationToken = default)
        => _engine.ListStreamsAsync(partition, options, cancellationToken);

    /// <inheritdoc/>
    public ValueTask<ChangePage> ReadChangesAsync(string partition, long afterRevision, int limit = StoreLimits.DefaultPageSize, CancellationToken cancellationToken = default)
        => _engine.ReadChangesAsync(partition, afterRevision, limit, cancellationToken);

    /// <inheritdoc/>
    public ValueTask<QueryPage> QueryAsync(IndexQuery query, CancellationToken cancellationToken = default)
        => _engine.QueryAsync(query, cancellationToken);

    /// <inheritdoc/>
    public ValueTask<long> CountAsync(IndexQuery query, CancellationToken cancellationToken = default)
        => _engine.CountAsync(query, cancellationToken);

    /// <summary>Waits for running operations, then disposes the backend (which releases its files or connections).</summary>
    /// <returns>A task that completes when the backend is disposed.</returns>
    public ValueTask DisposeAsync() => _engine.DisposeAsync();

    /// <summary>How many writes of a partition wait for its next group commit (for tests that build a group on purpose).</summary>
    /// <param name="partition">The partition.</param>
    /// <returns>The count; the store's queue's when writes are not grouped per partition.</returns>
    internal int WaitingRequests(string partition) => _engine.WaitingRequests(partition);

    /// <summary>For tests: runs <paramref name="action"/> in a turn of <paramref name="partition"/>'s group commit, as a write would.</summary>
    /// <param name="partition">The partition whose turn to take.</param>
    /// <param name="action">What to run.</param>
    /// <returns>What the action returned.</returns>
    internal ValueTask<T> RunInTurnAsync<T>(string partition, Func<T> action) => _engine.RunInTurnAsync(partition, action);

    /// <summary>
    /// Marks an operation of the backend's own (a backup, an integrity check) as running, as every
    /// <see cref="IStore"/> member is: disposal waits for it, and it fails once the store is disposed.
    /// </summary>
    /// <returns>The scope; dispose it when the operation ends.</returns>
    /// <exception cref="ObjectDisposedException">The store is disposed or being disposed.</exception>
    internal StoreLifetime.Scope EnterOperation() => _engine.EnterOperation();

    // The read-only fence (issue 17, item 5): kept by the backend in the store itself.

    /// <inheritdoc/>
    /// <seealso href="../../docs/contract.md#the-read-only-fence"/>
    public ValueTask SetReadOnlyAsync(bool readOnly, CancellationToken cancellationToken = default)
        => _engine.SetReadOnlyAsync(readOnly, cancellationToken);

    /// <inheritdoc/>
    public ValueTask<bool> IsReadOnlyAsync(CancellationToken cancellationToken = default)
        => _engine.IsReadOnlyAsync(cancellationToken);

    // The export of the store's exact state (issue 18; docs/upgrade-path.md).

    /// <inheritdoc/>
    public ValueTask<StoreExportInfo> GetExportInfoAsync(CancellationToken cancellationToken = default)
        => _engine.GetExportInfoAsync(cancellationToken);

    /// <inheritdoc/>
    public IAsyncEnumerable<PartitionExport> ExportAsync(CancellationToken cancellationToken = default)
        => _engine.ExportAsync(cancellationToken);

    /// <inheritdoc/>
    public ValueTask<PartitionExport?> ExportPartitionAsync(string partition, CancellationToken cancellationToken = default)
        => _engine.ExportPartitionAsync(partition, cancellationToken);

    /// <inheritdoc/>
    public ValueTask<PartitionInfo?> GetPartitionAsync(string partition, CancellationToken cancellationToken = default)
        => _engine.GetPartitionAsync(partition, cancellationToken);

    /// <inheritdoc/>
    public ValueTask<PartitionChangePage> ReadChangedPartitionsAsync(long afterPosition, int limit = StoreLimits.DefaultPageSize, CancellationToken cancellationToken = default)
        => _engine.ReadChangedPartitionsAsync(afterPosition, limit, cancellationToken);

    // The restore of an exported state (issue 18; docs/upgrade-path.md#restore).

    /// <inheritdoc/>
    public ValueTask<RestoreOutcome> RestorePartitionAsync(PartitionExport partition, RestoreMode mode = RestoreMode.FailIfDifferent, CancellationToken cancellationToken = default)
        => _engine.RestorePartitionAsync(partition, mode, cancellationToken);

    /// <inheritdoc/>
    public ValueTask<RestoreResult> RestoreAsync(StoreExportInfo info, IAsyncEnumerable<PartitionExport> partitions, RestoreMode mode = RestoreMode.FailIfDifferent, CancellationToken cancellationToken = default)
        => _engine.RestoreAsync(info, partitions, mode, cancellationToken);

    /// <inheritdoc/>
    public ValueTask RaiseRevisionFloorAsync(long floor, CancellationToken cancellationToken = default)
        => _engine.RaiseRevisionFloorAsync(floor, cancellationToken);

    /// <inheritdoc/>
    public ValueTask<ApplyResult> ApplyChangesAsync(string partition, long afterRevision, ChangePage page, CancellationToken cancellationToken = default)
        => _engine.ApplyChangesAsync(partition, afterRevision, page, cancellationToken);

    /// <inheritdoc/>
    public ValueTask<bool> ApplyPartitionDeleteAsync(string partition, long revision, CancellationToken cancellationToken = default)
        => _engine.ApplyPartitionDeleteAsync(partition, revision, cancellationToken);
}
