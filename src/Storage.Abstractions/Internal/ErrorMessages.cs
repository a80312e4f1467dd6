using System.Globalization;

namespace Storage.Internal;

/// <summary>
/// Every message the library's errors carry, in one place so that backends say the same thing and
/// tests assert through the same accessor.
/// </summary>
internal static class ErrorMessages
{
    private static string F(string format, params object?[] args) => string.Format(CultureInfo.InvariantCulture, format, args);

    /// <summary>A key or name that is null or empty.</summary>
    public static string Empty(string what) => F("The {0} must not be empty.", what);

    /// <summary>A key that holds a NUL character.</summary>
    public static string ContainsNul(string what) => F("The {0} must not contain the NUL character (U+0000).", what);

    /// <summary>A key that is not valid UTF-16.</summary>
    public static string UnpairedSurrogate(string what, int index) => F("The {0} is not valid Unicode: it has an unpaired surrogate at index {1}.", what, index);

    /// <summary>A key over its byte limit.</summary>
    public static string TooLong(string what, int bytes, int max) => F("The {0} is {1} UTF-8 bytes long; the limit is {2}.", what, bytes, max);

    /// <summary>A collection or sequence name outside the allowed characters.</summary>
    public static string InvalidName(string name) => F(
        "'{0}' is not a valid collection or sequence name: use 1 to {1} ASCII letters, digits, '_', '-' or '.', starting with a letter.",
        name.Length > 80 ? name[..80] + "…" : name,
        StoreLimits.MaxNameLength);

    /// <summary>A value that is not one valid JSON value.</summary>
    public static string InvalidJson(string reason) => F("The value is not one valid JSON value in UTF-8: {0}", reason);

    /// <summary>A value over the size limit.</summary>
    public static string ValueTooLarge(int bytes) => F("The value is {0} bytes; the limit is {1}.", bytes, StoreLimits.MaxValueBytes);

    /// <summary>An empty batch.</summary>
    public static string EmptyBatch => "A batch must hold at least one operation.";

    /// <summary>A batch with too many operations.</summary>
    public static string BatchTooLarge(long count) => F("The batch holds {0} operations; the limit is {1}.", count, StoreLimits.MaxBatchOperations);

    /// <summary>A batch whose values are too large together.</summary>
    public static string BatchTooManyBytes(long bytes) => F("The batch's values add up to {0} bytes; the limit is {1}.", bytes, StoreLimits.MaxBatchBytes);

    /// <summary>A batch that touches a document twice.</summary>
    public static string DuplicateInBatch(string collection, string key, int first, int second) => F(
        "The batch touches document '{0}'/'{1}' twice (operations {2} and {3}); a batch may touch each document once.", collection, key, first, second);

    /// <summary>A batch that holds a null operation.</summary>
    public static string NullOperation(int index) => F("Operation {0} of the batch is null.", index);

    /// <summary>A page size out of range.</summary>
    public static string InvalidLimit(int limit) => F("The page size is {0}; it must be between 1 and {1}.", limit, StoreLimits.MaxPageSize);

    /// <summary>A continuation token that is malformed or from another listing.</summary>
    public static string InvalidContinuationToken => "The continuation token is not valid for this listing: pass the token of the previous page of the same listing, with the same options.";

    /// <summary>A sequence delta below 1.</summary>
    public static string InvalidDelta(long delta) => F("The sequence increment is {0}; it must be at least 1.", delta);

    /// <summary>A sequence that would overflow.</summary>
    public static string SequenceOverflow(string name, long current, long delta) => F("Sequence '{0}' is at {1}; adding {2} would pass the largest 64-bit value.", name, current, delta);

    /// <summary>An expiry out of range.</summary>
    public static string InvalidExpiry(DateTimeOffset value) => F("The expiry {0:O} is out of range: it must lie between {1:O} and {2:O}.", value, StoreLimits.MinExpiry, StoreLimits.MaxExpiry);

    /// <summary>A failed condition.</summary>
    public static string VersionConflict(string collection, string key, WriteCondition condition, long? actualVersion, int operationIndex) => F(
        "The condition of operation {0} on '{1}'/'{2}' did not hold: it {3}, but the document {4}. Nothing was written.",
        operationIndex,
        collection,
        key,
        condition.Kind == WriteConditionKind.MustNotExist ? "must not exist" : F("must have version {0}", condition.Version),
        actualVersion is { } v ? F("has version {0}", v) : "does not exist");

    /// <summary>Corrupt stored data.</summary>
    public static string CorruptData(string location, string reason) => F("Stored data at '{0}' is corrupt: {1}. It was left as it is; restore it from a backup or repair it by hand.", location, reason);

