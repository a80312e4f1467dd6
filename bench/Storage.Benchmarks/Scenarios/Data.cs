using System.Globalization;
using System.Text;

namespace Storage.Benchmarks.Scenarios;

/// <summary>One document to write: a key and its UTF-8 JSON value.</summary>
internal readonly record struct Doc(string Key, byte[] Value);

/// <summary>One document of the indexed collection: its key, the value of its indexed property, and its UTF-8 JSON value.</summary>
internal readonly record struct IndexedDoc(string Key, string Email, byte[] Value);

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

    /// <summary>The collection of the index lookup: the other scenarios' collection has no index, so their writes extract nothing.</summary>
    public const string IndexedCollection = "people";

    /// <summary>The raw baselines' id of <see cref="EmailIndex"/> in their entries tables.</summary>
    public const int EmailIndexId = 1;
    public const int ValueBytes = 200;

    // A small pool reused by every scenario, so generating values costs no allocation in a measured loop.
    private static readonly byte[][] s_values = [.. Enumerable.Range(0, 256).Select(MakeValue)];

    /// <summary>A store-wide unique string index on the <c>email</c> property: "find the user by e-mail".</summary>
    public static IndexDefinition EmailIndex { get; } = new(IndexedCollection, "by_email", "email", IndexValueType.String, unique: true, scope: IndexScope.Global);

    public static byte[] Value(int i) => s_values[i & (s_values.Length - 1)];

    /// <summary>The e-mail of document <paramref name="i"/> of partition <paramref name="partition"/>: unique across partitions.</summary>
    public static string Email(int partition, int i) => string.Create(CultureInfo.InvariantCulture, $"user{partition:D3}-{i:D6}@example.com");

    /// <summary>
    /// <paramref name="count"/> documents of the indexed collection for partition number
    /// <paramref name="partition"/>, each a 200-byte value of its own (the e-mail is unique).
    /// </summary>
    public static IndexedDoc[] People(int partition, int count)
        => [.. Enumerable.Range(0, count).Select(i =>
        {
            var email = Email(partition, i);
            return new IndexedDoc(Key(i), email, Pad(string.Create(CultureInfo.InvariantCulture, $"{{\"email\":\"{email}\",\"name\":\"User {i}\",\"note\":\""), i));
        })];

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
        => Pad(string.Create(CultureInfo.InvariantCulture, $"{{\"id\":{seed},\"owner\":\"user-{seed % 97}\",\"score\":{seed * 7 % 1000},\"note\":\""), seed);

    /// <summary>Completes <paramref name="head"/> (ASCII, ending inside a string) to a JSON object of exactly <see cref="ValueBytes"/> bytes.</summary>
    private static byte[] Pad(string head, int seed)
    {
        const string Tail = "\"}";
        var filler = new string((char)('a' + (seed % 26)), ValueBytes - head.Length - Tail.Length);
        var value = Encoding.UTF8.GetBytes(head + filler + Tail);
        return value.Length == ValueBytes ? value : throw new InvalidOperationException("A benchmark value must be exactly 200 bytes.");
    }
}
