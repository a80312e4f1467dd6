using System.Buffers;
using System.IO.Compression;
using System.Security.Cryptography;

namespace Storage;

/// <summary>
/// The portable backup archive: a whole store written into one gzip stream, partition by partition in
/// key order, each partition as its canonical encoding (the bytes its <see cref="ExportDigest"/> is the
/// SHA-256 of), each preceded by its manifest row (number, key, counts, digest) and followed at the end by
/// the totals, the store digest (<see cref="StoreDigest"/>) and a digest of the archive's own fields. The
/// same for every backend: written from any <see cref="IStoreExport"/>, restored into any
/// <see cref="IStoreRestore"/>. The byte layout is specified in docs/archive-format.md.
/// </summary>
/// <remarks>
/// Writing and reading hold one partition at a time. Reading verifies every entry against its digest before
/// it is handed out, and the whole archive (entry count, store digest, archive digest, nothing after the
/// end) when the last entry has been read; <see cref="RestoreAsync"/> verifies the whole archive before it
/// restores anything. Damage is refused with <see cref="CorruptDataException"/> whose
/// <see cref="CorruptDataException.Location"/> names the entry (its number and partition key), the header
/// or the trailer.
/// </remarks>
/// <seealso href="../../docs/archive-format.md"/>
public static class StoreArchive
{
    /// <summary>The archive's first field: names the format. The format version follows it.</summary>
    public const string Magic = "storage.archive";

    /// <summary>The format version this library writes, and the newest it reads.</summary>
    public const long FormatVersion = 1;

    /// <summary>
    /// Writes a whole store into an archive: the store's information (<see cref="IStoreExport.GetExportInfoAsync"/>),
    /// then every partition its export yields (<see cref="IStoreExport.ExportAsync"/>), one at a time, each
    /// written before the next is read. The stream is written gzip-compressed (fastest level) and left open.
    /// </summary>
    /// <param name="source">The store to back up.</param>
    /// <param name="destination">Where the archive is written (need not be seekable).</param>
    /// <param name="cancellationToken">Stops the backup; what was written is then a truncated archive, which a reader refuses.</param>
    /// <returns>What was written: partitions, documents, events, bytes and the store digest.</returns>
    /// <exception cref="ArgumentException"><paramref name="destination"/> cannot be written, or the source exported partitions out of key order.</exception>
    /// <exception cref="StoreUnavailableException">The source could not be reached within its retry budget.</exception>
    /// <exception cref="CorruptDataException">A partition's stored data is damaged in the source.</exception>
    public static async ValueTask<ArchiveSummary> WriteAsync(IStoreExport source, Stream destination, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(source);
        ArgumentNullException.ThrowIfNull(destination);
        if (!destination.CanWrite)
        {
            throw new ArgumentException("The archive's destination stream cannot be written.", nameof(destination));
        }

        var info = await source.GetExportInfoAsync(cancellationToken).ConfigureAwait(false);
        var counted = new CountingStream(destination);
        var frame = new ArrayBufferWriter<byte>(4096);
        var entry = new ArrayBufferWriter<byte>(4096);
        var totals = new Totals();
        byte[] storeDigest;
        using (var fields = new ExportDigest.Encoder(frame))
        using (var partitionDigests = new StoreDigest())
        {
            var gzip = new GZipStream(counted, CompressionLevel.Fastest, leaveOpen: true);
            await using (gzip.ConfigureAwait(false))
            {
                fields.String(Magic);
                fields.Int(FormatVersion);
                WriteInfo(fields, info);
                await FlushAsync(frame, gzip, cancellationToken).ConfigureAwait(false);
                await foreach (var partition in source.ExportAsync(cancellationToken).ConfigureAwait(false))
                {
                    entry.ResetWrittenCount();
                    var digest = ExportDigest.Encode(partition, entry);
                    partitionDigests.Add(partition.Partition, digest);
                    var counts = EntryCounts.Of(partition);
                    totals.Add(counts, entry.WrittenCount);

                    fields.Int(Tags.Entry);
                    fields.Int(totals.Entries);
                    fields.String(partition.Partition);
                    counts.Write(fields);
                    fields.Bytes(digest);
                    fields.Int(entry.WrittenCount);
                    await FlushAsync(frame, gzip, cancellationToken).ConfigureAwait(false);

                    // The encoding itself is covered by the digest just written, not by the archive digest.
                    await gzip.WriteAsync(entry.WrittenMemory, cancellationToken).ConfigureAwait(false);
                }

                storeDigest = partitionDigests.Finish();
                fields.Int(Tags.End);
                fields.Int(totals.Entries);
                totals.Counts.Write(fields);
                fields.Int(totals.EncodedBytes);
                fields.Bytes(storeDigest);
                var archiveDigest = fields.Finish();
                fields.Bytes(archiveDigest);
                await FlushAsync(frame, gzip, cancellationToken).ConfigureAwait(false);
            }
        }

        await destination.FlushAsync(cancellationToken).ConfigureAwait(false);
        return totals.Summary(info, counted.Count, storeDigest);
    }

