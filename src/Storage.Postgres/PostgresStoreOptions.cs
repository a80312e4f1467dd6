using Microsoft.Extensions.Logging;
using Npgsql;

namespace Storage.Postgres;

/// <summary>Which PostgreSQL server a <see cref="PostgresStore"/> uses, in which schema, and how it behaves.</summary>
/// <remarks>
/// Give either <see cref="ConnectionString"/> (the store builds and owns its data source) or
/// <see cref="DataSource"/> (yours: the store uses it and never disposes it). A multi-host
/// connection string (<c>Host=db1,db2</c>) works: writes always go to the primary. The clock
/// (<see cref="StoreOptions.TimeProvider"/>) is the store's, not the server's <c>now()</c>.
/// <para>
/// At open, a secondary index (<see cref="StoreOptions.Indexes"/>) that is new or declared
/// differently is built from the live documents and one no longer declared is dropped, in the open's
/// transaction; every instance of one store must declare the same indexes (an instance whose
/// declarations another changed since refuses to write with <see cref="IndexDeclarationsChangedException"/>).
/// </para>
/// </remarks>
/// <seealso href="../../docs/postgres-backend.md"/>
public sealed class PostgresStoreOptions : StoreOptions
{
    /// <summary>The default <see cref="Schema"/>.</summary>
    public const string DefaultSchema = "storage";

    /// <summary>The largest <see cref="HashPartitions"/>.</summary>
    public const int MaxHashPartitions = 1024;

    /// <summary>The longest <see cref="RetryBudget"/>; the commit log keeps operation ids far longer than this.</summary>
    public static TimeSpan MaxRetryBudget { get; } = TimeSpan.FromMinutes(10);

    /// <summary>
    /// An Npgsql connection string. Multi-host strings (<c>Host=db1:5432,db2:5432</c>) are supported;
    /// writes go to the primary whatever <c>Target Session Attributes</c> says. Never logged, and its
    /// password never appears in an error message. Leave <see langword="null"/> when you give <see cref="DataSource"/>.
    /// </summary>
    public string? ConnectionString { get; set; }

    /// <summary>
    /// A data source you built (for example with <see cref="NpgsqlDataSourceBuilder"/>, to add logging
    /// or authentication callbacks). The store does not dispose it. Leave <see langword="null"/> when
    /// you give <see cref="ConnectionString"/>.
    /// </summary>
    public NpgsqlDataSource? DataSource { get; set; }

    /// <summary>
    /// The PostgreSQL schema that holds the store's tables; created on open if missing. 1 to 63 ASCII
    /// letters, digits or '_', starting with a letter or '_', not starting with <c>pg_</c>. Defaults to
    /// <see cref="DefaultSchema"/>. One schema is one store: two stores on one schema share their data.
    /// </summary>
    public string Schema { get; set; } = DefaultSchema;

    /// <summary>
    /// How long an operation keeps retrying transient failures (lost connections, a restarting
    /// server, failover, serialization failures, deadlocks) before it raises
    /// <see cref="StoreUnavailableException"/>. Zero to <see cref="MaxRetryBudget"/>; defaults to 30 seconds.
    /// </summary>
    public TimeSpan RetryBudget { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>
    /// When the store creates its tables: 0 (the default) for plain tables, or 2 to
    /// <see cref="MaxHashPartitions"/> to hash-partition the documents, events and tombstones tables
    /// on the partition key into that many tables each. Only used when the schema is created; an
    /// existing store keeps its layout.
    /// </summary>
    public int HashPartitions { get; set; }

    /// <summary>
    /// Whether reads (get, list, sequences, partition listing, streams, the change feed) may go to a standby of a multi-host
    /// connection string (<c>Target Session Attributes=prefer-standby</c>). Off by default. A standby
    /// replays the primary's changes with a delay, so a read may miss recent writes — also the
    /// caller's own; conditional writes are always checked on the primary and stay safe. A standby
    /// that has not replayed the store's tables yet passes the read on to the primary.
    /// </summary>
    public bool ReadFromReplicas { get; set; }

    /// <summary>
    /// What a completed write survives. <see cref="DurabilityMode.Full"/> (the default) leaves the
    /// server's <c>synchronous_commit</c> as configured; <see cref="DurabilityMode.Relaxed"/> sets it
    /// to <c>off</c> for the store's transactions, so a server crash may lose the last writes (never
    /// half of one).
    /// </summary>
    public DurabilityMode Durability { get; set; } = DurabilityMode.Full;

    /// <summary>Where the store logs retries, resolved commits, migrations and index builds and drops; <see langword="null"/> for none. Values and connection strings are never logged.</summary>
    public ILoggerFactory? LoggerFactory { get; set; }

    /// <summary>
    /// For tests and measurements: about how many documents one transaction of a bulk import commits
    /// (whole partitions; a chunk also ends before its values pass <see cref="StoreLimits.MaxBatchBytes"/>).
    /// </summary>
    internal int ImportChunkDocuments { get; set; } = 10_000;
}
