using System.Collections.Concurrent;
using System.Security.Cryptography;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Storage.Internal;
using Storage.Json.Indexes;
using Storage.Json.Internal;
using Storage.Json.IO;

namespace Storage.Json;

/// <summary>
/// The JSON-files backend of <see cref="JsonStore"/>: one human-readable, checksummed JSON file per
/// partition, replaced atomically on every commit (temp file, fsync, rename, fsync of the directory).
/// Partitions are cached in memory once read; the engine groups the writes of each partition, and
/// this class turns a group into one file write; writes to different partitions never wait on each
/// other. One store owns its directory at a time (a lock file). Secondary indexes are kept in memory
/// (<see cref="JsonIndexes"/>): a store with declared indexes reads every partition at open and builds
/// them (see docs/json-backend.md); one without reads partitions on first use.
/// </summary>
/// <remarks>
/// The file layer is synchronous (that is what the operating system offers), so operations complete
/// synchronously on the calling thread; they are exposed as <see cref="ValueTask"/> without any
/// <c>Task.Run</c>.
/// </remarks>
internal sealed partial class JsonBackend : IStoreBackend
{
    private const string LockFileName = ReadOnlyFence.LockFileName;
    private const string PartitionsDirectoryName = "partitions";

    // Room beyond the previous file's size (and an eighth of it) for what a commit adds before its buffer must grow.
    private const int FileSlack = 4096;

    private readonly IFileSystem _files;
    private readonly string _root;
    private readonly string _partitionsDirectory;

    // Full durability: fsync the directory after each rename and delete. File data is fsynced in either mode (AtomicWrite).
    private readonly bool _sync;
    // Null for a reader, which takes no lock (JsonBackend.Reader.cs).
    private readonly IDirectoryLock? _lock;
    private readonly ReadOnlyFence _fence;
    private readonly ConcurrentDictionary<string, Partition> _partitions = new(StringComparer.Ordinal);
    private readonly Lock _catalogLock = new();
    private readonly SortedSet<string> _catalog;
    private readonly SortedSet<string> _unresolvedFiles;
    private readonly Lock _manifestLock = new();
    private readonly IndexCatalog _indexCatalog;
    private readonly ILogger _logger;

    // Opened as a reader (JsonBackend.Reader.cs): no lock, nothing written, nothing cached.
    private readonly bool _reader;

    // Partitions whose last write failed before its outcome could be read back (see Unresolve).
    private readonly ConcurrentDictionary<Partition, bool> _unresolvedPartitions = new();
    private Manifest _manifest;

    // Null when no index is declared; set once at open, before the store is handed out.
    private JsonIndexes? _indexes;

    // The store-wide cursor's journal (changes.jsonl); set once at open, before the store is handed out.
    // Null for a reader, which reads the journal's file as it is and writes nothing.
    private ChangeJournal? _journal;

    private JsonBackend(IFileSystem files, string root, JsonStoreOptions options, IndexCatalog indexCatalog, IDirectoryLock? directoryLock, Manifest manifest, SortedSet<string> catalog, SortedSet<string> unresolvedFiles)
    {
        _indexCatalog = indexCatalog;
        _logger = options.LoggerFactory?.CreateLogger<JsonStore>() ?? (ILogger)NullLogger.Instance;
        _files = files;
        _root = root;
        _partitionsDirectory = Path.Combine(root, PartitionsDirectoryName);
        _sync = options.Durability == DurabilityMode.Full;
        _lock = directoryLock;
        _reader = options.Access == JsonStoreAccess.Reader;
        _fence = new ReadOnlyFence(files, root, directoryLock);
        _manifest = manifest;
        _catalog = catalog;
        _unresolvedFiles = unresolvedFiles;
    }

    /// <summary>The full path of the data directory.</summary>
    public string Directory => _root;

    /// <summary>The in-memory indexes (null when none is declared): for tests.</summary>
    internal JsonIndexes? Indexes => _indexes;

    /// <summary>The partition's state as the store holds it in memory, or <see langword="null"/> when it has none: for tests.</summary>
    internal PartitionSnapshot? CachedSnapshot(string partition) => _partitions.TryGetValue(partition, out var handle) ? handle.Snapshot : null;

    public string SystemName => "json";

    /// <inheritdoc/>
    public int ImportWindow => BatchImport.InFlight;

    /// <inheritdoc/>
    /// <remarks>A file per partition: groups of different partitions are written and synced at the same time.</remarks>
    public bool CommitsPerPartition => true;

