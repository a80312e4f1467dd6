using Storage.Json.IO;

namespace Storage.Json.Tests.Infrastructure;

/// <summary>What a power loss does with the directory-entry changes (create, rename, delete) that no sync of their directory made durable.</summary>
internal enum UnsyncedEntryChanges
{
    /// <summary>
    /// Every one is undone: each directory is back to its last sync. The model the older checks
    /// were written against; it cannot show a rename that became durable before the file's data.
    /// </summary>
    Undone,

    /// <summary>
    /// Every one is kept, with only the data that was synced: what ext4 and XFS do when their
    /// journal commits the metadata before the data is written back (a renamed or new file that
    /// was never fsynced comes back empty under its new name).
    /// </summary>
    Kept,

    /// <summary>
    /// A seeded random subset is kept, each change on its own (a rename is one change): the
    /// adversarial model, where no order between entry changes is promised either.
    /// </summary>
    SomeKept,
}

/// <summary>
/// An in-memory, POSIX-like file system that knows what a power loss would keep — the model of
/// LevelDB's <c>FaultInjectionTestEnv</c> and SQLite's crash VFS — and fails chosen calls on demand.
/// </summary>
/// <remarks>
/// <para>
/// Every file has its current content (what reads see: the page cache) and its durable content
/// (as of its last successful <see cref="IWritableFile.Sync"/>; empty if never synced). Every
/// directory has its current entries and its durable entries (as of its last
/// <see cref="SyncDirectory"/>). A create, rename or delete changes only the current entries of the
/// directories it touches (and is logged there until the next sync of that directory), and a new
/// subdirectory is an entry of its parent like a file. <see cref="SimulatePowerLoss"/> brings
/// everything back to the durable state: unsynced data is dropped, open handles die and locks are
/// released. What happens to the entry changes not followed by a sync of their directory is the
/// caller's choice (<see cref="UnsyncedEntryChanges"/>): by default they are undone (a renamed file
/// goes back to its old name, a deleted one comes back, and a file that was created and synced but
/// whose entry was never synced is gone). A real file system gives no such promise: ext4 and XFS
/// may make a create, rename or delete durable without any directory fsync, and before the data
/// of the file it names — so a file renamed into place without an fsync of its data comes back
/// empty. <see cref="UnsyncedEntryChanges.Kept"/> and <see cref="UnsyncedEntryChanges.SomeKept"/>
/// (a seeded random subset) model that; a rename is one change, applied whole or not at all, as
/// the journal of either file system commits it.
/// </para>
/// <para>
/// A failed <see cref="IWritableFile.Sync"/> behaves like Linux after a writeback error: the error
/// is reported once and the pages are marked clean, so the bytes written before it never become
/// durable, even though a later sync succeeds (the "fsyncgate" behaviour that cost PostgreSQL
/// data); only bytes written again after the failure do.
/// </para>
/// <para>
/// Every call is counted per <see cref="FileSystemOperation"/> and traced in order, so a test can
/// count the steps of one write and then fail (<see cref="InjectFault"/>) or lose power after
/// (<see cref="PowerOffAfter"/>) each step in turn. Paths are absolute with '/' separators; a '.'
/// or '..' segment is refused, so a path that tries to leave its directory fails loudly.
/// </para>
/// </remarks>
internal sealed class FaultInjectingFileSystem : IFileSystem
{
    private readonly Lock _lock = new();
    private readonly DirectoryNode _root = new();
    private readonly List<FileSystemCall> _calls = [];
    private readonly Dictionary<FileSystemOperation, int> _counts = [];
    private readonly List<Trigger> _faults = [];
    private readonly List<Trigger> _powerOffs = [];
    private readonly Dictionary<string, LockHandle> _locks = new(StringComparer.Ordinal);
    private int _epoch;
    private long _lastEntryChange;
    private bool _poweredOff;
    private bool _powerOffAfterCurrentCall;

    /// <summary>When set, <see cref="LockExclusive"/> fails as on a file system without locking (ENOLCK).</summary>
    public bool LockingUnsupported { get; set; }

