using Storage.Internal;
using Storage.Json.Internal;
using Storage.Json.IO;

namespace Storage.Json;

/// <summary>
/// The JSON store's read-only fence: a file beside the manifest (<see cref="FileName"/>), and the
/// fence byte of the lock file. Every commit holds the byte shared while it checks the file and
/// writes; setting the fence creates the file durably, then takes the byte exclusively — which waits
/// for the commits in flight in the owning process — and lets it go. A commit that starts later sees
/// the file. So once setting returns, no write commits, whichever process sets it.
/// </summary>
/// <remarks>
/// The byte is held by the owner's lock description (<see cref="IDirectoryLock"/>), so the commits of
/// this process share one hold: the first one in takes it, the last one out releases it.
/// </remarks>
/// <seealso href="../../docs/json-backend.md#the-read-only-fence"/>
internal sealed class ReadOnlyFence(IFileSystem files, string root, IDirectoryLock? directoryLock)
{
    /// <summary>The fence file: while it exists, the store refuses writes.</summary>
    public const string FileName = "storage.readonly";

    /// <summary>The lock file whose byte 0 the owning store holds, and whose byte 1 is the fence byte.</summary>
    public const string LockFileName = "storage.lock";

    private static readonly byte[] s_content = "This store is read-only while this file exists (see docs/json-backend.md).\n"u8.ToArray();

    private readonly Lock _lock = new();
    private readonly string _path = Path.Combine(root, FileName);
    private int _commits;

    /// <summary>
    /// Enters a commit: holds the fence byte shared, then checks the fence file. Dispose the scope
    /// once the commit's files are written.
    /// </summary>
    /// <returns>The commit's hold.</returns>
    /// <exception cref="StoreReadOnlyException">The fence is set; nothing is held.</exception>
    /// <exception cref="StorageException">The lock file or the fence file could not be read.</exception>
    public Scope EnterCommit()
    {
        // A reader holds no lock description, so it can take no fence byte, and never commits. The
        // engine refuses its writes before they get here (IStoreBackend.IsReader); this keeps it so.
        if (directoryLock is null)
        {
            throw new InvalidOperationException(ErrorMessages.Reader);
        }

        // No allocation on this path (every commit takes it): messages are built only on failure.
        lock (_lock)
        {
            if (_commits == 0)
            {
                try
                {
                    directoryLock.ShareFence();
                }
                catch (Exception e) when (e is IOException or UnauthorizedAccessException)
                {
                    throw new StorageException(JsonErrors.ReadFailed(Path.Combine(root, LockFileName)), e);
                }
            }

            _commits++;
        }

        var scope = new Scope(this);
        bool set;
        try
        {
            set = files.FileExists(_path);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            scope.Dispose();
            throw new StorageException(JsonErrors.ReadFailed(_path), e);
        }

        if (set)
        {
            scope.Dispose();
            throw new StoreReadOnlyException();
        }

        return scope;
    }

    /// <summary>Whether the fence file exists.</summary>
    public bool IsSet() => JsonBackend.Step(JsonErrors.ReadFailed(_path), () => files.FileExists(_path));

    /// <summary>
    /// Sets or clears the fence of the store in <paramref name="root"/>, whether a process owns it or
    /// not. Setting writes the file (temp file, fsync, rename, fsync of the directory), then waits for
    /// the commits in flight (<see cref="IFileSystem.WaitForCommits"/>); clearing deletes it durably.
    /// </summary>
    /// <param name="files">The file layer.</param>
    /// <param name="root">The store's directory (full path).</param>
    /// <param name="readOnly">Whether to set or clear the fence.</param>
    /// <exception cref="StorageException">The directory holds no store, or a file could not be written.</exception>
    public static void Set(IFileSystem files, string root, bool readOnly)
    {
        var path = Path.Combine(root, FileName);
        var manifest = Path.Combine(root, Manifest.FileName);
        if (!JsonBackend.Step(JsonErrors.ReadFailed(manifest), () => files.FileExists(manifest)))
        {
            throw new StorageException(JsonErrors.NoStore(root));
        }

        if (!readOnly)
        {
            JsonBackend.Step(JsonErrors.WriteFailed(path), () =>
            {
                if (files.FileExists(path))
                {
                    files.Delete(path);
                    files.SyncDirectory(root);
                }
            });
            return;
        }

        JsonBackend.Step(JsonErrors.WriteFailed(path), () =>
        {
            if (!files.FileExists(path))
            {
                JsonBackend.AtomicWrite(files, root, FileName, s_content, syncDirectory: true);
            }

            // Every commit that checked before the file existed holds the fence byte until it has written.
            files.WaitForCommits(Path.Combine(root, LockFileName)).Dispose();
        });
    }

    private void Exit()
    {
        lock (_lock)
        {
            if (--_commits == 0)
            {
                try
                {
                    directoryLock!.UnshareFence();
                }
                catch (Exception e) when (e is IOException or UnauthorizedAccessException)
                {
                    throw new StorageException(JsonErrors.ReadFailed(Path.Combine(root, LockFileName)), e);
                }
            }
        }
    }

    /// <summary>A commit's hold on the fence byte.</summary>
    public readonly struct Scope(ReadOnlyFence fence) : IDisposable
    {
        /// <summary>Releases the hold (the last commit out releases the byte).</summary>
        public void Dispose() => fence.Exit();
    }
}
