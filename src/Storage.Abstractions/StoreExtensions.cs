using System.Runtime.CompilerServices;
using System.Text.Json;
using System.Text.Json.Serialization.Metadata;

namespace Storage;

/// <summary>
/// Convenience members over <see cref="IStore"/>: single puts and deletes, typed values through
/// source-generated <see cref="JsonTypeInfo{T}"/>, typed collections, and listings that page by
/// themselves. Each funnels into one core member.
/// </summary>
/// <seealso href="../../docs/contract.md#typed-collections"/>
public static class StoreExtensions
{
    /// <summary>
    /// A collection of a partition with its value type bound once: <c>orders.GetAsync(key)</c>,
    /// <c>orders.PutAsync(key, value)</c>, <c>orders.ListAllAsync()</c>.
    /// </summary>
    /// <typeparam name="T">The value type.</typeparam>
    /// <param name="store">The store.</param>
    /// <param name="partition">The partition key.</param>
    /// <param name="collection">The collection name.</param>
    /// <param name="typeInfo">The type's metadata from a <c>JsonSerializerContext</c>.</param>
    /// <returns>The typed collection.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="store"/> or <paramref name="typeInfo"/> is <see langword="null"/>.</exception>
    /// <exception cref="ArgumentException">The partition key or the collection name is not valid.</exception>
    public static DocumentCollection<T> GetCollection<T>(this IStore store, string partition, string collection, JsonTypeInfo<T> typeInfo)
        => new(store, partition, collection, typeInfo);

    /// <summary>
    /// Lists a collection's documents in key order, page after page until the last: the continuation
    /// tokens stay inside. Each page is read when the previous one is consumed
    /// (<see cref="ListOptions.Limit"/> documents at a time); paging stays correct while others write
    /// (see <see cref="ListOptions.ContinuationToken"/>).
    /// </summary>
    /// <param name="store">The store.</param>
    /// <param name="partition">The partition key.</param>
    /// <param name="collection">The collection name.</param>
    /// <param name="options">The prefix, bounds, order and page size; a token to resume from. All documents, ascending, by default.</param>
    /// <param name="cancellationToken">Stops the listing (also through <c>WithCancellation</c>).</param>
    /// <returns>The documents.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="store"/> is <see langword="null"/>.</exception>
    /// <exception cref="ArgumentException">An identifier or the options are not valid (when the first page is read).</exception>
    public static IAsyncEnumerable<StoredDocument> ListAllAsync(this IStore store, string partition, string collection, ListOptions? options = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(store);
        return ListPagesAsync(store, partition, collection, options ?? new ListOptions(), cancellationToken);
    }

    private static async IAsyncEnumerable<StoredDocument> ListPagesAsync(IStore store, string partition, string collection, ListOptions options, [EnumeratorCancellation] CancellationToken cancellationToken)
    {
        while (true)
        {
            var page = await store.ListAsync(partition, collection, options, cancellationToken).ConfigureAwait(false);
            foreach (var document in page.Items)
            {
                // A page is in memory already: stop between its documents too, not only at the next read.
                cancellationToken.ThrowIfCancellationRequested();
                yield return document;
            }

            if (page.ContinuationToken is null)
            {
                yield break;
            }

            options = options with { ContinuationToken = page.ContinuationToken };
        }
    }

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
        return stored is null ? null : ToDocument(stored, typeInfo);
    }

    /// <summary>A stored document, deserialized.</summary>
    internal static Document<T> ToDocument<T>(StoredDocument stored, JsonTypeInfo<T> typeInfo)
        => new(stored.Deserialize(typeInfo)!, stored.Version, stored.CreatedAt, stored.UpdatedAt, stored.ExpiresAt) { Key = stored.Key };

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
