namespace Storage.Memory;

/// <summary>How a <see cref="MemoryStore"/> behaves.</summary>
/// <seealso href="../../docs/memory-backend.md"/>
public sealed class MemoryStoreOptions
{
    /// <summary>The clock that decides expiry and timestamps. Defaults to <see cref="TimeProvider.System"/>; tests pass a fake one.</summary>
    public TimeProvider TimeProvider { get; set; } = TimeProvider.System;

    /// <summary>
    /// How long the change feed keeps the tombstone of a deleted document; <see cref="IStore.PurgeExpiredAsync"/>
    /// drops older ones. Defaults to <see cref="StoreLimits.DefaultTombstoneRetention"/> (7 days).
    /// </summary>
    public TimeSpan TombstoneRetention { get; set; } = StoreLimits.DefaultTombstoneRetention;

    /// <summary>The secondary indexes to keep (see <see cref="IndexDefinition"/>); none by default.</summary>
    public IReadOnlyList<IndexDefinition> Indexes { get; set; } = [];
}
