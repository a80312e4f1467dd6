using System.Diagnostics.CodeAnalysis;

namespace Storage.Engine;

/// <summary>
/// A backend as the engine sees it: a translation of the engine's decisions into storage. The engine
/// (<see cref="EngineStore"/>) validates arguments, tracks the store's lifetime, reads the clock,
/// queues and groups writes, decides every batch (<see cref="PartitionWriter"/>), plans listings,
/// stream reads, change-feed pages and index queries, and builds the pages and tokens; the backend
/// loads the state a write needs, persists the write's net change atomically, and reads.
/// </summary>
/// <remarks>
/// Times passed in are the store's clock for the operation (<see cref="Timestamps.Now"/>); a backend
/// keeps documents whose expiry is at or before <c>now</c> out of every read. Keys are compared in
/// code-point order (<see cref="StorageKeyComparer"/>).
/// </remarks>
[Experimental(Experiments.BackendInterface)]
public interface IStoreBackend : IAsyncDisposable
{
    /// <summary>
    /// The backend's name in telemetry: OpenTelemetry's <c>db.system.name</c> on every span and
    /// measurement of the store (<c>sqlite</c>, <c>postgresql</c>, <c>json</c>, <c>memory</c>). Lower case,
    /// one of OpenTelemetry's well-known values when one applies.
    /// </summary>
    /// <seealso href="../../docs/observability.md"/>
    string SystemName { get; }

    /// <summary>
    /// How many partitions of a bulk import may be in flight at once (see <see cref="BatchImport"/>):
    /// at most this many minus one after a failing partition are imported.
    /// </summary>
    int ImportWindow { get; }

    /// <summary>
    /// Whether writes are grouped per partition: <see langword="true"/> gives each partition its own
    /// group commit (groups of different partitions commit at the same time, as a backend with a
    /// transaction or a file per partition can); <see langword="false"/> gives the store one (a group
    /// may span partitions, as a backend with a single writer needs).
    /// </summary>
    bool CommitsPerPartition { get; }

    /// <summary>
    /// Whether the backend was opened as a reader of a store that another process owns (a JSON store
    /// opened with <c>JsonStoreAccess.Reader</c>): it reads, and never writes. The engine then refuses
    /// every write — a commit, an increment, a partition delete, a purge, an import, a restore, a floor
    /// raise, an apply and a fence change — up front with <see cref="InvalidOperationException"/>, so
    /// none of them reaches the backend. <see langword="false"/> unless a backend says otherwise.
    /// </summary>
    /// <seealso href="../../docs/json-backend.md#reading-from-a-second-process"/>
    bool IsReader => false;

    /// <summary>
    /// Commits a group of writes (one partition's when <see cref="CommitsPerPartition"/>, else possibly
    /// several), in order: for each, load the <see cref="PendingWrite.Reads"/> of its partition into a
    /// <see cref="PartitionState"/>, let the write decide (<see cref="PendingWrite.Apply"/>), persist
    /// the writer's net change atomically, then <see cref="PendingWrite.Complete()"/> it. A write whose
    /// decision failed (a conflict) is completed with its exception by <see cref="PendingWrite.Apply"/>
    /// and persists nothing. A <see cref="PendingWrite.IsPartitionDelete"/> removes everything of its
    /// partition, raises the store's revision floor to the partition's revision, and completes with
    /// whether the partition existed; a <see cref="PendingWrite.IsPurge"/> purges its partition and
    /// completes with how many documents it removed; a <see cref="PendingWrite.IsRestore"/> replaces its
    /// partition with the restored state, as that property says.
    /// </summary>
    /// <param name="group">The writes.</param>
    /// <param name="now">The time they commit at.</param>
    /// <param name="cancellationToken">Cancels before anything is persisted.</param>
    /// <returns>A task that completes when every write of the group is completed.</returns>
    ValueTask CommitAsync(IReadOnlyList<PendingWrite> group, DateTimeOffset now, CancellationToken cancellationToken);

