using System.Globalization;
using Microsoft.Data.Sqlite;

namespace Storage.Sqlite.Internal;

/// <summary>The SQLite backend's own messages, and the translation of SQLite's errors by result code (never by message text).</summary>
internal static class SqliteErrors
{
    // Primary result codes (https://sqlite.org/rescode.html).
    public const int Busy = 5;
    public const int Locked = 6;
    public const int Corrupt = 11;
    public const int Full = 13;
    public const int NotADatabase = 26;

    public static string NoPath => "SqliteStoreOptions.Path must name the database file.";

    public static string InvalidBusyTimeout(TimeSpan value) => F("SqliteStoreOptions.BusyTimeout is {0}; it must be between 1 millisecond and 10 minutes.", value);

    public static string InvalidWalSizeLimit(long value) => F("SqliteStoreOptions.WalSizeLimit is {0} bytes; it must be at least {1}.", value, SqliteStoreOptions.MinWalSizeLimit);

    public static string InvalidDurability(DurabilityMode value) => F("SqliteStoreOptions.Durability is {0}; it must be Full or Relaxed.", value);

    public static string DirectoryFailed(string path) => F("Could not create the directory of '{0}'.", path);

    public static string BackupOntoItself => "The backup destination is the store's own database file.";

    public static string NotADatabaseReason => "the file is not a SQLite database";

    public static string ForeignDatabaseReason => "it is a SQLite database, but not a Storage store (it has tables and no storage_meta table); Storage does not add its tables to another application's database";

    public static string MissingFormatVersionReason => "the storage_meta table has no format_version";

    public static string WrongEncodingReason(string encoding) => F("the database's text encoding is {0}; Storage stores keys and values as UTF-8 text (PRAGMA encoding = 'UTF-8') so that keys sort in code-point order", encoding);

    public static string BadEventIdReason(string stream, string text) => F("table events: an event of stream '{0}' has the id '{1}', which is not a GUID in the 'D' form", stream, text);

    public static string DocumentChecksumMismatchReason(string partition, string collection, string key)
        => F("table documents: the document '{1}/{2}' of partition '{0}' does not match its checksum (its value, key, version or times were damaged or changed outside the store)", partition, collection, key);

    public static string EventChecksumMismatchReason(string partition, string stream, long version)
        => F("table events: the event at version {2} of stream '{1}' in partition '{0}' does not match its checksum (its data, metadata, type, id or position were damaged or changed outside the store)", partition, stream, version);

    public static string EntryRefusedReason(string collection, string index) => F("table index_entries refused an entry of index '{0}.{1}' that no other document's entry explains", collection, index);

    public static string IntegrityCheckFailed(string report) => F("PRAGMA integrity_check reported: {0}", report);

    public static string NotWal(string path, string mode) => F("The database '{0}' could not be switched to WAL mode (journal_mode is '{1}'); it must be on a local filesystem that supports shared memory.", path, mode);

    public static string BackupDestinationInUse(string path) => F("The backup destination '{0}' has a -wal, -shm or -journal file beside it: a database there is in use or needs recovery. Choose another destination or close it first.", path);

    public static string BackupFailed(string source, string destination) => F("Backing up '{0}' to '{1}' failed; the destination was not changed.", source, destination);

    /// <summary>Whether the error means another connection holds a lock: retried within the budget, then reported as unavailable.</summary>
    public static bool IsBusy(SqliteException e) => (e.SqliteErrorCode & 0xFF) is Busy or Locked;

    /// <summary>Translates a SQLite error into the contract's exceptions, keeping it as the inner exception.</summary>
    public static StorageException Translate(SqliteException e, string path) => (e.SqliteErrorCode & 0xFF) switch
    {
        Busy or Locked => new StoreUnavailableException(F("The database '{0}' stayed locked by another connection or process past the busy timeout (SQLite result code {1}).", path, e.SqliteErrorCode), e),
        Corrupt => new CorruptDataException(path, F("SQLite reports the database disk image is malformed (result code {0})", e.SqliteExtendedErrorCode), e),
        NotADatabase => new CorruptDataException(path, NotADatabaseReason, e),
        Full => new StorageException(F("The disk holding '{0}' is full (SQLite result code {1}); the operation was not applied.", path, e.SqliteErrorCode), e),
        _ => new StorageException(F("SQLite failed on '{0}' with result code {1} (extended {2}).", path, e.SqliteErrorCode, e.SqliteExtendedErrorCode), e),
    };

    private static string F(string format, params object?[] args) => string.Format(CultureInfo.InvariantCulture, format, args);
}
