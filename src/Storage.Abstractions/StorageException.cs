namespace Storage;

/// <summary>
/// The root of every error a store raises for a reason other than misuse (misuse raises the BCL's
/// <see cref="ArgumentException"/> family). Catch this to handle every storage failure at once.
/// </summary>
/// <seealso href="../../docs/contract.md#errors"/>
public class StorageException : Exception
{
    /// <summary>Creates an exception with a message.</summary>
    /// <param name="message">What went wrong.</param>
    public StorageException(string message)
        : base(message)
    {
    }

    /// <summary>Creates an exception with a message and the error that caused it.</summary>
    /// <param name="message">What went wrong.</param>
    /// <param name="innerException">The driver's or the operating system's original error.</param>
    public StorageException(string message, Exception? innerException)
        : base(message, innerException)
    {
    }

    /// <summary>
    /// Whether trying the same operation again later may succeed. The store has already spent its
    /// own retry budget before raising a transient error.
    /// </summary>
    public virtual bool IsTransient => false;
}
