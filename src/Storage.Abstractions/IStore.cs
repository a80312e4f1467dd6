namespace Storage;

/// <summary>
/// A store of JSON documents grouped in partitions and collections, with versions, conditional
/// writes, atomic batches, ordered listing, sequences and expiry. Every backend (JSON files,
/// SQLite, PostgreSQL) implements it with the same observable behaviour; the conformance suite
/// proves it.
/// </summary>
/// <remarks>
/// <para>
/// A <em>partition</em> (usually one user or tenant) is the unit of atomicity: each partition has
/// a revision counter, every committed write or batch takes the next revision, and each document
/// it writes takes that revision as its version. Versions never repeat inside a partition, not
/// even after the partition is deleted and written again. A partition that does not exist has
/// revision 0.
/// </para>
/// <para>
/// Identifiers are checked before any I/O: partition and document keys are non-empty, valid
/// Unicode without NUL, at most <see cref="StoreLimits.MaxPartitionKeyBytes"/> and
/// <see cref="StoreLimits.MaxDocumentKeyBytes"/> UTF-8 bytes; collection and sequence names are
/// ASCII letters, digits, '_', '-' and '.', starting with a letter, at most
/// <see cref="StoreLimits.MaxNameLength"/> characters. Keys are compared ordinally: "Alice" and
/// "alice" differ, and so do the NFC and NFD spellings of one word.
/// </para>
/// <para>
/// A document whose <see cref="StoredDocument.ExpiresAt"/> is at or before the store's clock is
/// invisible to every operation, exactly as if it had been deleted. A put whose expiry has already
/// passed still commits (and takes a revision); the document is invisible at once.
/// </para>
/// <para>
/// Argument errors may be thrown by the call itself or by awaiting the returned task; callers
/// should simply await. After the store is disposed, every member throws
/// <see cref="ObjectDisposedException"/>.
/// </para>
/// </remarks>
/// <seealso href="../../docs/contract.md"/>
public interface IStore : IAsyncDisposable
{
    /// <summary>Reads one document.</summary>
    /// <param name="partition">The partition key.</param>
    /// <param name="collection">The collection name.</param>
    /// <param name="key">The document key.</param>
    /// <param name="cancellationToken">Cancels the read.</param>
    /// <returns>The document, or <see langword="null"/> when it does not exist or has expired.</returns>
    /// <exception cref="ArgumentException">An identifier is not valid.</exception>
    /// <exception cref="CorruptDataException">The partition's stored data fails its checks.</exception>
    /// <exception cref="StoreUnavailableException">The backend could not be reached within its retry budget.</exception>
    ValueTask<StoredDocument?> GetAsync(string partition, string collection, string key, CancellationToken cancellationToken = default);

    /// <summary>
    /// Applies a batch of puts and deletes to one partition, all or nothing. Each operation's
    /// condition is checked against the state before the batch; a batch may touch a document once.
    /// </summary>
    /// <param name="partition">The partition key.</param>
    /// <param name="operations">1 to <see cref="StoreLimits.MaxBatchOperations"/> operations on distinct documents, whose values add up to at most <see cref="StoreLimits.MaxBatchBytes"/>.</param>
    /// <param name="cancellationToken">Cancels the batch if it has not started to commit.</param>
    /// <returns>The revision the batch took and one outcome per operation.</returns>
    /// <exception cref="ArgumentException">The partition key is not valid, the batch is empty, too large, or touches a document twice, or a put holds a value of the wrong type for one of its collection's indexes.</exception>
    /// <exception cref="VersionConflictException">A condition did not hold; nothing was written. When several do not hold, the first in batch order is reported.</exception>
    /// <exception cref="UniqueConstraintException">A put would take a value of a unique index that a live document holds (after the batch); nothing was written.</exception>
    /// <exception cref="CorruptDataException">The partition's stored data fails its checks; nothing was written.</exception>
    /// <exception cref="StoreUnavailableException">The backend could not be reached within its retry budget.</exception>
    ValueTask<CommitResult> CommitAsync(string partition, IReadOnlyList<WriteOperation> operations, CancellationToken cancellationToken = default);

