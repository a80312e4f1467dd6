namespace Storage;

/// <summary>
/// A store's read-only fence, kept in the store itself (a file beside the JSON store's manifest, a
/// row of the SQL schema): once <see cref="SetReadOnlyAsync"/> with <see langword="true"/> returns,
/// no write commits — through this instance, another instance, or another process — until the fence
/// is cleared. Every write checks it atomically with its commit and fails with
/// <see cref="StoreReadOnlyException"/>; reads keep working. Every store of this library implements it.
/// </summary>
/// <seealso href="../../docs/contract.md#the-read-only-fence"/>
public interface IStoreFence
{
    /// <summary>
    /// Sets or clears the read-only fence. Setting it returns once every write in flight has either
    /// committed or been refused, so that none commits afterwards; clearing it lets writes commit again.
    /// Setting a set fence, or clearing a clear one, changes nothing.
    /// </summary>
    /// <param name="readOnly">Whether to set (<see langword="true"/>) or clear the fence.</param>
    /// <param name="cancellationToken">Cancels before the fence is changed.</param>
    /// <returns>A task that completes when the fence is in place (or gone).</returns>
    /// <exception cref="StorageException">The fence could not be written.</exception>
    /// <exception cref="ObjectDisposedException">The store is disposed.</exception>
    ValueTask SetReadOnlyAsync(bool readOnly, CancellationToken cancellationToken = default);

    /// <summary>Reads whether the read-only fence is set, as stored (another instance or process may have set it).</summary>
    /// <param name="cancellationToken">Cancels the read.</param>
    /// <returns>Whether writes are refused.</returns>
    /// <exception cref="StorageException">The fence could not be read.</exception>
    /// <exception cref="ObjectDisposedException">The store is disposed.</exception>
    ValueTask<bool> IsReadOnlyAsync(CancellationToken cancellationToken = default);
}
