using System.Diagnostics.Metrics;
using Microsoft.Extensions.Logging;
using Npgsql;
using Storage.Json;

namespace Storage.Hosting;

/// <summary>
/// A store of any backend, described the same way whichever it is: by an <see cref="Address"/>, or by
/// a <see cref="Backend"/> with its <see cref="Path"/> or <see cref="ConnectionString"/>, plus the
/// settings every backend shares. Bound from the <c>Storage</c> configuration section by
/// <c>AddStorage</c> (every key is documented in docs/configuration.md), adjusted in code by its
/// callback, and opened by <see cref="StoreFactory.OpenAsync(StorageOptions, CancellationToken)"/>.
/// </summary>
/// <remarks>
/// A setting that only one backend has (<see cref="Access"/>, <see cref="BusyTimeout"/>, <see cref="RetryBudget"/>,
/// <see cref="Schema"/>, <see cref="HashPartitions"/>, <see cref="DataSource"/>) is refused for
/// another backend rather than ignored, so a configuration that changes backend says what no longer applies.
/// </remarks>
/// <seealso href="../../docs/configuration.md"/>
public sealed class StorageOptions
{
    /// <summary>
    /// The store's address (<c>json:./data</c>, <c>sqlite:./app.db</c>, <c>postgres:Host=…</c>,
    /// <c>memory:</c>; see <see cref="StoreAddress"/>). Give either this, or <see cref="Backend"/> with
    /// <see cref="Path"/> or <see cref="ConnectionString"/>.
    /// </summary>
    public string? Address { get; set; }

    /// <summary>The backend, when the store is not given by <see cref="Address"/>.</summary>
    public StoreBackend? Backend { get; set; }

    /// <summary>
    /// The data directory (JSON) or the database file (SQLite). A relative path is taken from the
    /// host's content root under <c>AddStorage</c>, from the current directory otherwise.
    /// </summary>
    public string? Path { get; set; }

    /// <summary>
    /// The Npgsql connection string (PostgreSQL). Under <c>AddStorage</c>, leave it out to use the
    /// <see cref="NpgsqlDataSource"/> registered in the services (keyed by the store's name for a keyed store).
    /// Its password never appears in a message.
    /// </summary>
    public string? ConnectionString { get; set; }

    /// <summary>A data source you built (PostgreSQL); the store uses it and never disposes it. Not with <see cref="ConnectionString"/>.</summary>
    public NpgsqlDataSource? DataSource { get; set; }

    /// <summary>The PostgreSQL schema of the store's tables; <see langword="null"/> for <c>storage</c> (or the address's <c>Schema</c>).</summary>
    public string? Schema { get; set; }

    /// <summary>What a completed write survives; <see cref="DurabilityMode.Full"/> by default. The memory backend keeps nothing, whichever is set.</summary>
    public DurabilityMode Durability { get; set; } = DurabilityMode.Full;

    /// <summary>How long tombstones are kept for the change feed (<see cref="StoreOptions.TombstoneRetention"/>); must not be negative.</summary>
    public TimeSpan TombstoneRetention { get; set; } = StoreLimits.DefaultTombstoneRetention;

    /// <summary>
    /// JSON only: whether the store owns its directory (<see cref="JsonStoreAccess.Owner"/>) or reads it
    /// beside the process that owns it (<see cref="JsonStoreAccess.Reader"/>: no lock, nothing written,
    /// every write refused with <see cref="InvalidOperationException"/>; not with <see cref="ReadOnly"/>
    /// nor indexes). <see langword="null"/> for the owner.
    /// </summary>
    /// <seealso href="../../docs/json-backend.md#reading-from-a-second-process"/>
    public JsonStoreAccess? Access { get; set; }

    /// <summary>SQLite only: how long to wait for a lock another connection holds; <see langword="null"/> for the backend's default (10 seconds).</summary>
    public TimeSpan? BusyTimeout { get; set; }

    /// <summary>PostgreSQL only: how long transient failures are retried; <see langword="null"/> for the backend's default (30 seconds).</summary>
    public TimeSpan? RetryBudget { get; set; }

    /// <summary>PostgreSQL only: into how many hash partitions a new schema's tables are split; <see langword="null"/> for plain tables.</summary>
    public int? HashPartitions { get; set; }

    /// <summary>
    /// Whether to set the store's read-only fence when it opens (<see cref="IStoreFence"/>): every write
    /// then fails with <see cref="StoreReadOnlyException"/>, in this app and any other instance, until
    /// the fence is cleared. <see langword="false"/> (the default) leaves the fence as the store keeps
    /// it: an app restarting during the upgrade tool's cut-over does not clear the tool's fence.
    /// </summary>
    public bool ReadOnly { get; set; }

    /// <summary>
    /// How often the host purges the store (<see cref="IStore.PurgeExpiredAsync"/>: expired documents, old
    /// tombstones and marks), on the store's clock, from the host's start to its stop; <see langword="null"/>
    /// (the default) never — the app purges when it likes. <c>Storage:PurgeInterval</c>, from 1 second to
    /// 1 day. A purge that fails is logged (a warning) and tried again at the next interval.
    /// </summary>
    public TimeSpan? PurgeInterval { get; set; }

    /// <summary>The secondary indexes, from configuration (<c>Storage:Indexes</c>) and code alike: add to the list in the options callback.</summary>
    public IList<IndexDefinition> Indexes { get; } = [];

    /// <summary>
    /// Opens with the index declarations the store keeps instead of <see cref="Indexes"/>, which must be empty
    /// (<see cref="StoreOptions.KeepStoredIndexes"/>): for tools that open a store an app owns. Code only.
    /// </summary>
    public bool KeepStoredIndexes { get; set; }

    /// <summary>The store's clock. Under <c>AddStorage</c>, the <see cref="System.TimeProvider"/> registered in the services, if any; else the system clock.</summary>
    public TimeProvider TimeProvider { get; set; } = TimeProvider.System;

    /// <summary>Where the store logs. Under <c>AddStorage</c>, the host's logger factory.</summary>
    public ILoggerFactory? LoggerFactory { get; set; }

    /// <summary>
    /// What creates the store's meter (<see cref="StoreOptions.MeterFactory"/>). Under <c>AddStorage</c>, the
    /// <see cref="IMeterFactory"/> registered in the services (a host registers one), so the store's
    /// metrics belong to the host's container; <see langword="null"/>: the library's own meter.
    /// </summary>
    public IMeterFactory? MeterFactory { get; set; }

    /// <summary>Whether spans carry the partition key (<see cref="StoreOptions.TracePartitionKeys"/>); never on metrics. Off by default.</summary>
    public bool TracePartitionKeys { get; set; }

    /// <summary>What reading the configuration section found wrong, each message naming its key: reported by validation, with the rest.</summary>
    internal List<string> ConfigurationErrors { get; } = [];
}