    /// <summary>
    /// Opens an archive for reading: reads and checks its header (format, version, the store's information).
    /// The partitions are then read with <see cref="StoreArchiveReader.ReadPartitionsAsync"/>.
    /// </summary>
    /// <param name="source">The archive, read from its current position; left open when the reader is disposed.</param>
    /// <param name="cancellationToken">Cancels the read.</param>
    /// <returns>The reader.</returns>
    /// <exception cref="CorruptDataException">The stream is not an archive, or its header is damaged.</exception>
    /// <exception cref="UnsupportedFormatException">The archive was written in a newer format version.</exception>
    public static async ValueTask<StoreArchiveReader> OpenAsync(Stream source, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(source);
        if (!source.CanRead)
        {
            throw new ArgumentException("The archive's stream cannot be read.", nameof(source));
        }

        var reader = new StoreArchiveReader(source);
        try
        {
            await reader.ReadHeaderAsync(cancellationToken).ConfigureAwait(false);
            return reader;
        }
        catch
        {
            await reader.DisposeAsync().ConfigureAwait(false);
            throw;
        }
    }

    /// <summary>Reads a whole archive and checks everything it can: every entry's digest and encoding, the manifest, the store digest, the archive digest, the end. Holds one partition at a time.</summary>
    /// <param name="source">The archive, read from its current position to its end; left open.</param>
    /// <param name="cancellationToken">Cancels the read.</param>
    /// <returns>What the archive holds.</returns>
    /// <exception cref="CorruptDataException">The archive is damaged (the location names the entry, the header or the trailer).</exception>
    /// <exception cref="UnsupportedFormatException">The archive was written in a newer format version.</exception>
    public static async ValueTask<ArchiveSummary> VerifyAsync(Stream source, CancellationToken cancellationToken = default)
    {
        var reader = await OpenAsync(source, cancellationToken).ConfigureAwait(false);
        await using (reader.ConfigureAwait(false))
        {
            await foreach (var _ in reader.ReadPartitionsAsync(cancellationToken).ConfigureAwait(false))
            {
            }

            return reader.Summary!;
        }
    }

