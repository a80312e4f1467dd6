using Storage.Internal;
using Storage.Json.Indexes;
using Storage.Json.Tests.Infrastructure;
using Xunit.Abstractions;
using IndexEntry = Storage.Json.Indexes.IndexEntry;

namespace Storage.Json.Tests;

/// <summary>
/// The store-wide index list (sorted chunks) against a plain sorted model, with enough entries to
/// split and merge many chunks: adds, removes, seeks from every kind of probe, scans both ways and
/// counts between positions. (The conformance suite's stores are too small to leave one chunk.)
/// </summary>
public sealed class IndexEntryListTests(ITestOutputHelper output)
{
    [Fact]
    public void Random_adds_and_removes_keep_the_list_equal_to_a_sorted_model()
    {
        var seed = TestSettings.Seed(output);
        var random = new Random(seed);
        var order = Comparer<IndexEntry>.Create(static (x, y) => default(IndexEntryOrder).Compare(x, y));
        var model = new SortedSet<IndexEntry>(order);
        var records = new Dictionary<(string, string), DocumentRecord>();
        var initial = Enumerable.Range(0, 3 * IndexEntryList.ChunkCapacity).Select(_ => NewEntry(random, records)).Distinct().ToList();
        foreach (var entry in initial)
        {
            model.Add(entry);
        }

        var list = IndexEntryList.FromSorted(model.ToArray());
        for (var step = 0; step < 20_000; step++)
        {
            // Grow, then shrink to nearly nothing (chunks merge and vanish), then grow again.
            var phase = step / 5_000 % 2;
            if (random.Next(10) < (phase == 0 ? 7 : 2) || model.Count == 0)
            {
                var entry = NewEntry(random, records);
                if (model.Add(entry))
                {
                    list.Add(entry);
                }
            }
            else
            {
                var victim = model.ElementAt(random.Next(model.Count));
                model.Remove(victim);
                Assert.True(list.Remove(victim), $"Step {step}: {victim} was not found. {TestSettings.Replay(seed)}");
            }

            if (step % 500 == 0 || step == 19_999)
            {
                Check(list, model, random, seed, step);
            }
        }

        var absent = new IndexEntry(IndexValue.Of(1_000), "p0", NewRecord("k0"));
        Assert.False(list.Remove(absent));
    }

    [Fact]
    public void A_replaced_entry_keeps_its_place_and_takes_the_new_record_and_its_expiry()
    {
        var entries = Enumerable.Range(0, 3 * IndexEntryList.ChunkCapacity).Select(i => new IndexEntry(IndexValue.Of(i / 3), "p", NewRecord($"k{i:D4}"))).ToArray();
        var list = IndexEntryList.FromSorted(entries);
        var expiring = new IndexEntry(IndexValue.Of(200 / 3), "p", NewRecord("k0200", DateTimeOffset.UnixEpoch));

        Assert.True(list.Replace(expiring));
        Assert.Equal(1, list.Expiring);
        Assert.Equal(entries.Length, list.Count);
        var scanned = new List<IndexEntry>();
        for (var p = new IndexEntryList.Position(0, 0); p.CompareTo(list.End) < 0; p = list.Next(p))
        {
            scanned.Add(list[p]);
        }

        entries[200] = expiring;
        Assert.Equal(entries, scanned);

        Assert.True(list.Replace(expiring with { Document = NewRecord("k0200") }));
        Assert.Equal(0, list.Expiring);

        // No entry with that (value, partition, key): nothing changes.
        Assert.False(list.Replace(new IndexEntry(IndexValue.Of(1_000), "p", NewRecord("k0200"))));
        Assert.False(list.Replace(new IndexEntry(IndexValue.Of(200 / 3), "p", NewRecord("k0199x"))));
        Assert.False(list.Replace(new IndexEntry(IndexValue.Of(200 / 3), "q", NewRecord("k0200"))));
        Assert.Equal(entries.Length, list.Count);
    }

    private static IndexEntry NewEntry(Random random, Dictionary<(string, string), DocumentRecord> records)
    {
        var partition = "p" + random.Next(40);
        var key = "k" + random.Next(60);
        if (!records.TryGetValue((partition, key), out var record))
        {
            record = NewRecord(key);
            records.Add((partition, key), record);
        }

        return new IndexEntry(IndexValue.Of(random.Next(-30, 30)), partition, record);
    }

    private static DocumentRecord NewRecord(string key, DateTimeOffset? expiresAt = null)
    {
        using var entries = new DocumentEntryWriter();
        return entries.Create(key, "{}"u8, 1, default, default, expiresAt);
    }

    private static void Check(IndexEntryList list, SortedSet<IndexEntry> model, Random random, int seed, int step)
    {
        var expected = model.ToList();
        var context = $"Step {step}, {expected.Count} entries. {TestSettings.Replay(seed)}";
        Assert.True(expected.Count == list.Count, context);

        // A full scan both ways.
        var forward = new List<IndexEntry>();
        for (var p = new IndexEntryList.Position(0, 0); p.CompareTo(list.End) < 0; p = list.Next(p))
        {
            forward.Add(list[p]);
        }

        Assert.True(expected.SequenceEqual(forward), context);
        if (expected.Count > 0)
        {
            var backward = new List<IndexEntry>();
            for (var p = list.Previous(list.End); ; p = list.Previous(p))
            {
                backward.Add(list[p]);
                if (p.CompareTo(new IndexEntryList.Position(0, 0)) == 0)
                {
                    break;
                }
            }

            backward.Reverse();
            Assert.True(expected.SequenceEqual(backward), context);
        }

        // Seeks: the first entry above each kind of probe, and counts between two seeks.
        for (var i = 0; i < 50; i++)
        {
            var value = IndexValue.Of(random.Next(-32, 32));
            var partition = "p" + random.Next(40);
            var key = "k" + random.Next(60);
            var (probe, above) = random.Next(4) switch
            {
                0 => (IndexProbe.Before(value), (Func<IndexEntry, bool>)(e => e.Value >= value)),
                1 => (IndexProbe.After(value), e => e.Value > value),
                2 => (IndexProbe.Before(value, partition, key), e => IndexQueryPlan.Compare(e.Value, e.Partition, e.Document.Key, value, partition, key) >= 0),
                _ => (IndexProbe.After(value, partition, key), e => IndexQueryPlan.Compare(e.Value, e.Partition, e.Document.Key, value, partition, key) > 0),
            };
            var position = list.Seek(probe);
            var index = expected.FindIndex(e => above(e));
            if (index < 0)
            {
                Assert.True(position == list.End, context);
            }
            else
            {
                Assert.True(Equals(expected[index], list[position]), context);
                Assert.True(expected.Count - index == list.CountBetween(position, list.End), context);
                Assert.True(index == list.CountBetween(new IndexEntryList.Position(0, 0), position), context);
            }
        }
    }
}
