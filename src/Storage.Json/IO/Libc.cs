using System.Runtime.InteropServices;

namespace Storage.Json.IO;

/// <summary>The few POSIX calls .NET has no managed API for: fsync of a directory, and an open-file-description lock.</summary>
internal static partial class Libc
{
    public const int EINTR = 4;
    public const int EWOULDBLOCK = 11;
    public const int EAGAIN = 11;
    public const int EACCES = 13;

    private const int O_RDONLY = 0;
    private const int O_DIRECTORY = 0x10000; // Linux value; other platforms are refused in PosixFileSystem.
    private const int O_CLOEXEC = 0x80000;
    private const int F_OFD_SETLK = 37; // Linux, every architecture.
    private const short F_WRLCK = 1;
    private const short F_UNLCK = 2;
    private const short SEEK_SET = 0;

    public static int OpenDirectory(string path) => Open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

    /// <summary>
    /// Takes a non-blocking write lock on the whole file, owned by the open file description:
    /// fcntl(F_OFD_SETLK). It conflicts with any other description's lock, in this process or
    /// another, and — unlike flock — not with the shared flock .NET takes on every file it opens
    /// for reading, so copying the file stays possible.
    /// </summary>
    public static int LockOpenFileDescription(nint fd) => SetOpenFileDescriptionLock(fd, F_WRLCK);

    /// <summary>
    /// Releases the lock <see cref="LockOpenFileDescription"/> took. Closing the descriptor alone is
    /// not enough: a child process forked at that moment holds a copy of it until it execs, and the
    /// lock lives as long as any copy does.
    /// </summary>
    public static int UnlockOpenFileDescription(nint fd) => SetOpenFileDescriptionLock(fd, F_UNLCK);

    private static int SetOpenFileDescriptionLock(nint fd, short type)
    {
        // Length 0 = to the end of the file, however it grows; l_pid must be 0 for OFD locks.
        var request = new FileLock { Type = type, Whence = SEEK_SET, Start = 0, Length = 0, Pid = 0 };
        return Fcntl((int)fd, F_OFD_SETLK, ref request);
    }

    [LibraryImport("libc", EntryPoint = "open", StringMarshalling = StringMarshalling.Utf8, SetLastError = true)]
    private static partial int Open(string path, int flags);

    [LibraryImport("libc", EntryPoint = "fsync", SetLastError = true)]
    public static partial int Fsync(int fd);

    [LibraryImport("libc", EntryPoint = "close", SetLastError = true)]
    public static partial int Close(int fd);

    // fcntl is variadic; on the 64-bit Linux ABIs (x86-64, arm64) a variadic pointer argument is
    // passed like a fixed one, so a fixed signature is safe there (32-bit is refused in PosixFileSystem).
    [LibraryImport("libc", EntryPoint = "fcntl", SetLastError = true)]
    private static partial int Fcntl(int fd, int command, ref FileLock request);

    [LibraryImport("libc", EntryPoint = "strerror")]
    private static partial nint StrError(int errno);

    public static IOException Error(string what, string path)
    {
        var errno = Marshal.GetLastPInvokeError();
        var text = Marshal.PtrToStringUTF8(StrError(errno)) ?? "error " + errno;
        return new IOException($"{what} '{path}' failed: {text} (errno {errno}).", errno);
    }

    /// <summary>struct flock on 64-bit Linux (glibc and musl): l_type, l_whence, l_start, l_len, l_pid.</summary>
    [StructLayout(LayoutKind.Sequential)]
    private struct FileLock
    {
        public short Type;
        public short Whence;
        public long Start;
        public long Length;
        public int Pid;
    }
}