    /// <summary>Opens (or creates) the store's directory, taking its lock (see <see cref="JsonStore.Open(JsonStoreOptions)"/>).</summary>
    /// <param name="options">The directory and settings, validated.</param>
    /// <param name="indexCatalog">The declared indexes.</param>
    /// <param name="files">The file layer: the seam where tests inject faults and simulate power loss.</param>
    /// <returns>The open backend.</returns>
    public static JsonBackend Open(JsonStoreOptions options, IndexCatalog indexCatalog, IFileSystem files)
    {
        var root = Path.GetFullPath(options.Directory);
        var partitions = Path.Combine(root, PartitionsDirectoryName);
        var lockPath = Path.Combine(root, LockFileName);

        // Open's writes are durable in either mode: it writes only when it creates the store or cleans
        // up after a crash, and a relaxed store's manifest and directories must be durable before any
        // partition file can be, or a power loss could keep partition files without them.
        Step(JsonErrors.CreatingDirectoryFailed(root), () => CreateDirectoryDurably(files, root));
        var directoryLock = Step(JsonErrors.OpeningLockFileFailed(lockPath), () => files.LockExclusive(lockPath));
        try
        {
            var manifestPath = Path.Combine(root, Manifest.FileName);
            Manifest manifest;
            if (Io(manifestPath, () => files.FileExists(manifestPath)))
            {
                manifest = Manifest.Parse(Io(manifestPath, () => files.ReadAllBytes(manifestPath)), manifestPath);

                // A new store's partitions directory exists before its manifest does (below), so it
                // missing means the partitions were removed from outside: recreating it would show an
                // empty store whose versions start again at the floor.
                if (!Io(partitions, () => files.DirectoryExists(partitions)))
                {
                    throw new CorruptDataException(root, JsonErrors.PartitionsMissing);
                }
            }
            else
            {
                if (Step(JsonErrors.ListingFailed(partitions), () => files.DirectoryExists(partitions) && files.ListFiles(partitions).Any(n => n.EndsWith(PartitionFileNames.Extension, StringComparison.Ordinal))))
                {
                    throw new CorruptDataException(root, JsonErrors.ManifestMissing);
                }

                manifest = new Manifest(Manifest.CurrentFormat, 0);

                // Durable before the manifest is written: a manifest that survives a power loss without
                // its partitions directory would be refused as above.
                Step(JsonErrors.CreatingDirectoryFailed(partitions), () => CreateDirectoryDurably(files, partitions));
                Step(JsonErrors.CreatingManifestFailed(manifestPath), () => AtomicWrite(files, root, Manifest.FileName, manifest.Serialize(), syncDirectory: true));
            }

            Step(JsonErrors.RemovingTempFilesFailed(root), () => RemoveTempFiles(files, root));
            Step(JsonErrors.RemovingTempFilesFailed(partitions), () => RemoveTempFiles(files, partitions));

            var (catalog, unresolved) = ReadCatalog(files, partitions);
            var store = new JsonBackend(files, root, options, indexCatalog, directoryLock, manifest, catalog, unresolved);
            var now = Timestamps.Now(options.TimeProvider);
            if (indexCatalog.All.Count > 0)
            {
                store.BuildIndexes(now);
            }

            try
            {
                var journalPath = Path.Combine(root, ChangeJournal.FileName);
                store._journal = Step(JsonErrors.OpeningJournalFailed(journalPath), () => ChangeJournal.Open(files, root, store.CatalogKeys(), store.FileRevision, now));
            }
            catch
            {
                store._indexes?.Dispose();
                throw;
            }

            return store;
        }
        catch
        {
            directoryLock.Dispose();
            throw;
        }
    }


    /// <inheritdoc/>
    /// <remarks>Partition by partition, each in its turn: a partition that needs no purge is not written.</remarks>
    public async ValueTask<long> PurgeAsync(DateTimeOffset now, DateTimeOffset? tombstoneCutoff, Func<string, CancellationToken, ValueTask<long>> purgeInTurn, CancellationToken cancellationToken)
    {
        // The rule of ListPartitionsAsync: a damaged file fails the walk, whatever its name form.
        ThrowIfUnresolvedFile();
        long purged = 0;
        foreach (var key in CatalogKeys())
        {
            cancellationToken.ThrowIfCancellationRequested();
            if (PartitionBuilder.NeedsPurge(Load(GetPartition(key)), now, tombstoneCutoff))
            {
                purged += await purgeInTurn(key, cancellationToken).ConfigureAwait(false);
            }
        }

        // The marks of deleted partitions go with the tombstones: a cursor behind one dropped must start over.
        if (tombstoneCutoff is { } cutoff && _journal!.HasMarksAtOrBefore(cutoff))
        {
            using var fence = _fence.EnterCommit();
            try
            {
                _journal!.DropMarks(cutoff);
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                throw new StorageException(JsonErrors.WriteFailed(_journal!.Path), e);
            }
        }

        return purged;
    }

    /// <inheritdoc/>
    public ValueTask<StoredDocument?> GetAsync(string partition, string collection, string key, DateTimeOffset now, CancellationToken cancellationToken)
    {
        var record = Snapshot(partition)?.Find(collection, key);
        return ValueTask.FromResult(record is null || Timestamps.IsExpired(record.ExpiresAt, now) ? null : record.ToDocument(partition, collection));
    }

    /// <inheritdoc/>
    public ValueTask<IReadOnlyList<StoredDocument>> ListDocumentsAsync(string partition, string collection, KeyRange range, bool descending, int limit, DateTimeOffset now, CancellationToken cancellationToken)
    {
        var documents = Snapshot(partition)?.Collections.GetValueOrDefault(collection) ?? [];
        var found = Scan(documents, static d => d.Key, range, descending).Where(d => !Timestamps.IsExpired(d.ExpiresAt, now)).Take(limit).Select(d => d.ToDocument(partition, collection)).ToList();
        return ValueTask.FromResult<IReadOnlyList<StoredDocument>>(found);
    }

    /// <inheritdoc/>
    public ValueTask<IReadOnlyList<StreamInfo>> ListStreamsAsync(string partition, KeyRange range, bool descending, int limit, CancellationToken cancellationToken)
    {
        var found = Scan(Snapshot(partition)?.Streams ?? [], static s => s.Name, range, descending).Take(limit).Select(static s => new StreamInfo(s.Name, s.Version)).ToList();
        return ValueTask.FromResult<IReadOnlyList<StreamInfo>>(found);
    }

