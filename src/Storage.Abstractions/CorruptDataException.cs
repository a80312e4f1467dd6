namespace Storage;

/// <summary>
/// Stored data failed a check: a file that does not parse, a checksum that does not match, a row
/// that breaks the format. The data is left exactly as found — never repaired or overwritten.
/// </summary>
public sealed class CorruptDataException : StorageException
{
    /// <summary>Creates the exception.</summary>
    /// <param name="location">The file, table or row that is corrupt.</param>
    /// <param name="reason">What is wrong with it.</param>
    /// <param name="innerException">The parser's or driver's original error, if any.</param>
    public CorruptDataException(string location, string reason, Exception? innerException = null)
        : base(Internal.ErrorMessages.CorruptData(location, reason), innerException)
    {
        Location = location;
        Reason = reason;
    }

    /// <summary>The file, table or row that is corrupt.</summary>
    public string Location { get; }

    /// <summary>What is wrong with it.</summary>
    public string Reason { get; }
}
