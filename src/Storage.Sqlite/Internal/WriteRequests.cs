using Storage.Internal;

namespace Storage.Sqlite.Internal;

/// <summary>
/// One writer's request to the group commit. <see cref="Apply"/> runs inside the group's transaction
/// (and the request's own savepoint) and sees every earlier request of the group.
/// </summary>
internal abstract class WriteRequest
{
    /// <summary>A page and its WAL frame header.</summary>
    protected const long PageBytes = 4096 + 24;

    /// <summary>Applies the request; a <see cref="VersionConflictException"/> or <see cref="OverflowException"/> must be raised before anything is written.</summary>
    public abstract object Apply(WriteContext context);

    /// <summary>
    /// A generous estimate of what the request adds to the write-ahead log, so the store can skip
    /// looking at the log's size after small commits; <see cref="long.MaxValue"/> when it cannot be
    /// bounded (the store then looks right after the commit).
    /// </summary>
    public virtual long WalBytesEstimate => 2 * PageBytes;
}

internal sealed class BatchRequest(string partition, IReadOnlyList<WriteOperation> operations) : WriteRequest
{
    public string Partition { get; } = partition;

    public IReadOnlyList<WriteOperation> Operations { get; } = operations;

    public override object Apply(WriteContext context) => context.ApplyBatch(Partition, Operations);

    /// <summary>Twice the bytes written, plus four pages per operation (leaf and interior pages of the tables and indexes it touches) and two for the partition's row and log.</summary>
    public override long WalBytesEstimate
    {
        get
        {
            long estimate = 2 * PageBytes;
            foreach (var operation in Operations)
            {
                estimate += (4 * PageBytes) + (2L * (operation.Value.Length + operation.EventBytes));
            }

            return estimate;
        }
    }
}

internal sealed class IncrementRequest(string partition, string name, long delta) : WriteRequest
{
    public string Partition { get; } = partition;

    public string Name { get; } = name;

    public long Delta { get; } = delta;

    public override object Apply(WriteContext context) => context.Increment(Partition, Name, Delta);
}

internal sealed class DeletePartitionRequest(string partition) : WriteRequest
{
    public string Partition { get; } = partition;

    public override object Apply(WriteContext context) => context.DeletePartition(Partition);

    /// <summary>Unbounded: a partition may be large.</summary>
    public override long WalBytesEstimate => long.MaxValue;
}

internal sealed class PurgeRequest : WriteRequest
{
    public static PurgeRequest Instance { get; } = new();

    public override object Apply(WriteContext context) => context.PurgeExpired();

    /// <summary>Unbounded: it may remove many documents.</summary>
    public override long WalBytesEstimate => long.MaxValue;
}

/// <summary>
/// The state of a group's transaction as its requests apply, one after the other: every read goes
/// to the database inside the transaction, so each request sees what the ones before it wrote — and
/// what other processes committed before the transaction began.
/// </summary>
internal sealed class WriteContext(SqliteSession session, string path, DateTimeOffset now, TimeSpan tombstoneRetention)
{
    private readonly long _nowMs = now.ToUnixTimeMilliseconds();

