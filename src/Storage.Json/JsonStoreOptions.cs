using Microsoft.Extensions.Logging;

namespace Storage.Json;

/// <summary>Where and how a <see cref="JsonStore"/> keeps its files.</summary>
/// <remarks>
/// The JSON backend keeps the secondary indexes (<see cref="StoreOptions.Indexes"/>) in memory: with
/// at least one declared, open reads every partition and builds them (logged through
/// <see cref="LoggerFactory"/>), and the store keeps every partition in memory; without any,
/// partitions are read on first use. Nothing index-related is written, so adding, changing or
/// removing a declaration takes effect at the next open (see
/// <see href="../../docs/json-backend.md#secondary-indexes">secondary indexes</see>).
/// </remarks>
/// <seealso href="../../docs/json-backend.md"/>
public sealed class JsonStoreOptions : StoreOptions
{
    /// <summary>
    /// The data directory. Created if missing; owned by one store at a time (a lock file inside it),
    /// beside which any number of readers (<see cref="Access"/>) may read it.
    /// The same name as <c>SqliteStoreOptions.Path</c> and the <c>Path</c> key of the <c>Storage</c>
    /// configuration section; <see cref="Directory"/> is the same setting under its older name.
    /// </summary>
    public string Path
    {
        get => Directory;
        set => Directory = value;
    }

    /// <summary>The data directory: the same setting as <see cref="Path"/>, under its older name, kept for existing callers.</summary>
    public string Directory { get; set; } = string.Empty;

    /// <summary>
    /// Where the store logs: the build of each declared index at open (a start line, progress every
    /// 100,000 documents, a summary with the time taken). <see langword="null"/> (the default) for
    /// no logging. Document values are never logged.
    /// </summary>
    public ILoggerFactory? LoggerFactory { get; set; }

    /// <summary>What a completed write survives. Defaults to <see cref="DurabilityMode.Full"/>.</summary>
    public DurabilityMode Durability { get; set; } = DurabilityMode.Full;

    /// <summary>
    /// Whether the store owns the directory (<see cref="JsonStoreAccess.Owner"/>, the default: it takes
    /// the lock, and reads and writes) or reads it beside its owner (<see cref="JsonStoreAccess.Reader"/>:
    /// no lock, nothing written, nothing cached, no indexes; see
    /// <see href="../../docs/json-backend.md#reading-from-a-second-process">reading from a second process</see>).
    /// </summary>
    public JsonStoreAccess Access { get; set; } = JsonStoreAccess.Owner;
}
