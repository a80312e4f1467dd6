namespace Storage.Json;

/// <summary>The JSON-files backend: one checksummed JSON file per partition, written atomically.</summary>
/// <seealso href="../../docs/json-backend.md"/>
public sealed class JsonStore : IStore
{
    private JsonStore()
    {
    }

    /// <summary>Opens (or creates) a store in a directory, taking its lock.</summary>
    /// <param name="options">The directory and settings.</param>
    /// <returns>The open store; dispose it to release the directory.</returns>
    /// <exception cref="ArgumentException">The options are not valid.</exception>
    /// <exception cref="StoreLockedException">Another store, in this process or another, has the directory open.</exception>
    /// <exception cref="UnsupportedFormatException">The directory was written by a newer version of the library.</exception>
    public static JsonStore Open(JsonStoreOptions options) => Open(options, new IO.PosixFileSystem());

    /// <summary>Opens a store over a given file layer: the seam where tests inject faults and simulate power loss.</summary>
    internal static JsonStore Open(JsonStoreOptions options, IO.IFileSystem fileSystem) => throw new NotImplementedException();

    /// <inheritdoc/>
    public ValueTask<StoredDocument?> GetAsync(string partition, string collection, string key, CancellationToken cancellationToken = default) => throw new NotImplementedException();

    /// <inheritdoc/>
    public ValueTask<CommitResult> CommitAsync(string partition, IReadOnlyList<WriteOperation> operations, CancellationToken cancellationToken = default) => throw new NotImplementedException();

    /// <inheritdoc/>
    public ValueTask<DocumentPage> ListAsync(string partition, string collection, ListOptions? options = null, CancellationToken cancellationToken = default) => throw new NotImplementedException();

    /// <inheritdoc/>
    public ValueTask<long> IncrementSequenceAsync(string partition, string name, long delta = 1, CancellationToken cancellationToken = default) => throw new NotImplementedException();

    /// <inheritdoc/>
    public ValueTask<long> GetSequenceAsync(string partition, string name, CancellationToken cancellationToken = default) => throw new NotImplementedException();

    /// <inheritdoc/>
    public ValueTask<PartitionPage> ListPartitionsAsync(PartitionListOptions? options = null, CancellationToken cancellationToken = default) => throw new NotImplementedException();

    /// <inheritdoc/>
    public ValueTask<bool> DeletePartitionAsync(string partition, CancellationToken cancellationToken = default) => throw new NotImplementedException();

    /// <inheritdoc/>
    public ValueTask<long> PurgeExpiredAsync(CancellationToken cancellationToken = default) => throw new NotImplementedException();

    /// <inheritdoc/>
    public ValueTask DisposeAsync() => ValueTask.CompletedTask;
}
