using Microsoft.Data.Sqlite;
using Storage.Sqlite.Internal;

namespace Storage.Sqlite;

/// <summary>
/// The SQLite backend: one database file in WAL mode. Every write runs in a <c>BEGIN IMMEDIATE</c>
/// transaction; concurrent writers of this store are coalesced into one transaction and one sync
/// (group commit), each with its own savepoint, condition checks and result. Many stores, in this
/// process or in other processes of the same machine, may share one file: SQLite serializes their
/// writes, and a writer that finds the database locked waits up to <see cref="SqliteStoreOptions.BusyTimeout"/>.
/// </summary>
/// <remarks>
/// <para>
/// Microsoft.Data.Sqlite is synchronous underneath, so operations run synchronously on the calling
/// thread and are exposed as <see cref="ValueTask"/> without any <c>Task.Run</c>. The store owns its
/// connections (no connection pool is shared across stores); disposing it waits for running
/// operations, closes every one of them and releases the file. The store is the engine
/// (<see cref="Store"/>) over a <see cref="SqliteBackend"/>: the engine checks, queues and decides;
/// the backend reads and persists.
/// </para>
/// <para>
/// <b>Bulk import</b> (<see cref="Store.ImportAsync"/>): each partition is one request to the group
/// commit, up to 16 consecutive partitions at once (each on a thread of its own, so that group commit
/// merges them into one transaction and one sync), so the import holds at most 16 partitions in
/// memory, and when a partition fails at most 15 of those after it are imported. A partition that
/// does not exist yet is written with plain inserts (it can hold nothing to check or replace); one
/// that exists commits as a <see cref="Store.CommitAsync"/> of must-not-exist puts would.
/// </para>
/// <para>
/// <b>Reads</b>: <see cref="Store.ReadStreamAsync"/> reads the stream's version and its events in one
/// read transaction (one snapshot). <see cref="Store.ReadChangesAsync"/> reads the partition's
/// revision and oldest resumable revision, then the candidates in feed order (one query over
/// documents, tombstones, events and sequences, each by its revision index), in one read
/// transaction: a page never mixes two states of the partition. <see cref="Store.ReadChangedPartitionsAsync"/>
/// reads the store's last position, then the live partitions and the marks of deleted ones after the
/// asked position (each by its position index, merged), in one read transaction; every write
/// transaction gives the partitions it changes one position above every earlier one.
/// </para>
/// <para>
/// <b>Index queries</b>: <see cref="Store.QueryAsync"/> is one range scan of the index's entries (the
/// primary key across partitions, or <c>index_entries_by_partition</c> in one partition), in the
/// query's order; entries of expired documents are skipped (each entry carries its document's
/// expiry, compared with the store's clock), each other entry is joined to its document by primary
/// key, and the scan stops after <c>Limit + 1</c> matches: one statement. <see cref="Store.CountAsync"/>
/// counts the entries of such a scan whose documents are live, by the expiry each entry carries, in
/// one statement: the documents are not read. Only when a query finds nothing (a count of 0) does the
/// store check that the index still has the id this instance opened with (a dropped or changed index
/// has no entries): both throw <see cref="IndexDeclarationsChangedException"/> when another instance
/// dropped or changed the index since this one opened.
/// </para>
/// <para>
/// <b>Purge</b>: <see cref="Store.PurgeExpiredAsync"/> removes every expired document of the store,
/// and drops the tombstones and the marks of deleted partitions older than <see cref="StoreOptions.TombstoneRetention"/>, in one transaction.
/// </para>
/// </remarks>
/// <seealso href="../../docs/sqlite-backend.md"/>
public sealed class SqliteStore : Store
{
    /// <summary>How many partitions of a bulk import commit at once (<see cref="SqliteBackend.ImportInFlight"/>).</summary>
    internal const int ImportInFlight = SqliteBackend.ImportInFlight;

    private readonly SqliteBackend _backend;

    private SqliteStore(SqliteBackend backend, SqliteStoreOptions options)
        : base(backend, options, backend.Indexes.Catalog)
    {
        _backend = backend;
    }

    /// <summary>The full path of the database file.</summary>
    public string Path => _backend.Path;

    /// <summary>For tests: called after each group transaction has committed, with its writes in the order they applied.</summary>
    internal Action<IReadOnlyList<PendingWrite>>? GroupCommitted
    {
        get => _backend.GroupCommitted;
        set => _backend.GroupCommitted = value;
    }

    /// <summary>For tests: how many WAL-truncating checkpoints succeeded.</summary>
    internal int TruncatedCheckpoints => _backend.TruncatedCheckpoints;

    /// <summary>For tests: how many WAL-truncating checkpoints readers or other processes held off.</summary>
    internal int BlockedCheckpoints => _backend.BlockedCheckpoints;

    /// <summary>For tests: the catalog generation this instance opened with (its writes need the file to still have it).</summary>
    internal long IndexGeneration => _backend.Indexes.Generation;

    /// <summary>For tests: how many times a commit looked at the WAL's size.</summary>
    internal int WalSizeLooks => _backend.WalSizeLooks;

    /// <summary>For tests: whether commits check the WAL size and truncate it (on by default).</summary>
    internal bool BoundWal
    {
        get => _backend.BoundWal;
        set => _backend.BoundWal = value;
    }

