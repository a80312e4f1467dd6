using System.Diagnostics.CodeAnalysis;

namespace Storage.Engine;

/// <summary>
/// One caller's write waiting in a group commit: a batch (with its puts' index values), a sequence
/// increment or a partition delete, on one partition. For a batch or an increment the backend loads
/// what it <see cref="Reads"/>, lets it <see cref="Apply"/> itself to a <see cref="PartitionWriter"/>
/// (which records its result, or the conflict that failed it), persists the writer's change and marks
/// it <see cref="Complete()"/>; a partition delete (<see cref="IsPartitionDelete"/>) the backend
/// carries out in its turn and completes with whether the partition existed.
/// </summary>
[Experimental(Experiments.BackendInterface)]
public sealed class PendingWrite
{
    private PartitionReads? _reads;
    private IReadOnlyList<WriteOperation>? _operations;
    private object? _result;
    private Exception? _error;

    private PendingWrite(string partition) => Partition = partition;

    /// <summary>The partition written.</summary>
    public string Partition { get; }

    /// <summary>
    /// The batch, for a batch; for a bulk import's partition, its puts as must-not-exist puts (copied on
    /// first use: <see cref="Apply"/> does without them when no put finds a live document).
    /// </summary>
    public IReadOnlyList<WriteOperation>? Operations
    {
        get => _operations ??= Imported is { } imported ? ImportValidator.AsMustNotExist(imported) : null;
        private init => _operations = value;
    }

    /// <summary>The index values of the batch's puts (<see cref="IndexCatalog.ExtractAll"/>), for a batch.</summary>
    public IReadOnlyList<IndexEntries?>? Entries { get; private init; }

    /// <summary>The sequence, for an increment.</summary>
    public string? Sequence { get; private init; }

    /// <summary>What the increment adds.</summary>
    public long Delta { get; private init; }

    /// <summary>Whether the write deletes its partition (and everything in it).</summary>
    public bool IsPartitionDelete { get; private init; }

    /// <summary>Whether the write purges its partition (expired documents, tombstones up to <see cref="TombstoneCutoff"/>); it completes with how many documents it removed.</summary>
    public bool IsPurge { get; private init; }

    /// <summary>For a purge: the tombstone rule's cutoff (<see cref="Timestamps.TombstoneCutoff"/>), none when <see langword="null"/>.</summary>
    public DateTimeOffset? TombstoneCutoff { get; private init; }

    /// <summary>
    /// The partition of a bulk import this write commits, when it is one: its <see cref="Operations"/>
    /// are the partition's puts as must-not-exist puts, so a backend without a faster path applies it as
    /// any batch; one with a faster path for a partition that does not exist yet may take it. Through
    /// <see cref="Apply"/> with the state, the puts go as they are when none of them finds a live document.
    /// </summary>
    public ImportedPartition? Imported { get; private init; }

    /// <summary>
    /// The state a restore writes (<see cref="IStoreRestore.RestorePartitionAsync"/>), when the write is
    /// one: the backend carries it out in the partition's turn — see <see cref="IsRestore"/>.
    /// </summary>
    public PartitionExport? Restored { get; private init; }

    /// <summary>
    /// Whether the write is a restore: in one atomic step, unless the partition's existence and revision
    /// differ from <see cref="RestoreOver"/> (then complete it with <see langword="false"/>, persisting
    /// nothing: the engine looks again), remove everything of the partition — documents, index entries,
    /// tombstones, sequences, streams and events — and write <see cref="Restored"/> exactly: every
    /// document with its version, times, expiry, bytes and index values (<see cref="Entries"/>, by
    /// position in <see cref="PartitionExport.Documents"/>), every tombstone, sequence (with its revision)
    /// and event (with its revision and time), the partition's revision and oldest resumable revision.
    /// The store's revision floor is left as it is. Before writing, <see cref="CheckRestore"/> decides its
    /// unique values. Complete it with <see langword="true"/> once it is persisted.
    /// </summary>
    public bool IsRestore => Restored is not null;

    /// <summary>For a restore: the revision the partition must be at for it to be written; <see langword="null"/> when the partition must not exist.</summary>
    public long? RestoreOver { get; private init; }

    /// <summary>
    /// For tests: an action the engine runs itself in the group's turn, where it stands in the group,
    /// instead of passing the write to the backend (see <see cref="EngineStore.RunInTurnAsync"/>).
    /// </summary>
    internal Func<object>? Action { get; private init; }

