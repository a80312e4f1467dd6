using Microsoft.Win32.SafeHandles;

namespace Storage.Json.IO;

/// <summary>
/// The real file layer on Linux. Data goes through <see cref="RandomAccess"/> (pwrite, then fsync
/// through <see cref="RandomAccess.FlushToDisk"/> — explicit, unlike <c>FileStream.Flush(true)</c>);
/// the directory fsync and the lock (fcntl) go through P/Invoke because .NET has no API for them.
/// </summary>
internal sealed class PosixFileSystem : IFileSystem
{
    public PosixFileSystem()
    {
        if (!OperatingSystem.IsLinux() || !Environment.Is64BitProcess)
        {
            // O_DIRECTORY's value and fsync-of-a-directory semantics are Linux's, and the lock's
            // struct flock is laid out as on 64-bit Linux; refuse rather than guess.
            throw new PlatformNotSupportedException("The JSON-files backend's durable file layer supports 64-bit Linux only.");
        }
    }

    public void CreateDirectory(string path) => Directory.CreateDirectory(path);

    public bool DirectoryExists(string path) => Directory.Exists(path);

    public bool FileExists(string path) => Libc.Exists(path) && !Directory.Exists(path);

    public IReadOnlyList<string> ListFiles(string directory)
        => Directory.EnumerateFiles(directory).Select(Path.GetFileName).ToList()!;

    public byte[] ReadAllBytes(string path) => File.ReadAllBytes(path);

    // FileShare.Read, not None: None would make .NET take an exclusive flock, and a File.Copy of the
    // directory that meets a temp file mid-write would fail ("used by another process"). O_EXCL
    // already keeps other writers out.
    public IWritableFile CreateNew(string path)
        => new WritableFile(File.OpenHandle(path, FileMode.CreateNew, FileAccess.Write, FileShare.Read));

    public void Rename(string source, string destination) => File.Move(source, destination, overwrite: true);

    public void Delete(string path) => File.Delete(path);

    public void SyncDirectory(string path)
    {
        var fd = Libc.OpenDirectory(path);
        if (fd < 0)
        {
            throw Libc.Error("Opening directory", path);
        }

        try
        {
            if (Libc.Fsync(fd) != 0)
            {
                throw Libc.Error("fsync of directory", path);
            }
        }
        finally
        {
            Libc.Close(fd);
        }
    }

    public IDirectoryLock LockExclusive(string path)
    {
        var handle = OpenLockFile(path);

        // An open-file-description lock (fcntl), not flock: it holds even when .NET's locking is
        // disabled (DOTNET_SYSTEM_IO_DISABLEFILELOCKING), it keeps out a second store in this process
        // too (a second open is a second description), and it does not conflict with the shared
        // flock .NET takes when it opens the file to read it, so File.Copy of the open directory
        // works. Any failure other than "held by someone" fails closed.
        while (Libc.LockOpenFileDescription(handle.DangerousGetHandle()) != 0)
        {
            var error = Libc.Error("fcntl(F_OFD_SETLK)", path);
            if (error.HResult == Libc.EINTR)
            {
                continue;
            }

            handle.Dispose();
            throw error.HResult is Libc.EAGAIN or Libc.EACCES
                ? new StoreLockedException(path, Internal.JsonErrors.Locked(path), error)
                : new StoreLockedException(path, Internal.JsonErrors.LockUnavailable(path), error);
        }

        return new DirectoryLock(handle);
    }

    public IDisposable WaitForCommits(string path)
    {
        var handle = OpenLockFile(path);
        while (Libc.LockFenceByte(handle.DangerousGetHandle(), exclusive: true) != 0)
        {
            var error = Libc.Error("fcntl(F_OFD_SETLKW)", path);
            if (error.HResult != Libc.EINTR)
            {
                handle.Dispose();
                throw error;
            }
        }

        return new FenceLock(handle);
    }

    private static SafeFileHandle OpenLockFile(string path)
    {
        try
        {
            return File.OpenHandle(path, FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.ReadWrite);
        }
        catch (IOException e) when (e.HResult == Libc.EWOULDBLOCK)
        {
            // .NET's own advisory lock on open (flock LOCK_SH) conflicts with an exclusive flock:
            // what versions of this library before the fcntl lock took.
            throw new StoreLockedException(path, Internal.JsonErrors.Locked(path), e);
        }
    }

    private sealed class FenceLock(SafeFileHandle handle) : IDisposable
    {
        public void Dispose()
        {
            if (!handle.IsClosed)
            {
                Libc.UnlockFenceByte(handle.DangerousGetHandle());
                handle.Dispose();
            }
        }
    }

    private sealed class DirectoryLock(SafeFileHandle handle) : IDirectoryLock
    {
        public void ShareFence()
        {
            while (Libc.LockFenceByte(handle.DangerousGetHandle(), exclusive: false) != 0)
            {
                var error = Libc.Error("fcntl(F_OFD_SETLKW)", "storage.lock");
                if (error.HResult != Libc.EINTR)
                {
                    throw error;
                }
            }
        }

        public void UnshareFence()
        {
            if (Libc.UnlockFenceByte(handle.DangerousGetHandle()) != 0)
            {
                throw Libc.Error("fcntl(F_OFD_SETLK)", "storage.lock");
            }
        }

        public void Dispose()
        {
            if (handle.IsClosed)
            {
                return;
            }

            // Released explicitly, as .NET does its own flock before closing (see Libc); a failure
            // here leaves the close to release it.
            Libc.UnlockOpenFileDescription(handle.DangerousGetHandle());
            handle.Dispose();
        }
    }

    private sealed class WritableFile(SafeFileHandle handle) : IWritableFile
    {
        public void Write(ReadOnlySpan<byte> data, long offset) => RandomAccess.Write(handle, data, offset);

        public void Sync() => RandomAccess.FlushToDisk(handle);

        public void Dispose() => handle.Dispose();
    }
}