    /// <summary>
    /// Removes every document expired at <paramref name="now"/> and every tombstone deleted at or
    /// before <paramref name="tombstoneCutoff"/> (none when <see langword="null"/>); a partition that
    /// loses tombstones can no longer be resumed from before the newest of them. Takes no revision.
    /// A backend that purges partition by partition, in each partition's turn, calls
    /// <paramref name="purgeInTurn"/> for each partition that needs it: the engine queues a
    /// <see cref="PendingWrite.Purge"/> that <see cref="CommitAsync"/> then carries out.
    /// </summary>
    /// <param name="now">The store's clock.</param>
    /// <param name="tombstoneCutoff">The tombstone rule's cutoff (<see cref="Timestamps.TombstoneCutoff"/>).</param>
    /// <param name="purgeInTurn">Purges one partition through its group commit; returns how many documents it removed.</param>
    /// <param name="cancellationToken">Cancels before anything is removed.</param>
    /// <returns>How many documents were removed.</returns>
    ValueTask<long> PurgeAsync(DateTimeOffset now, DateTimeOffset? tombstoneCutoff, Func<string, CancellationToken, ValueTask<long>> purgeInTurn, CancellationToken cancellationToken);

    /// <summary>Reads a live document.</summary>
    /// <param name="partition">The partition.</param>
    /// <param name="collection">The collection.</param>
    /// <param name="key">The key.</param>
    /// <param name="now">The store's clock.</param>
    /// <param name="cancellationToken">Cancels the read.</param>
    /// <returns>The document, or <see langword="null"/> when there is no live one.</returns>
    ValueTask<StoredDocument?> GetAsync(string partition, string collection, string key, DateTimeOffset now, CancellationToken cancellationToken);

    /// <summary>Lists live documents of a collection whose keys are in <paramref name="range"/>, in key order.</summary>
    /// <param name="partition">The partition.</param>
    /// <param name="collection">The collection.</param>
    /// <param name="range">The keys.</param>
    /// <param name="descending">Whether in descending order.</param>
    /// <param name="limit">The most to return.</param>
    /// <param name="now">The store's clock.</param>
    /// <param name="cancellationToken">Cancels the read.</param>
    /// <returns>The documents, at most <paramref name="limit"/>.</returns>
    ValueTask<IReadOnlyList<StoredDocument>> ListDocumentsAsync(string partition, string collection, KeyRange range, bool descending, int limit, DateTimeOffset now, CancellationToken cancellationToken);

    /// <summary>Lists a partition's streams whose names are in <paramref name="range"/>, in name order.</summary>
    /// <param name="partition">The partition.</param>
    /// <param name="range">The names.</param>
    /// <param name="descending">Whether in descending order.</param>
    /// <param name="limit">The most to return.</param>
    /// <param name="cancellationToken">Cancels the read.</param>
    /// <returns>The streams, at most <paramref name="limit"/>.</returns>
    ValueTask<IReadOnlyList<StreamInfo>> ListStreamsAsync(string partition, KeyRange range, bool descending, int limit, CancellationToken cancellationToken);

    /// <summary>Lists the partitions that exist after <paramref name="after"/>, in key order.</summary>
    /// <param name="after">The key to start after (<see langword="null"/>: from the first).</param>
    /// <param name="limit">The most to return.</param>
    /// <param name="cancellationToken">Cancels the read.</param>
    /// <returns>The partitions, at most <paramref name="limit"/>.</returns>
    ValueTask<IReadOnlyList<PartitionInfo>> ListPartitionsAsync(string? after, int limit, CancellationToken cancellationToken);

    /// <summary>Reads a sequence's value (0 when it does not exist).</summary>
    /// <param name="partition">The partition.</param>
    /// <param name="name">The sequence.</param>
    /// <param name="cancellationToken">Cancels the read.</param>
    /// <returns>The value.</returns>
    ValueTask<long> GetSequenceAsync(string partition, string name, CancellationToken cancellationToken);

