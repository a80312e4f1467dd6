namespace Storage;

/// <summary>
/// The root of every error a store raises for a reason other than misuse (misuse raises the BCL's
/// <see cref="ArgumentException"/> family). Catch this to handle every storage failure at once.
/// </summary>
/// <seealso href="../../docs/contract.md#errors"/>
public class StorageException : Exception
{
    /// <summary>Creates an exception with a message.</summary>
    /// <param name="message">What went wrong.</param>
    public StorageException(string message)
        : base(message)
    {
    }

    /// <summary>Creates an exception with a message and the error that caused it.</summary>
    /// <param name="message">What went wrong.</param>
    /// <param name="innerException">The driver's or the operating system's original error.</param>
    public StorageException(string message, Exception? innerException)
        : base(message, innerException)
    {
    }

    /// <summary>
    /// Whether trying the same operation again later may succeed. The store has already spent its
    /// own retry budget before raising a transient error.
    /// </summary>
    public virtual bool IsTransient => false;
}

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

/// <summary>
/// A store could not open because its existing documents cannot be indexed by a declared index
/// that it had to build: a live document holds a value of the wrong type, or two live documents
/// hold the same value of a unique index. Nothing was changed; fix the document or the declaration
/// and open again. Unlike <see cref="UniqueConstraintException"/>, the message names the document:
/// the error is about the store's own data, reported to its owner at open.
/// </summary>
/// <seealso href="../../docs/indexes.md#adding-and-removing-indexes"/>
public sealed class IndexBuildException : StorageException
{
    /// <summary>Creates the exception.</summary>
    /// <param name="collection">The collection of the index.</param>
    /// <param name="index">The index name.</param>
    /// <param name="partition">The partition of the document that cannot be indexed.</param>
    /// <param name="key">The key of the document that cannot be indexed.</param>
    /// <param name="reason">Why it cannot be indexed.</param>
    /// <param name="innerException">The extraction error, if any.</param>
    public IndexBuildException(string collection, string index, string partition, string key, string reason, Exception? innerException = null)
        : base(Internal.ErrorMessages.IndexBuildFailed(collection, index, partition, key, reason), innerException)
    {
        Collection = collection;
        Index = index;
        Partition = partition;
        Key = key;
    }

    /// <summary>The collection of the index.</summary>
    public string Collection { get; }

    /// <summary>The index name.</summary>
    public string Index { get; }

    /// <summary>The partition of the document that cannot be indexed.</summary>
    public string Partition { get; }

    /// <summary>The key of the document that cannot be indexed.</summary>
    public string Key { get; }
}

/// <summary>
/// A write was refused because another store instance (another process, or another server) opened
/// the same store with different index declarations since this instance opened: this instance
/// would otherwise write documents without maintaining indexes it does not know, or maintain
/// indexes that were dropped. Nothing was written. Dispose this instance and open the store again
/// with the current declarations; every instance of one store must declare the same indexes.
/// </summary>
/// <seealso href="../../docs/indexes.md#adding-and-removing-indexes"/>
public sealed class IndexDeclarationsChangedException : StorageException
{
    /// <summary>Creates the exception.</summary>
    public IndexDeclarationsChangedException()
        : base(Internal.ErrorMessages.IndexDeclarationsChanged)
    {
    }
}

/// <summary>
/// A change-feed read asked for changes after a revision older than the partition's feed keeps:
/// tombstones older than the retention were dropped, or the partition was deleted (and perhaps
/// created again) since. Reading on would silently miss deletes, so the reader must copy the
/// partition afresh: drop its copy, read the changes from revision 0, and resume from there.
/// </summary>
/// <seealso href="../../docs/streams-and-changes.md#retention"/>
public sealed class ChangeFeedTruncatedException : StorageException
{
    /// <summary>Creates the exception.</summary>
    /// <param name="partition">The partition.</param>
    /// <param name="afterRevision">The revision the reader asked to resume after.</param>
    /// <param name="oldestResumableRevision">The oldest revision the feed can resume after (besides 0), or 0 when the partition does not exist.</param>
    public ChangeFeedTruncatedException(string partition, long afterRevision, long oldestResumableRevision)
        : base(Internal.ErrorMessages.ChangesTruncated(partition, afterRevision, oldestResumableRevision))
    {
        Partition = partition;
        AfterRevision = afterRevision;
        OldestResumableRevision = oldestResumableRevision;
    }

