using Storage.Json.Indexes;
using Storage.Json.Internal;
using Storage.Json.IO;

namespace Storage.Json;

/// <summary>
/// The JSON-files backend: one human-readable, checksummed JSON file per partition, replaced
/// atomically on every commit (temp file, fsync, rename, fsync of the directory). Partitions are
/// cached in memory once read; concurrent writes to one partition are coalesced into one file write
/// (group commit), and writes to different partitions never wait on each other. One store owns its
/// directory at a time (a lock file); a second one, in this process or another, fails to open.
/// Secondary indexes are kept in memory: a store with declared indexes reads every partition at
/// open and builds them (see docs/json-backend.md); one without reads partitions on first use.
/// </summary>
/// <remarks>
/// The store is the engine (<see cref="EngineStore"/>) over <see cref="JsonBackend"/>. The file layer
/// is synchronous (that is what the operating system offers), so operations complete synchronously on
/// the calling thread; they are exposed as <see cref="ValueTask"/> without any <c>Task.Run</c>.
/// </remarks>
/// <seealso href="../../docs/json-backend.md"/>
public sealed class JsonStore : IStore, IBulkImport
{
    private readonly JsonBackend _backend;
    private readonly EngineStore _engine;

    private JsonStore(JsonBackend backend, EngineStore engine)
    {
        _backend = backend;
        _engine = engine;
    }

    /// <summary>The full path of the data directory.</summary>
    public string Directory => _backend.Directory;

    /// <summary>The in-memory indexes (null when none is declared): for tests.</summary>
    internal JsonIndexes? Indexes => _backend.Indexes;

    /// <summary>How many requests of a partition wait for its next group commit (for tests that build a group on purpose).</summary>
    internal int WaitingRequests(string partition) => _engine.WaitingRequests(partition);

    /// <summary>The partition's state as the store holds it in memory, or <see langword="null"/> when it has none: for tests.</summary>
    internal PartitionSnapshot? CachedSnapshot(string partition) => _backend.CachedSnapshot(partition);

    /// <summary>Opens (or creates) a store in a directory, taking its lock.</summary>
    /// <param name="options">The directory and settings.</param>
    /// <returns>The open store; dispose it to release the directory.</returns>
    /// <exception cref="ArgumentException">The options are not valid.</exception>
    /// <exception cref="StoreLockedException">Another store, in this process or another, has the directory open, or the filesystem cannot lock.</exception>
    /// <exception cref="UnsupportedFormatException">The directory was written by a newer version of the library.</exception>
    /// <exception cref="CorruptDataException">The manifest is damaged; the directory holds a manifest without its partitions directory, or partition files without a manifest (files removed from outside; nothing is created); or (with indexes declared, which read every partition) a partition file is damaged.</exception>
    /// <exception cref="IndexBuildException">A live document cannot be indexed by a declared index (a value of the wrong type, or a duplicate value of a unique index); nothing is changed.</exception>
    /// <exception cref="StorageException">The directory could not be read or created; the message says which step failed.</exception>
    public static JsonStore Open(JsonStoreOptions options) => Open(options, new PosixFileSystem());

    /// <summary>Opens a store over a given file layer: the seam where tests inject faults and simulate power loss.</summary>
    internal static JsonStore Open(JsonStoreOptions options, IFileSystem files)
    {
        Validate(options);
        var indexes = new IndexCatalog(options.Indexes);
        var backend = JsonBackend.Open(options, indexes, files);
        return new JsonStore(backend, new EngineStore(backend, options.TimeProvider, options.TombstoneRetention, indexes));
    }

    /// <inheritdoc/>
    public ValueTask<StoredDocument?> GetAsync(string partition, string collection, string key, CancellationToken cancellationToken = default) => _engine.GetAsync(partition, collection, key, cancellationToken);

    /// <inheritdoc/>
    public ValueTask<CommitResult> CommitAsync(string partition, IReadOnlyList<WriteOperation> operations, CancellationToken cancellationToken = default) => _engine.CommitAsync(partition, operations, cancellationToken);

