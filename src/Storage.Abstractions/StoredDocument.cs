using System.Text;
using System.Text.Json;
using System.Text.Json.Serialization.Metadata;

namespace Storage;

/// <summary>A document as stored: its raw UTF-8 JSON value and its metadata.</summary>
/// <seealso href="../../docs/contract.md#documents"/>
public sealed class StoredDocument
{
    /// <summary>Creates a document. Backends call this; applications receive it.</summary>
    /// <param name="partition">The partition key.</param>
    /// <param name="collection">The collection name.</param>
    /// <param name="key">The document key.</param>
    /// <param name="value">The UTF-8 JSON value, exactly as written.</param>
    /// <param name="version">The revision of the partition that last wrote the document.</param>
    /// <param name="createdAt">When the document was created (UTC, milliseconds).</param>
    /// <param name="updatedAt">When the document was last written (UTC, milliseconds).</param>
    /// <param name="expiresAt">When the document expires, or <see langword="null"/> for never.</param>
    public StoredDocument(string partition, string collection, string key, ReadOnlyMemory<byte> value, long version, DateTimeOffset createdAt, DateTimeOffset updatedAt, DateTimeOffset? expiresAt)
    {
        Partition = partition;
        Collection = collection;
        Key = key;
        Value = value;
        Version = version;
        CreatedAt = createdAt;
        UpdatedAt = updatedAt;
        ExpiresAt = expiresAt;
    }

    /// <summary>The partition key.</summary>
    public string Partition { get; }

    /// <summary>The collection name.</summary>
    public string Collection { get; }

    /// <summary>The document key.</summary>
    public string Key { get; }

    /// <summary>The UTF-8 JSON value, byte for byte as it was written.</summary>
    public ReadOnlyMemory<byte> Value { get; }

    /// <summary>The revision of the partition that last wrote the document; use it in <see cref="WriteCondition.MustMatchVersion(long)"/>.</summary>
    public long Version { get; }

    /// <summary>When the document was created (UTC, millisecond precision).</summary>
    public DateTimeOffset CreatedAt { get; }

    /// <summary>When the document was last written (UTC, millisecond precision).</summary>
    public DateTimeOffset UpdatedAt { get; }

    /// <summary>When the document expires (UTC, millisecond precision), or <see langword="null"/> for never.</summary>
    public DateTimeOffset? ExpiresAt { get; }

    /// <summary>The value as JSON text.</summary>
    /// <returns>The UTF-8 value decoded to a string.</returns>
    public string GetJsonText() => Encoding.UTF8.GetString(Value.Span);

    /// <summary>Deserializes the value with source-generated metadata.</summary>
    /// <typeparam name="T">The value type.</typeparam>
    /// <param name="typeInfo">The type's metadata from a <c>JsonSerializerContext</c>.</param>
    /// <returns>The value.</returns>
    /// <exception cref="JsonException">The value does not fit <typeparamref name="T"/>.</exception>
    public T? Deserialize<T>(JsonTypeInfo<T> typeInfo)
    {
        ArgumentNullException.ThrowIfNull(typeInfo);
        return JsonSerializer.Deserialize(Value.Span, typeInfo);
    }
}

/// <summary>A typed document: the deserialized value and its metadata.</summary>
/// <typeparam name="T">The value type.</typeparam>
/// <param name="Value">The deserialized value.</param>
/// <param name="Version">The document's version.</param>
/// <param name="CreatedAt">When the document was created.</param>
/// <param name="UpdatedAt">When the document was last written.</param>
/// <param name="ExpiresAt">When the document expires, or <see langword="null"/> for never.</param>
public sealed record Document<T>(T Value, long Version, DateTimeOffset CreatedAt, DateTimeOffset UpdatedAt, DateTimeOffset? ExpiresAt)
{
    /// <summary>The document's key (as read from the store; empty for a document built without one).</summary>
    public string Key { get; init; } = string.Empty;
}
