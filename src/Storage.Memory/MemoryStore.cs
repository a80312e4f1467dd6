namespace Storage.Memory;

/// <summary>
/// A store in this process's memory, with the same behaviour as every other backend (it runs the
/// same engine and passes the same conformance suite): for an application's unit tests, the way
/// EF Core's in-memory provider or Orleans' memory storage are used. Nothing is written anywhere;
/// everything is gone when the store is disposed or the process ends.
/// </summary>
/// <seealso href="../../docs/memory-backend.md"/>
public sealed class MemoryStore : Store
{
    private MemoryStore(MemoryBackend backend, MemoryStoreOptions options, IndexCatalog indexes)
        : base(backend, options, indexes)
    {
    }

    /// <summary>Creates an empty store.</summary>
    /// <param name="options">The options; the defaults when <see langword="null"/>.</param>
    /// <returns>The store.</returns>
    /// <exception cref="ArgumentException">An option is invalid (a bad index declaration, a negative retention).</exception>
    public static MemoryStore Create(MemoryStoreOptions? options = null) => Open(options, new MemoryData());

    /// <summary>
    /// Creates an empty store: <see cref="Create"/> with the signature every backend shares (the task
    /// is complete when this returns).
    /// </summary>
    /// <param name="options">The options; the defaults when <see langword="null"/>.</param>
    /// <param name="cancellationToken">Cancels the open before it starts.</param>
    /// <returns>The store.</returns>
    /// <exception cref="ArgumentException">An option is invalid (a bad index declaration, a negative retention).</exception>
    /// <exception cref="OperationCanceledException"><paramref name="cancellationToken"/> was canceled before the open started.</exception>
    public static ValueTask<MemoryStore> OpenAsync(MemoryStoreOptions? options = null, CancellationToken cancellationToken = default)
    {
        cancellationToken.ThrowIfCancellationRequested();
        return ValueTask.FromResult(Create(options));
    }

    /// <summary>Opens a store over what earlier instances stored (for the conformance suite's reopen tests), grouping commits per partition or for the store.</summary>
    internal static MemoryStore Open(MemoryStoreOptions? options, MemoryData data, bool commitsPerPartition = true)
    {
        options ??= new MemoryStoreOptions();
        var indexes = ValidateOptions(options);
        return new MemoryStore(new MemoryBackend(indexes, data, Timestamps.Now(options.TimeProvider)) { CommitsPerPartition = commitsPerPartition }, options, indexes);
    }
}
