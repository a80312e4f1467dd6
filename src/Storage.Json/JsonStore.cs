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
/// <para>
/// The store is the engine (<see cref="Store"/>) over <see cref="JsonBackend"/>. The file layer is
/// synchronous (that is what the operating system offers), so operations complete synchronously on
/// the calling thread; they are exposed as <see cref="ValueTask"/> without any <c>Task.Run</c>.
/// </para>
/// <para>
/// <see cref="Store.ImportAsync"/> goes through batches: each partition is one commit of
/// must-not-exist puts, up to 8 consecutive partitions at once (each on a thread of its own, so that
/// their files are written and synced at the same time), so the import holds at most 8 partitions in
/// memory, and when a partition fails at most 7 of those after it are imported.
/// <see cref="Store.DisposeAsync"/> waits for running operations, then releases the directory.
/// </para>
/// </remarks>
/// <seealso href="../../docs/json-backend.md"/>
public sealed class JsonStore : Store
{
    private readonly JsonBackend _backend;

    private JsonStore(JsonBackend backend, JsonStoreOptions options, IndexCatalog indexes)
        : base(backend, options, indexes)
    {
        _backend = backend;
    }

    /// <summary>The full path of the data directory.</summary>
    public string Directory => _backend.Directory;

    /// <summary>Whether this store owns its directory or reads it beside its owner (<see cref="JsonStoreOptions.Access"/>).</summary>
    /// <seealso href="../../docs/json-backend.md#reading-from-a-second-process"/>
    public JsonStoreAccess Access => _backend.IsReader ? JsonStoreAccess.Reader : JsonStoreAccess.Owner;

    /// <summary>The in-memory indexes (null when none is declared): for tests.</summary>
    internal JsonIndexes? Indexes => _backend.Indexes;

    /// <summary>The partition's state as the store holds it in memory, or <see langword="null"/> when it has none: for tests.</summary>
    internal PartitionSnapshot? CachedSnapshot(string partition) => _backend.CachedSnapshot(partition);

    /// <summary>
    /// Opens (or creates) a store in a directory, taking its lock; or, with
    /// <see cref="JsonStoreOptions.Access"/> <see cref="JsonStoreAccess.Reader"/>, opens an existing
    /// store to read it beside its owner, taking no lock and creating nothing.
    /// </summary>
    /// <param name="options">The directory and settings.</param>
    /// <returns>The open store; dispose it to release the directory.</returns>
    /// <exception cref="ArgumentException">The options are not valid (a reader with declared indexes among them).</exception>
    /// <exception cref="StoreLockedException">Another store, in this process or another, has the directory open, or the filesystem cannot lock.</exception>
    /// <exception cref="UnsupportedFormatException">The directory was written by a newer version of the library.</exception>
    /// <exception cref="CorruptDataException">The manifest is damaged; the directory holds a manifest without its partitions directory, or partition files without a manifest (files removed from outside; nothing is created); or (with indexes declared, which read every partition) a partition file is damaged.</exception>
    /// <exception cref="IndexBuildException">A live document cannot be indexed by a declared index (a value of the wrong type, or a duplicate value of a unique index); nothing is changed.</exception>
    /// <exception cref="StorageException">The directory could not be read or created; the message says which step failed. A reader: the directory holds no store (the message names it).</exception>
    /// <remarks>
    /// Synchronous, kept for existing callers; <see cref="OpenAsync"/> is the same open with the
    /// signature every backend shares.
    /// </remarks>
    public static JsonStore Open(JsonStoreOptions options) => Open(options, new PosixFileSystem());