    /// <inheritdoc/>
    public ValueTask<IReadOnlyList<PartitionInfo>> ListPartitionsAsync(string? after, int limit, CancellationToken cancellationToken)
    {
        if (_reader)
        {
            return ValueTask.FromResult<IReadOnlyList<PartitionInfo>>(ListPartitionsFromDirectory(after, limit, cancellationToken));
        }

        ThrowIfUnresolvedFile();
        List<string> keys;
        lock (_catalogLock)
        {
            var candidates = after is null || _catalog.Count == 0 || StorageKeyComparer.Instance.Compare(after, _catalog.Max) > 0
                ? (after is null ? _catalog : [])
                : _catalog.GetViewBetween(after, _catalog.Max!);
            keys = candidates.Where(k => after is null || StorageKeyComparer.Instance.Compare(k, after) > 0).Take(limit).ToList();
        }

        var infos = new List<PartitionInfo>(keys.Count);
        foreach (var key in keys)
        {
            cancellationToken.ThrowIfCancellationRequested();
            // Not cached: listing every partition (as an export does) must not load the whole store into memory.
            infos.Add(new PartitionInfo(key, PublishedOrFileSnapshot(GetPartition(key)).Revision));
        }

        return ValueTask.FromResult<IReadOnlyList<PartitionInfo>>(infos);
    }

    /// <inheritdoc/>
    public ValueTask<long> GetSequenceAsync(string partition, string name, CancellationToken cancellationToken)
        => ValueTask.FromResult(Snapshot(partition)?.Sequences.GetValueOrDefault(name).Value ?? 0);

    /// <inheritdoc/>
    public ValueTask<(long Version, IReadOnlyList<StoredEvent> Events)> ReadStreamAsync(string partition, string stream, StreamRead read, CancellationToken cancellationToken)
    {
        var events = Snapshot(partition)?.StreamEvents(stream) ?? [];

        // Event v is at index v - 1: the read is a slice of one snapshot.
        StoredEvent[] range = read.Range(events.Length) is { } r ? events.AsSpan((int)(r.First - 1), (int)(r.Last - r.First + 1)).ToArray() : [];
        return ValueTask.FromResult<(long, IReadOnlyList<StoredEvent>)>((events.Length, range));
    }

    /// <inheritdoc/>
    public ValueTask<ChangeCandidates> ReadChangesAsync(string partition, long afterRevision, int limit, int fetch, DateTimeOffset now, CancellationToken cancellationToken)
    {
        var snapshot = Snapshot(partition);
        if (snapshot is not { Exists: true })
        {
            return ValueTask.FromResult(new ChangeCandidates(false, 0, snapshot?.OldestResumable ?? 0, []));
        }

        return ValueTask.FromResult(new ChangeCandidates(true, snapshot.Revision, snapshot.OldestResumable, PartitionChanges.Read(snapshot, afterRevision, fetch, now)));
    }

    /// <inheritdoc/>
    public ValueTask<IReadOnlyList<IndexMatch>> QueryAsync(IndexQueryPlan plan, DateTimeOffset now, CancellationToken cancellationToken)
    {
        var collection = plan.Index.Collection;
        if (plan.Partition is not { } partition)
        {
            ResolveUnresolvedPartitions();
            return ValueTask.FromResult<IReadOnlyList<IndexMatch>>(_indexes!.Scan(plan, now).ConvertAll(m => new IndexMatch(m.Value, m.Document.ToDocument(m.Partition, collection))));
        }

        var matches = IndexOf(partition) is { } index ? index[plan.Index].Query(plan, now) : [];
        return ValueTask.FromResult<IReadOnlyList<IndexMatch>>(matches.ConvertAll(m => new IndexMatch(m.Value, m.Document.ToDocument(partition, collection))));
    }

    /// <inheritdoc/>
    public ValueTask<long> CountAsync(IndexQueryPlan plan, DateTimeOffset now, CancellationToken cancellationToken)
    {
        if (plan.Partition is not { } partition)
        {
            ResolveUnresolvedPartitions();
            return ValueTask.FromResult(_indexes!.Count(plan, now));
        }

        return ValueTask.FromResult(IndexOf(partition) is { } index ? index[plan.Index].CountMatches(plan, now) : 0L);
    }

    /// <inheritdoc/>
    /// <remarks>The fence file beside the manifest, and the fence byte of the lock file (<see cref="ReadOnlyFence"/>).</remarks>
    public ValueTask SetReadOnlyAsync(bool readOnly, CancellationToken cancellationToken)
    {
        cancellationToken.ThrowIfCancellationRequested();
        ReadOnlyFence.Set(_files, _root, readOnly);
        return ValueTask.CompletedTask;
    }

    /// <inheritdoc/>
    public ValueTask<bool> IsReadOnlyAsync(CancellationToken cancellationToken)
    {
        cancellationToken.ThrowIfCancellationRequested();
        return ValueTask.FromResult(_fence.IsSet());
    }

    /// <summary>Releases the directory (the engine has drained running operations).</summary>
    /// <returns>A completed task.</returns>
    public ValueTask DisposeAsync()
    {
        _indexes?.Dispose();

        // Relaxed: the partition files' renames are made durable before the journal says it is complete.
        _journal?.Close(_sync ? null : () => _files.SyncDirectory(_partitionsDirectory));
        _lock?.Dispose();
        return ValueTask.CompletedTask;
    }

