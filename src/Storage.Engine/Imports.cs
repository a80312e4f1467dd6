using System.Diagnostics.CodeAnalysis;
using System.Runtime.ExceptionServices;

namespace Storage.Engine;

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

    /// <summary>
    /// Whether none of an import's puts finds a live document, before <paramref name="writer"/> changed
    /// anything over <paramref name="state"/> (always so in a partition that does not exist yet): then
    /// every must-not-exist condition holds and the puts decide as they are, each copy of a put with its
    /// condition (<see cref="AsMustNotExist"/>) spared.
    /// </summary>
    /// <param name="puts">The partition's puts, checked by <see cref="Validate"/> (no conditions).</param>
    /// <param name="writer">The writer the puts go to.</param>
    /// <param name="state">The state <paramref name="writer"/> was created over, with the puts' documents loaded.</param>
    /// <returns>Whether the puts may be applied without their must-not-exist conditions.</returns>
    public static bool NoneLive(IReadOnlyList<WriteOperation> puts, PartitionWriter writer, PartitionState state)
    {
        // The writer's own changes (an earlier write of its group) are not in the state.
        if (writer.HasChanges)
        {
            return false;
        }

        for (var i = 0; i < puts.Count; i++)
        {
            if (state.Documents.TryGetValue(new DocumentId(puts[i].Collection, puts[i].Key), out var row) && row is not null && !Timestamps.IsExpired(row.ExpiresAt, writer.Now))
            {
                return false;
            }
        }

        return true;
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
/// committed by a delegate — a <see cref="PendingWrite.Import"/> through the group commit, or a
/// backend's own request — up to a window of partitions committing at once
/// so that the backend's group commit can share transactions and syncs between them. The window slides
/// by input position: a partition starts only when every partition a window or more before it has
/// committed, so when one fails at most a window less one of the partitions after it were started, however
/// the commits are scheduled. At the first failure it starts no more partitions, waits for those in
/// flight, and throws the exception of the failing partition that comes first in input order. Not a
/// supported API.
/// </summary>
[Experimental(Experiments.BackendInterface)]
public static class BatchImport
{
    /// <summary>How many partitions commit at once through <see cref="IStore.CommitAsync"/>: the window the import holds in memory.</summary>
    public const int InFlight = 8;

    /// <summary>Imports <paramref name="partitions"/>, each checked partition committed by <paramref name="commit"/>.</summary>
    /// <param name="partitions">The partitions to import.</param>
    /// <param name="commit">
    /// Commits one partition <see cref="ImportValidator.Validate"/> accepted, whole or not at all, as a
    /// must-not-exist batch of its puts would. It is called on the import's thread; partitions overlap
    /// as far as it returns before its commit has completed.
    /// </param>
    /// <param name="inFlight">
    /// The window (at least 1): how many partitions, consecutive in input order, may be committing at once;
    /// the import holds at most that many in memory, and when one fails at most <c>inFlight - 1</c> after it
    /// are committed.
    /// </param>
    /// <param name="cancellationToken">Stops the import between partitions; passed to <paramref name="commit"/>.</param>
    /// <returns>How many partitions and documents were imported.</returns>
    internal static async ValueTask<ImportResult> RunAsync(IAsyncEnumerable<ImportedPartition> partitions, Func<ImportedPartition, CancellationToken, Task> commit, int inFlight, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(partitions);
        ArgumentNullException.ThrowIfNull(commit);
        ArgumentOutOfRangeException.ThrowIfLessThan(inFlight, 1);
        var validator = new ImportValidator();

        // The partitions started and not yet known to have committed, in input order: its first is the
        // oldest one not known to have committed. A count of running commits would let the partitions
        // after a slow (or not yet scheduled) failing one go on committing without bound.
        var window = new Queue<Pending>(inFlight);
        var progress = new Progress();
        var enumerator = partitions.GetAsyncEnumerator(cancellationToken);
        await using (enumerator.ConfigureAwait(false))
        {
            while (!progress.Failed(window))
            {
                if (window.Count == inFlight)
                {
                    await window.Peek().Task.ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
                    progress.Retire(window);
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

                window.Enqueue(new Pending(index, partition.Puts.Count, Start(commit, partition, cancellationToken)));
                progress.Retire(window);
            }

            while (window.Count > 0)
            {
                await window.Peek().Task.ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
                progress.Retire(window);
            }
        }

        if (progress.Failure is { } failure)
        {
            ExceptionDispatchInfo.Throw(failure);
        }

        return new ImportResult(progress.Partitions, progress.Documents);
    }

    // A commit that throws before it returns its task fails its partition as a faulted task would.
    private static Task Start(Func<ImportedPartition, CancellationToken, Task> commit, ImportedPartition partition, CancellationToken cancellationToken)
    {
        try
        {
            return commit(partition, cancellationToken);
        }
        catch (Exception e)
        {
            return Task.FromException(e);
        }
    }

    private sealed record Pending(long Index, int Documents, Task Task);

    private sealed class Progress
    {
        private long _failedAt = long.MaxValue;

        public long Partitions { get; private set; }

        public long Documents { get; private set; }

        public Exception? Failure { get; private set; }

        /// <summary>Keeps the failure of the partition that comes first in input order.</summary>
        public void Fail(long index, Exception exception)
        {
            if (index < _failedAt)
            {
                (_failedAt, Failure) = (index, exception);
            }
        }

        /// <summary>Whether a partition has failed, also one in the window that is not its first yet.</summary>
        public bool Failed(Queue<Pending> window)
        {
            foreach (var pending in window)
            {
                if (pending.Task.IsCompleted && !pending.Task.IsCompletedSuccessfully)
                {
                    Fail(pending.Index, ExceptionOf(pending.Task));
                }
            }

            return Failure is not null;
        }

        /// <summary>Takes the partitions that have finished off the front of the window, up to the first one still committing: counts those that committed, keeps the failures.</summary>
        public void Retire(Queue<Pending> window)
        {
            while (window.TryPeek(out var pending) && pending.Task.IsCompleted)
            {
                window.Dequeue();
                if (pending.Task.IsCompletedSuccessfully)
                {
                    Partitions++;
                    Documents += pending.Documents;
                }
                else
                {
                    Fail(pending.Index, ExceptionOf(pending.Task));
                }
            }
        }

        private static Exception ExceptionOf(Task task) => task.Exception?.InnerException ?? new OperationCanceledException();
    }
}
