using System.Runtime.CompilerServices;
using System.Text.Json;
using System.Text.Json.Serialization.Metadata;
using Storage.Internal;

namespace Storage;

/// <summary>
/// One collection of one partition, with its value type bound once: reads, writes, conditional
/// writes and listing take only a key, so a partition, a collection and a key can never be swapped.
/// Get one with <see cref="StoreExtensions.GetCollection{T}"/>. It holds no state of its own: it is
/// cheap to create, safe to share between threads, and every call goes to the store.
/// </summary>
/// <typeparam name="T">The value type, serialized with source-generated metadata (trim and AOT safe).</typeparam>
/// <seealso href="../../docs/contract.md#typed-collections"/>
public sealed class DocumentCollection<T>
{
    /// <summary>Binds a store's collection of a partition to a value type.</summary>
    /// <param name="store">The store.</param>
    /// <param name="partition">The partition key.</param>
    /// <param name="collection">The collection name.</param>
    /// <param name="typeInfo">The type's metadata from a <c>JsonSerializerContext</c>.</param>
    /// <exception cref="ArgumentNullException"><paramref name="store"/> or <paramref name="typeInfo"/> is <see langword="null"/>.</exception>
    /// <exception cref="ArgumentException">The partition key or the collection name is not valid (checked here, once).</exception>
    public DocumentCollection(IStore store, string partition, string collection, JsonTypeInfo<T> typeInfo)
    {
        ArgumentNullException.ThrowIfNull(store);
        ArgumentNullException.ThrowIfNull(typeInfo);
        Identifiers.ValidatePartitionKey(partition);
        Identifiers.ValidateName(collection, nameof(collection));
        Store = store;
        Partition = partition;
        Collection = collection;
        TypeInfo = typeInfo;
    }

    /// <summary>The store.</summary>
    public IStore Store { get; }

    /// <summary>The partition key.</summary>
    public string Partition { get; }

    /// <summary>The collection name.</summary>
    public string Collection { get; }

    /// <summary>The value type's metadata.</summary>
    public JsonTypeInfo<T> TypeInfo { get; }

    /// <summary>Reads and deserializes a document.</summary>
    /// <param name="key">The document key.</param>
    /// <param name="cancellationToken">Cancels the read.</param>
    /// <returns>The document, or <see langword="null"/> when it does not exist or has expired.</returns>
    /// <exception cref="ArgumentException">The key is not valid.</exception>
    /// <exception cref="JsonException">The stored value does not fit <typeparamref name="T"/>.</exception>
    public ValueTask<Document<T>?> GetAsync(string key, CancellationToken cancellationToken = default)
        => Store.GetAsync(Partition, Collection, key, TypeInfo, cancellationToken);

    /// <summary>Serializes and stores a value, if <paramref name="condition"/> holds.</summary>
    /// <param name="key">The document key.</param>
    /// <param name="value">The value.</param>
    /// <param name="condition">
    /// The condition to check first: <see cref="WriteCondition.MustNotExist"/> to create only,
    /// <see cref="WriteCondition.MustMatchVersion(long)"/> with the <see cref="Document{T}.Version"/> read
    /// before to update only what was read (optimistic concurrency).
    /// </param>
    /// <param name="expiresAt">When the document expires, or <see langword="null"/> for never.</param>
    /// <param name="cancellationToken">Cancels the write if it has not started to commit.</param>
    /// <returns>The document's new version.</returns>
    /// <exception cref="ArgumentException">The key is not valid.</exception>
    /// <exception cref="VersionConflictException">The condition did not hold; nothing was written.</exception>
    public ValueTask<long> PutAsync(string key, T value, WriteCondition condition = default, DateTimeOffset? expiresAt = null, CancellationToken cancellationToken = default)
        => Store.PutAsync(Partition, Collection, key, value, TypeInfo, condition, expiresAt, cancellationToken);

    /// <summary>Deletes a document, if <paramref name="condition"/> holds.</summary>
    /// <param name="key">The document key.</param>
    /// <param name="condition">The condition to check first (<see cref="WriteCondition.MustMatchVersion(long)"/>: delete only what was read).</param>
    /// <param name="cancellationToken">Cancels the delete if it has not started to commit.</param>
    /// <returns><see langword="true"/> when a live document was deleted.</returns>
    /// <exception cref="ArgumentException">The key is not valid.</exception>
    /// <exception cref="VersionConflictException">The condition did not hold; nothing was deleted.</exception>
    public ValueTask<bool> DeleteAsync(string key, WriteCondition condition = default, CancellationToken cancellationToken = default)
        => Store.DeleteAsync(Partition, Collection, key, condition, cancellationToken);

