using Storage.Internal;

namespace Storage;

/// <summary>What a <see cref="WriteOperation"/> does.</summary>
public enum WriteOperationKind
{
    /// <summary>Stores a document, replacing any previous value.</summary>
    Put = 1,

    /// <summary>Removes a document.</summary>
    Delete = 2,

    /// <summary>Appends events to a stream.</summary>
    Append = 3,
}

/// <summary>
/// One put, delete or stream append of a batch. Operations are validated when they are created, so
/// a batch that reaches a backend holds only valid collection names, keys, stream ids and JSON values.
/// </summary>
/// <seealso href="../../docs/contract.md#batches"/>
public sealed class WriteOperation
{
    private WriteOperation(WriteOperationKind kind, string collection, string key, ReadOnlyMemory<byte> value, WriteCondition condition, DateTimeOffset? expiresAt)
    {
        Kind = kind;
        Collection = collection;
        Key = key;
        Value = value;
        Condition = condition;
        ExpiresAt = expiresAt;
        Events = [];
    }

    private WriteOperation(string stream, EventData[] events, ExpectedStreamVersion expectedVersion, int eventBytes)
    {
        Kind = WriteOperationKind.Append;
        Collection = string.Empty;
        Key = string.Empty;
        Stream = stream;
        Events = events;
        ExpectedVersion = expectedVersion;
        EventBytes = eventBytes;
    }

    /// <summary>Put, delete or append.</summary>
    public WriteOperationKind Kind { get; }

    /// <summary>The collection of the document; empty for an append.</summary>
    public string Collection { get; }

    /// <summary>The key of the document; empty for an append.</summary>
    public string Key { get; }

    /// <summary>The stream of an append; <see langword="null"/> for a put or delete.</summary>
    public string? Stream { get; }

    /// <summary>The events of an append, in order; empty for a put or delete.</summary>
    public IReadOnlyList<EventData> Events { get; }

    /// <summary>The version an append expects its stream to be at.</summary>
    public ExpectedStreamVersion ExpectedVersion { get; }

    /// <summary>The bytes of an append's event data and metadata together (0 for a put or delete).</summary>
    public int EventBytes { get; }

    /// <summary>The UTF-8 JSON value of a put (empty for a delete), without surrounding white space.</summary>
    public ReadOnlyMemory<byte> Value { get; }

    /// <summary>The condition checked before the operation applies.</summary>
    public WriteCondition Condition { get; }

    /// <summary>When a put document expires (millisecond precision, UTC), or <see langword="null"/> for never.</summary>
    public DateTimeOffset? ExpiresAt { get; }

    /// <summary>Creates a put of a UTF-8 JSON value.</summary>
    /// <param name="collection">The collection name (see <see cref="StoreLimits.MaxNameLength"/>).</param>
    /// <param name="key">The document key.</param>
    /// <param name="utf8Json">One JSON value in UTF-8. Leading and trailing white space is dropped; everything else is stored byte for byte.</param>
    /// <param name="condition">The condition to check first.</param>
    /// <param name="expiresAt">When the document expires, or <see langword="null"/> for never. Truncated to milliseconds.</param>
    /// <returns>The operation.</returns>
    /// <exception cref="ArgumentException">A name, key or the JSON is not valid, or a limit is exceeded.</exception>
    public static WriteOperation Put(string collection, string key, ReadOnlyMemory<byte> utf8Json, WriteCondition condition = default, DateTimeOffset? expiresAt = null)
    {
        Identifiers.ValidateName(collection, nameof(collection));
        Identifiers.ValidateDocumentKey(key, nameof(key));
        var value = JsonValidation.Validate(utf8Json, nameof(utf8Json));
        return new(WriteOperationKind.Put, collection, key, value, condition, Timestamps.ValidateExpiry(expiresAt, nameof(expiresAt)));
    }

    /// <summary>A put of a value validated elsewhere (a restored document's), for the uniqueness check of a restore.</summary>
    /// <param name="collection">The collection name.</param>
    /// <param name="key">The document key.</param>
    /// <param name="value">The value, already validated.</param>
    /// <returns>The put.</returns>
    internal static WriteOperation Validated(string collection, string key, ReadOnlyMemory<byte> value) => new(WriteOperationKind.Put, collection, key, value, default, null);

