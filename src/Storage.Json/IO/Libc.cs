using System.Runtime.InteropServices;

namespace Storage.Json.IO;

/// <summary>The few POSIX calls .NET has no managed API for: fsync of a directory, and an open-file-description lock.</summary>
internal static partial class Libc
{
    public const int EINTR = 4;
    public const int EWOULDBLOCK = 11;
    public const int EAGAIN = 11;
    public const int EACCES = 13;
    public const int ENOENT = 2;
    public const int ENOTDIR = 20;

    private const int O_RDONLY = 0;
    private const int O_DIRECTORY = 0x10000; // Linux value; other platforms are refused in PosixFileSystem.
    private const int O_CLOEXEC = 0x80000;
    private const int F_OFD_SETLK = 37; // Linux, every architecture.
    private const int F_OFD_SETLKW = 38;
    private const short F_RDLCK = 0;
    private const short F_WRLCK = 1;
    private const short F_UNLCK = 2;
    private const short SEEK_SET = 0;

    public static int OpenDirectory(string path) => Open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

    /// <summary>
    /// Takes a non-blocking write lock on the store's byte of the lock file (byte 0), owned by the
    /// open file description: fcntl(F_OFD_SETLK). It conflicts with any other description's lock, in
    /// this process or another, and — unlike flock — not with the shared flock .NET takes on every
    /// file it opens for reading, so copying the file stays possible. (Versions before the read-only
    /// fence locked the whole file, which covers byte 0 too: an old and a new store still exclude
    /// each other.)
    /// </summary>
    public static int LockOpenFileDescription(nint fd) => SetLock(fd, F_OFD_SETLK, F_WRLCK, OwnerByte);

    /// <summary>
    /// Releases the lock <see cref="LockOpenFileDescription"/> took. Closing the descriptor alone is
    /// not enough: a child process forked at that moment holds a copy of it until it execs, and the
    /// lock lives as long as any copy does.
    /// </summary>
    public static int UnlockOpenFileDescription(nint fd) => SetLock(fd, F_OFD_SETLK, F_UNLCK, OwnerByte);

    /// <summary>
    /// Takes (<paramref name="exclusive"/>: a write lock, else a read lock) or releases the fence byte
    /// of the lock file (byte 1), waiting for a conflicting lock to go: fcntl(F_OFD_SETLKW). Commits
    /// hold it shared; setting the read-only fence takes it exclusively, which waits for them.
    /// </summary>
    public static int LockFenceByte(nint fd, bool exclusive) => SetLock(fd, F_OFD_SETLKW, exclusive ? F_WRLCK : F_RDLCK, FenceByte);

    /// <summary>Releases the fence byte (<see cref="LockFenceByte"/>).</summary>
    public static int UnlockFenceByte(nint fd) => SetLock(fd, F_OFD_SETLK, F_UNLCK, FenceByte);

    private const long OwnerByte = 0;
    private const long FenceByte = 1;

    private static int SetLock(nint fd, int command, short type, long start)
    {
        // One byte; l_pid must be 0 for OFD locks. The bytes may lie past the end of the (empty) file.
        var request = new FileLock { Type = type, Whence = SEEK_SET, Start = start, Length = 1, Pid = 0 };
        return Fcntl((int)fd, command, ref request);
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

    /// <summary>
    /// Whether something exists at <paramref name="path"/>: access(F_OK). Unlike
    /// <see cref="File.Exists(string)"/>, which answers false when it cannot tell, any error but
    /// "no such file" is an <see cref="IOException"/>: a check that guards writes (the read-only
    /// fence) fails closed.
    /// </summary>
    public static bool Exists(string path)
    {
        if (Access(path, F_OK) == 0)
        {
            return true;
        }

        return Marshal.GetLastPInvokeError() is ENOENT or ENOTDIR ? false : throw Error("Checking", path);
    }

    private const int F_OK = 0;

    [LibraryImport("libc", EntryPoint = "access", StringMarshalling = StringMarshalling.Utf8, SetLastError = true)]
    private static partial int Access(string path, int mode);

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