    /// <summary>Reads a stream's version and, in the same snapshot, its events in <see cref="StreamRead.Range"/> of that version, ascending.</summary>
    /// <param name="partition">The partition.</param>
    /// <param name="stream">The stream.</param>
    /// <param name="read">The read's plan.</param>
    /// <param name="cancellationToken">Cancels the read.</param>
    /// <returns>The stream's version (0 when it does not exist) and the events.</returns>
    ValueTask<(long Version, IReadOnlyList<StoredEvent> Events)> ReadStreamAsync(string partition, string stream, StreamRead read, CancellationToken cancellationToken);

    /// <summary>
    /// Reads, in one snapshot, a partition's feed state and its changes after
    /// <paramref name="afterRevision"/> in feed order (<see cref="ChangeFeedQuery.Order"/>): live
    /// documents at their versions, tombstones, events, and each sequence at the revision of its last
    /// increment. A backend may stop after <paramref name="fetch"/> changes, or once past
    /// <paramref name="limit"/> at the first change of a new revision.
    /// </summary>
    /// <param name="partition">The partition.</param>
    /// <param name="afterRevision">The revision to read after.</param>
    /// <param name="limit">The page size asked for.</param>
    /// <param name="fetch">The most changes to read (<see cref="ChangeFeedQuery.FetchSize"/>).</param>
    /// <param name="now">The store's clock.</param>
    /// <param name="cancellationToken">Cancels the read.</param>
    /// <returns>The candidates.</returns>
    ValueTask<ChangeCandidates> ReadChangesAsync(string partition, long afterRevision, int limit, int fetch, DateTimeOffset now, CancellationToken cancellationToken);

    /// <summary>Finds the matches of an index query in the plan's order (<see cref="IndexQueryPlan.Order"/>), after its cursor, at most <see cref="IndexQueryPlan.Limit"/> + 1; only live documents.</summary>
    /// <param name="plan">The query's plan.</param>
    /// <param name="now">The store's clock.</param>
    /// <param name="cancellationToken">Cancels the read.</param>
    /// <returns>The matches.</returns>
    ValueTask<IReadOnlyList<IndexMatch>> QueryAsync(IndexQueryPlan plan, DateTimeOffset now, CancellationToken cancellationToken);

    /// <summary>
    /// Sets or clears the store's read-only fence, in the store itself so that every instance and
    /// process sees it (see <see cref="IStoreFence"/>). Setting returns only once no write can commit
    /// any more: every commit in flight — in any instance — has ended. While the fence is set,
    /// <see cref="CommitAsync"/>, <see cref="PurgeAsync"/> and <see cref="IBulkImportBackend.ImportAsync"/>
    /// throw <see cref="StoreReadOnlyException"/>, having read the fence atomically with their commit
    /// (inside the transaction, or under the lock the setter waits for) and persisted nothing.
    /// </summary>
    /// <param name="readOnly">Whether to set or clear the fence.</param>
    /// <param name="cancellationToken">Cancels before the fence is changed.</param>
    /// <returns>A task that completes when the fence is in place (or gone).</returns>
    ValueTask SetReadOnlyAsync(bool readOnly, CancellationToken cancellationToken);

    /// <summary>Reads whether the store's read-only fence is set, as stored.</summary>
    /// <param name="cancellationToken">Cancels the read.</param>
    /// <returns>Whether writes are refused.</returns>
    ValueTask<bool> IsReadOnlyAsync(CancellationToken cancellationToken);

    /// <summary>Counts the live documents an index query matches.</summary>
    /// <param name="plan">The query's plan.</param>
    /// <param name="now">The store's clock.</param>
    /// <param name="cancellationToken">Cancels the read.</param>
    /// <returns>The count.</returns>
    ValueTask<long> CountAsync(IndexQueryPlan plan, DateTimeOffset now, CancellationToken cancellationToken);

    /// <summary>
    /// Reads a partition's complete stored state in one snapshot (a read transaction, the partition's
    /// published state, a lock): its revision and oldest resumable revision, every document expired or
    /// not, every tombstone, sequence and stream with all its events, in any order (the engine orders
    /// them). Holds at most this one partition in memory and caches nothing it would not cache anyway.
    /// </summary>
    /// <param name="partition">The partition.</param>
    /// <param name="cancellationToken">Cancels the read.</param>
    /// <returns>The partition's state, or <see langword="null"/> when it does not exist.</returns>
    /// <seealso href="../../docs/upgrade-path.md"/>
    ValueTask<PartitionExport?> ReadPartitionAsync(string partition, CancellationToken cancellationToken);

