namespace Storage;

/// <summary>
/// A store could not open because its existing documents cannot be indexed by a declared index
/// that it had to build: a live document holds a value of the wrong type, or two live documents
/// hold the same value of a unique index. Nothing was changed; fix the document or the declaration
/// and open again. Unlike <see cref="UniqueConstraintException"/>, the message names the document:
/// the error is about the store's own data, reported to its owner at open.
/// </summary>
/// <seealso href="../../docs/indexes.md#adding-and-removing-indexes"/>
public sealed class IndexBuildException : StorageException
{
    /// <summary>Creates the exception.</summary>
    /// <param name="collection">The collection of the index.</param>
    /// <param name="index">The index name.</param>
    /// <param name="partition">The partition of the document that cannot be indexed.</param>
    /// <param name="key">The key of the document that cannot be indexed.</param>
    /// <param name="reason">Why it cannot be indexed.</param>
    /// <param name="innerException">The extraction error, if any.</param>
    public IndexBuildException(string collection, string index, string partition, string key, string reason, Exception? innerException = null)
        : base(Internal.ErrorMessages.IndexBuildFailed(collection, index, partition, key, reason), innerException)
    {
        Collection = collection;
        Index = index;
        Partition = partition;
        Key = key;
    }

    /// <summary>The collection of the index.</summary>
    public string Collection { get; }

    /// <summary>The index name.</summary>
    public string Index { get; }

    /// <summary>The partition of the document that cannot be indexed.</summary>
    public string Partition { get; }

    /// <summary>The key of the document that cannot be indexed.</summary>
    public string Key { get; }
}
