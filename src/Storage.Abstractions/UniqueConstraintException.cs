namespace Storage;

/// <summary>
/// A put or batch would give a unique index a value that a live document already holds (in the
/// partition, or anywhere in the store for a global index), or two documents of one batch the same
/// value. Nothing of the batch was written. The message names the index and the value, never the
/// document or partition that holds it.
/// </summary>
/// <seealso href="../../docs/indexes.md#unique-indexes"/>
public sealed class UniqueConstraintException : StorageException
{
    /// <summary>Creates the exception.</summary>
    /// <param name="partition">The partition of the failed write.</param>
    /// <param name="collection">The collection of the index.</param>
    /// <param name="index">The index name.</param>
    /// <param name="scope">Where the index is unique.</param>
    /// <param name="value">The value already taken.</param>
    /// <param name="operationIndex">The position of the failed put in its batch.</param>
    public UniqueConstraintException(string partition, string collection, string index, IndexScope scope, IndexValue value, int operationIndex)
        : base(Internal.ErrorMessages.UniqueViolation(collection, index, scope, value))
    {
        Partition = partition;
        Collection = collection;
        Index = index;
        Scope = scope;
        Value = value;
        OperationIndex = operationIndex;
    }

    /// <summary>The partition of the failed write.</summary>
    public string Partition { get; }

    /// <summary>The collection of the index.</summary>
    public string Collection { get; }

    /// <summary>The index name.</summary>
    public string Index { get; }

    /// <summary>Where the index is unique.</summary>
    public IndexScope Scope { get; }

    /// <summary>The value already taken.</summary>
    public IndexValue Value { get; }

    /// <summary>The zero-based position of the put in its batch that could not take the value.</summary>
    public int OperationIndex { get; }
}
