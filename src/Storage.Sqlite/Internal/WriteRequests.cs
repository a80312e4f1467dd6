using Storage.Internal;

namespace Storage.Sqlite.Internal;

/// <summary>
/// One writer's request to the group commit. <see cref="Apply"/> runs inside the group's transaction
/// (and the request's own savepoint) and sees every earlier request of the group.
/// </summary>
internal abstract class WriteRequest
{
    /// <summary>Applies the request; a <see cref="VersionConflictException"/> or <see cref="OverflowException"/> must be raised before anything is written.</summary>
    public abstract object Apply(WriteContext context);
}

internal sealed class BatchRequest(string partition, IReadOnlyList<WriteOperation> operations) : WriteRequest
{
    public string Partition { get; } = partition;

    public IReadOnlyList<WriteOperation> Operations { get; } = operations;

    public override object Apply(WriteContext context) => context.ApplyBatch(Partition, Operations);
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
}

internal sealed class PurgeRequest : WriteRequest
{
    public static PurgeRequest Instance { get; } = new();

    public override object Apply(WriteContext context) => context.PurgeExpired();
}

/// <summary>
/// The state of a group's transaction as its requests apply, one after the other: every read goes
/// to the database inside the transaction, so each request sees what the ones before it wrote — and
/// what other processes committed before the transaction began.
/// </summary>
internal sealed class WriteContext(SqliteSession session, DateTimeOffset now)
{
    private readonly long _nowMs = now.ToUnixTimeMilliseconds();

    public CommitResult ApplyBatch(string partition, IReadOnlyList<WriteOperation> operations)
    {
        // Check every condition against the state before the batch; nothing is written on a conflict.
        var live = new DocumentState?[operations.Count];
        var changes = false;
        for (var i = 0; i < operations.Count; i++)
        {
            var op = operations[i];
            live[i] = LiveDocument(partition, op.Collection, op.Key);
            if (!op.Condition.IsSatisfiedBy(live[i]?.Version))
            {
                throw new VersionConflictException(partition, op.Collection, op.Key, op.Condition, live[i]?.Version, i);
            }

            changes |= op.Kind == WriteOperationKind.Put || live[i] is not null;
        }

        var outcomes = new OperationOutcome[operations.Count];
        if (!changes)
        {
            // Only deletes of missing documents: no revision is taken, the partition is not created.
            // A partition that does not exist has revision 0 (the floor only seeds its first commit).
            Array.Fill(outcomes, new OperationOutcome(false, null));
            return new CommitResult(session.Scalar(Sql.GetPartitionRevision, partition) is long current ? current : 0, changed: false, outcomes);
        }

        var revision = TakeRevision(partition);
        for (var i = 0; i < operations.Count; i++)
        {
            var op = operations[i];
            if (op.Kind == WriteOperationKind.Put)
            {
                var createdAt = live[i]?.CreatedAtMs ?? _nowMs;
                session.Execute(Sql.PutDocument, partition, op.Collection, op.Key, ToArray(op.Value), revision, createdAt, _nowMs, op.ExpiresAt?.ToUnixTimeMilliseconds());
                outcomes[i] = new OperationOutcome(live[i] is not null, revision);
            }
            else
            {
                // An expired document stays until a purge (or a put) removes it, so purge counts match every backend.
                if (live[i] is not null)
                {
                    session.Execute(Sql.DeleteDocument, partition, op.Collection, op.Key);
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
        TakeRevision(partition);
        session.Execute(Sql.SetSequence, partition, name, value);
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
        session.Execute(Sql.DeletePartition, partition);
        return true;
    }

    public long PurgeExpired() => session.Execute(Sql.PurgeExpired, _nowMs);

    /// <summary>Takes the partition's next revision: above its last one, or above the store's floor when it does not exist.</summary>
    private long TakeRevision(string partition)
    {
        var revision = (session.Scalar(Sql.GetPartitionRevision, partition) is long current ? current : RevisionFloor()) + 1;
        session.Execute(Sql.SetPartitionRevision, partition, revision);
        return revision;
    }

    private long RevisionFloor() => session.Scalar(Sql.GetMeta, Schema.MetaRevisionFloor) is long floor ? floor : 0;

    private DocumentState? LiveDocument(string partition, string collection, string key)
    {
        using var reader = session.Query(Sql.GetDocumentState, partition, collection, key);
        if (!reader.Read())
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
}