    /// <summary>
    /// Opens (or creates) a store in a directory, taking its lock, or opens a reader of one:
    /// <see cref="Open(JsonStoreOptions)"/> with the signature every backend shares. The file layer is synchronous, so the open runs on the
    /// calling thread and the task is complete when this returns.
    /// </summary>
    /// <param name="options">The directory and settings.</param>
    /// <param name="cancellationToken">Cancels the open before it starts.</param>
    /// <returns>The open store; dispose it to release the directory.</returns>
    /// <exception cref="ArgumentException">The options are not valid.</exception>
    /// <exception cref="StoreLockedException">Another store, in this process or another, has the directory open, or the filesystem cannot lock.</exception>
    /// <exception cref="UnsupportedFormatException">The directory was written by a newer version of the library.</exception>
    /// <exception cref="CorruptDataException">The directory's files are damaged or incomplete (see <see cref="Open(JsonStoreOptions)"/>).</exception>
    /// <exception cref="IndexBuildException">A live document cannot be indexed by a declared index; nothing is changed.</exception>
    /// <exception cref="StorageException">The directory could not be read or created; the message says which step failed. A reader: the directory holds no store (the message names it).</exception>
    /// <exception cref="OperationCanceledException"><paramref name="cancellationToken"/> was canceled before the open started.</exception>
    public static ValueTask<JsonStore> OpenAsync(JsonStoreOptions options, CancellationToken cancellationToken = default)
    {
        cancellationToken.ThrowIfCancellationRequested();
        return ValueTask.FromResult(Open(options));
    }

    /// <summary>Opens a store over a given file layer: the seam where tests inject faults and simulate power loss.</summary>
    internal static JsonStore Open(JsonStoreOptions options, IFileSystem files)
    {
        Validate(options);
        var indexes = ValidateOptions(options);
        var backend = options.Access == JsonStoreAccess.Reader ? JsonBackend.OpenReader(options, indexes, files) : JsonBackend.Open(options, indexes, files);
        return new JsonStore(backend, options, indexes);
    }

    /// <summary>
    /// Sets or clears the read-only fence of the store in <paramref name="directory"/>, whether or not
    /// a process has it open: from another process while the owner runs (the upgrade tool's cut-over),
    /// or with no owner at all. Setting returns once no write can commit any more: the fence file
    /// exists, and every commit the owner had in flight has ended.
    /// </summary>
    /// <param name="directory">The store's data directory.</param>
    /// <param name="readOnly">Whether to set (<see langword="true"/>) or clear the fence.</param>
    /// <param name="cancellationToken">Cancels before the fence is changed.</param>
    /// <returns>A task that completes when the fence is in place (or gone); the file layer is synchronous, so it is complete when this returns.</returns>
    /// <exception cref="ArgumentException"><paramref name="directory"/> is empty.</exception>
    /// <exception cref="StorageException">The directory holds no store, or the fence file could not be written.</exception>
    /// <seealso href="../../docs/json-backend.md#the-read-only-fence"/>
    public static ValueTask SetReadOnlyAsync(string directory, bool readOnly, CancellationToken cancellationToken = default)
        => SetReadOnlyAsync(directory, readOnly, new PosixFileSystem(), cancellationToken);

    /// <summary>Sets or clears the fence over a given file layer (for tests).</summary>
    internal static ValueTask SetReadOnlyAsync(string directory, bool readOnly, IFileSystem files, CancellationToken cancellationToken)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(directory);
        cancellationToken.ThrowIfCancellationRequested();
        ReadOnlyFence.Set(files, Path.GetFullPath(directory), readOnly);
        return ValueTask.CompletedTask;
    }

    private static void Validate(JsonStoreOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        if (string.IsNullOrWhiteSpace(options.Directory))
        {
            throw new ArgumentException(JsonErrors.NoDirectory, nameof(options));
        }

        if (!Enum.IsDefined(options.Durability))
        {
            throw new ArgumentOutOfRangeException(nameof(options), options.Durability, "JsonStoreOptions.Durability must be Full or Relaxed.");
        }

        if (!Enum.IsDefined(options.Access))
        {
            throw new ArgumentOutOfRangeException(nameof(options), options.Access, "JsonStoreOptions.Access must be Owner or Reader.");
        }

        if (options.Access == JsonStoreAccess.Reader && options.Indexes is { Count: > 0 })
        {
            throw new ArgumentException(JsonErrors.ReaderIndexes, nameof(options));
        }
    }
}
