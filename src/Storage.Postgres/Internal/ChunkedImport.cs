using System.Runtime.ExceptionServices;
using Storage.Internal;

namespace Storage.Postgres.Internal;

/// <summary>
/// The PostgreSQL bulk import: the input is checked partition by partition (<see cref="ImportValidator"/>,
/// index values extracted) and cut into chunks of whole partitions — up to about
/// <see cref="PostgresStoreOptions.ImportChunkDocuments"/> documents or <see cref="StoreLimits.MaxBatchBytes"/>
/// of values — and each chunk commits in one transaction (<see cref="WriteTransactions.TryCommitAsync"/>),
/// retried as writes are. When a partition of a chunk fails, the partitions before it in the chunk are
/// committed on their own, then its exception is thrown: so the partitions imported are exactly those
/// before the failing one, in input order. Only one chunk is held in memory.
/// </summary>
internal sealed class ChunkedImport(WriteTransactions transactions, Retrier retry, StoreIndexes indexes, int chunkDocuments)
{
    public async ValueTask<ImportResult> RunAsync(IAsyncEnumerable<ImportedPartition> partitions, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(partitions);
        var validator = new ImportValidator();
        var chunk = new List<PendingWrite>();
        long documents = 0, bytes = 0, importedPartitions = 0, importedDocuments = 0;
        var enumerator = partitions.GetAsyncEnumerator(cancellationToken);
        await using (enumerator.ConfigureAwait(false))
        {
            while (true)
            {
                cancellationToken.ThrowIfCancellationRequested();
                if (!await enumerator.MoveNextAsync().ConfigureAwait(false))
                {
                    break;
                }

                PendingWrite item;
                try
                {
                    var partition = validator.Validate(enumerator.Current);
                    item = PendingWrite.Import(partition, indexes.Catalog.ExtractAll(partition.Puts));
                }
                catch (ArgumentException)
                {
                    // The partitions before the invalid one are imported, then its error is thrown.
                    await FlushAsync(chunk).ConfigureAwait(false);
                    throw;
                }

                var itemBytes = item.Imported!.Puts.Sum(p => (long)p.Value.Length);
                if (chunk.Count > 0 && (documents + item.Imported!.Puts.Count > chunkDocuments || bytes + itemBytes > StoreLimits.MaxBatchBytes))
                {
                    (importedPartitions, importedDocuments) = (importedPartitions + chunk.Count, importedDocuments + documents);
                    await FlushAsync(chunk).ConfigureAwait(false);
                    (documents, bytes) = (0, 0);
                }

                chunk.Add(item);
                documents += item.Imported!.Puts.Count;
                bytes += itemBytes;
            }

            (importedPartitions, importedDocuments) = (importedPartitions + chunk.Count, importedDocuments + documents);
            await FlushAsync(chunk).ConfigureAwait(false);
        }

        return new ImportResult(importedPartitions, importedDocuments);
    }

    /// <summary>Commits a chunk; when a partition of it fails, commits those before it and throws its exception.</summary>
    private async ValueTask FlushAsync(List<PendingWrite> chunk)
    {
        IReadOnlyList<PendingWrite> items = [.. chunk];
        chunk.Clear();
        Exception? failure = null;
        while (items.Count > 0)
        {
            var unresolved = new List<Attempt>();
            var outcome = await retry.RunAsync(
                "import",
                (transactions, items, unresolved),
                static (s, _) => s.transactions.TryCommitAsync(s.items, import: true, s.unresolved),
                CancellationToken.None).ConfigureAwait(false);
            var failedAt = Array.FindIndex(outcome.Errors, e => e is not null);
            if (failedAt < 0)
            {
                break;
            }

            // A partition before it may fail in turn (another writer got there meanwhile): its error comes first then.
            failure = outcome.Errors[failedAt];
            items = [.. items.Take(failedAt)];
        }

        if (failure is not null)
        {
            ExceptionDispatchInfo.Throw(failure);
        }
    }
}
