using System.Globalization;

namespace Storage.Json.Internal;

/// <summary>The JSON backend's own messages, in one place.</summary>
internal static class JsonErrors
{
    public static string Locked(string path) => string.Format(
        CultureInfo.InvariantCulture,
        "The store directory is already open: '{0}' is locked by another JsonStore, in this process or another. Only one store may own a directory at a time; dispose the other one first.",
        path);

    public static string LockUnavailable(string path) => string.Format(
        CultureInfo.InvariantCulture,
        "Could not lock '{0}': the filesystem does not support locks (fcntl F_OFD_SETLK). The store refuses to open without a lock, since two writers would lose updates.",
        path);

    public static string NoDirectory => "JsonStoreOptions.Directory must name the data directory.";

    public static string WriteFailed(string path) => string.Format(CultureInfo.InvariantCulture, "Writing '{0}' failed; the write was not acknowledged and may or may not be on disk.", path);

    public static string ReadFailed(string path) => string.Format(CultureInfo.InvariantCulture, "Reading '{0}' failed.", path);

    public static string ManifestMissing => "the directory holds partition files but no manifest (storage.json)";

    public static string PartitionsMissing => "the directory holds a manifest (storage.json) but no 'partitions' directory, so its partition files were removed from outside the store (opened, it would look empty and reuse their versions; if the store really is empty, create an empty 'partitions' directory)";

    public static string CreatingDirectoryFailed(string path) => string.Format(CultureInfo.InvariantCulture, "Creating the directory '{0}' failed.", path);

    public static string OpeningLockFileFailed(string path) => string.Format(CultureInfo.InvariantCulture, "Opening the lock file '{0}' failed.", path);

    public static string CreatingManifestFailed(string path) => string.Format(CultureInfo.InvariantCulture, "Creating the manifest '{0}' failed.", path);

    public static string OpeningJournalFailed(string path) => string.Format(CultureInfo.InvariantCulture, "Opening the journal of changed partitions '{0}' failed.", path);

    public static string ListingFailed(string path) => string.Format(CultureInfo.InvariantCulture, "Listing the files of '{0}' failed.", path);

    public static string RemovingTempFilesFailed(string path) => string.Format(CultureInfo.InvariantCulture, "Removing the temporary files an interrupted write left in '{0}' failed.", path);

    public static string NoStore(string path) => string.Format(CultureInfo.InvariantCulture, "'{0}' holds no JSON store (no manifest, storage.json): open the store there first.", path);

    public static string ReaderIndexes => "JsonStoreOptions.Indexes must be empty when JsonStoreOptions.Access is Reader: a reader caches nothing, so it keeps no in-memory indexes (they would go stale while the owner writes). Query the indexes through the store's owner.";

    public static string UnresolvedFile => "the file name is not a partition file name, or its partition key cannot be read";
}