    private Partition? FindPartition(string key)
    {
        if (_reader)
        {
            // A handle of its own for each read, never kept: the read parses the file as it is now.
            return new Partition(this, key);
        }

        if (_partitions.TryGetValue(key, out var handle))
        {
            return handle;
        }

        // Reads of partitions that have no file create no cache entry (unless a file we could not
        // resolve may be theirs: then reading it reports the damage).
        lock (_catalogLock)
        {
            if (!_catalog.Contains(key) && (_unresolvedFiles.Count == 0 || !_unresolvedFiles.Contains(PartitionFileNames.Encode(key))))
            {
                return null;
            }
        }

        return GetPartition(key);
    }

    /// <summary>A partition's published state; <see langword="null"/> when it has no file.</summary>
    private PartitionSnapshot? Snapshot(string key) => FindPartition(key) is { } handle ? Load(handle) : null;

    /// <summary>The index entries of a partition's published state; <see langword="null"/> when it has no file.</summary>
    private InMemoryIndexes<DocumentRecord>? IndexOf(string key)
    {
        if (FindPartition(key) is not { } handle)
        {
            return null;
        }

        Load(handle);
        return handle.Index;
    }

    private Partition GetPartition(string key) => _partitions.GetOrAdd(key, static (k, store) => new Partition(store, k), this);

    private PartitionSnapshot Load(Partition handle)
    {
        if (handle.Snapshot is { } cached)
        {
            return cached;
        }

        lock (handle.LoadLock)
        {
            if (handle.Snapshot is { } loaded)
            {
                return loaded;
            }

            if (handle.Unresolved is { } unresolved)
            {
                return Resolve(handle, unresolved);
            }

            var snapshot = ReadFile(handle);
            handle.Snapshot = snapshot;
            return snapshot;
        }
    }

    /// <summary>Reads and parses a partition's file (an empty snapshot when it has none), without publishing it.</summary>
    private PartitionSnapshot ReadFile(Partition handle)
    {
        try
        {
            var bytes = _files.ReadAllBytes(handle.Path);
            var snapshot = PartitionFile.Parse(bytes, handle.Path, handle.Key);
            handle.FileLength = bytes.Length;
            return snapshot;
        }
        catch (FileNotFoundException)
        {
            return PartitionSnapshot.Empty(handle.Key, CurrentFloor);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new StorageException(JsonErrors.ReadFailed(handle.Path), e);
        }
    }

    private long CurrentFloor
    {
        get
        {
            lock (_manifestLock)
            {
                return _manifest.RevisionFloor;
            }
        }
    }

    /// <inheritdoc/>
    /// <remarks>
    /// Runs on the writer that got the partition's turn; the writes are applied in arrival order, and
    /// each run of them between partition deletes and restores is one file write. A batch left out by the
    /// uniqueness check (<see cref="IndexWork.Reserve"/>: a global unique value reserved by another
    /// partition's commit in flight) is deferred until that commit has ended (<see cref="HolderSettledAsync"/>).
    /// </remarks>
    public ValueTask CommitAsync(IReadOnlyList<PendingWrite> group, DateTimeOffset now, CancellationToken cancellationToken)
    {
        // Checked, and held until the files are written, by every commit (ReadOnlyFence).
        using var fence = _fence.EnterCommit();
        var handle = GetPartition(group[0].Partition);
        var start = 0;
        while (start < group.Count)
        {
            if (group[start].IsPartitionDelete)
            {
                DeletePartition(handle, group[start], now);
                start++;
                continue;
            }

            if (group[start].IsRestore)
            {
                Restore(handle, group[start], now);
                start++;
                continue;
            }

            var end = start;
            while (end < group.Count && !group[end].IsPartitionDelete && !group[end].IsRestore)
            {
                end++;
            }

            CommitSegment(handle, group, start, end, now);
            start = end;
        }

        return ValueTask.CompletedTask;
    }

    private void CommitSegment(Partition handle, IReadOnlyList<PendingWrite> group, int start, int end, DateTimeOffset now)
    {
        PartitionSnapshot current;
        try
        {
            current = Load(handle);
        }
        catch (StorageException e)
        {
            Fail(group, start, end, e);
            return;
        }

        using var builder = new PartitionBuilder(current, CurrentFloor, now);
        var work = _indexes?.Begin(handle.Key, handle.Index!, now);
        try
        {
            // What each purge removed; a batch's or an increment's result is kept by its PendingWrite.
            var purged = new long[end - start];
            PartitionSnapshot? next = null;

            // Sized from the previous file, so it seldom grows; the file is written straight from it.
            using var bytes = new PooledBufferWriter(handle.FileLength + (handle.FileLength / 8) + FileSlack);
            try
            {
                // The engine's writer decides the requests up to a purge, which runs on the builder
                // between writers; the engine's UniqueValues decides unique values, over the partition
                // as the group's earlier writers left it and this commit's reservations.
                PartitionWriter? writer = null;
                PartitionState? state = null;
                for (var i = start; i < end; i++)
                {
                    var write = group[i];
                    if (write.IsPurge)
                    {
                        Merge(builder, work, writer);
                        writer = null;
                        purged[i - start] = builder.PurgeExpired(write.TombstoneCutoff);
                        work?.Purged();
                        continue;
                    }

                    writer ??= builder.Begin(Reads(group, i, end), work is null ? null : new UniqueValues(handle.Key, now, work.StoredHolders, work), out state);

                    // Without indexes there is no index work, and the writer checks no uniqueness.
                    work?.Waited = write.BackendState as List<IndexWork>;
                    if (!write.Apply(writer, state) && write.LeftOut)
                    {
                        Defer(write, work!);
                    }
                }

                Merge(builder, work, writer);
                if (builder.HasChanges)
                {
                    next = builder.Build();
                    work?.Complete(next);
                    PartitionFile.Serialize(next, bytes);
                }
            }
            catch when (work is not null)
            {
                // An unexpected failure fails the group (EngineStore): nothing it reserved may stay reserved.
                _indexes!.Release(work);
                throw;
            }

            if (next is not null)
            {
                try
                {
                    Persist(handle, work, current, next, bytes.WrittenSpan, now);
                    if (next.Revision != current.Revision || next.Exists != current.Exists)
                    {
                        Journal(handle.Key, next.Revision, deletedAt: null);
                    }
                }
                catch (StorageException e)
                {
                    Fail(group, start, end, e);
                    return;
                }
            }
            else if (work is not null)
            {
                // Nothing to write means no put passed, so nothing is reserved; give back anything regardless.
                _indexes!.Release(work);
            }

            // Results are given only now that the commit is durable.
            for (var i = start; i < end; i++)
            {
                var write = group[i];
                if (write.IsPurge)
                {
                    write.Complete(purged[i - start]);
                }
                else if (!write.IsCompleted && write.DeferredUntil is null)
                {
                    write.Complete();
                }
            }
        }
        finally
        {
            // Batches of other partitions waiting for a value this commit reserved try again.
            work?.Settle();
        }
    }

