namespace Storage;

/// <summary>
/// A write was refused because another store instance (another process, or another server) opened
/// the same store with different index declarations since this instance opened: this instance
/// would otherwise write documents without maintaining indexes it does not know, or maintain
/// indexes that were dropped. Nothing was written. Dispose this instance and open the store again
/// with the current declarations; every instance of one store must declare the same indexes.
/// </summary>
/// <seealso href="../../docs/indexes.md#adding-and-removing-indexes"/>
public sealed class IndexDeclarationsChangedException : StorageException
{
    /// <summary>Creates the exception.</summary>
    public IndexDeclarationsChangedException()
        : base(Internal.ErrorMessages.IndexDeclarationsChanged)
    {
    }
}