    /// <inheritdoc/>
    public ValueTask<DocumentPage> ListAsync(string partition, string collection, ListOptions? options = null, CancellationToken cancellationToken = default) => _engine.ListAsync(partition, collection, options, cancellationToken);

    /// <inheritdoc/>
    public ValueTask<long> IncrementSequenceAsync(string partition, string name, long delta = 1, CancellationToken cancellationToken = default) => _engine.IncrementSequenceAsync(partition, name, delta, cancellationToken);

    /// <inheritdoc/>
    public ValueTask<long> GetSequenceAsync(string partition, string name, CancellationToken cancellationToken = default) => _engine.GetSequenceAsync(partition, name, cancellationToken);

    /// <inheritdoc/>
    public ValueTask<PartitionPage> ListPartitionsAsync(PartitionListOptions? options = null, CancellationToken cancellationToken = default) => _engine.ListPartitionsAsync(options, cancellationToken);

    /// <inheritdoc/>
    public ValueTask<bool> DeletePartitionAsync(string partition, CancellationToken cancellationToken = default) => _engine.DeletePartitionAsync(partition, cancellationToken);

    /// <inheritdoc/>
    public ValueTask<EventPage> ReadStreamAsync(string partition, string stream, ReadStreamOptions? options = null, CancellationToken cancellationToken = default) => _engine.ReadStreamAsync(partition, stream, options, cancellationToken);

    /// <inheritdoc/>
    public ValueTask<StreamPage> ListStreamsAsync(string partition, ListOptions? options = null, CancellationToken cancellationToken = default) => _engine.ListStreamsAsync(partition, options, cancellationToken);

    /// <inheritdoc/>
    public ValueTask<ChangePage> ReadChangesAsync(string partition, long afterRevision, int limit = StoreLimits.DefaultPageSize, CancellationToken cancellationToken = default) => _engine.ReadChangesAsync(partition, afterRevision, limit, cancellationToken);

    /// <inheritdoc/>
    public ValueTask<QueryPage> QueryAsync(IndexQuery query, CancellationToken cancellationToken = default) => _engine.QueryAsync(query, cancellationToken);

    /// <inheritdoc/>
    public ValueTask<long> CountAsync(IndexQuery query, CancellationToken cancellationToken = default) => _engine.CountAsync(query, cancellationToken);

    /// <inheritdoc/>
    public ValueTask<long> PurgeExpiredAsync(CancellationToken cancellationToken = default) => _engine.PurgeExpiredAsync(cancellationToken);

    /// <inheritdoc/>
    /// <remarks>
    /// Through batches: each partition is one commit of must-not-exist puts, up to 8 consecutive
    /// partitions at once (each on a thread of its own, so that their files are written and synced at
    /// the same time), so the import holds at most 8 partitions in memory, and when a partition fails
    /// at most 7 of those after it are imported.
    /// </remarks>
    public ValueTask<ImportResult> ImportAsync(IAsyncEnumerable<ImportedPartition> partitions, CancellationToken cancellationToken = default) => _engine.ImportAsync(partitions, cancellationToken);

    /// <summary>Waits for running operations, then releases the directory.</summary>
    /// <returns>A task that completes when the directory is released.</returns>
    public ValueTask DisposeAsync() => _engine.DisposeAsync();

    private static void Validate(JsonStoreOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        if (string.IsNullOrWhiteSpace(options.Directory))
        {
            throw new ArgumentException(JsonErrors.NoDirectory, nameof(options));
        }

        ArgumentNullException.ThrowIfNull(options.TimeProvider, "options.TimeProvider");
        ChangeFeedQuery.ValidateRetention(options.TombstoneRetention, "options.TombstoneRetention");
        if (!Enum.IsDefined(options.Durability))
        {
            throw new ArgumentOutOfRangeException(nameof(options), options.Durability, "JsonStoreOptions.Durability must be Full or Relaxed.");
        }
    }

}
