using Storage.Internal;

namespace Storage;

/// <summary>What a <see cref="WriteOperation"/> does.</summary>
public enum WriteOperationKind
{
    /// <summary>Stores a document, replacing any previous value.</summary>
    Put = 1,

    /// <summary>Removes a document.</summary>
    Delete = 2,
}

/// <summary>
/// One put or delete of a batch. Operations are validated when they are created, so a batch that
/// reaches a backend holds only valid collection names, keys and JSON values.
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
    }

    /// <summary>Put or delete.</summary>
    public WriteOperationKind Kind { get; }

    /// <summary>The collection of the document.</summary>
    public string Collection { get; }

    /// <summary>The key of the document.</summary>
    public string Key { get; }

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
}