    /// <summary>The partition.</summary>
    public string Partition { get; }

    /// <summary>The revision the reader asked to resume after.</summary>
    public long AfterRevision { get; }

    /// <summary>The oldest revision the feed can resume after (besides 0, which always works), or 0 when the partition does not exist.</summary>
    public long OldestResumableRevision { get; }
}

/// <summary>
/// Stored data failed a check: a file that does not parse, a checksum that does not match, a row
/// that breaks the format. The data is left exactly as found — never repaired or overwritten.
/// </summary>
public sealed class CorruptDataException : StorageException
{
    /// <summary>Creates the exception.</summary>
    /// <param name="location">The file, table or row that is corrupt.</param>
    /// <param name="reason">What is wrong with it.</param>
    /// <param name="innerException">The parser's or driver's original error, if any.</param>
    public CorruptDataException(string location, string reason, Exception? innerException = null)
        : base(Internal.ErrorMessages.CorruptData(location, reason), innerException)
    {
        Location = location;
        Reason = reason;
    }

    /// <summary>The file, table or row that is corrupt.</summary>
    public string Location { get; }

    /// <summary>What is wrong with it.</summary>
    public string Reason { get; }
}

/// <summary>
/// The store could not be reached or could not complete the operation for a reason that may pass
/// (a lost connection, a busy database), after the backend's own bounded retries. A write that
/// fails this way may or may not have been applied: read back, or retry with a condition.
/// </summary>
public sealed class StoreUnavailableException : StorageException
{
    /// <summary>Creates the exception.</summary>
    /// <param name="message">What could not be done.</param>
    /// <param name="innerException">The driver's or the operating system's original error.</param>
    public StoreUnavailableException(string message, Exception? innerException = null)
        : base(message, innerException)
    {
    }

    /// <inheritdoc/>
    public override bool IsTransient => true;
}

/// <summary>
/// Another store instance — in this process or another — owns the data directory or file. Two
/// writers are never let in together.
/// </summary>
public sealed class StoreLockedException : StorageException
{
    /// <summary>Creates the exception.</summary>
    /// <param name="path">The lock file or database that is held.</param>
    /// <param name="message">Who holds it, as far as is known.</param>
    /// <param name="innerException">The operating system's original error, if any.</param>
    public StoreLockedException(string path, string message, Exception? innerException = null)
        : base(message, innerException)
    {
        Path = path;
    }

    /// <summary>The lock file or database that is held.</summary>
    public string Path { get; }
}

/// <summary>
/// The store was written in a format this version of the library does not know (usually by a newer
/// version). Nothing was changed.
/// </summary>
public sealed class UnsupportedFormatException : StorageException
{
    /// <summary>Creates the exception.</summary>
    /// <param name="location">The manifest, file or table that carries the format version.</param>
    /// <param name="foundVersion">The format version found.</param>
    /// <param name="supportedVersion">The newest format version this library reads.</param>
    public UnsupportedFormatException(string location, long foundVersion, long supportedVersion)
        : base(Internal.ErrorMessages.UnsupportedFormat(location, foundVersion, supportedVersion))
    {
        Location = location;
        FoundVersion = foundVersion;
        SupportedVersion = supportedVersion;
    }

    /// <summary>The manifest, file or table that carries the format version.</summary>
    public string Location { get; }

    /// <summary>The format version found.</summary>
    public long FoundVersion { get; }

    /// <summary>The newest format version this library reads.</summary>
    public long SupportedVersion { get; }
}
