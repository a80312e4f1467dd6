using System.Security.Cryptography;
using System.Text;

namespace Storage.Conformance;

/// <summary>
/// The canonical encoding of docs/upgrade-path.md ("The digest"), written a second time from the spec,
/// independently of the library's <see cref="ExportDigest"/>: the oracle the conformance suite checks
/// the library's digests against. It orders every list itself (by UTF-8 bytes, which is code-point
/// order) and builds the whole encoding in memory before hashing it.
/// </summary>
internal static class CanonicalDigest
{
    /// <summary>The SHA-256 of a partition's canonical encoding.</summary>
    public static byte[] Partition(PartitionExport p) => SHA256.HashData(Encode(p));

    /// <summary>The SHA-256 of a store's encoding over its partitions' digests.</summary>
    public static byte[] Store(IEnumerable<PartitionExport> partitions)
    {
        var output = new List<byte>();
        Text(output, "storage.store.v1");
        var sorted = partitions.OrderBy(p => Utf8(p.Partition), ByteOrder.Instance).ToList();
        foreach (var p in sorted)
        {
            Text(output, p.Partition);
            Blob(output, Partition(p));
        }

        Integer(output, sorted.Count);
        return SHA256.HashData(output.ToArray());
    }

    /// <summary>A partition's canonical encoding.</summary>
    public static byte[] Encode(PartitionExport p)
    {
        var output = new List<byte>();
        Text(output, "storage.partition.v1");
        Text(output, p.Partition);
        Integer(output, p.Revision);
        Integer(output, p.OldestResumable);

        var documents = p.Documents.OrderBy(d => Utf8(d.Collection), ByteOrder.Instance).ThenBy(d => Utf8(d.Key), ByteOrder.Instance).ToList();
        Integer(output, documents.Count);
        foreach (var d in documents)
        {
            Text(output, d.Collection);
            Text(output, d.Key);
            Integer(output, d.Version);
            Time(output, d.CreatedAt);
            Time(output, d.UpdatedAt);
            Integer(output, d.ExpiresAt.HasValue ? 1 : 0);
            if (d.ExpiresAt is { } expiresAt)
            {
                Time(output, expiresAt);
            }

            Blob(output, d.Value.ToArray());
        }

        var tombstones = p.Tombstones.OrderBy(t => Utf8(t.Collection), ByteOrder.Instance).ThenBy(t => Utf8(t.Key), ByteOrder.Instance).ToList();
        Integer(output, tombstones.Count);
        foreach (var t in tombstones)
        {
            Text(output, t.Collection);
            Text(output, t.Key);
            Integer(output, t.Revision);
            Time(output, t.DeletedAt);
        }

        var sequences = p.Sequences.OrderBy(s => Utf8(s.Name), ByteOrder.Instance).ToList();
        Integer(output, sequences.Count);
        foreach (var s in sequences)
        {
            Text(output, s.Name);
            Integer(output, s.Value);
            Integer(output, s.Revision);
        }

        var streams = p.Streams.OrderBy(s => Utf8(s.Stream), ByteOrder.Instance).ToList();
        Integer(output, streams.Count);
        foreach (var s in streams)
        {
            Text(output, s.Stream);
            var events = s.Events.OrderBy(e => e.Version).ToList();
            Integer(output, events.Count);
            foreach (var e in events)
            {
                Integer(output, e.Version);
                Integer(output, e.Revision);
                output.AddRange(Uuid(e.Id));
                Text(output, e.Type);
                Time(output, e.CommittedAt);
                Blob(output, e.Data.ToArray());
                Blob(output, e.Metadata.ToArray());
            }
        }

        return [.. output];
    }

    private static byte[] Utf8(string text) => Encoding.UTF8.GetBytes(text);

    // 64-bit two's complement, most significant byte first.
    private static void Integer(List<byte> output, long value)
    {
        for (var shift = 56; shift >= 0; shift -= 8)
        {
            output.Add((byte)(value >> shift));
        }
    }

    private static void Blob(List<byte> output, byte[] bytes)
    {
        Integer(output, bytes.Length);
        output.AddRange(bytes);
    }

    private static void Text(List<byte> output, string text) => Blob(output, Utf8(text));

    // Microseconds since 1970-01-01T00:00:00Z.
    private static void Time(List<byte> output, DateTimeOffset time)
    {
        var sinceEpoch = time.UtcDateTime - DateTime.UnixEpoch;
        Assert.Equal(0, sinceEpoch.Ticks % 10);
        Integer(output, sinceEpoch.Ticks / 10);
    }

    // RFC 9562 byte order: the text form's hex digits, two by two.
    private static byte[] Uuid(Guid id) => Convert.FromHexString(id.ToString("N"));

    private sealed class ByteOrder : IComparer<byte[]>
    {
        public static ByteOrder Instance { get; } = new();

        public int Compare(byte[]? x, byte[]? y) => x.AsSpan().SequenceCompareTo(y);
    }
}