    /// <summary>Whether the machine is off: every call fails until <see cref="SimulatePowerLoss"/>.</summary>
    public bool IsPoweredOff
    {
        get
        {
            lock (_lock)
            {
                return _poweredOff;
            }
        }
    }

    /// <summary>Every call so far, in order.</summary>
    public IReadOnlyList<FileSystemCall> Calls
    {
        get
        {
            lock (_lock)
            {
                return [.. _calls];
            }
        }
    }

    /// <summary>The calls made after the first <paramref name="mark"/> calls (take the mark from <see cref="Calls"/>.Count).</summary>
    public IReadOnlyList<FileSystemCall> CallsSince(int mark)
    {
        lock (_lock)
        {
            return _calls.Skip(mark).ToList();
        }
    }

    /// <summary>How many calls of one kind were made so far.</summary>
    public int CallCount(FileSystemOperation operation)
    {
        lock (_lock)
        {
            return _counts.GetValueOrDefault(operation);
        }
    }

    /// <summary>
    /// Fails the <paramref name="nth"/> call of <paramref name="operation"/> from now (1 = the next
    /// one; <see langword="null"/> = of any kind) with <paramref name="error"/>, or with the kind's
    /// usual errno (<see cref="Errno.DefaultFault"/>). The call has no effect, except a write with
    /// <paramref name="tornLength"/>, which writes that many leading bytes before failing.
    /// </summary>
    public void InjectFault(FileSystemOperation? operation, int nth = 1, IOException? error = null, int? tornLength = null)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(nth, 1);
        lock (_lock)
        {
            _faults.Add(new Trigger(operation, nth, error, tornLength));
        }
    }

    /// <summary>
    /// Lets the <paramref name="nth"/> call of <paramref name="operation"/> from now (<see langword="null"/> = of any kind)
    /// complete, then turns the power off: every later call fails with EIO, as in a dead machine,
    /// until <see cref="SimulatePowerLoss"/> restarts it with only what was durable at that moment.
    /// </summary>
    public void PowerOffAfter(FileSystemOperation? operation, int nth = 1)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(nth, 1);
        lock (_lock)
        {
            _powerOffs.Add(new Trigger(operation, nth, null, null));
        }
    }

    /// <summary>
    /// Loses power now (or restarts after <see cref="PowerOffAfter"/>): everything goes back to its
    /// durable state, open handles die, locks are released, pending faults are cleared.
    /// </summary>
    /// <param name="entries">What becomes of the entry changes no directory sync made durable; by default they are undone.</param>
    /// <param name="seed">With <see cref="UnsyncedEntryChanges.SomeKept"/>, chooses the subset kept.</param>
    public void SimulatePowerLoss(UnsyncedEntryChanges entries = UnsyncedEntryChanges.Undone, int seed = 0)
    {
        lock (_lock)
        {
            Revert(_root, Keeps);
            Restart();
        }

        // A function of the change, so that a rename across two directories is kept in both or in neither.
        bool Keeps(long change) => entries switch
        {
            UnsyncedEntryChanges.Undone => false,
            UnsyncedEntryChanges.Kept => true,
            _ => (Mix(((ulong)(uint)seed << 32) ^ (ulong)change) & 1) == 0,
        };

        // SplitMix64's finalizer: unlike System.Random's first draw, nearby seeds give unrelated subsets.
        static ulong Mix(ulong z)
        {
            z += 0x9E3779B97F4A7C15;
            z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9;
            z = (z ^ (z >> 27)) * 0x94D049BB133111EB;
            return z ^ (z >> 31);
        }

        static void Revert(DirectoryNode directory, Func<long, bool> keeps)
        {
            var entries = new SortedDictionary<string, Node>(directory.Durable, StringComparer.Ordinal);
            foreach (var change in directory.Unsynced.Where(c => keeps(c.Id)))
            {
                if (change.Node is null)
                {
                    entries.Remove(change.Name);
                }
                else
                {
                    entries[change.Name] = change.Node;
                }
            }

            directory.Unsynced.Clear();
            directory.Durable = new Dictionary<string, Node>(entries, StringComparer.Ordinal);
            directory.Current = entries;
            foreach (var node in entries.Values)
            {
                switch (node)
                {
                    case FileNode file:
                        file.Revert();
                        break;
                    case DirectoryNode child:
                        Revert(child, keeps);
                        break;
                }
            }
        }
    }

    /// <summary>
    /// The process dies (kill -9) but the machine keeps running: all written data and directory
    /// changes stay (the page cache survives), open handles die and locks are released.
    /// </summary>
    public void SimulateProcessCrash()
    {
        lock (_lock)
        {
            Restart();
        }
    }

    /// <summary>The paths of every file that exists now (not counted as a call).</summary>
    public IReadOnlyList<string> AllFiles()
    {
        lock (_lock)
        {
            var files = new List<string>();
            Collect(_root, string.Empty);
            return files;

            void Collect(DirectoryNode directory, string path)
            {
                foreach (var (name, node) in directory.Current)
                {
                    if (node is DirectoryNode child)
                    {
                        Collect(child, path + "/" + name);
                    }
                    else
                    {
                        files.Add(path + "/" + name);
                    }
                }
            }
        }
    }

    /// <inheritdoc/>
    public void CreateDirectory(string path)
    {
        lock (_lock)
        {
            var call = Begin(FileSystemOperation.CreateDirectory, path);
            try
            {
                ThrowIfFault(call);
                var directory = _root;
                foreach (var segment in Segments(path))
                {
                    directory = directory.Current.GetValueOrDefault(segment) switch
                    {
                        DirectoryNode child => child,
                        FileNode => throw Errno.Error(Errno.ENOTDIR, $"Not a directory: {path}"),
                        _ => (DirectoryNode)SetEntry(directory, segment, new DirectoryNode(), ++_lastEntryChange)!,
                    };
                }
            }
            finally
            {
                End();
            }
        }
    }

    /// <inheritdoc/>
    public bool DirectoryExists(string path)
    {
        lock (_lock)
        {
            var call = Begin(FileSystemOperation.DirectoryExists, path);
            try
            {
                ThrowIfFault(call);
                return ResolveDirectory(path) is not null;
            }
            finally
            {
                End();
            }
        }
    }

    /// <inheritdoc/>
    public bool FileExists(string path)
    {
        lock (_lock)
        {
            var call = Begin(FileSystemOperation.FileExists, path);
            try
            {
                ThrowIfFault(call);
                var (parent, name) = ResolveParent(path);
                return parent?.Current.GetValueOrDefault(name) is FileNode;
            }
            finally
            {
                End();
            }
        }
    }

    /// <inheritdoc/>
    public IReadOnlyList<string> ListFiles(string directory)
    {
        lock (_lock)
        {
            var call = Begin(FileSystemOperation.ListFiles, directory);
            try
            {
                ThrowIfFault(call);
                var node = ResolveDirectory(directory) ?? throw new DirectoryNotFoundException($"Could not find a part of the path '{directory}'.");
                return node.Current.Where(e => e.Value is FileNode).Select(e => e.Key).ToList();
            }
            finally
            {
                End();
            }
        }
    }

    /// <inheritdoc/>
    public byte[] ReadAllBytes(string path)
    {
        lock (_lock)
        {
            var call = Begin(FileSystemOperation.ReadAllBytes, path);
            try
            {
                ThrowIfFault(call);
                return [.. ExistingFile(path).Current];
            }
            finally
            {
                End();
            }
        }
    }

    /// <inheritdoc/>
    public IWritableFile CreateNew(string path)
    {
        lock (_lock)
        {
            var call = Begin(FileSystemOperation.CreateNew, path);
            try
            {
                ThrowIfFault(call);
                var (parent, name) = ExistingParent(path);
                if (parent.Current.ContainsKey(name))
                {
                    throw Errno.Error(Errno.EEXIST, $"The file '{path}' already exists.");
                }

                var file = new FileNode();
                SetEntry(parent, name, file, ++_lastEntryChange);
                return new WritableFile(this, file, path, _epoch);
            }
            finally
            {
                End();
            }
        }
    }

    /// <inheritdoc/>
    public void Rename(string source, string destination)
    {
        lock (_lock)
        {
            var call = Begin(FileSystemOperation.Rename, source, destination);
            try
            {
                ThrowIfFault(call);
                var file = ExistingFile(source);
                var (sourceParent, sourceName) = ResolveParent(source);
                var (destinationParent, destinationName) = ExistingParent(destination);
                if (destinationParent.Current.GetValueOrDefault(destinationName) is DirectoryNode)
                {
                    throw Errno.Error(Errno.EISDIR, $"Is a directory: {destination}");
                }

                var change = ++_lastEntryChange;
                SetEntry(sourceParent!, sourceName, null, change);
                SetEntry(destinationParent, destinationName, file, change);
            }
            finally
            {
                End();
            }
        }
    }

    /// <inheritdoc/>
    public void Delete(string path)
    {
        lock (_lock)
        {
            var call = Begin(FileSystemOperation.Delete, path);
            try
            {
                ThrowIfFault(call);
                var (parent, name) = ResolveParent(path);
                switch (parent?.Current.GetValueOrDefault(name))
                {
                    case DirectoryNode:
                        throw Errno.Error(Errno.EISDIR, $"Is a directory: {path}");
                    case FileNode:
                        SetEntry(parent, name, null, ++_lastEntryChange);
                        break;
                }
            }
            finally
            {
                End();
            }
        }
    }

    /// <inheritdoc/>
    public void SyncDirectory(string path)
    {
        lock (_lock)
        {
            var call = Begin(FileSystemOperation.SyncDirectory, path);
            try
            {
                ThrowIfFault(call);
                var directory = ResolveDirectory(path) ?? throw new DirectoryNotFoundException($"Could not find a part of the path '{path}'.");
                directory.Durable = new Dictionary<string, Node>(directory.Current, StringComparer.Ordinal);
                directory.Unsynced.Clear();
            }
            finally
            {
                End();
            }
        }
    }

    /// <inheritdoc/>
    public IDirectoryLock LockExclusive(string path)
    {
        lock (_lock)
        {
            var call = Begin(FileSystemOperation.LockExclusive, path);
            try
            {
                ThrowIfFault(call);
                if (LockingUnsupported)
                {
                    throw Errno.Error(Errno.ENOLCK, $"No locks available: this file system cannot lock {path}.");
                }

                var (parent, name) = ExistingParent(path);
                switch (parent.Current.GetValueOrDefault(name))
                {
                    case DirectoryNode:
                        throw Errno.Error(Errno.EISDIR, $"Is a directory: {path}");
                    case null:
                        SetEntry(parent, name, new FileNode(), ++_lastEntryChange);
                        break;
                }

                var key = string.Join('/', Segments(path));
                if (_locks.ContainsKey(key))
                {
                    throw new StoreLockedException(path, $"The lock on '{path}' is held by another store (simulated).");
                }

                var handle = new LockHandle(this, key, _epoch);
                _locks[key] = handle;
                return handle;
            }
            finally
            {
                End();
            }
        }
    }

    private void Write(WritableFile handle, ReadOnlySpan<byte> data, long offset)
    {
        lock (_lock)
        {
            var call = Begin(FileSystemOperation.Write, handle.Path);
            try
            {
                EnsureLive(handle);
                if (call.Fault is { } fault)
                {
                    if (fault.TornLength is { } torn)
                    {
                        handle.File.Write(data[..Math.Min(torn, data.Length)], offset);
                    }

                    throw fault.Error ?? Errno.DefaultFault(FileSystemOperation.Write, handle.Path);
                }

                handle.File.Write(data, offset);
            }
            finally
            {
                End();
            }
        }
    }

    private void Sync(WritableFile handle)
    {
        lock (_lock)
        {
            var call = Begin(FileSystemOperation.Sync, handle.Path);
            try
            {
                EnsureLive(handle);
                if (call.Fault is not null)
                {
                    handle.File.SyncFailed();
                    ThrowIfFault(call);
                }

                handle.File.SyncSucceeded();
            }
            finally
            {
                End();
            }
        }
    }

    private void Close(WritableFile handle)
    {
        lock (_lock)
        {
            // A dead process closes nothing, and a dead machine reports nothing: both are no-ops.
            if (_poweredOff || handle.Epoch != _epoch)
            {
                return;
            }

            var call = Begin(FileSystemOperation.Close, handle.Path);
            try
            {
                ThrowIfFault(call);
            }
            finally
            {
                End();
            }
        }
    }

    private void Unlock(LockHandle handle)
    {
        lock (_lock)
        {
            if (handle.Epoch == _epoch && _locks.TryGetValue(handle.Key, out var held) && ReferenceEquals(held, handle))
            {
                _locks.Remove(handle.Key);
            }
        }
    }

    /// <summary>Changes a directory's current entry (<see langword="null"/> removes it) and logs the change until the directory's next sync.</summary>
    private static Node? SetEntry(DirectoryNode directory, string name, Node? node, long change)
    {
        if (node is null)
        {
            directory.Current.Remove(name);
        }
        else
        {
            directory.Current[name] = node;
        }

        directory.Unsynced.Add(new EntryChange(change, name, node));
        return node;
    }

    private void Restart()
    {
        _epoch++;
        _locks.Clear();
        _faults.Clear();
        _powerOffs.Clear();
        _poweredOff = false;
    }

    private Call Begin(FileSystemOperation operation, string path, string? destination = null)
    {
        if (_poweredOff)
        {
            throw Errno.Error(Errno.EIO, $"Input/output error: the machine has lost power ({operation} {path}).");
        }

        _counts[operation] = _counts.GetValueOrDefault(operation) + 1;
        _calls.Add(new FileSystemCall(_calls.Count + 1, operation, path, destination));
        _powerOffAfterCurrentCall = Fire(_powerOffs, operation) is not null;
        return new Call(operation, path, Fire(_faults, operation));
    }

    private void End()
    {
        if (_powerOffAfterCurrentCall)
        {
            _powerOffAfterCurrentCall = false;
            _poweredOff = true;
        }
    }

    private static Trigger? Fire(List<Trigger> triggers, FileSystemOperation operation)
    {
        Trigger? fired = null;
        for (var i = triggers.Count - 1; i >= 0; i--)
        {
            var trigger = triggers[i];
            if (trigger.Operation is null || trigger.Operation == operation)
            {
                trigger.Remaining--;
                if (trigger.Remaining == 0)
                {
                    triggers.RemoveAt(i);
                    fired ??= trigger;
                }
            }
        }

        return fired;
    }

    private static void ThrowIfFault(Call call)
    {
        if (call.Fault is { } fault)
        {
            throw fault.Error ?? Errno.DefaultFault(call.Operation, call.Path);
        }
    }

    private void EnsureLive(WritableFile handle)
    {
        ObjectDisposedException.ThrowIf(handle.Disposed, handle);
        if (handle.Epoch != _epoch)
        {
            throw Errno.Error(Errno.EBADF, $"Bad file descriptor: {handle.Path} was opened before a crash.");
        }
    }

    private static string[] Segments(string path)
    {
        if (!path.StartsWith('/'))
        {
            throw new ArgumentException($"The path '{path}' is not absolute.", nameof(path));
        }

        var segments = path.Split('/', StringSplitOptions.RemoveEmptyEntries);
        if (segments.Any(s => s is "." or ".."))
        {
            throw new ArgumentException($"The path '{path}' has a '.' or '..' segment.", nameof(path));
        }

        return segments;
    }

    private DirectoryNode? ResolveDirectory(string path)
    {
        var directory = _root;
        foreach (var segment in Segments(path))
        {
            if (directory.Current.GetValueOrDefault(segment) is not DirectoryNode child)
            {
                return null;
            }

            directory = child;
        }

        return directory;
    }

    private (DirectoryNode? Parent, string Name) ResolveParent(string path)
    {
        var segments = Segments(path);
        if (segments.Length == 0)
        {
            throw new ArgumentException("The root is not a file.", nameof(path));
        }

        return (ResolveDirectory("/" + string.Join('/', segments[..^1])), segments[^1]);
    }

    private (DirectoryNode Parent, string Name) ExistingParent(string path)
    {
        var (parent, name) = ResolveParent(path);
        return (parent ?? throw new DirectoryNotFoundException($"Could not find a part of the path '{path}'."), name);
    }

    private FileNode ExistingFile(string path)
    {
        var (parent, name) = ExistingParent(path);
        return parent.Current.GetValueOrDefault(name) switch
        {
            FileNode file => file,
            DirectoryNode => throw Errno.Error(Errno.EISDIR, $"Is a directory: {path}"),
            _ => throw new FileNotFoundException($"Could not find file '{path}'.", path),
        };
    }

    private abstract class Node;

    private sealed class FileNode : Node
    {
        private bool[] _dirty = [];

        /// <summary>What reads see: the page cache.</summary>
        public byte[] Current { get; private set; } = [];

        /// <summary>What survives a power loss.</summary>
        public byte[] Durable { get; private set; } = [];

        public void Write(ReadOnlySpan<byte> data, long offset)
        {
            var start = checked((int)offset);
            var end = checked(start + data.Length);
            if (end > Current.Length)
            {
                // Growing a file past its end fills the gap with zeros, which are written data too.
                var grown = new byte[end];
                Current.CopyTo(grown, 0);
                var dirty = new bool[end];
                _dirty.CopyTo(dirty, 0);
                Array.Fill(dirty, true, Current.Length, end - Current.Length);
                Current = grown;
                _dirty = dirty;
            }

            data.CopyTo(Current.AsSpan(start));
            Array.Fill(_dirty, true, start, data.Length);
        }

        public void SyncSucceeded()
        {
            var durable = new byte[Current.Length];
            for (var i = 0; i < durable.Length; i++)
            {
                durable[i] = _dirty[i] ? Current[i] : i < Durable.Length ? Durable[i] : (byte)0;
            }

            Durable = durable;
            Array.Clear(_dirty);
        }

        /// <summary>Writeback failed: the dirty bytes are marked clean without having reached the disk.</summary>
        public void SyncFailed() => Array.Clear(_dirty);

        public void Revert()
        {
            Current = [.. Durable];
            _dirty = new bool[Current.Length];
        }
    }

    private sealed class DirectoryNode : Node
    {
        public SortedDictionary<string, Node> Current { get; set; } = new(StringComparer.Ordinal);

        public Dictionary<string, Node> Durable { get; set; } = new(StringComparer.Ordinal);

        /// <summary>The entry changes since the last sync, in order; a power loss keeps some, all or none of them.</summary>
        public List<EntryChange> Unsynced { get; } = [];
    }

    /// <summary>One call's change to one entry: <paramref name="Id"/> is the call's, shared by both halves of a rename.</summary>
    private sealed record EntryChange(long Id, string Name, Node? Node);

    private sealed class Trigger(FileSystemOperation? operation, int nth, IOException? error, int? tornLength)
    {
        public FileSystemOperation? Operation { get; } = operation;

        public int Remaining { get; set; } = nth;

        public IOException? Error { get; } = error;

        public int? TornLength { get; } = tornLength;
    }

    private readonly record struct Call(FileSystemOperation Operation, string Path, Trigger? Fault);

    private sealed class WritableFile(FaultInjectingFileSystem fileSystem, FileNode file, string path, int epoch) : IWritableFile
    {
        public FileNode File { get; } = file;

        public string Path { get; } = path;

        public int Epoch { get; } = epoch;

        public bool Disposed { get; private set; }

        public void Write(ReadOnlySpan<byte> data, long offset) => fileSystem.Write(this, data, offset);

        public void Sync() => fileSystem.Sync(this);

        public void Dispose()
        {
            if (!Disposed)
            {
                Disposed = true;
                fileSystem.Close(this);
            }
        }
    }

    /// <inheritdoc/>
    /// <remarks>One simulated process: no commit of another process can be in flight, so there is nothing to wait for.</remarks>
    public IDisposable WaitForCommits(string path) => new LockHandle(this, string.Empty, -1);

    private sealed class LockHandle(FaultInjectingFileSystem fileSystem, string key, int epoch) : IDirectoryLock
    {
        public string Key { get; } = key;

        public int Epoch { get; } = epoch;

        // The fence byte is not simulated (see WaitForCommits).
        public void ShareFence()
        {
        }

        public void UnshareFence()
        {
        }

        public void Dispose() => fileSystem.Unlock(this);
    }
}
