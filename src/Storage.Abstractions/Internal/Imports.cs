using System.Runtime.ExceptionServices;

namespace Storage.Internal;

/// <summary>
/// Checks the partitions of a bulk import one by one, before anything of them is written: the
/// partition and its puts as a batch (<see cref="Batches.Validate"/>), only puts without a condition,
/// and each partition key once per import.
/// </summary>
internal sealed class ImportValidator
{
    // The keys seen so far, with their positions: the only state that grows with the import.
    private readonly Dictionary<string, long> _seen = new(StringComparer.Ordinal);

    /// <summary>How many partitions have been checked.</summary>
    public long Count { get; private set; }

    /// <summary>
    /// Checks the next partition of the import, on a copy of its list of puts: what is checked is what
    /// the import writes, also when the source refills one list for every partition it yields (the
    /// import works on a partition while it reads the next ones).
    /// </summary>
    /// <param name="partition">The partition.</param>
    /// <returns>The partition, checked, with its own copy of the list of puts.</returns>
    /// <exception cref="ArgumentException">The partition is not valid, or its key appeared before in this import.</exception>
    public ImportedPartition Validate(ImportedPartition? partition)
    {
        var index = Count++;
        if (partition is null)
        {
            throw new ArgumentException(ErrorMessages.NullImportedPartition(index), "partitions");
        }

        partition = partition with { Puts = partition.Puts is null ? null! : [.. partition.Puts] };
        Batches.Validate(partition.Partition, partition.Puts);
        for (var i = 0; i < partition.Puts.Count; i++)
        {
            var op = partition.Puts[i];
            if (op.Kind != WriteOperationKind.Put)
            {
                throw new ArgumentException(ErrorMessages.ImportNotPut(i, op.Kind), "partitions");
            }

            if (op.Condition != WriteCondition.None)
            {
                throw new ArgumentException(ErrorMessages.ImportCondition(i), "partitions");
            }
        }

        if (!_seen.TryAdd(partition.Partition, index))
        {
            throw new ArgumentException(ErrorMessages.DuplicateImportedPartition(partition.Partition, _seen[partition.Partition], index), "partitions");
        }

        return partition;
    }

    /// <summary>The puts of a checked partition as must-not-exist puts: the batch an import commits.</summary>
    /// <param name="partition">A partition <see cref="Validate"/> accepted.</param>
    /// <returns>The batch.</returns>
    public static WriteOperation[] AsMustNotExist(ImportedPartition partition)
    {
        ArgumentNullException.ThrowIfNull(partition);
        var batch = new WriteOperation[partition.Puts.Count];
        for (var i = 0; i < batch.Length; i++)
        {
            batch[i] = partition.Puts[i].WithCondition(WriteCondition.MustNotExist);
        }

        return batch;
    }
}

/// <summary>
/// A bulk import partition by partition: each partition checked (<see cref="ImportValidator"/>), then
/// committed by a delegate — <see cref="IStore.CommitAsync"/> of must-not-exist puts for every backend
/// without a faster path, or a backend's own request — up to a window of partitions committing at once
/// so that the backend's group commit can share transactions and syncs between them. At the first
/// failure it launches no more partitions, waits for those in flight, and throws the exception of the
/// failing partition that comes first in input order. Not a supported API.
/// </summary>
internal static class BatchImport
{
    /// <summary>How many partitions commit at once through <see cref="IStore.CommitAsync"/>: the window the import holds in memory.</summary>
    public const int InFlight = 8;

    /// <summary>Imports <paramref name="partitions"/> into <paramref name="store"/>, each partition one <see cref="IStore.CommitAsync"/> of must-not-exist puts.</summary>
    /// <param name="store">The store.</param>
    /// <param name="partitions">The partitions to import.</param>
    /// <param name="cancellationToken">Stops the import between partitions (and cancels commits still waiting for their turn).</param>
    /// <returns>How many partitions and documents were imported.</returns>
    public static ValueTask<ImportResult> RunAsync(IStore store, IAsyncEnumerable<ImportedPartition> partitions, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(store);
        return RunAsync(partitions, (partition, token) => store.CommitAsync(partition.Partition, ImportValidator.AsMustNotExist(partition), token).AsTask(), InFlight, cancellationToken);
    }