    public CommitResult ApplyBatch(string partition, IReadOnlyList<WriteOperation> operations)
    {
        // Check every condition and stream expectation against the state before the batch, in batch
        // order; nothing is written on a conflict. (A batch names each document and stream once.)
        var live = new DocumentState?[operations.Count];
        var stored = new bool[operations.Count];
        var appends = new AppendState[operations.Count];
        var changes = false;
        for (var i = 0; i < operations.Count; i++)
        {
            var op = operations[i];
            if (op.Kind == WriteOperationKind.Append)
            {
                appends[i] = PlanAppend(partition, op, i);
                changes |= appends[i].Decision == AppendDecision.Append;
                continue;
            }

            live[i] = LiveDocument(partition, op.Collection, op.Key, out stored[i]);
            if (!op.Condition.IsSatisfiedBy(live[i]?.Version))
            {
                throw new VersionConflictException(partition, op.Collection, op.Key, op.Condition, live[i]?.Version, i);
            }

            changes |= op.Kind == WriteOperationKind.Put || live[i] is not null;
        }

        var outcomes = new OperationOutcome[operations.Count];
        if (!changes)
        {
            // Only deletes of missing documents and recognized retries: no revision is taken, the partition is not created.
            // A partition that does not exist has revision 0 (the floor only seeds its first commit).
            for (var i = 0; i < operations.Count; i++)
            {
                outcomes[i] = operations[i].Kind == WriteOperationKind.Append ? AlreadyStored(operations[i], appends[i]) : new OperationOutcome(false, null);
            }

            return new CommitResult(session.Scalar(Sql.GetPartitionRevision, partition) is long current ? current : 0, changed: false, outcomes);
        }

        var revision = TakeRevision(partition);
        for (var i = 0; i < operations.Count; i++)
        {
            var op = operations[i];
            if (op.Kind == WriteOperationKind.Append)
            {
                outcomes[i] = appends[i].Decision == AppendDecision.Append ? Append(partition, op, appends[i].CurrentVersion, revision) : AlreadyStored(op, appends[i]);
            }
            else if (op.Kind == WriteOperationKind.Put)
            {
                var createdAt = live[i]?.CreatedAtMs ?? _nowMs;
                session.Execute(Sql.PutDocument, partition, op.Collection, op.Key, ToArray(op.Value), revision, createdAt, _nowMs, op.ExpiresAt?.ToUnixTimeMilliseconds());

                // A tombstone exists only while the key has no row (a put removes it), so an update skips the statement.
                if (!stored[i])
                {
                    session.Execute(Sql.DeleteTombstone, partition, op.Collection, op.Key);
                }

                outcomes[i] = new OperationOutcome(live[i] is not null, revision);
            }
            else
            {
                // An expired document stays until a purge (or a put) removes it, so purge counts match every backend;
                // deleting it changes nothing and leaves no tombstone.
                if (live[i] is not null)
                {
                    session.Execute(Sql.DeleteDocument, partition, op.Collection, op.Key);
                    session.Execute(Sql.PutTombstone, partition, op.Collection, op.Key, revision, _nowMs);
                }

                outcomes[i] = new OperationOutcome(live[i] is not null, null);
            }
        }

        return new CommitResult(revision, changed: true, outcomes);
    }

    public long Increment(string partition, string name, long delta)
    {
        var current = session.Scalar(Sql.GetSequence, partition, name) is { } stored ? (long)stored : 0;
        var value = Batches.AddToSequence(name, current, delta);
        var revision = TakeRevision(partition);
        session.Execute(Sql.SetSequence, partition, name, value, revision);
        return value;
    }

    public bool DeletePartition(string partition)
    {
        if (session.Scalar(Sql.GetPartitionRevision, partition) is not long revision)
        {
            return false;
        }

        // A partition written again later continues above every version it had.
        session.Execute(Sql.RaiseRevisionFloor, revision);
        session.Execute(Sql.DeletePartitionDocuments, partition);
        session.Execute(Sql.DeletePartitionSequences, partition);
        session.Execute(Sql.DeletePartitionEvents, partition);
        session.Execute(Sql.DeletePartitionStreams, partition);
        session.Execute(Sql.DeletePartitionTombstones, partition);
        session.Execute(Sql.DeletePartition, partition);
        return true;
    }

    /// <summary>
    /// Removes expired documents (the count returned) and drops tombstones past the retention; each
    /// partition that loses tombstones can no longer be resumed from before the newest of them.
    /// </summary>
    public long PurgeExpired()
    {
        var purged = session.Execute(Sql.PurgeExpired, _nowMs);

        // A tombstone goes when deleted_at + retention <= now, i.e. deleted_at <= now - retention rounded up to milliseconds.
        // (Divided first, so TimeSpan.MaxValue does not overflow.)
        var retentionMs = (tombstoneRetention.Ticks / TimeSpan.TicksPerMillisecond) + (tombstoneRetention.Ticks % TimeSpan.TicksPerMillisecond > 0 ? 1 : 0);
        var cutoff = _nowMs - retentionMs;
        session.Execute(Sql.RaiseOldestResumable, cutoff);
        session.Execute(Sql.PurgeTombstones, cutoff);
        return purged;
    }

