using System.Diagnostics.Metrics;

namespace Storage;

/// <summary>
/// What every backend's options share: the clock, how long tombstones are kept, and the secondary
/// indexes. Each backend's options (<c>JsonStoreOptions</c>, <c>SqliteStoreOptions</c>,
/// <c>PostgresStoreOptions</c>, <c>MemoryStoreOptions</c>) derive from it and add their own; the
/// engine validates these members once, when a store opens.
/// </summary>
/// <seealso href="../../docs/architecture.md"/>
public abstract class StoreOptions
{
    /// <summary>
    /// The clock that decides expiry and timestamps (never a server's or the file system's clock).
    /// Defaults to <see cref="TimeProvider.System"/>; tests pass a fake one. Must not be <see langword="null"/>.
    /// </summary>
    public TimeProvider TimeProvider { get; set; } = TimeProvider.System;

    /// <summary>
    /// How long the change feed keeps the tombstone of a deleted document; <see cref="IStore.PurgeExpiredAsync"/>
    /// drops older ones. Defaults to <see cref="StoreLimits.DefaultTombstoneRetention"/> (7 days); must not be negative.
    /// </summary>
    public TimeSpan TombstoneRetention { get; set; } = StoreLimits.DefaultTombstoneRetention;

    /// <summary>
    /// The secondary indexes to keep (see <see cref="IndexDefinition"/>); none by default. Each
    /// (collection, name) may be declared once. How and when a backend builds them is described on
    /// its options class.
    /// </summary>
    public IReadOnlyList<IndexDefinition> Indexes { get; set; } = [];

    /// <summary>
    /// Opens the store with the index declarations it keeps, whatever they are, instead of
    /// <see cref="Indexes"/> (which must then be empty): nothing is built or dropped, and writes keep those
    /// indexes and their unique values as the app's own instances do. For tools and scripts that open a
    /// store an app owns without knowing its declarations — the app's indexes stay as they are (an open
    /// with <see cref="Indexes"/> empty would drop them). SQLite and PostgreSQL keep declarations; a JSON
    /// or in-memory store keeps none (a JSON store builds its indexes in memory at each open), so it opens
    /// without indexes. Off by default.
    /// </summary>
    /// <seealso href="../../docs/indexes.md"/>
    public bool KeepStoredIndexes { get; set; }

    /// <summary>
    /// Whether the store's trace spans carry the partition key (attribute <c>storage.partition</c>).
    /// Off by default: a partition key is often an e-mail address or a user id. Metrics never carry it,
    /// whatever this says, and no value is ever recorded.
    /// </summary>
    /// <seealso href="../../docs/observability.md"/>
    public bool TracePartitionKeys { get; set; }

    /// <summary>
    /// Where the store's <see cref="Meter"/> comes from: the application's <see cref="IMeterFactory"/>
    /// (from dependency injection), so that its meters are scoped to the container; when
    /// <see langword="null"/> (the default) the store uses a meter of its own, named as the factory's
    /// would be.
    /// </summary>
    /// <seealso href="../../docs/observability.md"/>
    public IMeterFactory? MeterFactory { get; set; }
}
