using System.Buffers.Binary;
using System.IO.Compression;
using System.Text;

namespace Storage.Archive.Tests;

/// <summary>
/// An archive's uncompressed payload, split into its parts by a reading of docs/archive-format.md written
/// here, apart from the library's reader: the header, each entry (manifest row, then encoding) and the
/// trailer, as byte ranges the damage tests change, drop, repeat or swap before compressing it again.
/// </summary>
internal sealed class ArchivePayload
{
    private ArchivePayload(byte[] bytes, Range header, List<Entry> entries, Range trailer)
    {
        Bytes = bytes;
        Header = header;
        Entries = entries;
        Trailer = trailer;
    }

    public byte[] Bytes { get; }

    public Range Header { get; }

    public IReadOnlyList<Entry> Entries { get; }

    public Range Trailer { get; }

    public static byte[] Decompress(byte[] archive)
    {
        using var gzip = new GZipStream(new MemoryStream(archive), CompressionMode.Decompress);
        using var output = new MemoryStream();
        gzip.CopyTo(output);
        return output.ToArray();
    }

    public static byte[] Compress(byte[] payload)
    {
        using var output = new MemoryStream();
        using (var gzip = new GZipStream(output, CompressionLevel.Fastest, leaveOpen: true))
        {
            gzip.Write(payload);
        }

        return output.ToArray();
    }

    public static ArchivePayload Parse(byte[] archive)
    {
        var bytes = Decompress(archive);
        var at = 0;
        Assert.Equal("storage.archive", Text(bytes, ref at));
        Assert.Equal(1, Integer(bytes, ref at));
        Integer(bytes, ref at); // revision floor
        var indexes = Integer(bytes, ref at);
        for (var i = 0; i < indexes; i++)
        {
            Text(bytes, ref at);
            Text(bytes, ref at);
            Text(bytes, ref at);
            Text(bytes, ref at);
            Integer(bytes, ref at);
            Text(bytes, ref at);
        }

        var header = new Range(0, at);
        var entries = new List<Entry>();
        while (true)
        {
            var start = at;
            var tag = Integer(bytes, ref at);
            if (tag == 0)
            {
                break;
            }

            Assert.Equal(1, tag);
            Assert.Equal(entries.Count + 1, Integer(bytes, ref at));
            var key = Text(bytes, ref at);
            var counts = at;
            for (var i = 0; i < 5; i++)
            {
                Integer(bytes, ref at);
            }

            var digest = at + 8;
            Assert.Equal(32, Integer(bytes, ref at));
            at += 32;
            var length = (int)Integer(bytes, ref at);
            entries.Add(new Entry(key, new Range(start, at + length), counts, digest, new Range(at, at + length)));
            at += length;
        }

        return new ArchivePayload(bytes, header, entries, new Range(at - 8, bytes.Length));
    }

    /// <summary>The payload with its entries replaced (numbers are not rewritten), compressed.</summary>
    public byte[] WithEntries(params Entry[] entries)
    {
        var output = new List<byte>(Bytes[Header]);
        foreach (var entry in entries)
        {
            output.AddRange(Bytes[entry.Whole]);
        }

        output.AddRange(Bytes[Trailer]);
        return Compress([.. output]);
    }

    /// <summary>The payload with one entry's encoding replaced, its row's digest and length made to match (as a writer would have written them), compressed.</summary>
    public byte[] WithEncoding(int entry, byte[] encoding)
    {
        var output = new List<byte>(Bytes[Header]);
        for (var i = 0; i < Entries.Count; i++)
        {
            var e = Entries[i];
            if (i != entry)
            {
                output.AddRange(Bytes[e.Whole]);
                continue;
            }

            output.AddRange(Bytes[e.Whole.Start..e.Digest]);
            output.AddRange(System.Security.Cryptography.SHA256.HashData(encoding));
            var length = new byte[8];
            BinaryPrimitives.WriteInt64BigEndian(length, encoding.Length);
            output.AddRange(length);
            output.AddRange(encoding);
        }

        output.AddRange(Bytes[Trailer]);
        return Compress([.. output]);
    }

    /// <summary>The payload with one byte changed, compressed.</summary>
    public byte[] WithByteFlipped(int offset)
    {
        var changed = (byte[])Bytes.Clone();
        changed[offset] ^= 0x20;
        return Compress(changed);
    }

    /// <summary>The payload with an integer field replaced, compressed.</summary>
    public byte[] WithInteger(int offset, long value)
    {
        var changed = (byte[])Bytes.Clone();
        BinaryPrimitives.WriteInt64BigEndian(changed.AsSpan(offset), value);
        return Compress(changed);
    }

    private static long Integer(byte[] bytes, ref int at)
    {
        var value = BinaryPrimitives.ReadInt64BigEndian(bytes.AsSpan(at));
        at += 8;
        return value;
    }

    private static string Text(byte[] bytes, ref int at)
    {
        var length = (int)Integer(bytes, ref at);
        var text = Encoding.UTF8.GetString(bytes, at, length);
        at += length;
        return text;
    }

    /// <summary>An entry: its whole range, where its counts and digest start, and its encoding.</summary>
    internal sealed record Entry(string Partition, Range Whole, int Counts, int Digest, Range Encoding);
}