    /// <summary>
    /// Restores a whole archive into a store, in two passes: the first verifies the whole archive
    /// (<see cref="VerifyAsync"/>) and writes nothing, so nothing is restored from a damaged archive; the
    /// second reads it again and restores it (<see cref="IStoreRestore.RestoreAsync"/>: the revision floor,
    /// then every partition). A rerun finds the restored partitions <see cref="RestoreOutcome.Unchanged"/>.
    /// </summary>
    /// <param name="archive">
    /// The archive, read from its current position; left open. A stream that cannot seek (a pipe, a network
    /// stream) is first copied into a temporary file, deleted afterwards, so that it can be read twice.
    /// </param>
    /// <param name="destination">The store to restore into.</param>
    /// <param name="mode">What to do with a partition that exists in the destination with a different state.</param>
    /// <param name="cancellationToken">Stops the restore (between partitions once the second pass has begun).</param>
    /// <returns>What the destination's restore did.</returns>
    /// <exception cref="CorruptDataException">The archive is damaged; nothing was restored.</exception>
    /// <exception cref="UnsupportedFormatException">The archive was written in a newer format version; nothing was restored.</exception>
    /// <exception cref="RestoreConflictException">A partition exists with a different state and <paramref name="mode"/> is <see cref="RestoreMode.FailIfDifferent"/>.</exception>
    /// <exception cref="UniqueConstraintException">A unique value is held by two documents.</exception>
    /// <exception cref="StoreReadOnlyException">The destination's read-only fence is set.</exception>
    public static async ValueTask<RestoreResult> RestoreAsync(Stream archive, IStoreRestore destination, RestoreMode mode = RestoreMode.FailIfDifferent, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(archive);
        ArgumentNullException.ThrowIfNull(destination);
        if (!archive.CanSeek)
        {
            var spool = new FileStream(Path.GetTempFileName(), FileMode.Create, FileAccess.ReadWrite, FileShare.None, 81_920, FileOptions.Asynchronous | FileOptions.DeleteOnClose);
            await using (spool.ConfigureAwait(false))
            {
                await archive.CopyToAsync(spool, cancellationToken).ConfigureAwait(false);
                spool.Position = 0;
                return await RestoreAsync(spool, destination, mode, cancellationToken).ConfigureAwait(false);
            }
        }

        var start = archive.Position;
        await VerifyAsync(archive, cancellationToken).ConfigureAwait(false);
        archive.Position = start;
        var reader = await OpenAsync(archive, cancellationToken).ConfigureAwait(false);
        await using (reader.ConfigureAwait(false))
        {
            // Read again, and checked again as it is read: only a change of the file between the passes could fail it now.
            return await destination.RestoreAsync(reader.Info, reader.ReadPartitionsAsync(cancellationToken), mode, cancellationToken).ConfigureAwait(false);
        }
    }

    private static void WriteInfo(ExportDigest.Encoder fields, StoreExportInfo info)
    {
        fields.Int(info.RevisionFloor);
        fields.Int(info.Indexes.Count);
        foreach (var index in info.Indexes)
        {
            fields.String(index.Collection);
            fields.String(index.Name);
            fields.String(index.Path);
            fields.String(index.ValueType.ToString());
            fields.Int(index.Unique ? 1 : 0);
            fields.String(index.Scope.ToString());
        }
    }

    private static async ValueTask FlushAsync(ArrayBufferWriter<byte> frame, Stream destination, CancellationToken cancellationToken)
    {
        await destination.WriteAsync(frame.WrittenMemory, cancellationToken).ConfigureAwait(false);
        frame.ResetWrittenCount();
    }

    /// <summary>The tags that say what follows in the archive.</summary>
    internal static class Tags
    {
        public const long End = 0;
        public const long Entry = 1;
    }
}

/// <summary>What an archive holds (written by <see cref="StoreArchive.WriteAsync"/>, or read to its end).</summary>
public sealed class ArchiveSummary
{
    internal ArchiveSummary(StoreExportInfo info, long partitions, long documents, long events, long encodedBytes, long archiveBytes, byte[] storeDigest)
    {
        Info = info;
        Partitions = partitions;
        Documents = documents;
        Events = events;
        EncodedBytes = encodedBytes;
        ArchiveBytes = archiveBytes;
        StoreDigest = storeDigest;
    }

    /// <summary>The store's information: its revision floor and index declarations.</summary>
    public StoreExportInfo Info { get; }

    /// <summary>The number of partitions (entries).</summary>
    public long Partitions { get; }

    /// <summary>The number of documents, expired or not, in all partitions.</summary>
    public long Documents { get; }

    /// <summary>The number of events in all streams of all partitions.</summary>
    public long Events { get; }

    /// <summary>The partitions' canonical encodings' total length, in bytes (uncompressed).</summary>
    public long EncodedBytes { get; }

    /// <summary>The archive's length, in bytes (compressed): written, or read from the stream's position to its end.</summary>
    public long ArchiveBytes { get; }

    /// <summary>The store digest (<see cref="Storage.StoreDigest"/>) of the partitions: equal to that of the source store at the time of its export.</summary>
    public ReadOnlyMemory<byte> StoreDigest { get; }
}