    private void DeletePartition(Partition handle, PendingWrite entry, DateTimeOffset now)
    {
        try
        {
            var current = Load(handle);
            if (!current.Exists)
            {
                entry.Complete(false);
                return;
            }

            // Raise the floor durably before the file goes, so re-created partitions never reuse a version.
            RaiseFloor(current.Revision);
            Persist(handle, _indexes?.BeginDelete(handle.Key, handle.Index!), current, PartitionSnapshot.Empty(handle.Key, CurrentFloor), file: default, now);
            Journal(handle.Key, current.Revision, now);
            entry.Complete(true);
        }
        catch (StorageException e)
        {
            entry.Fail(e);
        }
    }

    /// <summary>
    /// Persists a partition's next state — writes its file (<paramref name="file"/>), or deletes it
    /// when <paramref name="next"/> does not exist — and publishes it. After a failed write the file may hold the old or
    /// the new content, or be gone: the outcome is read back (<see cref="Unresolve"/>) or, without
    /// indexes, the cached state is dropped so the next access reads whatever is on disk.
    /// </summary>
    /// <exception cref="StorageException">The write failed.</exception>
    private void Persist(Partition handle, IndexWork? work, PartitionSnapshot current, PartitionSnapshot next, ReadOnlySpan<byte> file, DateTimeOffset now)
    {
        var delete = !next.Exists;
        try
        {
            if (!delete)
            {
                AtomicWrite(_files, _partitionsDirectory, handle.FileName, file, _sync);
            }
            else
            {
                _files.Delete(handle.Path);
                if (_sync)
                {
                    _files.SyncDirectory(_partitionsDirectory);
                }
            }
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            if (work is not null)
            {
                Unresolve(handle, new Unresolved(work, delete ? null : file.ToArray(), current, next));
            }
            else
            {
                handle.Snapshot = null;
                try
                {
                    Catalog(handle.Key, _files.FileExists(handle.Path));
                }
                catch (Exception unknown) when (unknown is IOException or UnauthorizedAccessException)
                {
                    // The next access that can read the directory finds out.
                }
            }

            JournalAfterFailure(handle, now);
            throw new StorageException(JsonErrors.WriteFailed(handle.Path), e);
        }

        handle.FileLength = file.Length;
        Publish(handle, work, next, durable: true);
        if (current.Exists != next.Exists)
        {
            Catalog(handle.Key, next.Exists);
        }
    }

    /// <summary>
    /// Appends the record of a commit of <paramref name="partition"/> to the cursor's journal, once the
    /// commit is in place and published (a mark when <paramref name="deletedAt"/> is set). A failed
    /// append does not fail the commit, which is durable and visible: the record is kept and written
    /// before the next one (or by the owner's next cursor read, or at dispose; failing that, the next
    /// open repairs the journal). Until then readers' current position stays below it, so they miss nothing.
    /// </summary>
    private void Journal(string partition, long revision, DateTimeOffset? deletedAt)
    {
        try
        {
            _journal!.Append(partition, revision, deletedAt);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            LogJournalAppendFailed(_logger, e, _journal!.Path);
        }
    }

    [LoggerMessage(200, LogLevel.Warning, "Appending to the journal of changed partitions {Path} failed; the record is written with the next one.")]
    private static partial void LogJournalAppendFailed(ILogger logger, Exception exception, string path);

    /// <summary>
    /// After a write whose outcome was not acknowledged: the partition's file may hold it, so the journal
    /// records what the file holds now (a spurious record when the write did not happen lists the
    /// partition again, harmlessly). When that cannot be told, the journal is left unclosed at dispose,
    /// so the next open compares it with the files.
    /// </summary>
    private void JournalAfterFailure(Partition handle, DateTimeOffset now)
    {
        if (handle.Unresolved is not null)
        {
            // Not read back here: the outcome is learnt by the partition's next access.
            _journal!.MarkSuspect();
            return;
        }

        try
        {
            var state = PublishedOrFileSnapshot(handle);
            if (state.Exists)
            {
                _journal!.Append(handle.Key, state.Revision, deletedAt: null);
            }
            else if (_journal!.TryGetLive(handle.Key, out var revision))
            {
                _journal!.Append(handle.Key, revision, now);
            }
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or StorageException)
        {
            _journal!.MarkSuspect();
        }
    }

