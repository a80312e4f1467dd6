using System.Buffers;
using System.Buffers.Binary;
using System.IO.Compression;
using System.IO.Hashing;
using System.Runtime.CompilerServices;
using System.Security.Cryptography;
using System.Text;

namespace Storage;

/// <summary>
/// Reads an archive (<see cref="StoreArchive.OpenAsync"/>): its store information, then its partitions, one
/// at a time, each checked against its digest before it is handed out, and the whole archive checked when
/// the last one has been read. Never reads ahead of the entry it is reading, so damage is reported in the
/// entry where it is found.
/// </summary>
/// <remarks>
/// A partition handed out has passed its own checks, but the archive's end has not been read yet: a consumer
/// that acts on each partition as it comes (rather than after the enumeration has ended without an error)
/// can act on an archive that turns out truncated. <see cref="StoreArchive.RestoreAsync"/> therefore
/// verifies the whole archive before it restores anything.
/// </remarks>
public sealed class StoreArchiveReader : IAsyncDisposable
{
    // The longest string a header, row or trailer holds: a partition key is at most 512 UTF-8 bytes, names 64 characters.
    private const int MaxStringBytes = 4096;
    private const int MaxIndexes = 4096;
    private static readonly UTF8Encoding s_utf8 = new(encoderShouldEmitUTF8Identifier: false, throwOnInvalidBytes: true);

    private readonly CountingStream _counted;
    private readonly GZipStream _gzip;
    private readonly IncrementalHash _fields = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
    private readonly Crc32 _crc = new();
    private long _payloadBytes;
    private readonly byte[] _field = new byte[MaxStringBytes];
    private string _location = "archive header";
    private bool _started;

    internal StoreArchiveReader(Stream source)
    {
        _counted = new CountingStream(source);
        _gzip = new GZipStream(_counted, CompressionMode.Decompress, leaveOpen: true);
    }

    /// <summary>The store's information the archive carries: its revision floor and index declarations.</summary>
    public StoreExportInfo Info { get; private set; } = null!;

    /// <summary>What the archive holds, once <see cref="ReadPartitionsAsync"/> has read it to its end and verified it; <see langword="null"/> before.</summary>
    public ArchiveSummary? Summary { get; private set; }

