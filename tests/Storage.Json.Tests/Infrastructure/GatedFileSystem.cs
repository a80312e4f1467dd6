using Storage.Json.IO;

namespace Storage.Json.Tests.Infrastructure;

/// <summary>
/// A file layer that can hold one file creation until the test lets it go: the store's commit is
/// then paused in the middle of its write (its reservations taken, nothing visible yet), so a test
/// can act in that window deterministically instead of hoping for a race.
/// </summary>
internal sealed class GatedFileSystem(IFileSystem inner) : IFileSystem
{
    private readonly Lock _lock = new();
    private readonly SemaphoreSlim _held = new(0);
    private readonly SemaphoreSlim _released = new(0);
    private string? _armed;

    /// <summary>Holds the next <see cref="CreateNew"/> whose path contains <paramref name="pathPart"/> until <see cref="Release"/>.</summary>
    public void HoldNextCreate(string pathPart)
    {
        lock (_lock)
        {
            _armed = pathPart;
        }
    }

    /// <summary>Waits until the armed creation is being held.</summary>
    public async Task WaitUntilHeldAsync()
    {
        if (!await _held.WaitAsync(TimeSpan.FromSeconds(30)))
        {
            throw new TimeoutException("The armed file creation was never reached.");
        }
    }

    /// <summary>Lets the held creation go on (to the inner file layer, which may fail it).</summary>
    public void Release() => _released.Release();

    public void CreateDirectory(string path) => inner.CreateDirectory(path);

    public bool DirectoryExists(string path) => inner.DirectoryExists(path);

    public bool FileExists(string path) => inner.FileExists(path);

    public IReadOnlyList<string> ListFiles(string directory) => inner.ListFiles(directory);

    public byte[] ReadAllBytes(string path) => inner.ReadAllBytes(path);

    public IWritableFile CreateNew(string path)
    {
        bool hold;
        lock (_lock)
        {
            hold = _armed is not null && path.Contains(_armed, StringComparison.Ordinal);
            if (hold)
            {
                _armed = null;
            }
        }

        if (hold)
        {
            _held.Release();
            _released.Wait();
        }

        return inner.CreateNew(path);
    }

    public void Rename(string source, string destination) => inner.Rename(source, destination);

    public void Delete(string path) => inner.Delete(path);

    public void SyncDirectory(string path) => inner.SyncDirectory(path);

    public IDirectoryLock LockExclusive(string path) => inner.LockExclusive(path);

    public IDisposable WaitForCommits(string path) => inner.WaitForCommits(path);
}