    /// <summary>A partition's revision as its file holds it, for the journal's repair at open; <see langword="null"/> when the file cannot be read.</summary>
    private long? FileRevision(string key)
    {
        try
        {
            var snapshot = PublishedOrFileSnapshot(GetPartition(key));
            return snapshot.Exists ? snapshot.Revision : null;
        }
        catch (StorageException)
        {
            return null;
        }
    }

    /// <summary>Publishes a partition's state (with its index entries and the claims of its global unique values).</summary>
    private void Publish(Partition handle, IndexWork? work, PartitionSnapshot next, bool durable)
    {
        if (work is null)
        {
            handle.Snapshot = next;
            return;
        }

        _indexes!.Publish(work, handle.Limbo, durable, () =>
        {
            handle.Index = work.NewIndex;
            handle.Snapshot = next;
        });
    }

    /// <summary>Lists the partition (when its file exists) or stops listing it.</summary>
    private void Catalog(string key, bool exists)
    {
        lock (_catalogLock)
        {
            if (exists)
            {
                _catalog.Add(key);
            }
            else
            {
                _catalog.Remove(key);
            }
        }
    }

    /// <summary>
    /// Reads every partition (in code-point order of keys) and builds the declared indexes from
    /// their live documents. A partition file that cannot be read fails the open as reading it
    /// would; so does a file whose partition key cannot be told (it could hold documents).
    /// </summary>
    private void BuildIndexes(DateTimeOffset now)
    {
        ThrowIfUnresolvedFile();
        var handles = CatalogKeys().ConvertAll(GetPartition);
        var snapshots = handles.ConvertAll(Load);
        _indexes = JsonIndexes.Build(_indexCatalog, snapshots, now, _logger, out var partitionIndexes);
        for (var i = 0; i < handles.Count; i++)
        {
            handles[i].Index = partitionIndexes[i];
        }
    }

    /// <summary>
    /// Fails an operation over every partition (a listing, a purge) when a file in the partitions
    /// directory could not be told to be a partition's (a damaged hashed name, a foreign file): it is
    /// reported, never skipped. A damaged file with a direct name fails the same operation when it is
    /// read.
    /// </summary>
    private void ThrowIfUnresolvedFile()
    {
        string? name;
        lock (_catalogLock)
        {
            name = _unresolvedFiles.Count > 0 ? _unresolvedFiles.Min : null;
        }

        if (name is not null)
        {
            throw UnresolvedFileError(name);
        }
    }

    private List<string> CatalogKeys()
    {
        lock (_catalogLock)
        {
            return [.. _catalog];
        }
    }

    /// <summary>What reading a partition file whose name could not be resolved reports: its damage, or that its name is foreign.</summary>
    private CorruptDataException UnresolvedFileError(string name)
    {
        var path = Path.Combine(_partitionsDirectory, name);
        try
        {
            PartitionFile.Parse(Io(path, () => _files.ReadAllBytes(path)), path, expectedPartition: null);
        }
        catch (CorruptDataException e)
        {
            return e;
        }

        return new CorruptDataException(path, JsonErrors.UnresolvedFile);
    }

    /// <summary>What the writes from <paramref name="start"/> up to the next purge (or <paramref name="end"/>) need loaded.</summary>
    private static PartitionReads Reads(IReadOnlyList<PendingWrite> group, int start, int end)
    {
        var reads = new PartitionReads();
        for (var i = start; i < end && !group[i].IsPurge; i++)
        {
            group[i].AddReadsTo(reads);
        }

        return reads;
    }

    /// <summary>
    /// What a batch left out for <paramref name="holder"/>'s reservation waits for before it is queued
    /// again: the holder's commit has ended — outside any commit, holding no reservation, so no two
    /// commits ever wait on each other — and the outcome of its write is read back if that failed
    /// without one. So a refusal always names a value whose holder is visible, and never one of a
    /// commit that then failed.
    /// </summary>
    private async Task HolderSettledAsync(IndexWork holder)
    {
        await holder.Settled.ConfigureAwait(false);
        if (_partitions.TryGetValue(holder.Partition, out var holding) && _unresolvedPartitions.ContainsKey(holding))
        {
            try
            {
                Load(holding);
            }
            catch (StorageException)
            {
                // Still unknown: the holder keeps the value, and the next try refuses it.
            }
        }
    }

    /// <summary>
    /// Defers a write the uniqueness check left out (nothing of it applied) until the commit holding
    /// the value it met (<see cref="IndexWork.Busy"/>) has ended; it waits for that commit whatever
    /// this write's fate, and its next try knows it waited (<see cref="IndexWork.Waited"/>).
    /// </summary>
    private void Defer(PendingWrite write, IndexWork work)
    {
        var holder = work.Busy!;
        ((List<IndexWork>)(write.BackendState ??= new List<IndexWork>())).Add(holder);
        write.Defer(HolderSettledAsync(holder));
    }

    private static void Merge(PartitionBuilder builder, IndexWork? work, PartitionWriter? writer)
    {
        builder.Merge(writer);
        work?.Merge(writer);
    }