    /// <summary>
    /// Raises the store's revision floor to <paramref name="floor"/> when it is lower (never lowers it),
    /// durably, as a partition delete raises it. Refused with <see cref="StoreReadOnlyException"/> while
    /// the read-only fence is set.
    /// </summary>
    /// <param name="floor">The floor (0 or more).</param>
    /// <param name="cancellationToken">Cancels before the floor is changed.</param>
    /// <returns>A task that completes once the floor is stored.</returns>
    /// <seealso href="../../docs/upgrade-path.md#restore"/>
    ValueTask RaiseRevisionFloorAsync(long floor, CancellationToken cancellationToken);

    /// <summary>
    /// The store-wide cursor: the partitions whose latest change — or delete — has a position above
    /// <paramref name="afterPosition"/> and at most the current position, each once, ordered by position,
    /// then key (code-point order); whole positions only, stopping at the end of the position that reaches
    /// <paramref name="limit"/> partitions.
    /// </summary>
    /// <remarks>
    /// <para>
    /// Every commit that changes a partition — a batch that changes anything, an increment, an imported or
    /// restored partition, a partition delete; not a purge — gives the partition a store-wide
    /// <b>position</b> above every position this method has already reported as current; the partitions of
    /// one commit may share one. The <b>current position</b> is the highest position at or below which every
    /// change is visible to this read: a later read never reports a new change at or below it.
    /// </para>
    /// <para>
    /// A partition delete keeps a <b>mark</b> (the partition, its revision, the delete's position and time)
    /// until the partition is created again (its new position replaces the mark) or until a purge whose
    /// tombstone cutoff is at or after the delete's time drops it; dropping marks raises the
    /// <b>oldest position</b> to the highest position dropped, durably.
    /// </para>
    /// </remarks>
    /// <param name="afterPosition">The position to read after.</param>
    /// <param name="limit">How many partitions the page should reach.</param>
    /// <param name="cancellationToken">Cancels the read.</param>
    /// <returns>The partitions, whether more follow (up to the current position), the current and oldest positions and the revision floor, read together.</returns>
    ValueTask<ChangedPartitions> ReadChangedPartitionsAsync(long afterPosition, int limit, CancellationToken cancellationToken);

    /// <summary>Reads the store's revision floor: the highest revision of a deleted partition (0 if none).</summary>
    /// <param name="cancellationToken">Cancels the read.</param>
    /// <returns>The floor.</returns>
    ValueTask<long> ReadRevisionFloorAsync(CancellationToken cancellationToken);
}

/// <summary>
/// A backend that writes several restored partitions in one commit (a store's restore,
/// <see cref="IStoreRestore.RestoreAsync"/>, into partitions that do not exist yet) instead of one
/// <see cref="PendingWrite.Restore"/> per partition through the group commit. The engine cuts the
/// store's partitions into groups of about <see cref="RestoreGroupDocuments"/> documents (and at most
/// <see cref="StoreLimits.MaxBatchBytes"/> of values) and keeps every rule: it validates each state,
/// decides the outcome, and when a group is refused restores its partitions one by one through
/// <see cref="IStoreBackend.CommitAsync"/>, which reads, compares and reports each as usual.
/// </summary>
[Experimental(Experiments.BackendInterface)]
public interface IBulkRestoreBackend
{
    /// <summary>About how many documents one group holds (a partition larger than that is a group alone).</summary>
    int RestoreGroupDocuments { get; }

