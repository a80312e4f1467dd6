namespace Storage;

/// <summary>
/// The store could not be reached or could not complete the operation for a reason that may pass
/// (a lost connection, a busy database), after the backend's own bounded retries. A write that
/// fails this way may or may not have been applied: read back, or retry with a condition.
/// </summary>
public sealed class StoreUnavailableException : StorageException
{
    /// <summary>Creates the exception.</summary>
    /// <param name="message">What could not be done.</param>
    /// <param name="innerException">The driver's or the operating system's original error.</param>
    public StoreUnavailableException(string message, Exception? innerException = null)
        : base(message, innerException)
    {
    }

    /// <inheritdoc/>
    public override bool IsTransient => true;
}