    /// <summary>
    /// After a failed write with indexes declared: the file holds the old state or the new one. Until
    /// that is known the partition's reservations stay (no other partition can take a value the
    /// write may have written) and its snapshot is dropped; the outcome is read back now, or by the
    /// next access that can read the file (<see cref="Resolve"/>).
    /// </summary>
    private void Unresolve(Partition handle, Unresolved unresolved)
    {
        lock (handle.LoadLock)
        {
            handle.Unresolved = unresolved;
            handle.Snapshot = null;
            _unresolvedPartitions[handle] = true;
        }

        try
        {
            Load(handle);
        }
        catch (StorageException)
        {
            // Unreadable for now: resolved by the next access that can read the file.
        }
    }

    /// <summary>
    /// Reads back what a failed write left (under the partition's load lock): the bytes it wrote
    /// (or, for a delete, no file) mean it happened — published, but as not durable (a power loss
    /// could still undo it, so global unique values it gave up stay claimed until the partition's
    /// next durable commit); anything else means it did not — its reservations are given back and
    /// the state before it is kept.
    /// </summary>
    private PartitionSnapshot Resolve(Partition handle, Unresolved unresolved)
    {
        bool happened;
        try
        {
            if (unresolved.Written is null)
            {
                happened = !_files.FileExists(handle.Path);
            }
            else
            {
                try
                {
                    happened = _files.ReadAllBytes(handle.Path).AsSpan().SequenceEqual(unresolved.Written);
                }
                catch (FileNotFoundException)
                {
                    happened = false;
                }
            }
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new StorageException(JsonErrors.ReadFailed(handle.Path), e);
        }

        if (happened)
        {
            // With full durability the write's rename may not be durable yet (its directory fsync
            // failed or was never reached): keep what it gave up claimed until the partition's next
            // durable commit. Relaxed durability promises nothing across a power loss anyway.
            Publish(handle, unresolved.Work, unresolved.After, durable: !_sync);
            Catalog(handle.Key, unresolved.After.Exists);
        }
        else
        {
            _indexes!.Release(unresolved.Work);
            handle.Snapshot = unresolved.Before;
        }

        handle.Unresolved = null;
        _unresolvedPartitions.TryRemove(handle, out _);
        return handle.Snapshot!;
    }

    /// <summary>Reads back the outcome of failed writes before a query across partitions, so it agrees with what reads of those partitions show.</summary>
    private void ResolveUnresolvedPartitions()
    {
        foreach (var handle in _unresolvedPartitions.Keys)
        {
            Load(handle);
        }
    }

    private void RaiseFloor(long revision)
    {
        lock (_manifestLock)
        {
            if (_manifest.RevisionFloor >= revision)
            {
                return;
            }

            var next = _manifest with { RevisionFloor = revision };
            var path = Path.Combine(_root, Manifest.FileName);
            try
            {
                // Durable in either mode, before the partition's file is deleted: a power loss that
                // kept the delete but not the floor would let a re-created partition repeat versions.
                AtomicWrite(_files, _root, Manifest.FileName, next.Serialize(), syncDirectory: true);
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                throw new StorageException(JsonErrors.WriteFailed(path), e);
            }

            _manifest = next;
        }
    }

    // A deferred write keeps its deferral: its writer waits for the other commit whatever this write's fate.
    private static void Fail(IReadOnlyList<PendingWrite> group, int start, int end, Exception error)
    {
        for (var i = start; i < end; i++)
        {
            if (group[i].DeferredUntil is null)
            {
                group[i].Fail(error);
            }
        }
    }

    /// <summary>
    /// Replaces a file atomically: temp file in the same directory, write, fsync, rename, and with
    /// <paramref name="syncDirectory"/> fsync of the directory, which makes the rename itself durable.
    /// </summary>
    /// <remarks>
    /// The temp file's fsync is never skipped, not even with <see cref="DurabilityMode.Relaxed"/>:
    /// ext4 and XFS can make a rename durable without any directory fsync and before the renamed
    /// file's data, so a power loss would leave an empty file under the final name — a partition
    /// or manifest that no longer reads, in place of the good one the rename replaced.
    /// </remarks>
    internal static void AtomicWrite(IFileSystem files, string directory, string fileName, ReadOnlySpan<byte> content, bool syncDirectory)
    {
        var final = Path.Combine(directory, fileName);
        var temp = TempPath(final);
        try
        {
            using (var file = files.CreateNew(temp))
            {
                file.Write(content, 0);
                file.Sync();
            }

            files.Rename(temp, final);
        }
        catch
        {
            TryDelete(files, temp);
            throw;
        }

        if (syncDirectory)
        {
            files.SyncDirectory(directory);
        }
    }

