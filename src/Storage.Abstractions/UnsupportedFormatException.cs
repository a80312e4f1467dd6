namespace Storage;

/// <summary>
/// The store was written in a format this version of the library does not know (usually by a newer
/// version). Nothing was changed.
/// </summary>
public sealed class UnsupportedFormatException : StorageException
{
    /// <summary>Creates the exception.</summary>
    /// <param name="location">The manifest, file or table that carries the format version.</param>
    /// <param name="foundVersion">The format version found.</param>
    /// <param name="supportedVersion">The newest format version this library reads.</param>
    public UnsupportedFormatException(string location, long foundVersion, long supportedVersion)
        : base(Internal.ErrorMessages.UnsupportedFormat(location, foundVersion, supportedVersion))
    {
        Location = location;
        FoundVersion = foundVersion;
        SupportedVersion = supportedVersion;
    }

    /// <summary>The manifest, file or table that carries the format version.</summary>
    public string Location { get; }

    /// <summary>The format version found.</summary>
    public long FoundVersion { get; }

    /// <summary>The newest format version this library reads.</summary>
    public long SupportedVersion { get; }
}
