namespace Storage.Json.Tests.Infrastructure;

/// <summary>The kinds of call a <see cref="FaultInjectingFileSystem"/> counts, traces and can fail.</summary>
internal enum FileSystemOperation
{
    CreateDirectory,
    DirectoryExists,
    FileExists,
    ListFiles,
    ReadAllBytes,
    CreateNew,
    Write,
    Sync,
    Close,
    Rename,
    Delete,
    SyncDirectory,
    LockExclusive,
}

/// <summary>One call the store made, in the order it made them.</summary>
/// <param name="Sequence">The call's position among every call of the file system (1-based).</param>
/// <param name="Operation">What kind of call.</param>
/// <param name="Path">The path it named (for a handle: the path the file was created at).</param>
/// <param name="Destination">The destination of a rename.</param>
internal sealed record FileSystemCall(int Sequence, FileSystemOperation Operation, string Path, string? Destination = null)
{
    public override string ToString() => Destination is null ? $"#{Sequence} {Operation} {Path}" : $"#{Sequence} {Operation} {Path} -> {Destination}";
}

/// <summary>The errno values the fault layer reports, as the runtime reports them: in <see cref="Exception.HResult"/>.</summary>
internal static class Errno
{
    public const int EIO = 5;
    public const int EBADF = 9;
    public const int EEXIST = 17;
    public const int ENOTDIR = 20;
    public const int EISDIR = 21;
    public const int ENOSPC = 28;
    public const int ENOLCK = 37;

    /// <summary>An I/O error carrying <paramref name="errno"/>.</summary>
    public static IOException Error(int errno, string message) => new(message, errno);

    /// <summary>
    /// The error a real disk gives for each kind of call: no space for calls that allocate, EIO
    /// (the classic fsync failure) for the rest.
    /// </summary>
    public static IOException DefaultFault(FileSystemOperation operation, string path) => operation switch
    {
        FileSystemOperation.Write or FileSystemOperation.CreateNew or FileSystemOperation.CreateDirectory or FileSystemOperation.Rename
            => Error(ENOSPC, $"Injected fault: No space left on device ({operation} {path})."),
        _ => Error(EIO, $"Injected fault: Input/output error ({operation} {path})."),
    };
}