    /// <summary>Lists documents of one collection by key prefix and/or key range, a page at a time.</summary>
    /// <param name="partition">The partition key.</param>
    /// <param name="collection">The collection name.</param>
    /// <param name="options">Prefix, range, order, page size and continuation; <see langword="null"/> for the first page of everything in ascending order.</param>
    /// <param name="cancellationToken">Cancels the listing.</param>
    /// <returns>One page of live documents in code-point order of their keys.</returns>
    /// <exception cref="ArgumentException">An identifier or option is not valid, or the continuation token belongs to another listing.</exception>
    /// <exception cref="CorruptDataException">The partition's stored data fails its checks.</exception>
    ValueTask<DocumentPage> ListAsync(string partition, string collection, ListOptions? options = null, CancellationToken cancellationToken = default);

    /// <summary>Adds <paramref name="delta"/> to a named counter of the partition, atomically, and returns its new value. A counter starts at 0.</summary>
    /// <param name="partition">The partition key.</param>
    /// <param name="name">The sequence name.</param>
    /// <param name="delta">How much to add: at least 1 (reserve a block of ids with a larger delta).</param>
    /// <param name="cancellationToken">Cancels the increment if it has not started to commit.</param>
    /// <returns>The counter's new value: the last id of the reserved block.</returns>
    /// <exception cref="ArgumentException">An identifier is not valid or <paramref name="delta"/> is less than 1.</exception>
    /// <exception cref="OverflowException">The counter would pass <see cref="long.MaxValue"/>; it is unchanged and no revision is taken.</exception>
    ValueTask<long> IncrementSequenceAsync(string partition, string name, long delta = 1, CancellationToken cancellationToken = default);

    /// <summary>Reads a named counter without changing it.</summary>
    /// <param name="partition">The partition key.</param>
    /// <param name="name">The sequence name.</param>
    /// <param name="cancellationToken">Cancels the read.</param>
    /// <returns>The counter's current value; 0 when it was never incremented.</returns>
    /// <exception cref="ArgumentException">An identifier is not valid.</exception>
    ValueTask<long> GetSequenceAsync(string partition, string name, CancellationToken cancellationToken = default);

    /// <summary>Lists the partitions that hold data, in code-point order of their keys, with each one's current revision.</summary>
    /// <param name="options">Page size and continuation; <see langword="null"/> for the first page.</param>
    /// <param name="cancellationToken">Cancels the listing.</param>
    /// <returns>One page of partitions.</returns>
    /// <exception cref="ArgumentException">An option is not valid, or the continuation token belongs to another listing.</exception>
    ValueTask<PartitionPage> ListPartitionsAsync(PartitionListOptions? options = null, CancellationToken cancellationToken = default);

    /// <summary>
    /// Deletes a partition with all its documents and sequences (a user's "forget me"). The store
    /// raises its revision floor to the partition's last revision: every partition created
    /// afterwards (this key again, or any other) starts at floor + 1, so a stale version never
    /// matches. The floor keeps no trace of the deleted key.
    /// </summary>
    /// <param name="partition">The partition key.</param>
    /// <param name="cancellationToken">Cancels the delete if it has not started.</param>
    /// <returns><see langword="true"/> when the partition existed.</returns>
    /// <exception cref="ArgumentException">The partition key is not valid.</exception>
    ValueTask<bool> DeletePartitionAsync(string partition, CancellationToken cancellationToken = default);

    /// <summary>
    /// Physically removes every expired document of every partition, and drops the change feed's
    /// tombstones that are older than the store's tombstone retention. Expired documents are
    /// invisible whether or not they have been purged, and stay stored until this purge (or a put
    /// that replaces them), so the count is the same in every backend. Purging takes no revision; a
    /// partition that loses documents or tombstones can no longer be read by its change feed from
    /// before the newest of them (<see cref="ChangeFeedTruncatedException"/>).
    /// </summary>
    /// <param name="cancellationToken">Cancels the purge between partitions.</param>
    /// <returns>How many expired documents were removed.</returns>
    ValueTask<long> PurgeExpiredAsync(CancellationToken cancellationToken = default);