    /// <summary>A format newer than this library.</summary>
    public static string UnsupportedFormat(string location, long found, long supported) => F(
        "'{0}' has format version {1}, but this library reads versions up to {2}: it was written by a newer version of Storage. Upgrade the library; nothing was changed.",
        location, found, supported);

    /// <summary>An append without events.</summary>
    public static string EmptyAppend => "An append must hold at least one event.";

    /// <summary>A null event.</summary>
    public static string NullEvent(int index) => F("Event {0} of the append is null.", index);

    /// <summary>An event id of <see cref="Guid.Empty"/>.</summary>
    public static string EmptyEventId => "The event id must not be the empty GUID.";

    /// <summary>Two events of one append with the same id.</summary>
    public static string DuplicateEventId(Guid id) => F("The append holds event id {0} twice; event ids must be distinct.", id);

    /// <summary>Two appends to one stream in a batch.</summary>
    public static string DuplicateStreamInBatch(string stream, int first, int second) => F(
        "Operations {0} and {1} of the batch both append to stream '{2}'; put all its events in one append.", first, second, stream);

    /// <summary>A stream version below 1.</summary>
    public static string InvalidStreamVersion(long version) => F("The stream version is {0}; it must be at least 1.", version);

    /// <summary>A negative revision.</summary>
    public static string InvalidRevision(long revision) => F("The revision is {0}; it must be at least 0.", revision);

    /// <summary>A failed stream expectation.</summary>
    public static string StreamVersionConflict(string stream, ExpectedStreamVersion expected, long actualVersion, int operationIndex) => F(
        "The append of operation {0} to stream '{1}' expected {2}, but the stream {3}. Nothing was written.",
        operationIndex,
        stream,
        expected.Kind == ExpectedStreamVersionKind.NoStream ? "no stream" : F("version {0}", expected.Version),
        actualVersion == 0 ? "does not exist" : F("is at version {0}", actualVersion));

    /// <summary>A change-feed read from before the oldest change kept.</summary>
    public static string ChangesTruncated(string partition, long afterRevision, long oldestResumable) => oldestResumable == 0
        ? F("Partition '{0}' does not exist (it was deleted), so its changes after revision {1} cannot be read. Drop your copy of it and read its changes afresh from revision 0.", partition, afterRevision)
        : F("The changes of partition '{0}' after revision {1} are no longer complete: the feed can resume only from revision {2} or later (older tombstones were dropped, or the partition was deleted and created again). Copy the partition afresh by reading its changes from revision 0, then resume from there.", partition, afterRevision, oldestResumable);

    /// <summary>The store-wide cursor no longer reaches back to a position.</summary>
    public static string ChangedPartitionsTruncated(long afterPosition, long oldestResumable) => F(
        "The store's changed partitions after position {0} are no longer complete: marks of deleted partitions older than the tombstone retention were dropped, and the cursor can resume only from position {1} or later. Read it afresh from position 0, which lists every partition, and drop your copies of the partitions it does not list.", afterPosition, oldestResumable);

    /// <summary>A change page applied over a gap.</summary>
    public static string ApplyGap(string partition, long afterRevision, long revision) => F(
        "The changes of partition '{0}' after revision {1} cannot be applied: the partition is at revision {2} here, so the changes between would be missing. Read the source's changes after revision {2} instead (or copy the partition afresh).", partition, afterRevision, revision);

    /// <summary>A change that cannot be applied.</summary>
    public static string InvalidChange(string partition, string item, string rule) => F(
        "A change of partition '{0}' cannot be applied: {1} {2}.", partition, item, rule);

    /// <summary>An index path that does not parse.</summary>
    public static string InvalidIndexPath(string path) => F(
        "The index path '{0}' is not valid: it must be 1 to {1} property names separated by '.', none of them empty.", path, IndexPath.MaxDepth);

    /// <summary>An index option out of range.</summary>
    public static string InvalidIndexOption(string name, string option) => F("The {1} of index '{0}' is not valid.", name, option);

    /// <summary>A document value of the wrong type for an index.</summary>
    public static string WrongIndexValue(string collection, string index, string path, string reason) => F(
        "The document cannot be indexed by '{0}.{1}' (path '{2}'): {3}. Nothing was written.", collection, index, path, reason);

    /// <summary>Too many values for one index in one document.</summary>
    public static string TooManyIndexValues(string collection, string index, int count) => F(
        "The document gives index '{0}.{1}' {2} distinct values; the limit is {3}. Nothing was written.", collection, index, count, StoreLimits.MaxIndexValuesPerDocument);

