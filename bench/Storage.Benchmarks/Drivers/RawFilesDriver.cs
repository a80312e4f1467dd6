using System.Collections.Concurrent;
using System.Runtime.InteropServices;
using Storage.Benchmarks.Harness;
using Storage.Benchmarks.Scenarios;

namespace Storage.Benchmarks.Drivers;

/// <summary>
/// The baseline for the JSON backend: the durable atomic replace of a file done by hand — create a
/// temp file beside it, write, fsync, rename over it, fsync the directory — writing the very bytes
/// the JSON store wrote for the same partition. What a hand-rolled app would add to be correct
/// (a version check in memory and one writer per file at a time) is here; what it would not
/// (serializing, checksumming, group commit) is the store's cost or gain. It has no reads: the store
/// answers them from memory, and no file operation is the same work. Without
/// <paramref name="syncDirectory"/> it skips the directory fsync, as the store does in
/// <see cref="DurabilityMode.Relaxed"/>.
/// </summary>
internal sealed partial class RawFilesDriver(string directory, Func<string, byte[]> storeFileBytes, bool syncDirectory = true) : IDriver
{
    private readonly ConcurrentDictionary<string, RawPartition> _partitions = new(StringComparer.Ordinal);
    private long _tempCounter;

    public string Name => "atomic file replace";

    public bool SupportsReads => false;

    public ValueTask SeedAsync(string partition, IReadOnlyList<Doc> docs)
    {
        Directory.CreateDirectory(directory);
        var state = new RawPartition(storeFileBytes(partition));
        foreach (var doc in docs)
        {
            state.Versions[doc.Key] = 1;
        }

        _partitions[partition] = state;
        Replace(partition, state.Bytes);
        return ValueTask.CompletedTask;
    }

    public ValueTask SeedIndexedAsync(string partition, IReadOnlyList<IndexedDoc> docs) => throw new NotSupportedException();

    public ValueTask<bool> FindByEmailAsync(string email) => throw new NotSupportedException();

    public ValueTask<bool> GetAsync(string partition, string key) => throw new NotSupportedException();

    public ValueTask<long> GetVersionAsync(string partition, string key)
    {
        var state = _partitions[partition];
        lock (state)
        {
            return ValueTask.FromResult(state.Versions.GetValueOrDefault(key));
        }
    }

    public ValueTask<int> ListAsync(string partition, string prefix, int limit) => throw new NotSupportedException();

    public ValueTask<PutOutcome> PutAsync(string partition, string key, byte[] value, long expectedVersion)
    {
        var state = _partitions[partition];
        lock (state)
        {
            var current = state.Versions.GetValueOrDefault(key);
            if (current != expectedVersion)
            {
                return ValueTask.FromResult(new PutOutcome(false, current));
            }

            Replace(partition, state.Bytes);
            state.Versions[key] = current + 1;
            return ValueTask.FromResult(new PutOutcome(true, current + 1));
        }
    }

    public ValueTask PutBatchAsync(string partition, IReadOnlyList<Doc> docs)
    {
        var state = _partitions[partition];
        lock (state)
        {
            Replace(partition, state.Bytes);
        }

        return ValueTask.CompletedTask;
    }

    /// <summary>
    /// Checks the stream's version in memory and replaces the partition's file with the bytes the
    /// store wrote for it when it was seeded (the store's file grows by one event per append; the
    /// difference is a few hundred bytes on a file of several kilobytes).
    /// </summary>
    public ValueTask<bool> AppendAsync(string partition, string stream, byte[] data, long expectedVersion)
    {
        var state = _partitions.GetOrAdd(partition, p => new RawPartition(storeFileBytes(p)));
        lock (state)
        {
            var current = state.Versions.GetValueOrDefault(stream);
            if (current != expectedVersion)
            {
                return ValueTask.FromResult(false);
            }

            Directory.CreateDirectory(directory);
            Replace(partition, state.Bytes);
            state.Versions[stream] = current + 1;
            return ValueTask.FromResult(true);
        }
    }

    /// <summary><paramref name="writers"/> concurrent callers, one atomic replace per partition, with the bytes of the JSON store's file for it.</summary>
    public async ValueTask<long> BulkLoadAsync(IEnumerable<PartitionDocs> source, int writers)
    {
        Directory.CreateDirectory(directory);
        using var partitions = new Callers.SharedEnumerator<PartitionDocs>(source);
        var written = await Callers.RunAsync(writers, _ =>
        {
            long done = 0;
            while (partitions.TryTake(out var partition))
            {
                Replace(partition.Partition, storeFileBytes(partition.Partition));
                done += partition.Docs.Count;
            }

            return Task.FromResult(done);
        });
        return written.Sum();
    }

    public ValueTask DisposeAsync() => ValueTask.CompletedTask;

    private void Replace(string partition, byte[] bytes)
    {
        var final = Path.Combine(directory, partition + ".json");
        var temp = final + "." + Interlocked.Increment(ref _tempCounter).ToString(System.Globalization.CultureInfo.InvariantCulture) + ".tmp";
        using (var handle = File.OpenHandle(temp, FileMode.CreateNew, FileAccess.Write, FileShare.None))
        {
            RandomAccess.Write(handle, bytes, 0);
            RandomAccess.FlushToDisk(handle);
        }

        File.Move(temp, final, overwrite: true);
        if (syncDirectory)
        {
            SyncDirectory(directory);
        }
    }

    private static void SyncDirectory(string path)
    {
        const int O_RDONLY = 0, O_DIRECTORY = 0x10000, O_CLOEXEC = 0x80000;
        var fd = Open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (fd < 0 || Fsync(fd) != 0)
        {
            var errno = Marshal.GetLastPInvokeError();
            if (fd >= 0)
            {
                _ = Close(fd);
            }

            throw new IOException($"fsync of directory '{path}' failed (errno {errno}).");
        }

        _ = Close(fd);
    }

    [LibraryImport("libc", EntryPoint = "open", StringMarshalling = StringMarshalling.Utf8, SetLastError = true)]
    private static partial int Open(string path, int flags);

    [LibraryImport("libc", EntryPoint = "fsync", SetLastError = true)]
    private static partial int Fsync(int fd);

    [LibraryImport("libc", EntryPoint = "close", SetLastError = true)]
    private static partial int Close(int fd);

    private sealed class RawPartition(byte[] bytes)
    {
        public byte[] Bytes { get; } = bytes;

        public Dictionary<string, long> Versions { get; } = new(StringComparer.Ordinal);
    }
}