    /// <summary>
    /// Reads events of one stream, forwards or backwards from a version. Events are appended with
    /// <see cref="WriteOperation.Append"/> (alone or in a batch with documents) and never change.
    /// </summary>
    /// <param name="partition">The partition key.</param>
    /// <param name="stream">The stream id.</param>
    /// <param name="options">Start version, direction and page size; <see langword="null"/> for the first events forwards.</param>
    /// <param name="cancellationToken">Cancels the read.</param>
    /// <returns>The events in the order read, with the stream's version and where to continue; an empty page when the stream does not exist.</returns>
    /// <exception cref="ArgumentException">An identifier or option is not valid.</exception>
    /// <exception cref="CorruptDataException">The partition's stored data fails its checks.</exception>
    ValueTask<EventPage> ReadStreamAsync(string partition, string stream, ReadStreamOptions? options = null, CancellationToken cancellationToken = default);

    /// <summary>Lists the streams of a partition with their versions, by prefix and/or range of stream ids, a page at a time.</summary>
    /// <param name="partition">The partition key.</param>
    /// <param name="options">Prefix, range, order, page size and continuation (over stream ids); <see langword="null"/> for the first page of all streams.</param>
    /// <param name="cancellationToken">Cancels the listing.</param>
    /// <returns>One page of streams in code-point order of their ids.</returns>
    /// <exception cref="ArgumentException">An identifier or option is not valid, or the continuation token belongs to another listing.</exception>
    /// <exception cref="CorruptDataException">The partition's stored data fails its checks.</exception>
    ValueTask<StreamPage> ListStreamsAsync(string partition, ListOptions? options = null, CancellationToken cancellationToken = default);

    /// <summary>
    /// Reads the partition's committed changes after a revision: document puts (the document as of
    /// its latest revision), deletes (tombstones), stream appends and sequence changes, in revision
    /// order, whole commits at a time. A reader that resumes from the returned
    /// <see cref="ChangePage.LastRevision"/> never misses a change. The feed is compacted: a
    /// document or sequence written several times appears once, at its latest revision; a document
    /// that has expired appears too, as the put of its latest version, whose expiry says so (a copy
    /// holds what the store holds, and hides it as the store does).
    /// </summary>
    /// <param name="partition">The partition key.</param>
    /// <param name="afterRevision">The revision already seen; 0 to read the whole partition.</param>
    /// <param name="limit">
    /// The most changes one page returns, 1 to <see cref="StoreLimits.MaxPageSize"/>. A page holds
    /// whole commits only: it ends before a commit that would pass the limit, except that its first
    /// commit is always returned whole.
    /// </param>
    /// <param name="cancellationToken">Cancels the read.</param>
    /// <returns>The changes, the revision to resume after, and whether more follow.</returns>
    /// <exception cref="ArgumentException">The partition key is not valid, <paramref name="afterRevision"/> is negative or <paramref name="limit"/> is out of range.</exception>
    /// <exception cref="ChangeFeedTruncatedException">
    /// <paramref name="afterRevision"/> is above 0 but older than the feed keeps (tombstones past the
    /// retention were dropped, or the partition was deleted since): copy the partition afresh from revision 0.
    /// </exception>
    /// <exception cref="CorruptDataException">The partition's stored data fails its checks.</exception>
    ValueTask<ChangePage> ReadChangesAsync(string partition, long afterRevision, int limit = StoreLimits.DefaultPageSize, CancellationToken cancellationToken = default);

    /// <summary>
    /// Finds documents through a declared index: equality, a range or a prefix, in one partition or
    /// across all, in (value, partition, key) order, a page at a time. Expired documents never appear.
    /// A document with several values (an array) matches once per matching value.
    /// </summary>
    /// <param name="query">The index, the bounds, the partition, the order, the page size and the continuation.</param>
    /// <param name="cancellationToken">Cancels the query.</param>
    /// <returns>One page of matches.</returns>
    /// <exception cref="ArgumentException">The query is not valid, names an index the store does not declare, or the continuation token belongs to another query.</exception>
    /// <exception cref="CorruptDataException">Stored data fails its checks.</exception>
    ValueTask<QueryPage> QueryAsync(IndexQuery query, CancellationToken cancellationToken = default);

    /// <summary>Counts the matches of an index query (its page size, order and token are ignored).</summary>
    /// <param name="query">The index, the bounds and the partition.</param>
    /// <param name="cancellationToken">Cancels the count.</param>
    /// <returns>How many (value, document) matches there are.</returns>
    /// <exception cref="ArgumentException">The query is not valid or names an index the store does not declare.</exception>
    ValueTask<long> CountAsync(IndexQuery query, CancellationToken cancellationToken = default);
}
