namespace Storage;

/// <summary>What a <see cref="Change"/> records.</summary>
public enum ChangeKind
{
    /// <summary>A document was written; <see cref="Change.Document"/> holds it as of <see cref="Change.Revision"/>.</summary>
    Put = 1,

    /// <summary>A document was deleted (a tombstone); <see cref="Change.Collection"/> and <see cref="Change.Key"/> name it.</summary>
    Delete = 2,

    /// <summary>An event was appended to a stream; <see cref="Change.Event"/> holds it.</summary>
    Append = 3,

    /// <summary>A sequence changed; <see cref="Change.SequenceName"/> and <see cref="Change.SequenceValue"/> give its value.</summary>
    Sequence = 4,
}

/// <summary>
/// One committed change of a partition, as the change feed returns it. The feed is compacted:
/// a document or sequence appears once, at the revision of its latest change; events are never
/// compacted.
/// </summary>
/// <seealso href="../../docs/streams-and-changes.md#the-change-feed"/>
public sealed class Change
{
    private Change(ChangeKind kind, long revision, string? collection, string? key, StoredDocument? document, StoredEvent? @event, string? sequenceName, long sequenceValue, DateTimeOffset? deletedAt = null)
    {
        DeletedAt = deletedAt;
        Kind = kind;
        Revision = revision;
        Collection = collection;
        Key = key;
        Document = document;
        Event = @event;
        SequenceName = sequenceName;
        SequenceValue = sequenceValue;
    }

    /// <summary>What changed.</summary>
    public ChangeKind Kind { get; }

    /// <summary>The partition revision of the commit that made the change.</summary>
    public long Revision { get; }

    /// <summary>The document's collection (puts and deletes), otherwise <see langword="null"/>.</summary>
    public string? Collection { get; }

    /// <summary>The document's key (puts and deletes), otherwise <see langword="null"/>.</summary>
    public string? Key { get; }

    /// <summary>
    /// When the document was deleted (deletes, as its tombstone keeps it), otherwise <see langword="null"/>.
    /// Every store of this library gives it; a delete without it cannot be applied to another store
    /// (<see cref="IStoreRestore.ApplyChangesAsync"/>).
    /// </summary>
    public DateTimeOffset? DeletedAt { get; }

    /// <summary>The document as of <see cref="Revision"/> (puts), otherwise <see langword="null"/>.</summary>
    public StoredDocument? Document { get; }

    /// <summary>The appended event (appends), otherwise <see langword="null"/>.</summary>
    public StoredEvent? Event { get; }

    /// <summary>The sequence's name (sequence changes), otherwise <see langword="null"/>.</summary>
    public string? SequenceName { get; }

    /// <summary>The sequence's value after the change (sequence changes), otherwise 0.</summary>
    public long SequenceValue { get; }

    /// <summary>A put: the document as written at its version.</summary>
    /// <param name="document">The document.</param>
    /// <returns>The change.</returns>
    public static Change Put(StoredDocument document)
    {
        ArgumentNullException.ThrowIfNull(document);
        return new(ChangeKind.Put, document.Version, document.Collection, document.Key, document, null, null, 0);
    }

    /// <summary>A delete (tombstone).</summary>
    /// <param name="revision">The revision of the commit that deleted the document.</param>
    /// <param name="collection">The document's collection.</param>
    /// <param name="key">The document's key.</param>
    /// <returns>The change.</returns>
    public static Change Delete(long revision, string collection, string key)
    {
        ArgumentNullException.ThrowIfNull(collection);
        ArgumentNullException.ThrowIfNull(key);
        return new(ChangeKind.Delete, revision, collection, key, null, null, null, 0);
    }

    /// <summary>A delete (tombstone), with the time it was deleted.</summary>
    /// <param name="revision">The revision of the commit that deleted the document.</param>
    /// <param name="collection">The document's collection.</param>
    /// <param name="key">The document's key.</param>
    /// <param name="deletedAt">When it was deleted (the commit's time).</param>
    /// <returns>The change.</returns>
    public static Change Delete(long revision, string collection, string key, DateTimeOffset deletedAt)
    {
        ArgumentNullException.ThrowIfNull(collection);
        ArgumentNullException.ThrowIfNull(key);
        return new(ChangeKind.Delete, revision, collection, key, null, null, null, 0, deletedAt);
    }

    /// <summary>An appended event.</summary>
    /// <param name="event">The event.</param>
    /// <returns>The change.</returns>
    public static Change Append(StoredEvent @event)
    {
        ArgumentNullException.ThrowIfNull(@event);
        return new(ChangeKind.Append, @event.Revision, null, null, null, @event, null, 0);
    }

    /// <summary>A sequence's new value.</summary>
    /// <param name="revision">The revision of the increment.</param>
    /// <param name="name">The sequence name.</param>
    /// <param name="value">Its value after the increment.</param>
    /// <returns>The change.</returns>
    public static Change Sequence(long revision, string name, long value)
    {
        ArgumentNullException.ThrowIfNull(name);
        return new(ChangeKind.Sequence, revision, null, null, null, null, name, value);
    }
}

/// <summary>
/// A page of the change feed: the changes of whole commits after a revision, in revision order.
/// </summary>
/// <param name="Items">
/// The changes, by revision; inside one revision, documents (puts and deletes) in code-point order of
/// collection then key, then events by stream id and version, then sequences by name.
/// </param>
/// <param name="LastRevision">
/// The revision the reader has now seen everything up to: pass it as the next <c>afterRevision</c>.
/// When <paramref name="HasMore"/> is <see langword="false"/> it is the partition's current revision.
/// </param>
/// <param name="HasMore">Whether later changes were left for the next page.</param>
public sealed record ChangePage(IReadOnlyList<Change> Items, long LastRevision, bool HasMore)
{
    /// <summary>
    /// The oldest revision the partition's feed could resume after when the page was read (see
    /// <see cref="ChangeFeedTruncatedException"/>); 0 when the partition does not exist. A copy made from
    /// revision 0 keeps it, so its own feed refuses the readers the source would refuse.
    /// </summary>
    public long OldestResumableRevision { get; init; }
}
