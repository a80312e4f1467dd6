using System.Runtime.CompilerServices;

namespace Storage.Archive.Tests;

/// <summary>
/// An archive is written and read one partition at a time: the writer has written a partition out before it
/// asks the source for the one after next, the reader hands a partition out having read little more than it
/// from the stream, and neither keeps a partition it has passed on.
/// </summary>
public sealed class ArchiveStreamingTests
{
    private const int Partitions = 40;

    // Random, so incompressible: the compressed stream grows with every partition written.
    private const int ValueBytes = 256 * 1024;

    [Fact]
    public async Task Many_partitions_are_written_and_read_holding_one_at_a_time()
    {
        var destination = new MemoryStream();
        var source = new GeneratedSource(Partitions, ValueBytes);
        source.BeforeEach = i =>
        {
            if (i >= 2)
            {
                // Partitions 0 .. i-2 are out in the stream, and no longer held.
                Assert.True(destination.Length >= (i - 1) * (long)ValueBytes, $"Partition {i} was asked for with {destination.Length} bytes written.");
                AssertCollected(source.Yielded[i - 2], $"partition {i - 2} when partition {i} is asked for");
            }
        };

        var written = await StoreArchive.WriteAsync(source, destination);

        Assert.Equal(Partitions, written.Partitions);
        var perPartition = destination.Length / Partitions; // the partitions are alike: each takes about as many compressed bytes
        var archive = new CountingReadStream(destination.ToArray());
        await using var reader = await StoreArchive.OpenAsync(archive);
        var read = new List<WeakReference>();
        await foreach (var partition in reader.ReadPartitionsAsync())
        {
            var i = read.Count;
            Assert.Equal(GeneratedSource.Key(i), partition.Partition);
            Assert.Equal(ExportDigest.Compute(GeneratedSource.Generate(i, ValueBytes)), ExportDigest.Compute(partition));
            Assert.True(archive.BytesRead <= ((i + 2) * perPartition) + (64 * 1024), $"Partition {i} was handed out with {archive.BytesRead} bytes read.");
            if (i >= 2)
            {
                AssertCollected(read[i - 2], $"partition {i - 2} when partition {i} is handed out");
            }

            read.Add(new WeakReference(partition));
        }

        Assert.Equal(Partitions, read.Count);
        Assert.Equal(written.StoreDigest.ToArray(), reader.Summary!.StoreDigest.ToArray());
    }

    private static void AssertCollected(WeakReference partition, string what)
    {
        GC.Collect();
        GC.WaitForPendingFinalizers();
        GC.Collect();
        Assert.False(partition.IsAlive, $"The archive still holds {what}.");
    }

    /// <summary>A store's export whose partitions are made as they are asked for (one document of random bytes each), remembered only weakly.</summary>
    private sealed class GeneratedSource(int partitions, int valueBytes) : IStoreExport
    {
        public Action<int>? BeforeEach { get; set; }

        public List<WeakReference> Yielded { get; } = [];

        public static string Key(int i) => $"p{i:D5}";

        [MethodImpl(MethodImplOptions.NoInlining)]
        public static PartitionExport Generate(int i, int valueBytes)
        {
            var value = new byte[valueBytes];
            new Random(i).NextBytes(value);
            var at = DateTimeOffset.UnixEpoch.AddDays(i);
            return new PartitionExport(Key(i), 1, 1, [new StoredDocument(Key(i), "c", "k", value, 1, at, at, null)], [], [], []);
        }

        public ValueTask<StoreExportInfo> GetExportInfoAsync(CancellationToken cancellationToken = default)
            => ValueTask.FromResult(new StoreExportInfo(0, []));

        public async IAsyncEnumerable<PartitionExport> ExportAsync([EnumeratorCancellation] CancellationToken cancellationToken = default)
        {
            for (var i = 0; i < partitions; i++)
            {
                await Task.Yield();
                BeforeEach?.Invoke(i);
                yield return Next(i);
            }
        }

        public ValueTask<PartitionExport?> ExportPartitionAsync(string partition, CancellationToken cancellationToken = default)
            => throw new NotSupportedException();

        public ValueTask<PartitionInfo?> GetPartitionAsync(string partition, CancellationToken cancellationToken = default)
            => throw new NotSupportedException();

        public ValueTask<PartitionChangePage> ReadChangedPartitionsAsync(long afterPosition, int limit = StoreLimits.DefaultPageSize, CancellationToken cancellationToken = default)
            => throw new NotSupportedException();

        [MethodImpl(MethodImplOptions.NoInlining)]
        private PartitionExport Next(int i)
        {
            var partition = Generate(i, valueBytes);
            Yielded.Add(new WeakReference(partition));
            return partition;
        }
    }

    /// <summary>Reads bytes forward only and counts them.</summary>
    private sealed class CountingReadStream(byte[] bytes) : Stream
    {
        private readonly MemoryStream _inner = new(bytes, writable: false);

        public long BytesRead { get; private set; }

        public override bool CanRead => true;

        public override bool CanSeek => false;

        public override bool CanWrite => false;

        public override long Length => throw new NotSupportedException();

        public override long Position
        {
            get => throw new NotSupportedException();
            set => throw new NotSupportedException();
        }

        public override int Read(byte[] buffer, int offset, int count) => Counted(_inner.Read(buffer, offset, count));

        public override ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
            => ValueTask.FromResult(Counted(_inner.Read(buffer.Span)));

        public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken)
            => Task.FromResult(Counted(_inner.Read(buffer, offset, count)));

        public override void Flush()
        {
        }

        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

        public override void SetLength(long value) => throw new NotSupportedException();

        public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();

        private int Counted(int read)
        {
            BytesRead += read;
            return read;
        }
    }
}