    /// <summary>
    /// Writes restores of partitions that must not exist (<see cref="PendingWrite.RestoreOver"/> is
    /// <see langword="null"/>), all in one atomic commit: either every one is written, completed with
    /// <see langword="true"/>, and the method returns <see langword="true"/>; or nothing is written and it
    /// returns <see langword="false"/> — a partition exists, or one's unique values are held
    /// (<see cref="PendingWrite.CheckRestore"/>, with the values the group's earlier partitions take) — and
    /// the engine restores them one by one. Refused with <see cref="StoreReadOnlyException"/> while the
    /// read-only fence is set, read atomically with the commit.
    /// </summary>
    /// <param name="restores">The restores, in input order, each of another partition.</param>
    /// <param name="cancellationToken">Cancels before anything is written.</param>
    /// <returns>Whether the group was written.</returns>
    ValueTask<bool> RestoreNewAsync(IReadOnlyList<PendingWrite> restores, CancellationToken cancellationToken);
}

/// <summary>
/// A backend that reads several partitions' exact states in one round trip, for a store's export
/// (<see cref="IStoreExport.ExportAsync"/>) instead of one <see cref="IStoreBackend.ReadPartitionAsync"/> per
/// partition: a server backend, whose cost per partition is a round trip and a few statements.
/// </summary>
[Experimental(Experiments.BackendInterface)]
public interface IBatchedExportBackend
{
    /// <summary>
    /// Reads the states of <paramref name="partitions"/>, all in one snapshot (each is one commit's state, as
    /// <see cref="IStoreBackend.ReadPartitionAsync"/> reads it); those that do not exist are left out.
    /// </summary>
    /// <param name="partitions">Distinct partition keys, in key order (at most <see cref="ExportBatchPartitions"/>).</param>
    /// <param name="cancellationToken">Cancels the read.</param>
    /// <returns>The existing partitions' states, in the order asked.</returns>
    ValueTask<IReadOnlyList<PartitionExport>> ReadPartitionsAsync(IReadOnlyList<string> partitions, CancellationToken cancellationToken);

    /// <summary>How many partitions one read asks for (the export holds that many at a time).</summary>
    int ExportBatchPartitions { get; }
}

/// <summary>
/// A backend that imports in its own way (several partitions per transaction, a binary copy) instead
/// of one <see cref="PendingWrite.Import"/> per partition through the group commit. It must keep the
/// contract of <see cref="IBulkImport.ImportAsync"/>, including the failure order of
/// <see cref="BatchImport"/>.
/// </summary>
[Experimental(Experiments.BackendInterface)]
public interface IBulkImportBackend
{
    /// <summary>Imports the partitions.</summary>
    /// <param name="partitions">The partitions, not yet validated.</param>
    /// <param name="indexes">The store's indexes (values are extracted before a partition is written).</param>
    /// <param name="cancellationToken">Stops the import between partitions.</param>
    /// <returns>How many partitions and documents were imported.</returns>
    ValueTask<ImportResult> ImportAsync(IAsyncEnumerable<ImportedPartition> partitions, IndexCatalog indexes, CancellationToken cancellationToken);
}

/// <summary>A page of the store-wide cursor as a backend reads it (<see cref="IStoreBackend.ReadChangedPartitionsAsync"/>).</summary>
/// <param name="Items">The partitions, by position then key.</param>
/// <param name="HasMore">Whether partitions with a later position, up to <paramref name="CurrentPosition"/>, were left out.</param>
/// <param name="CurrentPosition">The highest position at or below which every change is visible to this read.</param>
/// <param name="OldestPosition">The oldest position the cursor can resume after (besides 0): the highest position of a dropped mark, 0 if none.</param>
/// <param name="RevisionFloor">The store's revision floor.</param>
[Experimental(Experiments.BackendInterface)]
public sealed record ChangedPartitions(IReadOnlyList<PartitionChange> Items, bool HasMore, long CurrentPosition, long OldestPosition, long RevisionFloor);

/// <summary>A partition's feed state and its change candidates, read in one snapshot.</summary>
/// <param name="Exists">Whether the partition exists.</param>
/// <param name="Revision">Its revision.</param>
/// <param name="OldestResumable">The oldest revision a reader can resume after.</param>
/// <param name="Changes">The changes after the asked revision, in feed order.</param>
[Experimental(Experiments.BackendInterface)]
public sealed record ChangeCandidates(bool Exists, long Revision, long OldestResumable, IReadOnlyList<Change> Changes);
