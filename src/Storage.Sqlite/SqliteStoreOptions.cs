using Microsoft.Extensions.Logging;

namespace Storage.Sqlite;

/// <summary>Where and how a <see cref="SqliteStore"/> keeps its database.</summary>
/// <remarks>
/// The secondary indexes (<see cref="StoreOptions.Indexes"/>) are kept in the file: at open, in one
/// write transaction, an added or changed index is built from the live documents and a removed one
/// dropped; a store whose documents cannot be indexed refuses to open with
/// <see cref="IndexBuildException"/> and is left unchanged. Every store instance on one file must
/// declare the same indexes: an instance whose declarations another open has replaced gets
/// <see cref="IndexDeclarationsChangedException"/> on its next write.
/// </remarks>
/// <seealso href="../../docs/sqlite-backend.md"/>
public sealed class SqliteStoreOptions : StoreOptions
{
    /// <summary>The smallest <see cref="WalSizeLimit"/> accepted: 64 KiB.</summary>
    public const long MinWalSizeLimit = 64 * 1024;

    /// <summary>
    /// The database file. Created (with its directory) if missing. Several stores, in this process or
    /// in other processes of the same machine, may open the same file at once; SQLite serializes
    /// their writes. The file's directory must be on a local filesystem (SQLite's WAL mode needs
    /// shared memory, which network filesystems do not provide).
    /// </summary>
    public string Path { get; set; } = string.Empty;

    /// <summary>
    /// Where the store logs; <see langword="null"/> (the default) for nowhere. At open it logs each
    /// index it builds (a start line, progress every 100,000 documents, a summary) or drops, under the
    /// category <c>Storage.Sqlite.SqliteStore</c>. Document values are never logged.
    /// </summary>
    public ILoggerFactory? LoggerFactory { get; set; }

    /// <summary>
    /// What a completed write survives. Defaults to <see cref="DurabilityMode.Full"/>
    /// (<c>PRAGMA synchronous = FULL</c>: the WAL is synced at every commit, so a completed write
    /// survives a power loss). <see cref="DurabilityMode.Relaxed"/> sets <c>synchronous = NORMAL</c>:
    /// still safe against the process being killed and never corrupting, but the last committed
    /// transactions may be lost on a power loss or kernel crash.
    /// </summary>
    public DurabilityMode Durability { get; set; } = DurabilityMode.Full;

    /// <summary>
    /// How long an operation waits for another connection or process that holds the database lock
    /// (SQLite's busy timeout, plus the driver's retries, rounded up to whole seconds) before it
    /// fails with <see cref="StoreUnavailableException"/>. Defaults to 10 seconds; 1 millisecond to 10 minutes.
    /// </summary>
    public TimeSpan BusyTimeout { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>
    /// The size, in bytes, above which the write-ahead log is checkpointed and truncated after a
    /// commit (<c>wal_checkpoint(TRUNCATE)</c>), and to which it is cut back whenever it restarts
    /// (<c>journal_size_limit</c>). Bounds the WAL even under a constant stream of readers, as long
    /// as each read transaction is short. Defaults to 64 MiB; at least <see cref="MinWalSizeLimit"/>.
    /// </summary>
    public long WalSizeLimit { get; set; } = 64L * 1024 * 1024;

    /// <summary>
    /// Whether <see cref="SqliteStore.Open(SqliteStoreOptions)"/> runs <c>PRAGMA integrity_check</c>
    /// over the whole file and refuses to open a damaged one with <see cref="CorruptDataException"/>.
    /// Reads every page, so it takes time on large files. Defaults to <see langword="false"/>; see
    /// also <see cref="SqliteStore.CheckIntegrityAsync(CancellationToken)"/>.
    /// </summary>
    public bool CheckIntegrityOnOpen { get; set; }
}
