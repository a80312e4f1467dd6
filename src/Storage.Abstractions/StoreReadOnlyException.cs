using Storage.Internal;

namespace Storage;

/// <summary>
/// The store is read-only: its read-only fence is set (<see cref="IStoreFence.SetReadOnlyAsync"/>),
/// by this instance, another one, another process, or the store's configuration at open. Nothing of
/// the write was kept. Reads keep working; writes work again once the fence is cleared, so an
/// application maps this to "503, retry later" (<see cref="IsTransient"/> is <see langword="true"/>).
/// </summary>
/// <remarks>
/// Every write refuses in the same way: a commit (puts, deletes, appends), a sequence increment, a
/// partition delete, a bulk import and a purge of expired documents.
/// </remarks>
/// <seealso href="../../docs/contract.md#the-read-only-fence"/>
public sealed class StoreReadOnlyException : StorageException
{
    /// <summary>Creates the exception with the library's message.</summary>
    public StoreReadOnlyException()
        : base(ErrorMessages.ReadOnly)
    {
    }

    /// <inheritdoc/>
    /// <remarks>Always <see langword="true"/>: the write may succeed once the fence is cleared.</remarks>
    public override bool IsTransient => true;
}
