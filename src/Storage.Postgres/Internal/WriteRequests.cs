using Storage.Internal;

namespace Storage.Postgres.Internal;

/// <summary>One writer's request to a partition's group commit.</summary>
internal abstract class WriteRequest;

internal sealed class BatchRequest(IReadOnlyList<WriteOperation> operations, IReadOnlyList<IndexEntries?> entries) : WriteRequest
{
    public IReadOnlyList<WriteOperation> Operations { get; } = operations;

    /// <summary>Per operation, its index values (<see cref="IndexCatalog.ExtractAll"/>), computed before the request was queued.</summary>
    public IReadOnlyList<IndexEntries?> Entries { get; } = entries;
}

internal sealed class IncrementRequest(string name, long delta) : WriteRequest
{
    public string Name { get; } = name;

    public long Delta { get; } = delta;
}

internal sealed class DeletePartitionRequest : WriteRequest
{
    public static DeletePartitionRequest Instance { get; } = new();
}
