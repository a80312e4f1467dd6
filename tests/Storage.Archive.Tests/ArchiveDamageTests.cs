using Storage.Memory;
using static Storage.Archive.Tests.Workload;

namespace Storage.Archive.Tests;

/// <summary>
/// A damaged archive is refused, before anything is restored, with an exception that names the entry (its
/// number and partition key), the header or the trailer: a changed byte (in an entry, a manifest row, the
/// trailer, the header, the compressed stream), a truncated stream, an entry missing, repeated or out of
/// order, data after the end, a wrong format version.
/// </summary>
public sealed class ArchiveDamageTests
{
    // The workload's partitions in key order: Alice, CON, alice, 😀/../x. Entry 2 is CON.
    private const string Entry2 = "archive entry 2 (partition 'CON')";

    public static TheoryData<string> Damages => [.. s_damages.Keys];

    private static readonly Dictionary<string, (Func<ArchivePayload, byte[]> Damage, string Location, string Reason)> s_damages = new()
    {
        ["a byte of an entry's encoding"] = (p => p.WithByteFlipped(p.Entries[1].Encoding.Start.Value + 40), Entry2, "do not match its digest"),
        ["the last byte of an entry's encoding"] = (p => p.WithByteFlipped(p.Entries[1].Encoding.End.Value - 1), Entry2, "do not match its digest"),
        ["a byte of an entry's digest"] = (p => p.WithByteFlipped(p.Entries[1].Digest + 3), Entry2, "do not match its digest"),
        ["an entry's document count"] = (p => p.WithInteger(p.Entries[1].Counts, 1000), Entry2, "its manifest row says 1000 documents"),
        ["an entry's event count"] = (p => p.WithInteger(p.Entries[1].Counts + 32, 0), Entry2, "0 events"),
        ["an entry's partition key"] = (p => p.WithByteFlipped(p.Entries[1].Whole.Start.Value + 24), "archive entry 2 (partition 'cON')", "its encoding holds partition 'CON'"),
        ["an entry's number"] = (p => p.WithInteger(p.Entries[1].Whole.Start.Value + 8, 7), "archive entry 2 (after partition 'Alice')", "it is numbered 7"),
        ["an entry's tag"] = (p => p.WithInteger(p.Entries[1].Whole.Start.Value, 2), "archive entry 2 (after partition 'Alice')", "the tag 2"),
        ["an entry's length"] = (p => p.WithInteger(p.Entries[1].Encoding.Start.Value - 8, p.Entries[1].Encoding.End.Value - p.Entries[1].Encoding.Start.Value - 1), Entry2, "do not match its digest"),
        ["an entry missing"] = (p => p.WithEntries(p.Entries[0], p.Entries[2], p.Entries[3]), "archive entry 2 (after partition 'Alice')", "it is numbered 3: an entry is missing, repeated or out of order"),
        ["an entry repeated"] = (p => p.WithEntries(p.Entries[0], p.Entries[1], p.Entries[1], p.Entries[2], p.Entries[3]), "archive entry 3 (after partition 'CON')", "it is numbered 2"),
        ["entries reordered"] = (p => p.WithEntries(p.Entries[0], p.Entries[2], p.Entries[1], p.Entries[3]), "archive entry 2 (after partition 'Alice')", "it is numbered 3"),
        ["the last entry missing"] = (p => p.WithEntries(p.Entries[0], p.Entries[1], p.Entries[2]), "archive trailer (after entry 3)", "it counts 4 entries where the archive holds 3"),
        ["an entry added at the end"] = (p => p.WithEntries([.. p.Entries, p.Entries[3]]), "archive entry 5 (after partition '😀/../x')", "it is numbered 4"),
        ["the trailer's document total"] = (p => p.WithInteger(p.Trailer.Start.Value + 16, 1), "archive trailer (after entry 4)", "where the entries hold"),
        ["a byte of the store digest"] = (p => p.WithByteFlipped(p.Trailer.Start.Value + 8 + 8 + 40 + 8 + 8 + 5), "archive trailer (after entry 4)", "its store digest"),
        ["a byte of the archive digest"] = (p => p.WithByteFlipped(p.Bytes.Length - 1), "archive trailer (after entry 4)", "its archive digest does not match"),
        ["the header's revision floor"] = (p => p.WithInteger(31, 1), "archive trailer (after entry 4)", "its archive digest does not match"),
        ["an index declaration's scope"] = (p => p.WithByteFlipped(p.Header.End.Value - 9), "archive header", "index declaration 5 has the value type 'String', uniqueness 0 and scope 'partition'"),
        ["an index declaration's path"] = (p => p.WithByteFlipped(p.Header.End.Value - 9 - 8 - 8 - 6 - 8 - 3), "archive trailer (after entry 4)", "its archive digest does not match"),
        ["the format name"] = (p => p.WithByteFlipped(8), "archive header", "not a Storage archive"),
        ["the format version 0"] = (p => p.WithInteger(23, 0), "archive header", "its format version 0"),
        ["a truncated entry"] = (p => ArchivePayload.Compress(p.Bytes[..(p.Entries[1].Encoding.Start.Value + 100)]), Entry2, "truncated"),
        ["a truncated manifest row"] = (p => ArchivePayload.Compress(p.Bytes[..(p.Entries[1].Digest + 10)]), Entry2, "truncated"),
        ["a truncated trailer"] = (p => ArchivePayload.Compress(p.Bytes[..^1]), "archive trailer (after entry 4)", "truncated"),
        ["a truncated header"] = (p => ArchivePayload.Compress(p.Bytes[..30]), "archive header", "truncated"),
        ["nothing"] = (p => [], "archive header", "truncated"),
        ["data after the end"] = (p => ArchivePayload.Compress([.. p.Bytes, 0]), "archive trailer (after entry 4)", "data follows the end of the archive"),
        ["the gzip trailer cut off"] = (p => ArchivePayload.Compress(p.Bytes)[..^3], "archive trailer (after entry 4)", "its CRC-32 and length) is cut off or does not match"),
        ["bytes after the gzip stream"] = (p => [.. ArchivePayload.Compress(p.Bytes), 1, 2, 3], "archive trailer (after entry 4)", "data follows"),
        ["a second archive after the end"] = (p => [.. ArchivePayload.Compress(p.Bytes), .. ArchivePayload.Compress(p.Bytes)], "archive trailer (after entry 4)", "data follows the end of the archive"),
    };