    /// <summary>A put of this collection, for a batch (<see cref="CommitAsync"/>).</summary>
    /// <param name="key">The document key.</param>
    /// <param name="value">The value.</param>
    /// <param name="condition">The condition to check first.</param>
    /// <param name="expiresAt">When the document expires, or <see langword="null"/> for never.</param>
    /// <returns>The operation.</returns>
    /// <exception cref="ArgumentException">The key is not valid.</exception>
    public WriteOperation Put(string key, T value, WriteCondition condition = default, DateTimeOffset? expiresAt = null)
        => WriteOperation.Put(Collection, key, JsonSerializer.SerializeToUtf8Bytes(value, TypeInfo), condition, expiresAt);

    /// <summary>A delete of this collection, for a batch (<see cref="CommitAsync"/>).</summary>
    /// <param name="key">The document key.</param>
    /// <param name="condition">The condition to check first.</param>
    /// <returns>The operation.</returns>
    /// <exception cref="ArgumentException">The key is not valid.</exception>
    public WriteOperation Delete(string key, WriteCondition condition = default) => WriteOperation.Delete(Collection, key, condition);

    /// <summary>
    /// Commits a batch to this collection's partition, all or nothing: operations built with
    /// <see cref="Put"/> and <see cref="Delete"/>, and any other operation of the partition (another
    /// collection's, a stream append).
    /// </summary>
    /// <param name="operations">The operations, on distinct documents.</param>
    /// <param name="cancellationToken">Cancels the batch if it has not started to commit.</param>
    /// <returns>The revision the batch took and one outcome per operation.</returns>
    /// <exception cref="ArgumentException">The batch is empty, too large, or touches a document twice.</exception>
    /// <exception cref="VersionConflictException">A condition did not hold; nothing was written.</exception>
    public ValueTask<CommitResult> CommitAsync(IReadOnlyList<WriteOperation> operations, CancellationToken cancellationToken = default)
        => Store.CommitAsync(Partition, operations, cancellationToken);

    /// <summary>Reads one page of the collection, for an application that hands pages and their tokens to its own callers.</summary>
    /// <param name="options">The prefix, bounds, order, page size and the previous page's token; all documents, ascending, by default.</param>
    /// <param name="cancellationToken">Cancels the read.</param>
    /// <returns>The page and the token of the next one.</returns>
    /// <exception cref="ArgumentException">The options are not valid, or the token belongs to another listing.</exception>
    /// <exception cref="JsonException">A stored value does not fit <typeparamref name="T"/>.</exception>
    public async ValueTask<DocumentPage<T>> ListPageAsync(ListOptions? options = null, CancellationToken cancellationToken = default)
    {
        var page = await Store.ListAsync(Partition, Collection, options, cancellationToken).ConfigureAwait(false);
        var items = new Document<T>[page.Items.Count];
        for (var i = 0; i < items.Length; i++)
        {
            items[i] = StoreExtensions.ToDocument(page.Items[i], TypeInfo);
        }

        return new DocumentPage<T>(items, page.ContinuationToken);
    }

    /// <summary>
    /// Lists the collection's documents in key order, page after page until the last: the
    /// continuation tokens stay inside. Each page is read when the previous one is consumed
    /// (<see cref="ListOptions.Limit"/> documents at a time).
    /// </summary>
    /// <param name="options">The prefix, bounds, order and page size; a token to resume from. All documents, ascending, by default.</param>
    /// <param name="cancellationToken">Stops the listing (also through <c>WithCancellation</c>).</param>
    /// <returns>The documents, each with its key.</returns>
    /// <exception cref="ArgumentException">The options are not valid (when the first page is read).</exception>
    /// <exception cref="JsonException">A stored value does not fit <typeparamref name="T"/>.</exception>
    public async IAsyncEnumerable<Document<T>> ListAllAsync(ListOptions? options = null, [EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        await foreach (var stored in Store.ListAllAsync(Partition, Collection, options, cancellationToken).ConfigureAwait(false))
        {
            yield return StoreExtensions.ToDocument(stored, TypeInfo);
        }
    }
}

/// <summary>One page of a typed listing (<see cref="DocumentCollection{T}.ListPageAsync"/>).</summary>
/// <typeparam name="T">The value type.</typeparam>
/// <param name="Items">The documents of this page, in order.</param>
/// <param name="ContinuationToken">The token for the next page (<see cref="ListOptions.ContinuationToken"/>), or <see langword="null"/> when this is the last.</param>
public sealed record DocumentPage<T>(IReadOnlyList<Document<T>> Items, string? ContinuationToken);
