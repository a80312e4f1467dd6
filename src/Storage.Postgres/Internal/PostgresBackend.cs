using Microsoft.Extensions.Logging;
using Npgsql;
using static Storage.Postgres.Internal.Commands;

namespace Storage.Postgres.Internal;

/// <summary>
/// The PostgreSQL backend under <see cref="EngineStore"/>: SQL and round trips, the partition's row
/// lock, retries of transient failures, the commit log that resolves commits of unknown outcome,
/// replicas, hash partitioning and <c>COPY</c> imports. The engine validates, queues (one group commit
/// per partition), keeps the store's lifetime and builds pages; this class commits a partition's
/// group, purges, imports and reads.
/// </summary>
internal sealed partial class PostgresBackend : IStoreBackend, IBulkImportBackend, IBulkRestoreBackend, IBatchedExportBackend
{
    private readonly NpgsqlDataSource _dataSource;
    private readonly bool _ownsDataSource;
    private readonly NpgsqlDataSource _writer;
    private readonly NpgsqlDataSource _reader;
    private readonly Sql _sql;
    private readonly Retrier _retry;
    private readonly StoreIndexes _indexes;
    private readonly ChunkedImport _import;
    private readonly int _importChunkDocuments;

    public PostgresBackend(NpgsqlDataSource dataSource, bool ownsDataSource, NpgsqlDataSource writer, NpgsqlDataSource reader, Sql sql, PostgresStoreOptions options, ILogger logger, Retrier retry, int hashPartitions, StoreIndexes indexes)
    {
        _dataSource = dataSource;
        _ownsDataSource = ownsDataSource;
        _writer = writer;
        _reader = reader;
        _sql = sql;
        _retry = retry;
        _indexes = indexes;
        Transactions = new WriteTransactions(writer, dataSource is NpgsqlMultiHostDataSource, sql, indexes, options.TimeProvider, options.Durability == DurabilityMode.Relaxed, logger);
        _import = new ChunkedImport(Transactions, retry, indexes, options.ImportChunkDocuments);
        _importChunkDocuments = options.ImportChunkDocuments;
        HashPartitions = hashPartitions;
    }

    /// <summary>The schema that holds the store's tables.</summary>
    public string Schema => _sql.Schema;

    /// <summary>Into how many hash partitions the tables are split (0: plain tables), as they were created.</summary>
    public int HashPartitions { get; }

    /// <summary>The indexes this instance opened with (the engine plans queries with their <see cref="StoreIndexes.Catalog"/>).</summary>
    public StoreIndexes Indexes => _indexes;

    /// <summary>The store's write transactions (and the test hooks on them).</summary>
    public WriteTransactions Transactions { get; }

    /// <summary>The data source reads use.</summary>
    public NpgsqlDataSource ReadDataSource => _reader;

    public string SystemName => "postgresql";

    /// <inheritdoc/>
    /// <remarks>Not used by the import, which goes through <see cref="ImportAsync"/>; a store's restore (<see cref="IStoreRestore.RestoreAsync"/>) keeps this many partitions in flight, each its own transaction.</remarks>
    public int ImportWindow => BatchImport.InFlight;

    /// <inheritdoc/>
    /// <remarks>Each partition's writes lock its row, so partitions commit side by side.</remarks>
    public bool CommitsPerPartition => true;

    /// <inheritdoc/>
    /// <remarks>
    /// The group is cut at partition deletes and restores; each segment commits in one transaction, retried as a
    /// whole on transient failures (an attempt whose outcome was lost is resolved through the commit
    /// log), and only then is each write completed with the outcome of the attempt that committed. A
    /// segment that fails fails its own writes; the segments after it still run. Each attempt reads the
    /// clock afresh, so a retry decides expiry at the time it runs.
    /// </remarks>
    public ValueTask CommitAsync(IReadOnlyList<PendingWrite> group, DateTimeOffset now, CancellationToken cancellationToken)
    {
        // Most groups are one segment: committed without another state machine.
        return group.Count == 0 ? ValueTask.CompletedTask
            : SegmentEnd(group, 0) == group.Count ? RunSegmentAsync(group, 0, group.Count)
            : CommitSegmentsAsync(group);
    }