    /// <summary>Two declarations of one index.</summary>
    public static string DuplicateIndex(string collection, string index) => F("Index '{0}.{1}' is declared twice.", collection, index);

    /// <summary>A query of an index that is not declared.</summary>
    public static string UnknownIndex(string collection, string index) => F("There is no index '{0}.{1}'; declare it in the store's options.", collection, index);

    /// <summary>An index query whose options do not fit together.</summary>
    public static string InvalidIndexQuery(string collection, string index, string reason) => F("The query of index '{0}.{1}' is not valid: {2}.", collection, index, reason);

    /// <summary>A unique value already taken.</summary>
    public static string UniqueViolation(string collection, string index, IndexScope scope, IndexValue value) => F(
        "The value '{0}' of unique index '{1}.{2}' is already taken{3}. Nothing was written.",
        value, collection, index, scope == IndexScope.Global ? " in this store" : " in this partition");

    /// <summary>A declared index cannot be built from the existing documents at open.</summary>
    public static string IndexBuildFailed(string collection, string index, string partition, string key, string reason) => F(
        "Index '{0}.{1}' cannot be built from the existing documents: document '{3}' in partition '{2}' {4}. The store was not opened and nothing was changed; fix the document or the index declaration.",
        collection, index, partition, key, reason);

    /// <summary>Another instance changed the store's index declarations.</summary>
    public static string IndexDeclarationsChanged => "Another instance opened this store with different index declarations since this instance opened, so this instance can no longer keep the indexes consistent. Nothing was written; dispose this instance and open the store again with the current declarations (every instance of one store must declare the same indexes).";

    /// <summary>An imported partition that is null.</summary>
    public static string NullImportedPartition(long index) => F("Partition {0} of the import is null.", index);

    /// <summary>A partition key that appears twice in one import.</summary>
    public static string DuplicateImportedPartition(string partition, long first, long second) => F(
        "Partition '{0}' appears twice in the import (partitions {1} and {2}); an import writes each partition once, whole.", partition, first, second);

    /// <summary>An imported operation that is not a put.</summary>
    public static string ImportNotPut(int operationIndex, WriteOperationKind kind) => F(
        "Operation {0} of the imported partition is {1}; an import writes new documents only, as puts.", operationIndex, kind == WriteOperationKind.Delete ? "a delete" : "an append");

    /// <summary>An imported put with a condition.</summary>
    public static string ImportCondition(int operationIndex) => F(
        "Operation {0} of the imported partition carries a condition; an import writes new documents only, so conditions do not apply (each put must not exist).", operationIndex);

    /// <summary>A write refused by the store's read-only fence.</summary>
    public static string ReadOnly => "The store is read-only: its read-only fence is set, so nothing was written. Reads work; try the write again once the fence is cleared.";

    /// <summary>A write through a store opened as a reader.</summary>
    public static string Reader => "This store was opened as a reader of a store another process owns: it reads and never writes, so nothing was written. Write through the store's owner.";

    /// <summary>A restore into a partition that holds a different state.</summary>
    public static string RestoreConflict(string partition, IReadOnlyList<ExportItem> differences) => F(
        "Partition '{0}' exists with a different state ({1} item(s) differ, first: {2}); nothing was written. Restore with RestoreMode.Replace to replace it, or delete the partition first.",
        partition,
        differences.Count,
        differences.Count == 0 ? "none" : Describe(differences[0]));

    /// <summary>An exported state that no store can hold.</summary>
    public static string InvalidRestore(string partition, string what, string rule) => F(
        "The state of partition '{0}' cannot be restored: {1} {2}. Nothing was written.", partition, what, rule);

    /// <summary>A partition key that appears twice in one restore.</summary>
    public static string DuplicateRestoredPartition(string partition, long first, long second) => F(
        "Partition '{0}' appears twice in the restore (partitions {1} and {2}); a restore writes each partition once.", partition, first, second);

    private static string Describe(ExportItem item) => item.Kind switch
    {
        ExportItemKind.Partition => F("the partition's {0}", item.Name),
        ExportItemKind.Document => F("document '{0}/{1}'", item.Collection, item.Name),
        ExportItemKind.Tombstone => F("the tombstone of '{0}/{1}'", item.Collection, item.Name),
        ExportItemKind.Sequence => F("sequence '{0}'", item.Name),
        _ => F("stream '{0}'", item.Name),
    };

    /// <summary>A store used after it was disposed.</summary>
    public static string Disposed => "The store has been disposed.";
}