/// <summary>What a manifest row counts of a partition.</summary>
internal readonly record struct EntryCounts(long Documents, long Tombstones, long Sequences, long Streams, long Events)
{
    public static EntryCounts Of(PartitionExport partition)
        => new(partition.Documents.Count, partition.Tombstones.Count, partition.Sequences.Count, partition.Streams.Count, partition.Streams.Sum(s => (long)s.Events.Count));

    public static EntryCounts operator +(EntryCounts x, EntryCounts y)
        => new(x.Documents + y.Documents, x.Tombstones + y.Tombstones, x.Sequences + y.Sequences, x.Streams + y.Streams, x.Events + y.Events);

    public void Write(ExportDigest.Encoder fields)
    {
        fields.Int(Documents);
        fields.Int(Tombstones);
        fields.Int(Sequences);
        fields.Int(Streams);
        fields.Int(Events);
    }

    public override string ToString() => $"{Documents} documents, {Tombstones} tombstones, {Sequences} sequences, {Streams} streams, {Events} events";
}

/// <summary>The running totals of an archive's entries, written into its trailer and checked against it.</summary>
internal sealed class Totals
{
    public long Entries { get; private set; }

    public EntryCounts Counts { get; private set; }

    public long EncodedBytes { get; private set; }

    public void Add(EntryCounts counts, long encodedBytes)
    {
        Entries++;
        Counts += counts;
        EncodedBytes += encodedBytes;
    }

    public ArchiveSummary Summary(StoreExportInfo info, long archiveBytes, byte[] storeDigest)
        => new(info, Entries, Counts.Documents, Counts.Events, EncodedBytes, archiveBytes, storeDigest);
}

/// <summary>Passes reads and writes through to a stream, counts the bytes and keeps the last 8 read (a gzip stream's end).</summary>
internal sealed class CountingStream(Stream inner) : Stream
{
    private readonly byte[] _tail = new byte[8];

    public long Count { get; private set; }

    /// <summary>The last 8 bytes read (fewer if fewer were read): at the end of a gzip stream, its CRC-32 and length.</summary>
    public ReadOnlySpan<byte> Tail => _tail.AsSpan(_tail.Length - (int)Math.Min(Count, _tail.Length));

    public override bool CanRead => inner.CanRead;

    public override bool CanSeek => false;

    public override bool CanWrite => inner.CanWrite;

    public override long Length => throw new NotSupportedException();

    public override long Position
    {
        get => throw new NotSupportedException();
        set => throw new NotSupportedException();
    }

    public override void Flush() => inner.Flush();

    public override Task FlushAsync(CancellationToken cancellationToken) => inner.FlushAsync(cancellationToken);

    public override int Read(byte[] buffer, int offset, int count)
    {
        var read = inner.Read(buffer, offset, count);
        Counted(buffer.AsSpan(offset, read));
        return read;
    }

    public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
    {
        var read = await inner.ReadAsync(buffer, cancellationToken).ConfigureAwait(false);
        Counted(buffer.Span[..read]);
        return read;
    }

    public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken)
        => ReadAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

    public override void Write(byte[] buffer, int offset, int count)
    {
        inner.Write(buffer, offset, count);
        Count += count;
    }

    public override async ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken = default)
    {
        await inner.WriteAsync(buffer, cancellationToken).ConfigureAwait(false);
        Count += buffer.Length;
    }

    public override Task WriteAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken)
        => WriteAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

    public override void SetLength(long value) => throw new NotSupportedException();

    private void Counted(ReadOnlySpan<byte> read)
    {
        if (read.Length >= _tail.Length)
        {
            read[^_tail.Length..].CopyTo(_tail);
        }
        else if (read.Length > 0)
        {
            _tail.AsSpan(read.Length).CopyTo(_tail);
            read.CopyTo(_tail.AsSpan(_tail.Length - read.Length));
        }

        Count += read.Length;
    }
}

/// <summary>Hashes the bytes of a span (the check of an entry against its digest).</summary>
internal static class EntryHash
{
    public static bool Matches(ReadOnlySpan<byte> encoding, ReadOnlySpan<byte> digest)
    {
        Span<byte> actual = stackalloc byte[ExportDigest.Length];
        SHA256.HashData(encoding, actual);
        return CryptographicOperations.FixedTimeEquals(actual, digest);
    }
}