    [Theory]
    [MemberData(nameof(Damages))]
    public async Task A_damaged_archive_is_refused_naming_where_and_nothing_is_restored(string damage)
    {
        var (_, bytes) = await GetAsync();
        var (change, location, reason) = s_damages[damage];
        var damaged = change(ArchivePayload.Parse(bytes));
        var destination = CreateDestination();

        var error = await Assert.ThrowsAsync<CorruptDataException>(async () => await StoreArchive.RestoreAsync(new MemoryStream(damaged), destination));

        Assert.Equal(location, error.Location);
        Assert.Contains(reason, error.Reason, StringComparison.Ordinal);
        Assert.Contains(location, error.Message, StringComparison.Ordinal);
        await AssertEmptyAsync(destination);
        var verified = await Assert.ThrowsAsync<CorruptDataException>(async () => await StoreArchive.VerifyAsync(new MemoryStream(damaged)));
        Assert.Equal(error.Message, verified.Message);
    }

    public static TheoryData<string> Malformed => [.. s_malformed.Keys];

    // Entry 2's encoding (CON's) changed and its digest recomputed, as a buggy or hostile writer would: the decoder refuses what the encoder cannot write.
    // Its fields: string "storage.partition.v1" (8 + 20 bytes), string "CON" (8 + 3), revision, oldest resumable, then the number of documents at 55.
    private static readonly Dictionary<string, (Func<byte[], byte[]> Change, string Reason)> s_malformed = new()
    {
        ["a byte after the partition"] = (e => [.. e, 0], "1 bytes follow the end of the partition's encoding"),
        ["a count more than the bytes can hold"] = (e => WithInteger(e, 55, 1_000_000_000), "The count 1000000000 before offset 63 is negative or more than"),
        ["a negative count"] = (e => WithInteger(e, 55, -1), "The count -1 before offset 63"),
        ["a length past the end"] = (e => WithInteger(e, 28, 1_000_000), "The length 1000000 before offset 36"),
        ["an other format"] = (e => WithByte(e, 8 + 19, (byte)'2'), "The encoding starts with 'storage.partition.v2'"),
        ["invalid UTF-8"] = (e => WithByte(e, 36, 0xFF), "The string at offset 28 is not valid UTF-8"),
        ["cut short"] = (e => e[..^1], "The encoding ends at offset"),
    };

