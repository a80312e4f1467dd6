using System.Text.Json;
using System.Text.Json.Serialization.Metadata;

namespace Storage;

/// <summary>
/// Convenience members over <see cref="IStore"/>: single puts and deletes, and typed values through
/// source-generated <see cref="JsonTypeInfo{T}"/>. Each funnels into one core member.
/// </summary>
public static class StoreExtensions
{
    /// <summary>Stores a UTF-8 JSON value.</summary>
    /// <param name="store">The store.</param>
    /// <param name="partition">The partition key.</param>
    /// <param name="collection">The collection name.</param>
    /// <param name="key">The document key.</param>
    /// <param name="utf8Json">One JSON value in UTF-8.</param>
    /// <param name="condition">The condition to check first.</param>
    /// <param name="expiresAt">When the document expires, or <see langword="null"/> for never.</param>
    /// <param name="cancellationToken">Cancels the write if it has not started to commit.</param>
    /// <returns>The document's new version.</returns>
    /// <exception cref="ArgumentException">An identifier or the JSON is not valid.</exception>
    /// <exception cref="VersionConflictException">The condition did not hold; nothing was written.</exception>
    public static async ValueTask<long> PutAsync(this IStore store, string partition, string collection, string key, ReadOnlyMemory<byte> utf8Json, WriteCondition condition = default, DateTimeOffset? expiresAt = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(store);
        var result = await store.CommitAsync(partition, [WriteOperation.Put(collection, key, utf8Json, condition, expiresAt)], cancellationToken).ConfigureAwait(false);
        return result.Revision;
    }

    /// <summary>Stores a JSON value given as text.</summary>
    /// <param name="store">The store.</param>
    /// <param name="partition">The partition key.</param>
    /// <param name="collection">The collection name.</param>
    /// <param name="key">The document key.</param>
    /// <param name="json">One JSON value.</param>
    /// <param name="condition">The condition to check first.</param>
    /// <param name="expiresAt">When the document expires, or <see langword="null"/> for never.</param>
    /// <param name="cancellationToken">Cancels the write if it has not started to commit.</param>
    /// <returns>The document's new version.</returns>
    /// <exception cref="ArgumentException">An identifier or the JSON is not valid.</exception>
    /// <exception cref="VersionConflictException">The condition did not hold; nothing was written.</exception>
    public static async ValueTask<long> PutAsync(this IStore store, string partition, string collection, string key, string json, WriteCondition condition = default, DateTimeOffset? expiresAt = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(store);
        var result = await store.CommitAsync(partition, [WriteOperation.Put(collection, key, json, condition, expiresAt)], cancellationToken).ConfigureAwait(false);
        return result.Revision;
    }

    /// <summary>Serializes and stores a typed value.</summary>
    /// <typeparam name="T">The value type.</typeparam>
    /// <param name="store">The store.</param>
    /// <param name="partition">The partition key.</param>
    /// <param name="collection">The collection name.</param>
    /// <param name="key">The document key.</param>
    /// <param name="value">The value.</param>
    /// <param name="typeInfo">The type's metadata from a <c>JsonSerializerContext</c>.</param>
    /// <param name="condition">The condition to check first.</param>
    /// <param name="expiresAt">When the document expires, or <see langword="null"/> for never.</param>
    /// <param name="cancellationToken">Cancels the write if it has not started to commit.</param>
    /// <returns>The document's new version.</returns>
    /// <exception cref="ArgumentException">An identifier is not valid.</exception>
    /// <exception cref="VersionConflictException">The condition did not hold; nothing was written.</exception>
    public static ValueTask<long> PutAsync<T>(this IStore store, string partition, string collection, string key, T value, JsonTypeInfo<T> typeInfo, WriteCondition condition = default, DateTimeOffset? expiresAt = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(typeInfo);
        return store.PutAsync(partition, collection, key, JsonSerializer.SerializeToUtf8Bytes(value, typeInfo), condition, expiresAt, cancellationToken);
    }

    /// <summary>Reads and deserializes a typed document.</summary>
    /// <typeparam name="T">The value type.</typeparam>
    /// <param name="store">The store.</param>
    /// <param name="partition">The partition key.</param>
    /// <param name="collection">The collection name.</param>
    /// <param name="key">The document key.</param>
    /// <param name="typeInfo">The type's metadata from a <c>JsonSerializerContext</c>.</param>
    /// <param name="cancellationToken">Cancels the read.</param>
    /// <returns>The document, or <see langword="null"/> when it does not exist or has expired.</returns>
    /// <exception cref="ArgumentException">An identifier is not valid.</exception>
    /// <exception cref="JsonException">The stored value does not fit <typeparamref name="T"/>.</exception>
    public static async ValueTask<Document<T>?> GetAsync<T>(this IStore store, string partition, string collection, string key, JsonTypeInfo<T> typeInfo, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(store);
        ArgumentNullException.ThrowIfNull(typeInfo);
        var stored = await store.GetAsync(partition, collection, key, cancellationToken).ConfigureAwait(false);
        return stored is null ? null : new Document<T>(stored.Deserialize(typeInfo)!, stored.Version, stored.CreatedAt, stored.UpdatedAt, stored.ExpiresAt);
    }

    /// <summary>Deletes one document.</summary>
    /// <param name="store">The store.</param>
    /// <param name="partition">The partition key.</param>
    /// <param name="collection">The collection name.</param>
    /// <param name="key">The document key.</param>
    /// <param name="condition">The condition to check first.</param>
    /// <param name="cancellationToken">Cancels the delete if it has not started to commit.</param>
    /// <returns><see langword="true"/> when a live document was deleted.</returns>
    /// <exception cref="ArgumentException">An identifier is not valid.</exception>
    /// <exception cref="VersionConflictException">The condition did not hold; nothing was deleted.</exception>
    public static async ValueTask<bool> DeleteAsync(this IStore store, string partition, string collection, string key, WriteCondition condition = default, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(store);
        var result = await store.CommitAsync(partition, [WriteOperation.Delete(collection, key, condition)], cancellationToken).ConfigureAwait(false);
        return result.Outcomes[0].Existed;
    }

    /// <summary>Appends events to a stream, alone in their commit.</summary>
    /// <param name="store">The store.</param>
    /// <param name="partition">The partition key.</param>
    /// <param name="stream">The stream id.</param>
    /// <param name="events">The events, with distinct ids.</param>
    /// <param name="expectedVersion">The version the stream must be at.</param>
    /// <param name="cancellationToken">Cancels the append if it has not started to commit.</param>
    /// <returns>The stream's version after the append: the version of its last event.</returns>
    /// <exception cref="ArgumentException">An identifier or an event is not valid.</exception>
    /// <exception cref="VersionConflictException">The stream was not at <paramref name="expectedVersion"/> and the events were not already stored there; nothing was written.</exception>
    public static async ValueTask<long> AppendAsync(this IStore store, string partition, string stream, IReadOnlyList<EventData> events, ExpectedStreamVersion expectedVersion = default, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(store);
        var result = await store.CommitAsync(partition, [WriteOperation.Append(stream, events, expectedVersion)], cancellationToken).ConfigureAwait(false);
        return result.Outcomes[0].Version ?? 0;
    }
}