    /// <inheritdoc/>
    /// <remarks>
    /// Store-wide: the expired documents of every partition, in transactions of up to 1,000 documents
    /// (purges from several app instances take turns; documents a writer is overwriting at that moment
    /// are left to it), then the index entries of expired documents, then the tombstones deleted at or
    /// before the cutoff, also 1,000 at a time, waiting for the writers of their partitions, then the
    /// marks of partitions deleted at or before it (raising the cursor's oldest position).
    /// </remarks>
    public async ValueTask<long> PurgeAsync(DateTimeOffset now, DateTimeOffset? tombstoneCutoff, Func<string, CancellationToken, ValueTask<long>> purgeInTurn, CancellationToken cancellationToken)
    {
        var purged = await RepeatAsync("purge", unresolved => Transactions.TryPurgeChunkAsync(now, unresolved), cancellationToken).ConfigureAwait(false);

        // The index entries of expired documents, purged or not (readers ignore them already).
        await RepeatAsync("purge index entries", _ => Transactions.TryPurgeEntriesAsync(now), cancellationToken).ConfigureAwait(false);
        if (tombstoneCutoff is { } cutoff)
        {
            await RepeatAsync("purge tombstones", _ => Transactions.TryDropTombstonesAsync(cutoff), cancellationToken).ConfigureAwait(false);
            await RepeatAsync("purge partition marks", _ => Transactions.TryDropMarksAsync(cutoff), cancellationToken).ConfigureAwait(false);
        }

        return purged;
    }

    /// <inheritdoc/>
    /// <remarks>Chunks of whole partitions, each in one transaction with binary <c>COPY</c> (<see cref="ChunkedImport"/>); the index values are extracted with the catalog this instance opened with.</remarks>
    public ValueTask<ImportResult> ImportAsync(IAsyncEnumerable<ImportedPartition> partitions, IndexCatalog indexes, CancellationToken cancellationToken)
        => _import.RunAsync(partitions, cancellationToken);

    /// <inheritdoc/>
    /// <remarks>As many documents as an import's chunk (<see cref="PostgresStoreOptions.ImportChunkDocuments"/>).</remarks>
    public int RestoreGroupDocuments => _importChunkDocuments;

    /// <inheritdoc/>
    /// <remarks>One transaction (<see cref="WriteTransactions.TryRestoreAsync"/>), retried as writes are; only once it committed is each restore completed.</remarks>
    public async ValueTask<bool> RestoreNewAsync(IReadOnlyList<PendingWrite> restores, CancellationToken cancellationToken)
    {
        cancellationToken.ThrowIfCancellationRequested();
        var outcome = await _retry.RunAsync(
            "restore",
            (transactions: Transactions, restores, unresolved: new List<Attempt>()),
            static (s, _) => s.transactions.TryRestoreAsync(s.restores, s.unresolved),
            CancellationToken.None).ConfigureAwait(false);
        if (!outcome.Results.All(static r => r is true))
        {
            return false;
        }

        foreach (var restore in restores)
        {
            restore.Complete(true);
        }

        return true;
    }

    /// <inheritdoc/>
    /// <remarks>A row of <c>storage_meta</c>, written under the lock every write transaction shares (<see cref="WriteTransactions.TrySetFenceAsync"/>).</remarks>
    public async ValueTask SetReadOnlyAsync(bool readOnly, CancellationToken cancellationToken)
    {
        cancellationToken.ThrowIfCancellationRequested();
        await _retry.RunAsync("set read-only", (transactions: Transactions, readOnly), static (s, _) => s.transactions.TrySetFenceAsync(s.readOnly), CancellationToken.None).ConfigureAwait(false);
    }

