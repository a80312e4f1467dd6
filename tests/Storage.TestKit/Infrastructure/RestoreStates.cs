using System.Globalization;
using System.Text;

namespace Storage.Conformance;

/// <summary>
/// Partition states to restore, the same for a given seed in every process: the crash writer restores
/// them (<c>--mode restore</c>) while a test kills it, and the test checks what the store holds against
/// the same list. Each state has documents (some expiring, values of a few kilobytes, so a restore takes
/// long enough to be interrupted), tombstones, sequences and a stream, at whole-millisecond times.
/// </summary>
public static class RestoreStates
{
    /// <summary>Where every generated time starts (whole milliseconds).</summary>
    public static DateTimeOffset Base { get; } = new(2031, 3, 4, 5, 6, 7, 890, TimeSpan.Zero);

    /// <summary>The states of a seed, in partition key order.</summary>
    /// <param name="seed">The seed.</param>
    /// <param name="count">How many partitions.</param>
    /// <returns>The states.</returns>
    public static IReadOnlyList<PartitionExport> Generate(int seed, int count)
    {
        var random = new Random(seed);
        var states = new List<PartitionExport>(count);
        for (var p = 0; p < count; p++)
        {
            var partition = "r" + p.ToString("D3", CultureInfo.InvariantCulture);
            var revision = 100 + random.Next(1_000);
            var documents = new List<StoredDocument>();
            var tombstones = new List<ExportedTombstone>();
            for (var k = 0; k < 60; k++)
            {
                var key = "k" + k.ToString("D2", CultureInfo.InvariantCulture);
                var at = Base.AddMilliseconds(random.Next(1_000_000));
                if (k % 10 == 9)
                {
                    tombstones.Add(new ExportedTombstone("docs", key, 1 + random.Next(revision), at));
                    continue;
                }

                var value = Encoding.UTF8.GetBytes($"{{\"n\":{k},\"text\":\"{new string((char)('a' + random.Next(26)), 500 + random.Next(3_000))}\"}}");
                DateTimeOffset? expires = k % 7 == 0 ? at.AddDays(1) : null;
                documents.Add(new StoredDocument(partition, "docs", key, value, 1 + random.Next(revision), at, at.AddMilliseconds(random.Next(1_000)), expires));
            }

            var events = new List<StoredEvent>();
            var eventRevision = 1L;
            for (var v = 1; v <= 5; v++)
            {
                eventRevision = Math.Min(revision, eventRevision + random.Next(3));
                var id = new Guid(random.Next(), (short)v, (short)p, 1, 2, 3, 4, 5, 6, 7, 8);
                events.Add(new StoredEvent(partition, "audit", v, eventRevision, id, "changed", Encoding.UTF8.GetBytes($"{{\"v\":{v}}}"), ReadOnlyMemory<byte>.Empty, Base.AddSeconds(v)));
            }

            states.Add(new PartitionExport(
                partition,
                revision,
                1 + random.Next(revision),
                documents,
                tombstones,
                [new ExportedSequence("next_id", 1 + random.Next(10_000), 1 + random.Next(revision))],
                [new ExportedStream("audit", events)]));
        }

        return states;
    }
}