    /// <summary>Opens (or creates) a store in a database file, bringing its schema up to date.</summary>
    /// <param name="options">The file and settings.</param>
    /// <returns>The open store; dispose it to close its connections and release the file.</returns>
    /// <exception cref="ArgumentException">The options are not valid (an index is declared twice, for instance).</exception>
    /// <exception cref="IndexBuildException">The existing documents cannot be indexed by a new or changed index declaration; nothing was changed and the file is released.</exception>
    /// <exception cref="UnsupportedFormatException">The database was written by a newer version of the library; nothing was changed.</exception>
    /// <exception cref="CorruptDataException">The file is not a SQLite database, is another application's database, or fails <c>PRAGMA integrity_check</c> (with <see cref="SqliteStoreOptions.CheckIntegrityOnOpen"/>).</exception>
    /// <exception cref="StoreUnavailableException">Another process held the database locked past the busy timeout.</exception>
    /// <exception cref="StorageException">The file could not be opened or created.</exception>
    /// <remarks>
    /// Synchronous, kept for existing callers; <see cref="OpenAsync"/> is the same open with the
    /// signature every backend shares.
    /// </remarks>
    public static SqliteStore Open(SqliteStoreOptions options) => Open(options, Schema.Migrations);

    /// <summary>
    /// Opens (or creates) a store in a database file, bringing its schema up to date:
    /// <see cref="Open(SqliteStoreOptions)"/> with the signature every backend shares. Microsoft.Data.Sqlite
    /// is synchronous, so the open runs on the calling thread and the task is complete when this returns.
    /// </summary>
    /// <param name="options">The file and settings.</param>
    /// <param name="cancellationToken">Cancels the open before it starts.</param>
    /// <returns>The open store; dispose it to close its connections and release the file.</returns>
    /// <exception cref="ArgumentException">The options are not valid (an index is declared twice, for instance).</exception>
    /// <exception cref="IndexBuildException">The existing documents cannot be indexed by a new or changed index declaration; nothing was changed and the file is released.</exception>
    /// <exception cref="UnsupportedFormatException">The database was written by a newer version of the library; nothing was changed.</exception>
    /// <exception cref="CorruptDataException">The file is not a SQLite database, is another application's database, or fails <c>PRAGMA integrity_check</c> (with <see cref="SqliteStoreOptions.CheckIntegrityOnOpen"/>).</exception>
    /// <exception cref="StoreUnavailableException">Another process held the database locked past the busy timeout.</exception>
    /// <exception cref="StorageException">The file could not be opened or created.</exception>
    /// <exception cref="OperationCanceledException"><paramref name="cancellationToken"/> was canceled before the open started.</exception>
    public static ValueTask<SqliteStore> OpenAsync(SqliteStoreOptions options, CancellationToken cancellationToken = default)
    {
        cancellationToken.ThrowIfCancellationRequested();
        return ValueTask.FromResult(Open(options));
    }

    /// <summary>Opens a store with a given list of migrations: the seam where tests add steps.</summary>
    internal static SqliteStore Open(SqliteStoreOptions options, IReadOnlyList<Migration> migrations)
    {
        var backend = SqliteBackend.Open(options, migrations);
        return new SqliteStore(backend, options);
    }

    /// <summary>
    /// Runs <c>PRAGMA integrity_check</c> over the whole database, in a read transaction (writers go
    /// on meanwhile). Reads every page, so it takes time on a large file.
    /// </summary>
    /// <param name="cancellationToken">Cancels the check before it starts.</param>
    /// <returns>A task that completes when the check has passed.</returns>
    /// <exception cref="CorruptDataException">The check found damage; <see cref="CorruptDataException.Reason"/> holds SQLite's report.</exception>
    /// <exception cref="StoreUnavailableException">The database stayed locked past the busy timeout.</exception>
    public ValueTask CheckIntegrityAsync(CancellationToken cancellationToken = default)
    {
        cancellationToken.ThrowIfCancellationRequested();
        using var scope = EnterOperation();
        _backend.CheckIntegrity();
        return ValueTask.CompletedTask;
    }

    /// <summary>
    /// Copies the database to <paramref name="destinationPath"/> with SQLite's online backup, from
    /// one consistent snapshot, while writers go on. The copy is written to a temporary file beside
    /// the destination, switched to a self-contained single file (<c>journal_mode = DELETE</c>),
    /// synced, and only then renamed over the destination: the destination holds either its old
    /// content or the complete copy. Open the copy with <see cref="Open(SqliteStoreOptions)"/> or any SQLite client.
    /// </summary>
    /// <param name="destinationPath">The file to write; replaced if it exists and is not in use.</param>
    /// <param name="cancellationToken">Cancels the backup before it starts.</param>
    /// <returns>A task that completes when the copy is in place.</returns>
    /// <exception cref="ArgumentException"><paramref name="destinationPath"/> is empty or is the store's own file.</exception>
    /// <exception cref="StorageException">The destination is in use (it has a -wal, -shm or -journal file), or the copy could not be written.</exception>
    public ValueTask BackupAsync(string destinationPath, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(destinationPath);
        var destination = System.IO.Path.GetFullPath(destinationPath);
        if (string.Equals(destination, Path, StringComparison.Ordinal))
        {
            throw new ArgumentException(SqliteErrors.BackupOntoItself, nameof(destinationPath));
        }

        cancellationToken.ThrowIfCancellationRequested();
        using var scope = EnterOperation();
        _backend.Backup(destination);
        return ValueTask.CompletedTask;
    }

    /// <summary>For tests: rents a reader connection, as operations do, and runs <paramref name="action"/> on it.</summary>
    internal T WithReader<T>(Func<SqliteConnection, T> action)
    {
        using var scope = EnterOperation();
        return _backend.WithReader(action);
    }

    /// <summary>For tests: runs <paramref name="action"/> on the writer connection, in the group commit's turn.</summary>
    internal ValueTask<T> WithWriterAsync<T>(Func<SqliteConnection, T> action)
        => RunInTurnAsync(string.Empty, () => _backend.WithWriter(action));
}
