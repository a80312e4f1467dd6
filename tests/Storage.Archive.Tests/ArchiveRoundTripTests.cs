using System.Security.Cryptography;
using Storage.Conformance;
using Storage.Memory;
using static Storage.Archive.Tests.Workload;

namespace Storage.Archive.Tests;

/// <summary>A store written into an archive and restored from it into another is the same store: equal exports, equal digests, the floor carried over.</summary>
public sealed class ArchiveRoundTripTests
{
    [Fact]
    public async Task A_seeded_workload_round_trips_through_an_archive_into_an_empty_store()
    {
        var (source, _) = await GetAsync();
        var partitions = await ToListAsync(source.ExportAsync());
        var sourceInfo = await source.GetExportInfoAsync();
        using var archive = new MemoryStream();

        var written = await StoreArchive.WriteAsync(source, archive);

        // The workload met everything an archive must carry.
        Assert.Contains(partitions, p => p.Tombstones.Count > 0);
        Assert.Contains(partitions, p => p.Streams.Count > 0);
        Assert.Contains(partitions, p => p.Sequences.Count > 0);
        Assert.Contains(partitions, p => p.OldestResumable > 1);
        Assert.True(sourceInfo.RevisionFloor > 0);

        var storeDigest = await StoreDigest.ComputeAsync(source.ExportAsync());
        Assert.Equal(partitions.Count, written.Partitions);
        Assert.Equal(partitions.Sum(p => p.Documents.Count), written.Documents);
        Assert.Equal(partitions.Sum(p => p.Streams.Sum(s => s.Events.Count)), written.Events);
        Assert.Equal(archive.Length, written.ArchiveBytes);
        Assert.Equal(partitions.Sum(p => (long)CanonicalDigest.Encode(p).Length), written.EncodedBytes);
        Assert.Equal(storeDigest, written.StoreDigest.ToArray());

        var destination = CreateDestination();
        archive.Position = 0;
        var restored = await StoreArchive.RestoreAsync(archive, destination);

        Assert.Equal((partitions.Count, 0L, 0L), (restored.Created, restored.Replaced, restored.Unchanged));
        Assert.Empty(await ToListAsync(ExportComparison.CompareAsync(source.ExportAsync(), destination.ExportAsync())));
        Assert.Equal(storeDigest, await StoreDigest.ComputeAsync(destination.ExportAsync()));
        var destinationInfo = await destination.GetExportInfoAsync();
        Assert.Equal(sourceInfo.RevisionFloor, destinationInfo.RevisionFloor);
    }

    [Fact]
    public async Task A_rerun_restore_finds_every_partition_unchanged()
    {
        var (source, bytes) = await GetAsync();
        var destination = CreateDestination();
        await StoreArchive.RestoreAsync(new MemoryStream(bytes), destination);

        var rerun = await StoreArchive.RestoreAsync(new MemoryStream(bytes), destination);

        var count = (await ToListAsync(source.ExportAsync())).Count;
        Assert.Equal((0L, 0L, (long)count, 0L, 0L), (rerun.Created, rerun.Replaced, rerun.Unchanged, rerun.Documents, rerun.Events));
        Assert.Equal(await StoreDigest.ComputeAsync(source.ExportAsync()), await StoreDigest.ComputeAsync(destination.ExportAsync()));
    }

    [Fact]
    public async Task An_archive_that_cannot_be_sought_is_spooled_and_restored()
    {
        var (source, bytes) = await GetAsync();
        var destination = CreateDestination();

        await StoreArchive.RestoreAsync(new ForwardOnlyStream(bytes), destination);

        Assert.Empty(await ToListAsync(ExportComparison.CompareAsync(source.ExportAsync(), destination.ExportAsync())));
    }

    [Fact]
    public async Task A_restore_reads_from_the_streams_position_and_leaves_the_stream_open()
    {
        var (source, bytes) = await GetAsync();
        var stream = new MemoryStream();
        stream.Write("prefix"u8);
        stream.Write(bytes);
        stream.Position = "prefix"u8.Length;
        var destination = CreateDestination();

        await StoreArchive.RestoreAsync(stream, destination);

        Assert.True(stream.CanRead);
        Assert.Equal(await StoreDigest.ComputeAsync(source.ExportAsync()), await StoreDigest.ComputeAsync(destination.ExportAsync()));
    }

    [Fact]
    public async Task Each_entry_is_the_partitions_canonical_encoding_and_its_row_digest_its_sha256()
    {
        var (source, bytes) = await GetAsync();
        var partitions = await ToListAsync(source.ExportAsync());
        var payload = ArchivePayload.Parse(bytes);

        Assert.Equal(partitions.Select(p => p.Partition), payload.Entries.Select(e => e.Partition));
        for (var i = 0; i < partitions.Count; i++)
        {
            var encoding = payload.Bytes[payload.Entries[i].Encoding];
            Assert.Equal(CanonicalDigest.Encode(partitions[i]), encoding);
            Assert.Equal(ExportDigest.Compute(partitions[i]), payload.Bytes.AsSpan(payload.Entries[i].Digest, ExportDigest.Length).ToArray());
            Assert.Equal(SHA256.HashData(encoding), ExportDigest.Compute(partitions[i]));
        }
    }

    [Fact]
    public async Task The_reader_gives_the_info_and_the_partitions_as_exported_and_the_summary_at_the_end()
    {
        var (source, bytes) = await GetAsync();
        var info = await source.GetExportInfoAsync();
        await using var reader = await StoreArchive.OpenAsync(new MemoryStream(bytes));

        Assert.Equal(info.RevisionFloor, reader.Info.RevisionFloor);
        Assert.Equal(info.Indexes, reader.Info.Indexes);
        Assert.Null(reader.Summary);
        var read = await ToListAsync(reader.ReadPartitionsAsync());

        Assert.Empty(await ToListAsync(ExportComparison.CompareAsync(source.ExportAsync(), ToAsync(read))));
        Assert.Equal(read.Count, reader.Summary!.Partitions);
        Assert.Equal(bytes.Length, reader.Summary.ArchiveBytes);
        Assert.Equal(await StoreDigest.ComputeAsync(source.ExportAsync()), reader.Summary.StoreDigest.ToArray());
        await Assert.ThrowsAsync<InvalidOperationException>(async () => await ToListAsync(reader.ReadPartitionsAsync()));
    }

    [Fact]
    public async Task An_empty_store_round_trips()
    {
        using var archive = new MemoryStream();
        var written = await StoreArchive.WriteAsync(MemoryStore.Create(), archive);
        var destination = MemoryStore.Create();

        archive.Position = 0;
        var restored = await StoreArchive.RestoreAsync(archive, destination);

        Assert.Equal((0L, 0L), (written.Partitions, written.Documents));
        Assert.Equal((0L, 0L, 0L), (restored.Created, restored.Replaced, restored.Unchanged));
        Assert.Empty(await ToListAsync(destination.ExportAsync()));
    }

    private static async IAsyncEnumerable<PartitionExport> ToAsync(IEnumerable<PartitionExport> partitions)
    {
        foreach (var partition in partitions)
        {
            await Task.Yield();
            yield return partition;
        }
    }
}

/// <summary>A stream that reads forward only, like a pipe or a network stream.</summary>
internal sealed class ForwardOnlyStream(byte[] bytes) : MemoryStream(bytes, writable: false)
{
    public override bool CanSeek => false;

    public override long Position
    {
        get => throw new NotSupportedException();
        set => throw new NotSupportedException();
    }

    public override long Seek(long offset, SeekOrigin loc) => throw new NotSupportedException();
}