    /// <inheritdoc/>
    /// <remarks>Read on the primary: a standby may not have replayed a fence just set.</remarks>
    public ValueTask<bool> IsReadOnlyAsync(CancellationToken cancellationToken)
        => _retry.RunAsync("read read-only", (writer: _writer, multiHost: _dataSource is NpgsqlMultiHostDataSource, sql: _sql), static async (s, ct) =>
        {
            var connection = await OpenAsync(s.writer, s.multiHost, ct).ConfigureAwait(false);
            await using (connection.ConfigureAwait(false))
            {
                using var command = Command(connection, s.sql.ReadFence);
                return await command.ExecuteScalarAsync(ct).ConfigureAwait(false) is true;
            }
        }, cancellationToken);

    /// <summary>Releases the data source, if the store made it.</summary>
    /// <returns>A task that completes when it is released.</returns>
    public async ValueTask DisposeAsync()
    {
        if (_ownsDataSource)
        {
            await _dataSource.DisposeAsync().ConfigureAwait(false);
        }
    }

    /// <summary>Runs chunks of a purge, each retried with its own list of attempts of unknown outcome, until one removes less than a whole chunk.</summary>
    /// <returns>How many rows the chunks removed.</returns>
    private async ValueTask<long> RepeatAsync(string operation, Func<List<Attempt>, ValueTask<long>> chunk, CancellationToken cancellationToken)
    {
        long total = 0;
        while (true)
        {
            cancellationToken.ThrowIfCancellationRequested();
            var count = await _retry.RunAsync(operation, (chunk, unresolved: new List<Attempt>()), static (s, _) => s.chunk(s.unresolved), CancellationToken.None).ConfigureAwait(false);
            total += count;
            if (count < WriteTransactions.PurgeChunk)
            {
                return total;
            }
        }
    }

    /// <summary>Where the segment that starts at <paramref name="start"/> ends: after a partition delete, a purge or a restore alone, else before the next one.</summary>
    private static int SegmentEnd(IReadOnlyList<PendingWrite> group, int start)
    {
        static bool Alone(PendingWrite write) => write.IsPartitionDelete || write.IsPurge || write.IsRestore;
        var end = start + 1;
        if (Alone(group[start]))
        {
            return end;
        }

        while (end < group.Count && !Alone(group[end]))
        {
            end++;
        }

        return end;
    }

    private async ValueTask CommitSegmentsAsync(IReadOnlyList<PendingWrite> group)
    {
        for (var start = 0; start < group.Count;)
        {
            var end = SegmentEnd(group, start);
            await RunSegmentAsync(group, start, end).ConfigureAwait(false);
            start = end;
        }
    }

    /// <summary>Commits one segment of a group (one partition delete, one restore, or batches and increments) in one transaction retried as a whole, then completes each write.</summary>
    private async ValueTask RunSegmentAsync(IReadOnlyList<PendingWrite> group, int start, int end)
    {
        if (group[start].IsPurge)
        {
            // PurgeAsync purges store-wide and never asks for a purge in turn.
            group[start].Fail(new InvalidOperationException("The PostgreSQL backend purges store-wide, not in a partition's turn."));
            return;
        }

        var writes = start == 0 && end == group.Count ? group : [.. group.Skip(start).Take(end - start)];

        Attempt outcome;
        try
        {
            var unresolved = new List<Attempt>();
            outcome = await _retry.RunAsync(
                writes[0].IsPartitionDelete ? "delete partition" : writes[0].IsRestore ? "restore" : "commit",
                (transactions: Transactions, partition: writes[0].Partition, writes, unresolved),
                static (s, _) => s.writes[0].IsPartitionDelete ? s.transactions.TryDeletePartitionAsync(s.partition, s.unresolved)
                    : s.writes[0].IsRestore ? s.transactions.TryRestoreAsync(s.writes, s.unresolved)
                    : s.transactions.TryCommitAsync(s.writes, import: false, s.unresolved),
                CancellationToken.None).ConfigureAwait(false);
        }
        catch (Exception e)
        {
            // The segment's writes fail with what failed it (after the retries); the writes of other segments keep their own outcome.
            foreach (var write in writes)
            {
                write.Fail(e);
            }

            return;
        }

        for (var i = 0; i < writes.Count; i++)
        {
            if (outcome.Errors[i] is { } error)
            {
                writes[i].Fail(error);
            }
            else
            {
                writes[i].Complete(outcome.Results[i]!);
            }
        }
    }
}
