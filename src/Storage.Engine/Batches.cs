namespace Storage.Engine;

/// <summary>Checks a batch against the contract's limits before any I/O.</summary>
internal static class Batches
{
    /// <summary>Throws <see cref="ArgumentException"/> unless the partition key and the batch are valid.</summary>
    /// <param name="partition">The partition key.</param>
    /// <param name="operations">The batch.</param>
    public static void Validate(string partition, IReadOnlyList<WriteOperation> operations)
    {
        Identifiers.ValidatePartitionKey(partition);
        ArgumentNullException.ThrowIfNull(operations);
        if (operations.Count == 0)
        {
            throw new ArgumentException(ErrorMessages.EmptyBatch, nameof(operations));
        }

        long bytes = 0;
        long operationCount = 0;
        Dictionary<(string Collection, string Key), int>? documents = operations.Count > 1 ? new(operations.Count) : null;
        Dictionary<string, int>? streams = null;
        for (var i = 0; i < operations.Count; i++)
        {
            var op = operations[i] ?? throw new ArgumentException(ErrorMessages.NullOperation(i), nameof(operations));
            if (op.Kind == WriteOperationKind.Append)
            {
                operationCount += op.Events.Count;
                bytes += op.EventBytes;
                streams ??= new(StringComparer.Ordinal);
                if (!streams.TryAdd(op.Stream!, i))
                {
                    throw new ArgumentException(ErrorMessages.DuplicateStreamInBatch(op.Stream!, streams[op.Stream!], i), nameof(operations));
                }

                continue;
            }

            operationCount++;
            bytes += op.Value.Length;
            if (documents is not null && !documents.TryAdd((op.Collection, op.Key), i))
            {
                throw new ArgumentException(ErrorMessages.DuplicateInBatch(op.Collection, op.Key, documents[(op.Collection, op.Key)], i), nameof(operations));
            }
        }

        if (operationCount > StoreLimits.MaxBatchOperations)
        {
            throw new ArgumentException(ErrorMessages.BatchTooLarge(operationCount), nameof(operations));
        }

        if (bytes > StoreLimits.MaxBatchBytes)
        {
            throw new ArgumentException(ErrorMessages.BatchTooManyBytes(bytes), nameof(operations));
        }
    }

    /// <summary>Throws unless <paramref name="delta"/> is a valid sequence increment and the sequence name is valid.</summary>
    /// <param name="partition">The partition key.</param>
    /// <param name="name">The sequence name.</param>
    /// <param name="delta">The increment.</param>
    public static void ValidateIncrement(string partition, string name, long delta)
    {
        Identifiers.ValidatePartitionKey(partition);
        Identifiers.ValidateName(name);
        if (delta < 1)
        {
            throw new ArgumentOutOfRangeException(nameof(delta), delta, ErrorMessages.InvalidDelta(delta));
        }
    }

    /// <summary>Adds <paramref name="delta"/> to a sequence value, throwing <see cref="OverflowException"/> past <see cref="long.MaxValue"/>.</summary>
    /// <param name="name">The sequence name.</param>
    /// <param name="current">The current value.</param>
    /// <param name="delta">The increment.</param>
    /// <returns>The new value.</returns>
    public static long AddToSequence(string name, long current, long delta)
        => current > long.MaxValue - delta ? throw new OverflowException(ErrorMessages.SequenceOverflow(name, current, delta)) : current + delta;
}
