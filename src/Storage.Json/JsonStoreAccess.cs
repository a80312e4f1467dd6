namespace Storage.Json;

/// <summary>How a <see cref="JsonStore"/> opens its directory: as the one process that owns and writes it, or as a reader beside that owner.</summary>
/// <seealso href="../../docs/json-backend.md#reading-from-a-second-process"/>
public enum JsonStoreAccess
{
    /// <summary>
    /// The default: the store owns the directory — creates it if missing, takes its lock (a second
    /// owner, in this process or another, gets <see cref="StoreLockedException"/>), and reads and writes.
    /// </summary>
    Owner = 0,

    /// <summary>
    /// The store reads a directory that another process (or none) owns, while that owner writes: it
    /// takes no lock and writes nothing — not even at open — so any number of readers run beside the
    /// owner. Every read of a partition reads its file (one committed state of the partition, since
    /// commits replace files by an atomic rename), and nothing is cached; every write fails with
    /// <see cref="InvalidOperationException"/>. A reader declares no indexes, and a directory without
    /// a store is an error.
    /// </summary>
    Reader = 1,
}