    /// <summary>
    /// Reads the partitions, in key order, each verified against its digest and its manifest row before it is
    /// yielded; after the last one, the trailer is verified (entry count, totals, store digest, archive digest,
    /// nothing after the end) and <see cref="Summary"/> set. Can be enumerated once.
    /// </summary>
    /// <param name="cancellationToken">Stops the enumeration.</param>
    /// <returns>The partitions.</returns>
    /// <exception cref="CorruptDataException">The archive is damaged: its location names the entry (number and partition key) or the trailer.</exception>
    /// <exception cref="InvalidOperationException">The partitions were already enumerated.</exception>
    public async IAsyncEnumerable<PartitionExport> ReadPartitionsAsync([EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        if (_started)
        {
            throw new InvalidOperationException("An archive's partitions can be read once.");
        }

        _started = true;
        var totals = new Totals();
        var encoding = new ArrayBufferWriter<byte>(4096);
        string? last = null;
        using var storeDigest = new StoreDigest();
        while (true)
        {
            var number = totals.Entries + 1;
            _location = last is null ? $"archive entry {number} (the first)" : $"archive entry {number} (after partition '{last}')";
            var tag = await IntAsync(cancellationToken).ConfigureAwait(false);
            if (tag == StoreArchive.Tags.End)
            {
                break;
            }

            if (tag != StoreArchive.Tags.Entry)
            {
                throw Corrupt($"it starts with the tag {tag}, neither {StoreArchive.Tags.Entry} (an entry) nor {StoreArchive.Tags.End} (the trailer)");
            }

            var numbered = await IntAsync(cancellationToken).ConfigureAwait(false);
            if (numbered != number)
            {
                throw Corrupt($"it is numbered {numbered}: an entry is missing, repeated or out of order");
            }

            var key = await StringAsync(cancellationToken).ConfigureAwait(false);
            _location = $"archive entry {number} (partition '{key}')";
            if (last is not null && StorageKeyComparer.Instance.Compare(last, key) >= 0)
            {
                throw Corrupt($"it does not come after partition '{last}' in key order: entries are out of order or repeated");
            }

            var counts = await CountsAsync(cancellationToken).ConfigureAwait(false);
            var digest = await DigestAsync(cancellationToken).ConfigureAwait(false);
            var length = await IntAsync(cancellationToken).ConfigureAwait(false);
            if (length < 0 || length > Array.MaxLength)
            {
                throw Corrupt($"its encoding's length {length} is negative or more than an entry can hold ({Array.MaxLength} bytes)");
            }

            encoding.ResetWrittenCount();
            await ReadEncodingAsync(encoding, (int)length, cancellationToken).ConfigureAwait(false);
            if (!EntryHash.Matches(encoding.WrittenSpan, digest))
            {
                throw Corrupt($"its {length} bytes do not match its digest {Convert.ToHexStringLower(digest)}");
            }

            PartitionExport partition;
            try
            {
                partition = ExportDigest.Decode(encoding.WrittenSpan);
            }
            catch (FormatException e)
            {
                throw Corrupt($"its encoding is not a partition's canonical encoding: {e.Message}", e);
            }

            if (partition.Partition != key)
            {
                throw Corrupt($"its encoding holds partition '{partition.Partition}'");
            }

            if (EntryCounts.Of(partition) != counts)
            {
                throw Corrupt($"it holds {EntryCounts.Of(partition)}; its manifest row says {counts}");
            }

            storeDigest.Add(key, digest);
            totals.Add(counts, length);
            last = key;
            yield return partition;
        }

        _location = $"archive trailer (after entry {totals.Entries})";
        var entries = await IntAsync(cancellationToken).ConfigureAwait(false);
        if (entries != totals.Entries)
        {
            throw Corrupt($"it counts {entries} entries where the archive holds {totals.Entries}: entries are missing or were added");
        }

        var trailerCounts = await CountsAsync(cancellationToken).ConfigureAwait(false);
        var encodedBytes = await IntAsync(cancellationToken).ConfigureAwait(false);
        if (trailerCounts != totals.Counts || encodedBytes != totals.EncodedBytes)
        {
            throw Corrupt($"it counts {trailerCounts} in {encodedBytes} bytes where the entries hold {totals.Counts} in {totals.EncodedBytes} bytes");
        }

        var expectedStoreDigest = storeDigest.Finish();
        var storedStoreDigest = await DigestAsync(cancellationToken).ConfigureAwait(false);
        if (!storedStoreDigest.AsSpan().SequenceEqual(expectedStoreDigest))
        {
            throw Corrupt($"its store digest {Convert.ToHexStringLower(storedStoreDigest)} is not that of the entries ({Convert.ToHexStringLower(expectedStoreDigest)})");
        }

        var expectedArchiveDigest = _fields.GetCurrentHash();
        var archiveDigest = await DigestAsync(cancellationToken).ConfigureAwait(false);
        if (!archiveDigest.AsSpan().SequenceEqual(expectedArchiveDigest))
        {
            throw Corrupt("its archive digest does not match the archive's header, manifest rows and trailer: one of them is damaged");
        }

        if (await ReadSomeAsync(_field.AsMemory(0, 1), cancellationToken).ConfigureAwait(false) != 0
            || await _counted.ReadAsync(_field.AsMemory(0, 1), cancellationToken).ConfigureAwait(false) != 0)
        {
            throw Corrupt("data follows the end of the archive");
        }

        // GZipStream ends quietly when its input ends inside the gzip trailer (CRC-32, then length, little-endian): checked here.
        var tail = _counted.Tail;
        if (tail.Length != 8 || BinaryPrimitives.ReadUInt32LittleEndian(tail) != _crc.GetCurrentHashAsUInt32() || BinaryPrimitives.ReadUInt32LittleEndian(tail[4..]) != (uint)_payloadBytes)
        {
            throw Corrupt("the gzip stream's end (its CRC-32 and length) is cut off or does not match: the archive is truncated or data follows it");
        }

        Summary = totals.Summary(Info, _counted.Count, expectedStoreDigest);
    }

    /// <inheritdoc/>
    public async ValueTask DisposeAsync()
    {
        await _gzip.DisposeAsync().ConfigureAwait(false);
        _fields.Dispose();
    }

    /// <summary>Reads and checks the header: the format, its version and the store's information.</summary>
    internal async ValueTask ReadHeaderAsync(CancellationToken cancellationToken)
    {
        _location = "archive header";
        var magicLength = await IntAsync(cancellationToken).ConfigureAwait(false);
        if (magicLength != Encoding.ASCII.GetByteCount(StoreArchive.Magic))
        {
            throw Corrupt($"it does not start with '{StoreArchive.Magic}': not a Storage archive");
        }

        var magic = Encoding.ASCII.GetString((await FieldAsync((int)magicLength, cancellationToken).ConfigureAwait(false)).Span);
        if (magic != StoreArchive.Magic)
        {
            throw Corrupt($"it does not start with '{StoreArchive.Magic}': not a Storage archive");
        }

        var version = await IntAsync(cancellationToken).ConfigureAwait(false);
        if (version != StoreArchive.FormatVersion)
        {
            throw version > StoreArchive.FormatVersion
                ? new UnsupportedFormatException(_location, version, StoreArchive.FormatVersion)
                : Corrupt($"its format version {version} is not one this library wrote (1 to {StoreArchive.FormatVersion})");
        }

        var floor = await IntAsync(cancellationToken).ConfigureAwait(false);
        if (floor < 0)
        {
            throw Corrupt($"its revision floor {floor} is negative");
        }

        var count = await IntAsync(cancellationToken).ConfigureAwait(false);
        if (count is < 0 or > MaxIndexes)
        {
            throw Corrupt($"its number of index declarations {count} is negative or more than {MaxIndexes}");
        }

        var indexes = new IndexDefinition[count];
        for (var i = 0; i < indexes.Length; i++)
        {
            var collection = await StringAsync(cancellationToken).ConfigureAwait(false);
            var name = await StringAsync(cancellationToken).ConfigureAwait(false);
            var path = await StringAsync(cancellationToken).ConfigureAwait(false);
            var valueType = await StringAsync(cancellationToken).ConfigureAwait(false);
            var unique = await IntAsync(cancellationToken).ConfigureAwait(false);
            var scope = await StringAsync(cancellationToken).ConfigureAwait(false);
            if (!Enum.TryParse<IndexValueType>(valueType, ignoreCase: false, out var type) || !Enum.IsDefined(type) || int.TryParse(valueType, out _)
                || !Enum.TryParse<IndexScope>(scope, ignoreCase: false, out var indexScope) || !Enum.IsDefined(indexScope) || int.TryParse(scope, out _)
                || unique is not (0 or 1))
            {
                throw Corrupt($"index declaration {i + 1} has the value type '{valueType}', uniqueness {unique} and scope '{scope}', not a declaration this library writes");
            }

            try
            {
                indexes[i] = new IndexDefinition(collection, name, path, type, unique == 1, indexScope);
            }
            catch (ArgumentException e)
            {
                throw Corrupt($"index declaration {i + 1} is not valid: {e.Message}", e);
            }
        }

        Info = new StoreExportInfo(floor, indexes);
    }

    /// <summary>Reads a manifest row's or the trailer's counts: documents, tombstones, sequences, streams, events.</summary>
    private async ValueTask<EntryCounts> CountsAsync(CancellationToken cancellationToken)
    {
        var counts = new long[5];
        for (var i = 0; i < counts.Length; i++)
        {
            counts[i] = await IntAsync(cancellationToken).ConfigureAwait(false);
            if (counts[i] < 0)
            {
                throw Corrupt($"it holds the negative count {counts[i]}");
            }
        }

        return new EntryCounts(counts[0], counts[1], counts[2], counts[3], counts[4]);
    }

    private async ValueTask<long> IntAsync(CancellationToken cancellationToken)
        => BinaryPrimitives.ReadInt64BigEndian((await FieldAsync(sizeof(long), cancellationToken).ConfigureAwait(false)).Span);

    private async ValueTask<string> StringAsync(CancellationToken cancellationToken)
    {
        var length = await IntAsync(cancellationToken).ConfigureAwait(false);
        if (length is < 0 or > MaxStringBytes)
        {
            throw Corrupt($"it holds a string of length {length}, negative or more than {MaxStringBytes} bytes");
        }

        var bytes = await FieldAsync((int)length, cancellationToken).ConfigureAwait(false);
        try
        {
            return s_utf8.GetString(bytes.Span);
        }
        catch (DecoderFallbackException e)
        {
            throw Corrupt("it holds a string that is not valid UTF-8", e);
        }
    }

    private async ValueTask<byte[]> DigestAsync(CancellationToken cancellationToken)
    {
        var length = await IntAsync(cancellationToken).ConfigureAwait(false);
        if (length != ExportDigest.Length)
        {
            throw Corrupt($"it holds a digest of length {length}, not {ExportDigest.Length}");
        }

        return (await FieldAsync(ExportDigest.Length, cancellationToken).ConfigureAwait(false)).ToArray();
    }

    /// <summary>Reads a field of the archive's own (header, manifest row, trailer): hashed into the archive digest.</summary>
    private async ValueTask<ReadOnlyMemory<byte>> FieldAsync(int length, CancellationToken cancellationToken)
    {
        var field = _field.AsMemory(0, length);
        await ReadExactlyAsync(field, cancellationToken).ConfigureAwait(false);
        _fields.AppendData(field.Span);
        return field;
    }

    /// <summary>Reads an entry's encoding, in chunks, so that a damaged length costs no more memory than the bytes that are there.</summary>
    private async ValueTask ReadEncodingAsync(ArrayBufferWriter<byte> into, int length, CancellationToken cancellationToken)
    {
        const int Chunk = 1 << 20;
        while (into.WrittenCount < length)
        {
            var size = Math.Min(Chunk, length - into.WrittenCount);
            var memory = into.GetMemory(size)[..size];
            await ReadExactlyAsync(memory, cancellationToken).ConfigureAwait(false);
            into.Advance(size);
        }
    }

    private async ValueTask ReadExactlyAsync(Memory<byte> buffer, CancellationToken cancellationToken)
    {
        while (buffer.Length > 0)
        {
            var read = await ReadSomeAsync(buffer, cancellationToken).ConfigureAwait(false);
            if (read == 0)
            {
                throw Corrupt("the archive ends inside it: it is truncated");
            }

            buffer = buffer[read..];
        }
    }

    private async ValueTask<int> ReadSomeAsync(Memory<byte> buffer, CancellationToken cancellationToken)
    {
        try
        {
            var read = await _gzip.ReadAsync(buffer, cancellationToken).ConfigureAwait(false);
            _crc.Append(buffer.Span[..read]);
            _payloadBytes += read;
            return read;
        }
        catch (InvalidDataException e)
        {
            throw Corrupt($"the compressed stream is damaged ({e.Message})", e);
        }
    }

    private CorruptDataException Corrupt(string reason, Exception? innerException = null) => new(_location, reason, innerException);
}
