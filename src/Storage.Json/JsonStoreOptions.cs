using Microsoft.Extensions.Logging;

namespace Storage.Json;

/// <summary>Where and how a <see cref="JsonStore"/> keeps its files.</summary>
/// <seealso href="../../docs/json-backend.md"/>
public sealed class JsonStoreOptions
{
    /// <summary>The data directory. Created if missing; owned by one store at a time (a lock file inside it).</summary>
    public string Directory { get; set; } = string.Empty;

    /// <summary>The clock that decides expiry and timestamps. Defaults to <see cref="TimeProvider.System"/>.</summary>
    public TimeProvider TimeProvider { get; set; } = TimeProvider.System;

    /// <summary>
    /// How long the change feed keeps the tombstone of a deleted document; <see cref="IStore.PurgeExpiredAsync"/>
    /// drops older ones. Defaults to <see cref="StoreLimits.DefaultTombstoneRetention"/> (7 days).
    /// </summary>
    public TimeSpan TombstoneRetention { get; set; } = StoreLimits.DefaultTombstoneRetention;

    /// <summary>
    /// The secondary indexes to keep (see <see cref="IndexDefinition"/>); none by default. The JSON
    /// backend keeps them in memory: with at least one declared, open reads every partition and
    /// builds them (logged through <see cref="LoggerFactory"/>), and the store keeps every partition
    /// in memory; without any, partitions are read on first use. Nothing index-related is written,
    /// so adding, changing or removing a declaration takes effect at the next open.
    /// </summary>
    /// <seealso href="../../docs/json-backend.md#secondary-indexes"/>
    public IReadOnlyList<IndexDefinition> Indexes { get; set; } = [];

    /// <summary>
    /// Where the store logs: the build of each declared index at open (a start line, progress every
    /// 100,000 documents, a summary with the time taken). <see langword="null"/> (the default) for
    /// no logging. Document values are never logged.
    /// </summary>
    public ILoggerFactory? LoggerFactory { get; set; }

    /// <summary>What a completed write survives. Defaults to <see cref="DurabilityMode.Full"/>.</summary>
    public DurabilityMode Durability { get; set; } = DurabilityMode.Full;
}