    /// <summary>Takes the partition's next revision: above its last one, or above the store's floor when it does not exist.</summary>
    private long TakeRevision(string partition)
    {
        var revision = (session.Scalar(Sql.GetPartitionRevision, partition) is long current ? current : RevisionFloor()) + 1;
        session.Execute(Sql.SetPartitionRevision, partition, revision);
        return revision;
    }

    private long RevisionFloor() => session.Scalar(Sql.GetMeta, Schema.MetaRevisionFloor) is long floor ? floor : 0;

    /// <summary>Decides an append against the stream as this transaction sees it (earlier requests of the group included); throws on a conflict.</summary>
    private AppendState PlanAppend(string partition, WriteOperation op, int index)
    {
        var stream = op.Stream!;
        var current = session.Scalar(Sql.GetStreamVersion, partition, stream) is long version ? version : 0;
        var plan = AppendPlan.Create(op.ExpectedVersion, current, op.Events.Count);
        var decision = plan.Decision;
        if (decision == AppendDecision.CompareStoredIds)
        {
            var stored = new List<Guid>(op.Events.Count);
            using (var reader = session.Query(Sql.GetEventIds, partition, stream, plan.WindowFirst, plan.WindowFirst + op.Events.Count - 1))
            {
                while (reader.Read())
                {
                    stored.Add(ParseEventId(reader.GetString(0), path, stream));
                }
            }

            decision = plan.Resolve(op.ExpectedVersion, op.Events, stored);
        }

        if (decision == AppendDecision.Conflict)
        {
            throw new VersionConflictException(partition, stream, op.ExpectedVersion, current, index);
        }

        return new AppendState(decision, current);
    }

    private OperationOutcome Append(string partition, WriteOperation op, long currentVersion, long revision)
    {
        var stream = op.Stream!;
        var version = currentVersion;
        foreach (var e in op.Events)
        {
            version++;
            session.Execute(
                Sql.InsertEvent,
                partition,
                stream,
                version,
                revision,
                FormatEventId(e.Id),
                e.Type,
                ToArray(e.Data),
                e.Metadata.IsEmpty ? null : ToArray(e.Metadata),
                _nowMs);
        }

        session.Execute(Sql.SetStreamVersion, partition, stream, version);
        return new OperationOutcome(currentVersion > 0, version);
    }

    // A recognized retry reports the version of the last of its events, as stored earlier.
    private static OperationOutcome AlreadyStored(WriteOperation op, AppendState state)
        => new(true, AppendPlan.AlreadyStoredVersion(op.ExpectedVersion, state.CurrentVersion, op.Events.Count));

    /// <summary>Event ids are stored as text in the 'D' form (lowercase, with hyphens), readable in any SQLite client.</summary>
    internal static string FormatEventId(Guid id) => id.ToString("D");

    internal static Guid ParseEventId(string text, string path, string stream)
        => Guid.TryParseExact(text, "D", out var id) ? id : throw new CorruptDataException(path, SqliteErrors.BadEventIdReason(stream, text));

    /// <summary>The document if it is live; <paramref name="stored"/> says whether it has a row at all (live or expired).</summary>
    private DocumentState? LiveDocument(string partition, string collection, string key, out bool stored)
    {
        using var reader = session.Query(Sql.GetDocumentState, partition, collection, key);
        stored = reader.Read();
        if (!stored)
        {
            return null;
        }

        var expiresAt = reader.IsDBNull(2) ? (long?)null : reader.GetInt64(2);
        return expiresAt is { } e && e <= _nowMs ? null : new DocumentState(reader.GetInt64(0), reader.GetInt64(1));
    }

    private static byte[] ToArray(ReadOnlyMemory<byte> value)
        => System.Runtime.InteropServices.MemoryMarshal.TryGetArray(value, out var segment) && segment.Offset == 0 && segment.Count == segment.Array!.Length
            ? segment.Array
            : value.ToArray();

    private readonly record struct DocumentState(long Version, long CreatedAtMs);

    private readonly record struct AppendState(AppendDecision Decision, long CurrentVersion);
}