    /// <summary>Imports <paramref name="partitions"/>, each checked partition committed by <paramref name="commit"/>.</summary>
    /// <param name="partitions">The partitions to import.</param>
    /// <param name="commit">
    /// Commits one partition <see cref="ImportValidator.Validate"/> accepted, whole or not at all, as a
    /// must-not-exist batch of its puts would; it runs on a thread-pool thread of its own.
    /// </param>
    /// <param name="inFlight">How many partitions commit at once (at least 1): the window the import holds in memory.</param>
    /// <param name="cancellationToken">Stops the import between partitions; passed to <paramref name="commit"/>.</param>
    /// <returns>How many partitions and documents were imported.</returns>
    public static async ValueTask<ImportResult> RunAsync(IAsyncEnumerable<ImportedPartition> partitions, Func<ImportedPartition, CancellationToken, Task> commit, int inFlight, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(partitions);
        ArgumentNullException.ThrowIfNull(commit);
        ArgumentOutOfRangeException.ThrowIfLessThan(inFlight, 1);
        var validator = new ImportValidator();
        var running = new List<Pending>(inFlight);
        var progress = new Progress();
        var enumerator = partitions.GetAsyncEnumerator(cancellationToken);
        await using (enumerator.ConfigureAwait(false))
        {
            while (progress.Failure is null)
            {
                if (running.Count == inFlight)
                {
                    await Task.WhenAny(running.ConvertAll(p => p.Task)).ConfigureAwait(false);
                    Reap(running, progress);
                    continue;
                }

                var index = validator.Count;
                ImportedPartition partition;
                try
                {
                    cancellationToken.ThrowIfCancellationRequested();
                    if (!await enumerator.MoveNextAsync().ConfigureAwait(false))
                    {
                        break;
                    }

                    partition = validator.Validate(enumerator.Current);
                }
                catch (Exception e)
                {
                    progress.Fail(index, e);
                    break;
                }

                // JSON and SQLite commit synchronously on the calling thread; a thread each is what lets the
                // partitions in flight overlap and meet in one group commit (as concurrent callers would).
                running.Add(new Pending(index, partition.Puts.Count, Task.Run(() => commit(partition, cancellationToken), CancellationToken.None)));
                Reap(running, progress);
            }

            while (running.Count > 0)
            {
                await Task.WhenAny(running.ConvertAll(p => p.Task)).ConfigureAwait(false);
                Reap(running, progress);
            }
        }

        if (progress.Failure is { } failure)
        {
            ExceptionDispatchInfo.Throw(failure);
        }

        return new ImportResult(progress.Partitions, progress.Documents);
    }

    private static void Reap(List<Pending> running, Progress progress)
    {
        for (var i = running.Count - 1; i >= 0; i--)
        {
            var pending = running[i];
            if (!pending.Task.IsCompleted)
            {
                continue;
            }

            running.RemoveAt(i);
            if (pending.Task.IsCompletedSuccessfully)
            {
                progress.Partitions++;
                progress.Documents += pending.Documents;
            }
            else
            {
                progress.Fail(pending.Index, pending.Task.Exception?.InnerException ?? new OperationCanceledException());
            }
        }
    }

    private sealed record Pending(long Index, int Documents, Task Task);

    private sealed class Progress
    {
        private long _failedAt = long.MaxValue;

        public long Partitions { get; set; }

        public long Documents { get; set; }

        public Exception? Failure { get; private set; }

        /// <summary>Keeps the failure of the partition that comes first in input order.</summary>
        public void Fail(long index, Exception exception)
        {
            if (index < _failedAt)
            {
                (_failedAt, Failure) = (index, exception);
            }
        }
    }
}