    /// <summary>What the write must load.</summary>
    public PartitionReads Reads => _reads ??= CreateReads();

    /// <summary>Whether <see cref="Apply"/> left the batch out (the uniqueness check deferred it): it must be applied again later.</summary>
    public bool LeftOut { get; private set; }

    /// <summary>
    /// What a write <see cref="LeftOut"/> must wait for before it is queued again (see <see cref="Defer"/>);
    /// <see langword="null"/> when it is not deferred.
    /// </summary>
    public Task? DeferredUntil { get; private set; }

    /// <summary>What the backend keeps about the write across its tries (a deferred write comes back as the same object).</summary>
    public object? BackendState { get; set; }

    /// <summary>Whether the write has its outcome: persisted, or failed by its own conflict.</summary>
    public bool IsCompleted { get; private set; }

    /// <summary>The result once completed: a <see cref="CommitResult"/> or the increment's new value.</summary>
    public object? Result => _result;

    /// <summary>The conflict that failed the write, once completed.</summary>
    public Exception? Error => _error;

    /// <summary>A batch.</summary>
    internal static PendingWrite Batch(string partition, IReadOnlyList<WriteOperation> operations, IReadOnlyList<IndexEntries?> entries)
        => new(partition) { Operations = operations, Entries = entries };

    /// <summary>A sequence increment.</summary>
    internal static PendingWrite Increment(string partition, string name, long delta)
        => new(partition) { Sequence = name, Delta = delta };

    /// <summary>One partition of a bulk import (validated), committed as a batch of its puts with <see cref="WriteCondition.MustNotExist"/> would be.</summary>
    internal static PendingWrite Import(ImportedPartition partition, IReadOnlyList<IndexEntries?> entries)
        => new(partition.Partition) { Entries = entries, Imported = partition };

    /// <summary>A purge of one partition in its turn, for a backend that purges partition by partition (see <see cref="IStoreBackend.PurgeAsync"/>).</summary>
    internal static PendingWrite Purge(string partition, DateTimeOffset? tombstoneCutoff) => new(partition) { IsPurge = true, TombstoneCutoff = tombstoneCutoff };

    /// <summary>For tests: an action to run in the partition's turn (the store's, for a backend that does not commit per partition).</summary>
    internal static PendingWrite InTurn(string partition, Func<object> action) => new(partition) { Action = action };

    /// <summary>A restore of a partition's state (validated), over the partition as the engine last read it.</summary>
    internal static PendingWrite Restore(PartitionExport state, IReadOnlyList<IndexEntries?> entries, long? over)
        => new(state.Partition) { Restored = state, Entries = entries, RestoreOver = over };

    /// <summary>A partition delete: it runs in the partition's turn, after the writes queued before it.</summary>
    internal static PendingWrite DeletePartition(string partition) => new(partition) { IsPartitionDelete = true };

    /// <summary>
    /// Applies the write to <paramref name="writer"/> (over the state of its partition). A conflict —
    /// <see cref="VersionConflictException"/>, <see cref="UniqueConstraintException"/>,
    /// <see cref="OverflowException"/> — completes it with that exception, having changed nothing. A
    /// bulk import's partition whose puts find no live document in <paramref name="state"/> (a partition
    /// that does not exist yet) is applied as its puts are, without a must-not-exist copy of each
    /// (<see cref="ImportValidator.NoneLive"/>).
    /// </summary>
    /// <param name="writer">The partition's writer.</param>
    /// <param name="state">The state <paramref name="writer"/> was created over; <see langword="null"/> when not at hand (an import then applies its must-not-exist copy).</param>
    /// <returns>Whether the write was applied (its result waits for the writer's change to be persisted).</returns>
    public bool Apply(PartitionWriter writer, PartitionState? state = null)
    {
        ArgumentNullException.ThrowIfNull(writer);
        if (IsPartitionDelete || IsPurge || IsRestore)
        {
            throw new InvalidOperationException("A partition delete, purge or restore is carried out by the backend, not applied to a writer.");
        }

        try
        {
            if (Imported is not null || Operations is not null)
            {
                var batch = Imported is { } imported && state is not null && ImportValidator.NoneLive(imported.Puts, writer, state) ? imported.Puts : Operations!;
                _result = writer.ApplyBatch(batch, Entries);
                LeftOut = _result is null;
                return !LeftOut;
            }

            _result = writer.Increment(Sequence!, Delta);
            return true;
        }
        catch (Exception e) when (e is VersionConflictException or UniqueConstraintException or OverflowException)
        {
            Fail(e);
            return false;
        }
    }