    /// <summary>The same put with another condition (its value was validated when it was created).</summary>
    /// <param name="condition">The condition.</param>
    /// <returns>The put.</returns>
    internal WriteOperation WithCondition(WriteCondition condition) => new(Kind, Collection, Key, Value, condition, ExpiresAt);

    /// <summary>Creates a put of a JSON value given as text.</summary>
    /// <param name="collection">The collection name.</param>
    /// <param name="key">The document key.</param>
    /// <param name="json">One JSON value.</param>
    /// <param name="condition">The condition to check first.</param>
    /// <param name="expiresAt">When the document expires, or <see langword="null"/> for never.</param>
    /// <returns>The operation.</returns>
    /// <exception cref="ArgumentException">A name, key or the JSON is not valid, or a limit is exceeded.</exception>
    public static WriteOperation Put(string collection, string key, string json, WriteCondition condition = default, DateTimeOffset? expiresAt = null)
    {
        ArgumentNullException.ThrowIfNull(json);
        return Put(collection, key, JsonValidation.EncodeText(json, nameof(json)), condition, expiresAt);
    }

    /// <summary>Creates a delete. Deleting a document that does not exist is not an error (unless the condition says so).</summary>
    /// <param name="collection">The collection name.</param>
    /// <param name="key">The document key.</param>
    /// <param name="condition">The condition to check first.</param>
    /// <returns>The operation.</returns>
    /// <exception cref="ArgumentException">The name or key is not valid.</exception>
    public static WriteOperation Delete(string collection, string key, WriteCondition condition = default)
    {
        Identifiers.ValidateName(collection, nameof(collection));
        Identifiers.ValidateDocumentKey(key, nameof(key));
        return new(WriteOperationKind.Delete, collection, key, ReadOnlyMemory<byte>.Empty, condition, null);
    }

    /// <summary>
    /// Creates an append of one or more events to a stream of the partition. The events take the
    /// stream's next versions, in order, and the batch's revision; they are never changed afterwards.
    /// </summary>
    /// <param name="stream">The stream id (the same rules as a document key).</param>
    /// <param name="events">1 or more events with distinct ids; each counts as one operation towards <see cref="StoreLimits.MaxBatchOperations"/>.</param>
    /// <param name="expectedVersion">The version the stream must be at.</param>
    /// <returns>The operation.</returns>
    /// <exception cref="ArgumentException">The stream id is not valid, there are no events, an event is null or two share an id, or a limit is exceeded.</exception>
    public static WriteOperation Append(string stream, IReadOnlyList<EventData> events, ExpectedStreamVersion expectedVersion = default)
    {
        Identifiers.ValidateDocumentKey(stream, nameof(stream));
        ArgumentNullException.ThrowIfNull(events);
        if (events.Count == 0)
        {
            throw new ArgumentException(ErrorMessages.EmptyAppend, nameof(events));
        }

        if (events.Count > StoreLimits.MaxBatchOperations)
        {
            throw new ArgumentException(ErrorMessages.BatchTooLarge(events.Count), nameof(events));
        }

        var copy = new EventData[events.Count];
        var ids = new HashSet<Guid>(events.Count);
        long bytes = 0;
        for (var i = 0; i < copy.Length; i++)
        {
            var e = events[i] ?? throw new ArgumentException(ErrorMessages.NullEvent(i), nameof(events));
            if (!ids.Add(e.Id))
            {
                throw new ArgumentException(ErrorMessages.DuplicateEventId(e.Id), nameof(events));
            }

            bytes += e.Data.Length + e.Metadata.Length;
            copy[i] = e;
        }

        if (bytes > StoreLimits.MaxBatchBytes)
        {
            throw new ArgumentException(ErrorMessages.BatchTooManyBytes(bytes), nameof(events));
        }

        return new(stream, copy, expectedVersion, (int)bytes);
    }
}
