namespace Storage;

/// <summary>
/// A write's condition did not hold: the document did not have the expected version, it existed
/// when it must not, or a stream was not at the version an append expected. Nothing of the write
/// (or of its batch) was stored.
/// </summary>
public sealed class VersionConflictException : StorageException
{
    /// <summary>Creates the exception for one failed document condition.</summary>
    /// <param name="partition">The partition of the document.</param>
    /// <param name="collection">The collection of the document.</param>
    /// <param name="key">The key of the document.</param>
    /// <param name="condition">The condition that did not hold.</param>
    /// <param name="actualVersion">The document's current version, or <see langword="null"/> when it does not exist.</param>
    /// <param name="operationIndex">The position of the failed operation in its batch.</param>
    public VersionConflictException(string partition, string collection, string key, WriteCondition condition, long? actualVersion, int operationIndex)
        : base(Internal.ErrorMessages.VersionConflict(collection, key, condition, actualVersion, operationIndex))
    {
        Partition = partition;
        Collection = collection;
        Key = key;
        Condition = condition;
        ExpectedVersion = condition.Kind == WriteConditionKind.MustMatchVersion ? condition.Version : null;
        ActualVersion = actualVersion;
        OperationIndex = operationIndex;
    }

    /// <summary>Creates the exception for an append whose stream was not at the expected version.</summary>
    /// <param name="partition">The partition of the stream.</param>
    /// <param name="stream">The stream id.</param>
    /// <param name="expected">The expectation that did not hold.</param>
    /// <param name="actualVersion">The stream's current version; 0 when it does not exist.</param>
    /// <param name="operationIndex">The position of the failed append in its batch.</param>
    public VersionConflictException(string partition, string stream, ExpectedStreamVersion expected, long actualVersion, int operationIndex)
        : base(Internal.ErrorMessages.StreamVersionConflict(stream, expected, actualVersion, operationIndex))
    {
        Partition = partition;
        Stream = stream;
        StreamExpectation = expected;
        ExpectedVersion = expected.Kind == ExpectedStreamVersionKind.Exactly ? expected.Version : null;
        ActualVersion = actualVersion == 0 ? null : actualVersion;
        OperationIndex = operationIndex;
    }

    /// <summary>The partition of the document or stream.</summary>
    public string Partition { get; }

    /// <summary>The collection of the document; <see langword="null"/> for a stream conflict.</summary>
    public string? Collection { get; }

    /// <summary>The key of the document; <see langword="null"/> for a stream conflict.</summary>
    public string? Key { get; }

    /// <summary>The stream of a failed append; <see langword="null"/> for a document conflict.</summary>
    public string? Stream { get; }

    /// <summary>The document condition that did not hold (<see cref="WriteCondition.None"/> for a stream conflict).</summary>
    public WriteCondition Condition { get; }

    /// <summary>The stream expectation that did not hold (<see cref="ExpectedStreamVersion.Any"/> for a document conflict).</summary>
    public ExpectedStreamVersion StreamExpectation { get; }

    /// <summary>
    /// The version the write expected, or <see langword="null"/> when it expected the document or
    /// stream not to exist.
    /// </summary>
    public long? ExpectedVersion { get; }

    /// <summary>The document's or stream's version when the write was checked, or <see langword="null"/> when it did not exist (or the document had expired).</summary>
    public long? ActualVersion { get; }

    /// <summary>The zero-based position of the failed operation in its batch (0 for a single write).</summary>
    public int OperationIndex { get; }
}
