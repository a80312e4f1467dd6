using System.Globalization;
using System.Text;

namespace Storage.Benchmarks.Scenarios;

/// <summary>One document to write: a key and its UTF-8 JSON value.</summary>
internal readonly record struct Doc(string Key, byte[] Value);

/// <summary>One partition's documents, as a bulk load streams them.</summary>
internal sealed record PartitionDocs(string Partition, IReadOnlyList<Doc> Docs);

/// <summary>
/// The benchmark's data: 200-byte JSON values (the size the targets are stated for) and keys that
/// sort the same in every order (ASCII, fixed width), so a prefix selects a known number of documents.
/// </summary>
internal static class Data
{
    public const string Collection = "docs";
    public const string EventType = "order-placed";
    public const int ValueBytes = 200;

    // A small pool reused by every scenario, so generating values costs no allocation in a measured loop.
    private static readonly byte[][] s_values = [.. Enumerable.Range(0, 256).Select(MakeValue)];

    public static byte[] Value(int i) => s_values[i & (s_values.Length - 1)];

    public static string Key(int i) => "k" + i.ToString("D6", CultureInfo.InvariantCulture);

    public static string Partition(string prefix, int i) => prefix + i.ToString("D6", CultureInfo.InvariantCulture);

    /// <summary>The keys <c>Key(start)</c> … <c>Key(start + count - 1)</c> with pooled values.</summary>
    public static Doc[] Docs(int start, int count, int valueSeed = 0)
        => [.. Enumerable.Range(start, count).Select(i => new Doc(Key(i), Value(i + valueSeed)))];

    /// <summary>
    /// <paramref name="partitions"/> partitions of <paramref name="perPartition"/> documents, generated as
    /// they are enumerated: a bulk load never holds more than one partition's keys.
    /// </summary>
    public static IEnumerable<PartitionDocs> Stream(string prefix, int partitions, int perPartition)
    {
        for (var p = 0; p < partitions; p++)
        {
            yield return new PartitionDocs(Partition(prefix, p), Docs(0, perPartition, p));
        }
    }

    private static byte[] MakeValue(int seed)
    {
        var head = string.Create(CultureInfo.InvariantCulture, $"{{\"id\":{seed},\"owner\":\"user-{seed % 97}\",\"score\":{seed * 7 % 1000},\"note\":\"");
        const string Tail = "\"}";
        var filler = new string((char)('a' + (seed % 26)), ValueBytes - head.Length - Tail.Length);
        var value = Encoding.UTF8.GetBytes(head + filler + Tail);
        return value.Length == ValueBytes ? value : throw new InvalidOperationException("A benchmark value must be exactly 200 bytes.");
    }
}