    /// <summary>A new temp file's path beside <paramref name="final"/>, in the same directory (so its rename never crosses filesystems); open removes those a crash left.</summary>
    internal static string TempPath(string final) => final + "." + Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(8)) + PartitionFileNames.TempExtension;

    /// <summary>Creates a directory and any missing parents, and makes each new entry durable by syncing its parent.</summary>
    private static void CreateDirectoryDurably(IFileSystem files, string path)
    {
        var missing = new List<string>();
        for (var directory = path; directory is not null && !files.DirectoryExists(directory); directory = Path.GetDirectoryName(directory))
        {
            missing.Add(directory);
        }

        if (missing.Count == 0)
        {
            return;
        }

        files.CreateDirectory(path);
        foreach (var created in missing)
        {
            files.SyncDirectory(Path.GetDirectoryName(created)!);
        }
    }

    internal static void TryDelete(IFileSystem files, string path)
    {
        try
        {
            files.Delete(path);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            // Left for the next open, which removes temp files.
        }
    }

    private static void RemoveTempFiles(IFileSystem files, string directory)
    {
        var removed = false;
        foreach (var name in files.ListFiles(directory))
        {
            if (name.EndsWith(PartitionFileNames.TempExtension, StringComparison.Ordinal))
            {
                files.Delete(Path.Combine(directory, name));
                removed = true;
            }
        }

        if (removed)
        {
            files.SyncDirectory(directory);
        }
    }

    /// <summary>
    /// Lists the partition files: the keys of those whose key can be told (from a direct name, or read
    /// from a hashed file), and the names of the others — damaged, foreign or renamed — which
    /// operations over every partition report, never ignore. Temp files of commits in flight (which a
    /// reader sees beside the owner) and files deleted while listing are neither.
    /// </summary>
    private static (SortedSet<string> Catalog, SortedSet<string> Unresolved) ReadCatalog(IFileSystem files, string partitions)
    {
        var catalog = new SortedSet<string>(StorageKeyComparer.Instance);
        var unresolved = new SortedSet<string>(StringComparer.Ordinal);
        foreach (var name in Step(JsonErrors.ListingFailed(partitions), () => files.ListFiles(partitions)))
        {
            if (name.EndsWith(PartitionFileNames.TempExtension, StringComparison.Ordinal))
            {
                continue;
            }

            if (PartitionFileNames.TryDecodeDirect(name, out var key))
            {
                catalog.Add(key);
            }
            else if (!PartitionFileNames.IsHashed(name))
            {
                unresolved.Add(name);
            }
            else if (TryReadHashedKey(files, Path.Combine(partitions, name), name, out var hashedKey))
            {
                if (hashedKey is not null)
                {
                    catalog.Add(hashedKey);
                }
                else
                {
                    unresolved.Add(name);
                }
            }
        }

        return (catalog, unresolved);
    }

    /// <summary>Reads a hashed file's key: <see langword="false"/> when the file is gone, else true with the key, or null when it cannot be told.</summary>
    private static bool TryReadHashedKey(IFileSystem files, string path, string name, out string? key)
    {
        key = null;
        byte[] bytes;
        try
        {
            bytes = files.ReadAllBytes(path);
        }
        catch (FileNotFoundException)
        {
            return false;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new StorageException(JsonErrors.ReadFailed(path), e);
        }

        try
        {
            var read = PartitionFile.Parse(bytes, path, expectedPartition: null).Partition;
            key = string.Equals(PartitionFileNames.Encode(read), name, StringComparison.Ordinal) ? read : null;
        }
        catch (CorruptDataException)
        {
        }

        return true;
    }

    /// <summary>Runs a read of <paramref name="path"/>; an I/O error becomes a <see cref="StorageException"/> saying so.</summary>
    private static T Io<T>(string path, Func<T> action) => Step(JsonErrors.ReadFailed(path), action);

    /// <summary>Runs one step of opening the store (or of setting its fence); an I/O error becomes a <see cref="StorageException"/> with <paramref name="failure"/>, which says what was being done.</summary>
    internal static T Step<T>(string failure, Func<T> action)
    {
        try
        {
            return action();
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new StorageException(failure, e);
        }
    }

    internal static void Step(string failure, Action action) => Step(failure, () =>
    {
        action();
        return true;
    });

    private static IEnumerable<T> Scan<T>(T[] items, Func<T, string> keyOf, KeyRange range, bool descending)
    {
        if (range.IsEmpty)
        {
            yield break;
        }

        var comparer = StorageKeyComparer.Instance;
        var lower = PartitionSnapshot.IndexOf(items, range.Lower, keyOf);
        lower = lower < 0 ? ~lower : lower;
        if (!descending)
        {
            for (var i = lower; i < items.Length && (range.Upper is null || comparer.Compare(keyOf(items[i]), range.Upper) < 0); i++)
            {
                yield return items[i];
            }
        }
        else
        {
            var upper = range.Upper is null ? items.Length : PartitionSnapshot.IndexOf(items, range.Upper, keyOf);
            for (var i = (upper < 0 ? ~upper : upper) - 1; i >= lower; i--)
            {
                yield return items[i];
            }
        }
    }

    private sealed class Partition
    {
        public Partition(JsonBackend store, string key)
        {
            Key = key;
            FileName = PartitionFileNames.Encode(key);
            Path = System.IO.Path.Combine(store._partitionsDirectory, FileName);
            Index = store._indexes?.EmptyPartition();
        }

        public string Key { get; }

        public string FileName { get; }

        public string Path { get; }

        public Lock LoadLock { get; } = new();

        public volatile PartitionSnapshot? Snapshot;

        /// <summary>The size of the partition's file when last read or written: how large a buffer the next commit starts with.</summary>
        public int FileLength;

        /// <summary>The partition's index entries, published with <see cref="Snapshot"/>; null when no index is declared.</summary>
        public volatile InMemoryIndexes<DocumentRecord>? Index;

        /// <summary>A failed write whose outcome is not known yet (guarded by <see cref="LoadLock"/>).</summary>
        public Unresolved? Unresolved;

        /// <summary>Global unique values given up by a write of unknown durability, still claimed (see <see cref="JsonIndexes.Publish"/>).</summary>
        public List<LimboClaim> Limbo { get; } = [];
    }

    /// <summary>
    /// A write that failed after it may have reached the file: its index work (whose reservations
    /// stay until the outcome is known), the bytes it wrote (null for a partition delete), and the
    /// partition before and after it.
    /// </summary>
    private sealed record Unresolved(IndexWork Work, byte[]? Written, PartitionSnapshot Before, PartitionSnapshot After);
}
