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

    /// <summary>The secondary indexes to keep (see <see cref="IndexDefinition"/>); none by default. Added indexes are built at open, removed ones dropped.</summary>
    public IReadOnlyList<IndexDefinition> Indexes { get; set; } = [];

    /// <summary>What a completed write survives. Defaults to <see cref="DurabilityMode.Full"/>.</summary>
    public DurabilityMode Durability { get; set; } = DurabilityMode.Full;
}
