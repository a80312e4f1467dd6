namespace Storage.Json.IO;

/// <summary>
/// The file operations the JSON backend performs, one member per system call that matters for
/// durability — the seam where tests simulate power loss and inject I/O errors at every step (the
/// model is SQLite's test VFS and LevelDB's fault-injection Env). Paths are absolute.
/// </summary>
/// <remarks>
/// Failures are reported as <see cref="IOException"/> (with the errno in <see cref="Exception.HResult"/>
/// where the platform gives one), <see cref="FileNotFoundException"/> or
/// <see cref="DirectoryNotFoundException"/>, as the BCL does.
/// </remarks>
internal interface IFileSystem
{
    /// <summary>Creates a directory and its parents if missing.</summary>
    void CreateDirectory(string path);

    /// <summary>Whether a directory exists.</summary>
    bool DirectoryExists(string path);

    /// <summary>Whether a file exists; an <see cref="IOException"/> when that cannot be told (it never answers <see langword="false"/> for "could not look").</summary>
    bool FileExists(string path);

    /// <summary>The names (not paths) of the files directly in a directory.</summary>
    IReadOnlyList<string> ListFiles(string directory);

    /// <summary>Reads a whole file; <see cref="FileNotFoundException"/> when it does not exist.</summary>
    byte[] ReadAllBytes(string path);

    /// <summary>Creates a new file that must not exist yet (O_CREAT | O_EXCL), open for writing.</summary>
    IWritableFile CreateNew(string path);

    /// <summary>Atomically renames <paramref name="source"/> to <paramref name="destination"/>, replacing it (rename(2)).</summary>
    void Rename(string source, string destination);

    /// <summary>Deletes a file; no error when it does not exist.</summary>
    void Delete(string path);

    /// <summary>Makes the directory's entries (creates, renames, deletes) durable: fsync of the directory.</summary>
    void SyncDirectory(string path);

    /// <summary>
    /// Takes an exclusive, non-blocking lock on <paramref name="path"/> (created if missing), held
    /// until the result is disposed. Throws <see cref="StoreLockedException"/> when another holder
    /// has it, and also — failing closed — when the operating system cannot lock at all.
    /// </summary>
    IDirectoryLock LockExclusive(string path);

    /// <summary>
    /// Takes the fence byte of the lock file <paramref name="path"/> (created if missing) exclusively,
    /// through a description of its own, waiting while any store's commit holds it shared
    /// (<see cref="IDirectoryLock.ShareFence"/>); held until the result is disposed. Setting the
    /// read-only fence takes it once the fence file exists: every commit that could have missed the
    /// file has ended when it returns.
    /// </summary>
    IDisposable WaitForCommits(string path);
}

/// <summary>The store's lock on its directory (<see cref="IFileSystem.LockExclusive"/>); disposing it releases the directory.</summary>
internal interface IDirectoryLock : IDisposable
{
    /// <summary>Takes the fence byte shared, waiting while a setter of the read-only fence holds it (a moment).</summary>
    void ShareFence();

    /// <summary>Releases the fence byte <see cref="ShareFence"/> took.</summary>
    void UnshareFence();
}

/// <summary>A file open for writing.</summary>
internal interface IWritableFile : IDisposable
{
    /// <summary>Writes <paramref name="data"/> at <paramref name="offset"/>.</summary>
    void Write(ReadOnlySpan<byte> data, long offset);

    /// <summary>Makes the file's data durable: fsync.</summary>
    void Sync();
}