    [Theory]
    [MemberData(nameof(Malformed))]
    public async Task An_entry_whose_digest_matches_bytes_that_are_no_partition_is_refused_and_nothing_is_restored(string malformed)
    {
        var (_, bytes) = await GetAsync();
        var payload = ArchivePayload.Parse(bytes);
        var (change, reason) = s_malformed[malformed];
        var damaged = payload.WithEncoding(1, change(payload.Bytes[payload.Entries[1].Encoding]));
        var destination = CreateDestination();

        var error = await Assert.ThrowsAsync<CorruptDataException>(async () => await StoreArchive.RestoreAsync(new MemoryStream(damaged), destination));

        Assert.Equal(Entry2, error.Location);
        Assert.Contains("its encoding is not a partition's canonical encoding: " + reason, error.Reason, StringComparison.Ordinal);
        await AssertEmptyAsync(destination);
    }

    [Fact]
    public async Task A_newer_format_version_is_refused_as_unsupported()
    {
        var (_, bytes) = await GetAsync();
        var damaged = ArchivePayload.Parse(bytes).WithInteger(23, 2);
        var destination = CreateDestination();

        var error = await Assert.ThrowsAsync<UnsupportedFormatException>(async () => await StoreArchive.RestoreAsync(new MemoryStream(damaged), destination));

        Assert.Equal(("archive header", 2L, 1L), (error.Location, error.FoundVersion, error.SupportedVersion));
        await AssertEmptyAsync(destination);
    }

    [Fact]
    public async Task A_stream_that_is_not_gzip_is_refused_in_the_header()
    {
        var destination = CreateDestination();

        var error = await Assert.ThrowsAsync<CorruptDataException>(async () => await StoreArchive.RestoreAsync(new MemoryStream("{\"not\":\"an archive\"}"u8.ToArray()), destination));

        Assert.Equal("archive header", error.Location);
        await AssertEmptyAsync(destination);
    }

    [Fact]
    public async Task Any_byte_of_the_compressed_stream_changed_or_cut_off_is_refused_and_nothing_is_restored()
    {
        var (_, bytes) = await GetAsync();
        var destination = CreateDestination();

        // Every byte but the gzip header's flag FTEXT (bit 0 of byte 3), modification time, extra flags and OS (bytes 4 to 9):
        // gzip does not check them, and they carry no data. A few bits of deflate's own encoding are redundant (the
        // stream decompresses to the same bytes): such a change damages nothing and is restored.
        var payload = ArchivePayload.Decompress(bytes);
        var undetected = new List<string>();
        for (var offset = 0; offset < bytes.Length; offset += offset < 10 || offset > bytes.Length - 20 ? 1 : 37)
        {
            if (offset is >= 3 and <= 9)
            {
                continue;
            }

            var damaged = (byte[])bytes.Clone();
            damaged[offset] ^= 0x01;
            var error = await Record.ExceptionAsync(async () => await StoreArchive.VerifyAsync(new MemoryStream(damaged)));
            if (error is null && ArchivePayload.Decompress(damaged).AsSpan().SequenceEqual(payload))
            {
                continue;
            }

            if (error is not CorruptDataException { Location: ['a', 'r', 'c', 'h', 'i', 'v', 'e', ' ', ..] })
            {
                undetected.Add($"byte {offset} of {bytes.Length}: {error?.GetType().Name ?? "no error"} {error?.Message}");
            }
        }

        Assert.Empty(undetected);
        for (var length = 0; length < bytes.Length; length += length > bytes.Length - 20 ? 1 : 53)
        {
            var error = await Record.ExceptionAsync(async () => await StoreArchive.RestoreAsync(new MemoryStream(bytes[..length]), destination));
            if (error is not CorruptDataException { Location: ['a', 'r', 'c', 'h', 'i', 'v', 'e', ' ', ..] })
            {
                undetected.Add($"cut at {length} of {bytes.Length}: {error?.GetType().Name ?? "no error"} {error?.Message}");
            }
        }

        Assert.Empty(undetected);

        await AssertEmptyAsync(destination);
    }

    private static byte[] WithInteger(byte[] bytes, int offset, long value)
    {
        var changed = (byte[])bytes.Clone();
        System.Buffers.Binary.BinaryPrimitives.WriteInt64BigEndian(changed.AsSpan(offset), value);
        return changed;
    }

    private static byte[] WithByte(byte[] bytes, int offset, byte value)
    {
        var changed = (byte[])bytes.Clone();
        changed[offset] = value;
        return changed;
    }

    private static async Task AssertEmptyAsync(MemoryStore destination)
    {
        Assert.Empty(await ToListAsync(destination.ExportAsync()));
        Assert.Equal(0, (await destination.GetExportInfoAsync()).RevisionFloor);
    }
}