    /// <summary>
    /// Decides a restore's unique values before the backend writes it: the restored documents live at
    /// <paramref name="now"/> claim their values as the puts of one batch would, against the store's
    /// other partitions (the partition's own stored documents are all replaced). A value taken — by
    /// another partition's document or twice within the state — completes the write with
    /// <see cref="UniqueConstraintException"/> (its operation index is the document's position in
    /// <see cref="PartitionExport.Documents"/>).
    /// </summary>
    /// <param name="uniqueness">The backend's uniqueness check, as for a batch; <see langword="null"/> when the store has no unique indexes.</param>
    /// <param name="now">The commit's time: expired documents claim nothing.</param>
    /// <returns>Whether to write the restore; <see langword="false"/> when it failed or was left out (<see cref="LeftOut"/>: defer it as a batch).</returns>
    public bool CheckRestore(IUniquenessCheck? uniqueness, DateTimeOffset now)
    {
        var state = Restored ?? throw new InvalidOperationException("The write is not a restore.");
        if (uniqueness is null || Entries is null || Entries.All(static e => e is null))
        {
            return true;
        }

        var puts = new WriteOperation[state.Documents.Count];
        var claims = new IndexEntries?[puts.Length];
        for (var i = 0; i < puts.Length; i++)
        {
            var document = state.Documents[i];
            puts[i] = WriteOperation.Validated(document.Collection, document.Key, document.Value);
            claims[i] = Timestamps.IsExpired(document.ExpiresAt, now) ? null : Entries[i];
        }

        try
        {
            LeftOut = !uniqueness.Check(puts, claims, static _ => true);
            return !LeftOut;
        }
        catch (UniqueConstraintException e)
        {
            Fail(e);
            return false;
        }
    }

    /// <summary>Completes the write with the result <see cref="Apply"/> recorded, once its change is persisted.</summary>
    public void Complete() => IsCompleted = true;

    /// <summary>Completes a write the backend carried out itself (a partition delete: whether the partition existed).</summary>
    /// <param name="result">The result.</param>
    public void Complete(object result)
    {
        _result = result;
        IsCompleted = true;
    }

    /// <summary>Completes the write with a conflict of its own (a unique value the backend found taken while persisting, before anything of the write was kept).</summary>
    /// <param name="conflict">The exception.</param>
    public void Fail(Exception conflict)
    {
        _result = null;
        _error = conflict;
        IsCompleted = true;
    }

    /// <summary>
    /// Defers a write <see cref="Apply"/> left out (a unique value reserved by another partition's
    /// commit in flight): the backend leaves it without an outcome, and the engine, after the group,
    /// waits for <paramref name="waitFor"/> outside any commit turn and queues the write again. A
    /// caller cancelled while it waits gets <see cref="OperationCanceledException"/>, and nothing of
    /// the write is kept.
    /// </summary>
    /// <param name="waitFor">Completes when the write may be tried again.</param>
    public void Defer(Task waitFor)
    {
        ArgumentNullException.ThrowIfNull(waitFor);
        if (!LeftOut || IsCompleted)
        {
            throw new InvalidOperationException("Only a write left out of its group, without an outcome, can be deferred.");
        }

        DeferredUntil = waitFor;
    }

    /// <summary>Takes the deferral, for the engine queuing the write again.</summary>
    /// <returns>What the write waits for.</returns>
    internal Task TakeDeferral()
    {
        var waitFor = DeferredUntil!;
        DeferredUntil = null;
        LeftOut = false;
        _result = null;
        return waitFor;
    }

    private PartitionReads CreateReads()
    {
        var reads = new PartitionReads();
        AddReadsTo(reads);
        return reads;
    }

    /// <summary>Adds what the write must load to <paramref name="reads"/>: for a backend that applies several writes through one writer.</summary>
    /// <param name="reads">What the writer's state loads.</param>
    internal void AddReadsTo(PartitionReads reads)
    {
        // An import names its puts' documents; its must-not-exist copy is made only if it is applied.
        if (Imported is { } imported)
        {
            reads.AddBatch(imported.Puts);
        }
        else if (Operations is { } operations)
        {
            reads.AddBatch(operations);
        }
        else if (Sequence is not null)
        {
            reads.AddSequence(Sequence);
        }
    }
}
