namespace Storage;

/// <summary>
/// Another store instance — in this process or another — owns the data directory or file. Two
/// writers are never let in together.
/// </summary>
public sealed class StoreLockedException : StorageException
{
    /// <summary>Creates the exception.</summary>
    /// <param name="path">The lock file or database that is held.</param>
    /// <param name="message">Who holds it, as far as is known.</param>
    /// <param name="innerException">The operating system's original error, if any.</param>
    public StoreLockedException(string path, string message, Exception? innerException = null)
        : base(message, innerException)
    {
        Path = path;
    }

    /// <summary>The lock file or database that is held.</summary>
    public string Path { get; }
}
