using Storage.Json.IO;

namespace Storage.Json.Tests.Infrastructure;

/// <summary>What a deliberately broken file layer forgets to do.</summary>
[Flags]
internal enum ForgottenSyncs
{
    None = 0,

    /// <summary>fsync of a written file.</summary>
    File = 1,

    /// <summary>fsync of a directory after a create, rename or delete.</summary>
    Directory = 2,
}

/// <summary>
/// A file layer that silently skips fsyncs once <see cref="Forget"/> is set: the store over it
/// behaves like a backend that forgot an fsync. Used to prove that the power-loss checks catch
/// such a backend, so that their passing against the real one means something.
/// </summary>
internal sealed class ForgetfulFileSystem(IFileSystem inner) : IFileSystem
{
    /// <summary>Which syncs are skipped from now on.</summary>
    public ForgottenSyncs Forget { get; set; }

    public void CreateDirectory(string path) => inner.CreateDirectory(path);

    public bool DirectoryExists(string path) => inner.DirectoryExists(path);

    public bool FileExists(string path) => inner.FileExists(path);

    public IReadOnlyList<string> ListFiles(string directory) => inner.ListFiles(directory);

    public byte[] ReadAllBytes(string path) => inner.ReadAllBytes(path);

    public IWritableFile CreateNew(string path) => new File(this, inner.CreateNew(path));

    public void Rename(string source, string destination) => inner.Rename(source, destination);

    public void Delete(string path) => inner.Delete(path);

    public void SyncDirectory(string path)
    {
        if (!Forget.HasFlag(ForgottenSyncs.Directory))
        {
            inner.SyncDirectory(path);
        }
    }

    public IDirectoryLock LockExclusive(string path) => inner.LockExclusive(path);

    public IDisposable WaitForCommits(string path) => inner.WaitForCommits(path);

    private sealed class File(ForgetfulFileSystem owner, IWritableFile inner) : IWritableFile
    {
        public void Write(ReadOnlySpan<byte> data, long offset) => inner.Write(data, offset);

        public void Sync()
        {
            if (!owner.Forget.HasFlag(ForgottenSyncs.File))
            {
                inner.Sync();
            }
        }

        public void Dispose() => inner.Dispose();
    }
}
