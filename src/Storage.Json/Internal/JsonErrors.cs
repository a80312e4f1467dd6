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
        "Could not lock '{0}': the filesystem does not support locks (flock). The store refuses to open without a lock, since two writers would lose updates.",
        path);

    public static string NoDirectory => "JsonStoreOptions.Directory must name the data directory.";

    public static string WriteFailed(string path) => string.Format(CultureInfo.InvariantCulture, "Writing '{0}' failed; the write was not acknowledged and may or may not be on disk.", path);

    public static string ReadFailed(string path) => string.Format(CultureInfo.InvariantCulture, "Reading '{0}' failed.", path);

    public static string ManifestMissing => "the directory holds partition files but no manifest (storage.json)";
}
