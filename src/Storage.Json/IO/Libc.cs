using System.Runtime.InteropServices;

namespace Storage.Json.IO;

/// <summary>The few POSIX calls .NET has no managed API for: fsync of a directory, and flock.</summary>
internal static partial class Libc
{
    public const int EINTR = 4;
    public const int EWOULDBLOCK = 11;

    private const int O_RDONLY = 0;
    private const int O_DIRECTORY = 0x10000; // Linux value; other platforms are refused in PosixFileSystem.
    private const int O_CLOEXEC = 0x80000;
    private const int LOCK_EX = 2;
    private const int LOCK_NB = 4;

    public static int OpenDirectory(string path) => Open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

    public static int LockExclusiveNonBlocking(nint fd) => Flock((int)fd, LOCK_EX | LOCK_NB);

    [LibraryImport("libc", EntryPoint = "open", StringMarshalling = StringMarshalling.Utf8, SetLastError = true)]
    private static partial int Open(string path, int flags);

    [LibraryImport("libc", EntryPoint = "fsync", SetLastError = true)]
    public static partial int Fsync(int fd);

    [LibraryImport("libc", EntryPoint = "close", SetLastError = true)]
    public static partial int Close(int fd);

    [LibraryImport("libc", EntryPoint = "flock", SetLastError = true)]
    private static partial int Flock(int fd, int operation);

    [LibraryImport("libc", EntryPoint = "strerror")]
    private static partial nint StrError(int errno);

    public static IOException Error(string what, string path)
    {
        var errno = Marshal.GetLastPInvokeError();
        var text = Marshal.PtrToStringUTF8(StrError(errno)) ?? "error " + errno;
        return new IOException($"{what} '{path}' failed: {text} (errno {errno}).", errno);
    }
}
