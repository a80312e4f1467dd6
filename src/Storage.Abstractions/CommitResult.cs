namespace Storage;

/// <summary>The outcome of one operation of a committed batch.</summary>
/// <param name="Existed">Whether a live document was there before the operation (for a delete: whether it deleted anything; for an append: whether the stream existed).</param>
/// <param name="Version">The document's new version after a put; the stream's version after an append (the version of its last event, also when a retry found the events already stored); <see langword="null"/> after a delete.</param>
public readonly record struct OperationOutcome(bool Existed, long? Version);

/// <summary>The outcome of a committed batch.</summary>
public sealed class CommitResult
{
    /// <summary>Creates a result.</summary>
    /// <param name="revision">The revision this commit took, or the partition's unchanged revision when nothing changed.</param>
    /// <param name="changed">Whether the commit changed anything.</param>
    /// <param name="outcomes">One outcome per operation, in batch order.</param>
    public CommitResult(long revision, bool changed, IReadOnlyList<OperationOutcome> outcomes)
    {
        ArgumentNullException.ThrowIfNull(outcomes);
        Revision = revision;
        Changed = changed;
        Outcomes = outcomes;
    }

    /// <summary>
    /// The partition revision the commit took: every document it put carries it as its version. When
    /// nothing changed (only deletes of missing documents) no revision is taken and this is the
    /// partition's current revision (0 when the partition does not exist).
    /// </summary>
    public long Revision { get; }

    /// <summary>Whether the commit changed anything (and so took a new revision).</summary>
    public bool Changed { get; }

    /// <summary>One outcome per operation, in batch order.</summary>
    public IReadOnlyList<OperationOutcome> Outcomes { get; }
}
