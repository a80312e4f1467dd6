namespace Storage;

/// <summary>
/// A store that loads many new documents at once, partition by partition, faster than batches
/// through <see cref="IStore.CommitAsync"/> can: a capability a backend may implement beside
/// <see cref="IStore"/> (test with <c>store is IBulkImport import</c>). Every backend of this library
/// implements it.
/// </summary>
/// <remarks>
/// <para>
/// Each <see cref="ImportedPartition"/> commits exactly as <see cref="IStore.CommitAsync"/> of its puts
/// would if every put were <see cref="WriteCondition.MustNotExist"/>: whole or not at all, one new
/// revision for the partition (the next one; versions never repeat, also after a deleted partition),
/// every document's <see cref="StoredDocument.Version"/> that revision, created and updated at the
/// store clock's now, its expiry as given, index entries maintained, and the change feed shows the
/// puts. A partition may already hold other documents; a key whose live document exists fails the
/// partition (an expired document is replaced).
/// </para>
/// <para>
/// The import stops at the first partition that fails and throws that partition's exception.
/// Partitions imported before it stay imported, each whole. When a backend works on several
/// partitions at once, a window of W consecutive partitions (8 through batches, 16 for SQLite, 1 for
/// PostgreSQL), at most W − 1 of the partitions that follow the failing one in input order may have
/// been imported too (each whole), however the commits are scheduled: a partition starts only once
/// every partition W or more before it has committed, and the import returns only after every
/// commit it started has ended. The caller resumes by importing what is missing
/// (<see cref="IStore.GetAsync"/> or <see cref="IStore.ListPartitionsAsync"/> tell what is there).
/// Cancellation follows the same rule. When several partitions fail, the exception of the first of
/// them in input order is thrown.
/// </para>
/// <para>
/// The input is streamed: an import holds at most a bounded window of partitions in memory (the
/// backends document theirs; at most 8 partitions through batches, 16 for SQLite, one chunk of about
/// 10,000 documents or 8 MiB for PostgreSQL), plus the keys of the partitions seen so far, to refuse a
/// partition that appears twice.
/// </para>
/// <para>
/// Each partition's list of puts is copied as the partition is read, so a source may refill one list
/// for every partition it yields; the values' bytes are read until the partition commits, after later
/// partitions have been read, so a value's buffer must not be reused before the import returns.
/// </para>
/// </remarks>
/// <seealso href="../../docs/contract.md#bulk-import"/>
public interface IBulkImport
{
    /// <summary>Imports new documents into partitions, each partition in one commit of must-not-exist puts.</summary>
    /// <param name="partitions">The partitions to import, each key at most once, each with 1 to <see cref="StoreLimits.MaxBatchOperations"/> puts on distinct documents whose values add up to at most <see cref="StoreLimits.MaxBatchBytes"/>.</param>
    /// <param name="cancellationToken">Stops the import between partitions; partitions already committed stay.</param>
    /// <returns>How many partitions and documents were imported.</returns>
    /// <exception cref="ArgumentException">
    /// A partition is null, its key is not valid, it appears twice in the import, it holds no puts, too
    /// many or too large ones, or one document twice, an operation is not a put or carries a condition,
    /// or a put holds a value of the wrong type for one of its collection's indexes. Nothing of that
    /// partition was written.
    /// </exception>
    /// <exception cref="VersionConflictException">A put's document exists and is live (as a must-not-exist put reports it); nothing of that partition was written.</exception>
    /// <exception cref="UniqueConstraintException">A put would take a unique index value that a live document holds, or that an earlier partition of the import took; nothing of that partition was written.</exception>
    /// <exception cref="StoreUnavailableException">The backend could not be reached within its retry budget.</exception>
    /// <exception cref="OperationCanceledException">The import was cancelled.</exception>
    ValueTask<ImportResult> ImportAsync(IAsyncEnumerable<ImportedPartition> partitions, CancellationToken cancellationToken = default);
}

/// <summary>One partition of a bulk import: its key and its new documents.</summary>
/// <param name="Partition">The partition key.</param>
/// <param name="Puts">The documents, as puts without a condition (<see cref="WriteOperation.Put(string, string, ReadOnlyMemory{byte}, WriteCondition, DateTimeOffset?)"/>); the import checks them.</param>
/// <seealso href="../../docs/contract.md#bulk-import"/>
public sealed record ImportedPartition(string Partition, IReadOnlyList<WriteOperation> Puts);

/// <summary>What a bulk import wrote.</summary>
/// <param name="Partitions">How many partitions were imported.</param>
/// <param name="Documents">How many documents were imported.</param>
public sealed record ImportResult(long Partitions, long Documents);
