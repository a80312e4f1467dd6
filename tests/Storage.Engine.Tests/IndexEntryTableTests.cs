using System.Globalization;
using Storage.Engine;
using Xunit.Abstractions;

namespace Storage.Engine.Tests;

/// <summary>
/// The engine's in-memory index entries (<see cref="IndexEntryTable{TDocument}"/>, <see cref="InMemoryIndexes{TDocument}"/>)
/// against plain models, with enough entries to split and merge many chunks: adds, removes and
/// replacements; queries (bounds, prefixes, both orders, pages continued by their tokens, one
/// partition or all, expiry) and counts; the holders of a value; a committed change applied. (The
/// conformance suite's stores are too small to leave one chunk.) Randomized tests print their seed;
/// STORAGE_TEST_SEED replays one.
/// </summary>
public sealed class IndexEntryTableTests(ITestOutputHelper output)
{
    private const string Users = "users";
    private static readonly DateTimeOffset s_now = new(2026, 1, 1, 0, 0, 0, TimeSpan.Zero);
    private static readonly IndexDefinition s_number = new(Users, "n", "n", IndexValueType.Int64);
    private static readonly IndexDefinition s_name = new(Users, "name", "name", IndexValueType.String);
    private static readonly IndexDefinition s_email = new(Users, "email", "email", IndexValueType.String, unique: true, IndexScope.Global);
    private static readonly IndexDefinition s_handle = new(Users, "handle", "handle", IndexValueType.String, unique: true, IndexScope.Partition);
    private static readonly IndexCatalog s_catalog = new([s_number, s_name, s_email, s_handle]);

    private static readonly Comparison<IndexTableEntry<Doc>> s_order = static (x, y) => IndexQueryPlan.Compare(x.Value, x.Partition, x.Document.Key, y.Value, y.Partition, y.Document.Key);

    [Fact]
    public void Random_adds_and_removes_keep_the_table_equal_to_a_sorted_model()
    {
        var seed = Seed();
        var random = new Random(seed);
        var model = new SortedSet<IndexTableEntry<Doc>>(Comparer<IndexTableEntry<Doc>>.Create(s_order));
        foreach (var entry in Enumerable.Range(0, 3 * IndexEntryTable<Doc>.ChunkCapacity).Select(_ => NewEntry(random)))
        {
            model.Add(entry);
        }

        var table = IndexEntryTable<Doc>.Create(model.Reverse());
        for (var step = 0; step < 20_000; step++)
        {
            // Grow, then shrink to nearly nothing (chunks merge and vanish), then grow again.
            var phase = step / 5_000 % 2;
            if (random.Next(10) < (phase == 0 ? 7 : 2) || model.Count == 0)
            {
                var entry = NewEntry(random);
                if (model.Add(entry))
                {
                    table.Add(entry);
                }
            }
            else
            {
                var victim = model.ElementAt(random.Next(model.Count));
                model.Remove(victim);
                Assert.True(table.Remove(victim.Value, victim.Partition, victim.Document.Key), $"Step {step}: {victim} was not found. {Replay(seed)}");
            }

            if (step % 500 == 0 || step == 19_999)
            {
                var context = $"Step {step}, {model.Count} entries. {Replay(seed)}";
                Assert.True(model.SequenceEqual(table), context);
                Assert.True(model.Count == table.Count, context);
                Assert.True(model.Count(e => e.Document.ExpiresAt is not null) == table.Expiring, context);
                CheckSeeks(table, model.ToList(), random, context);
            }
        }

        Assert.False(table.Remove(IndexValue.Of(1_000), "p0", "k0"));
    }

    [Fact]
    public void A_replaced_entry_keeps_its_place_and_takes_the_new_document_and_its_expiry()
    {
        var entries = Enumerable.Range(0, 3 * IndexEntryTable<Doc>.ChunkCapacity).Select(i => Entry(i / 3, "p", $"k{i:D4}")).ToArray();
        var table = IndexEntryTable<Doc>.Create(entries);
        var expiring = Entry(200 / 3, "p", "k0200", s_now);

        Assert.True(table.Replace(expiring));
        Assert.Equal(1, table.Expiring);
        entries[200] = expiring;
        Assert.Equal(entries, table);
        Assert.Equal(entries.Length - 1, table.CountMatches(Plan(new IndexQuery(Users, "n")), s_now));

        Assert.True(table.Replace(Entry(200 / 3, "p", "k0200")));
        Assert.Equal(0, table.Expiring);
        Assert.Equal(entries.Length, table.CountMatches(Plan(new IndexQuery(Users, "n")), s_now));

        // No entry with that (value, partition, key): nothing changes.
        Assert.False(table.Replace(Entry(1_000, "p", "k0200")));
        Assert.False(table.Replace(Entry(200 / 3, "p", "k0199x")));
        Assert.False(table.Replace(Entry(200 / 3, "q", "k0200")));
        Assert.Equal(entries.Length, table.Count);
    }

    [Fact]
    public void Queries_return_the_live_matches_of_their_bounds_and_partition_in_their_order_page_after_page()
    {
        var seed = Seed();
        var random = new Random(seed);
        var entries = Enumerable.Range(0, 2_000).Select(_ => NewEntry(random, expiring: true)).DistinctBy(e => (e.Value, e.Partition, e.Document.Key)).ToList();
        var table = IndexEntryTable<Doc>.Create(entries);
        for (var round = 0; round < 300; round++)
        {
            var query = RandomQuery(random, s_number.Name);
            var context = $"Round {round}: {Describe(query)}. {Replay(seed)}";
            var expected = Expected(entries, Plan(query), s_now);

            // Every page, each continued from the previous one's token.
            var pages = new List<IndexTableEntry<Doc>>();
            for (var page = 0; ; page++)
            {
                var plan = Plan(query);
                var found = table.Query(plan, s_now);
                Assert.True(found.Count <= plan.Limit + 1, context);
                pages.AddRange(found.Take(plan.Limit));
                if (found.Count <= plan.Limit)
                {
                    break;
                }

                query = query with { ContinuationToken = plan.CreateToken(Match(found[plan.Limit - 1])) };
            }

            Assert.True(expected.SequenceEqual(pages), context);
            Assert.True(expected.Count == table.CountMatches(Plan(query with { ContinuationToken = null }), s_now), context);
        }
    }

    [Fact]
    public void Prefix_queries_and_counts_return_the_live_values_that_start_with_the_prefix()
    {
        var seed = Seed();
        var random = new Random(seed);
        var entries = new List<IndexTableEntry<Doc>>();
        foreach (var word in new[] { "a", "ab", "abc", "abd", "ac", "b", "ba", "é", "éa", "\U0001F600", "\U0001F600x", "\uFFFF", "\uFFFFa" })
        {
            for (var i = 0; i < 30; i++)
            {
                entries.Add(Entry(IndexValue.Of(word), "p" + random.Next(5), "k" + i.ToString(CultureInfo.InvariantCulture), random.Next(4) == 0 ? s_now.AddMinutes(random.Next(-2, 3)) : null));
            }
        }

        entries = [.. entries.DistinctBy(e => (e.Value, e.Partition, e.Document.Key))];
        var table = IndexEntryTable<Doc>.Create(entries);
        foreach (var prefix in new[] { "a", "ab", "é", "\U0001F600", "\uFFFF", "z" })
        {
            foreach (var descending in new[] { false, true })
            {
                var plan = Plan(new IndexQuery(Users, s_name.Name) { Prefix = prefix, Descending = descending, Limit = 1_000 });
                var expected = Expected(entries, plan, s_now);
                Assert.True(expected.All(e => e.Value.AsString.StartsWith(prefix, StringComparison.Ordinal)), Replay(seed));
                Assert.Equal(expected, table.Query(plan, s_now));
                Assert.Equal(expected.Count, table.CountMatches(plan, s_now));
            }
        }
    }

    [Fact]
    public void The_holders_of_a_value_are_every_entry_with_it_expired_or_not_in_every_partition_or_one()
    {
        var table = IndexEntryTable<Doc>.Create(
        [
            Entry("a@x", "p", "1"), Entry("a@x", "q", "2", s_now.AddDays(-1)), Entry("a@x", "q", "3"), Entry("a@xy", "p", "4"), Entry("a", "q", "5"),
        ]);

        Assert.Equal(["p/1", "q/2", "q/3"], table.Holders("a@x").Select(e => $"{e.Partition}/{e.Document.Key}"));
        Assert.Equal(["q/2", "q/3"], table.Holders("a@x", "q").Select(e => $"{e.Partition}/{e.Document.Key}"));
        Assert.Empty(table.Holders("a@x", "r"));
        Assert.Empty(table.Holders("b"));

        // Through InMemoryIndexes, by the index's scope: the store for a store-wide index, the writing partition otherwise.
        var indexes = new InMemoryIndexes<Doc>(s_catalog, [new(), new(), table, IndexEntryTable<Doc>.Create(table)]);
        Assert.Equal(["p/1", "q/2", "q/3"], indexes.Holders(s_email, "a@x", "p").Select(h => $"{h.Partition}/{h.Key}"));
        Assert.Equal(["p/1"], indexes.Holders(s_handle, "a@x", "p").Select(h => $"{h.Partition}/{h.Key}"));
        Assert.Equal([null, s_now.AddDays(-1), null], indexes.Holders(s_email, "a@x", "p").Select(h => h.ExpiresAt));
    }

    [Fact]
    public void Applying_a_change_drops_the_lost_entries_points_the_kept_ones_at_the_new_document_and_adds_the_gained_ones()
    {
        var before = new Dictionary<string, (Doc Document, IndexEntries Entries)>(StringComparer.Ordinal)
        {
            ["a"] = (new Doc("a", null), Values(1, "ann", "a@x")),
            ["b"] = (new Doc("b", s_now.AddMinutes(-1)), Values(2, "bob", "b@x")),
            ["c"] = (new Doc("c", null), Values(3, "cy", "c@x")),
        };
        var indexes = InMemoryIndexes<Doc>.Build(s_catalog, before.Values.Select(d => ("p", d.Document, d.Entries)));
        var other = InMemoryIndexes<Doc>.Build(s_catalog, [("q", new Doc("a", null), Values(1, "ann", "q@x"))]);

        // "a" keeps its name and e-mail with a new expiry, takes a new number; "b" (expired) is put again with the same values; "c" is deleted.
        var after = new Dictionary<string, (Doc Document, IndexEntries Entries)>(StringComparer.Ordinal)
        {
            ["a"] = (new Doc("a", s_now.AddHours(1)), Values(10, "ann", "a@x")),
            ["b"] = (new Doc("b", null), Values(2, "bob", "b@x")),
        };
        var changes = IndexEntryChanges.Of(
            before.Keys.Select(k => (new DocumentId(Users, k), (DocumentRow?)Row(before[k]), after.TryGetValue(k, out var now) ? Row(now) : null)),
            s_now,
            s_catalog,
            (id, _) => IndexEntryChanges.Entries(id, before[id.Key].Entries, null).Select(e => (e.Index, e.Value)),
            movesExpiry: true);
        indexes.Apply("p", changes, id => after.TryGetValue(id.Key, out var now) ? now.Document : null);

        var expected = after.SelectMany(d => IndexEntryChanges.Entries(new DocumentId(Users, d.Key), d.Value.Entries, null)
            .Select(e => (e.Index.Name, e.Value, d.Value.Document))).OrderBy(e => e.Name, StringComparer.Ordinal).ThenBy(e => e.Value).ToList();
        Assert.Equal(expected, indexes.Tables.SelectMany((t, n) => t.Select(e => (s_catalog.All[n].Name, e.Value, e.Document))).OrderBy(e => e.Name, StringComparer.Ordinal).ThenBy(e => e.Value));
        Assert.Equal(1 + 1 + 1, indexes.Tables.Sum(t => t.Expiring));
        Assert.Equal(["p/a"], indexes[s_email].Query(Plan(new IndexQuery(Users, "email") { Equal = "a@x" }), s_now.AddMinutes(59)).Select(e => $"{e.Partition}/{e.Document.Key}"));
        Assert.Empty(indexes[s_email].Query(Plan(new IndexQuery(Users, "email") { Equal = "a@x" }), s_now.AddHours(1)));

        // Another partition's entries of the same keys are not touched.
        Assert.Equal(3, other.Tables.Sum(t => t.Count));
    }

    [Fact]
    public void Entries_given_in_any_order_make_the_same_table()
    {
        var seed = Seed();
        var random = new Random(seed);
        var entries = Enumerable.Range(0, 1_000).Select(_ => NewEntry(random)).DistinctBy(e => (e.Value, e.Partition, e.Document.Key)).ToList();
        var sorted = entries.ToList();
        sorted.Sort(s_order);
        var byPartitionAndKey = entries.OrderBy(e => e.Partition, StorageKeyComparer.Instance).ThenBy(e => e.Document.Key, StorageKeyComparer.Instance).ToList();

        Assert.Equal(sorted, IndexEntryTable<Doc>.Create(entries));
        Assert.Equal(sorted, IndexEntryTable<Doc>.Create(byPartitionAndKey));
    }

    private static IndexQueryPlan Plan(IndexQuery query) => IndexQueryPlan.Create(s_catalog, query);

    private static List<IndexTableEntry<Doc>> Expected(IEnumerable<IndexTableEntry<Doc>> entries, IndexQueryPlan plan, DateTimeOffset now)
    {
        var matches = entries.Where(e => plan.Matches(e.Value, e.Partition, e.Document.Key) && !(e.Document.ExpiresAt <= now)).ToList();
        matches.Sort(s_order);
        if (plan.Descending)
        {
            matches.Reverse();
        }

        return matches;
    }

    private static IndexQuery RandomQuery(Random random, string index)
    {
        IndexValue Value() => IndexValue.Of(random.Next(-32, 32));
        var query = new IndexQuery(Users, index)
        {
            Partition = random.Next(3) == 0 ? "p" + random.Next(10) : null,
            Descending = random.Next(2) == 0,
            Limit = random.Next(1, 40),
        };
        return random.Next(4) switch
        {
            0 => query with { Equal = Value() },
            1 => query with { From = Value(), FromInclusive = random.Next(2) == 0 },
            2 => query with { To = Value(), ToInclusive = random.Next(2) == 0 },
            _ => query with { From = Value(), FromInclusive = random.Next(2) == 0, To = Value(), ToInclusive = random.Next(2) == 0 },
        };
    }

    private static string Describe(IndexQuery q)
        => $"partition {q.Partition}, equal {q.Equal}, from {q.From} ({q.FromInclusive}), to {q.To} ({q.ToInclusive}), descending {q.Descending}, limit {q.Limit}";

    private static void CheckSeeks(IndexEntryTable<Doc> table, List<IndexTableEntry<Doc>> expected, Random random, string context)
    {
        // The first entry above each kind of probe, and the counts on either side of it.
        for (var i = 0; i < 50; i++)
        {
            var value = IndexValue.Of(random.Next(-32, 32));
            var partition = "p" + random.Next(40);
            var key = "k" + random.Next(60);
            var (probe, above) = random.Next(6) switch
            {
                0 => (IndexEntryTable<Doc>.IndexProbe.Before(value), (Func<IndexTableEntry<Doc>, bool>)(e => e.Value >= value)),
                1 => (IndexEntryTable<Doc>.IndexProbe.After(value), e => e.Value > value),
                2 => (IndexEntryTable<Doc>.IndexProbe.Before(value, partition), e => e.Value > value || (e.Value == value && StorageKeyComparer.Instance.Compare(e.Partition, partition) >= 0)),
                3 => (IndexEntryTable<Doc>.IndexProbe.After(value, partition), e => e.Value > value || (e.Value == value && StorageKeyComparer.Instance.Compare(e.Partition, partition) > 0)),
                4 => (IndexEntryTable<Doc>.IndexProbe.Before(value, partition, key), e => IndexQueryPlan.Compare(e.Value, e.Partition, e.Document.Key, value, partition, key) >= 0),
                _ => (IndexEntryTable<Doc>.IndexProbe.After(value, partition, key), e => IndexQueryPlan.Compare(e.Value, e.Partition, e.Document.Key, value, partition, key) > 0),
            };
            var position = table.Seek(probe);
            var index = expected.FindIndex(e => above(e));
            var end = table.Seek(IndexEntryTable<Doc>.IndexProbe.After(IndexValue.Of(long.MaxValue)));
            Assert.True((index < 0 ? expected.Count : index) == table.CountBetween(new(0, 0), position), context);
            Assert.True((index < 0 ? 0 : expected.Count - index) == table.CountBetween(position, end), context);
        }
    }

    private int Seed()
    {
        var text = Environment.GetEnvironmentVariable("STORAGE_TEST_SEED");
        var seed = string.IsNullOrWhiteSpace(text) ? Random.Shared.Next() : int.Parse(text, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture);
        output.WriteLine($"Seed: {seed} (replay with STORAGE_TEST_SEED={seed})");
        return seed;
    }

    private static string Replay(int seed) => $"Replay with STORAGE_TEST_SEED={seed}.";

    private static IndexTableEntry<Doc> NewEntry(Random random, bool expiring = false)
    {
        var expiresAt = expiring && random.Next(4) == 0 ? s_now.AddMinutes(random.Next(-2, 3)) : (DateTimeOffset?)null;
        return Entry(IndexValue.Of(random.Next(-30, 30)), "p" + random.Next(40 / (expiring ? 4 : 1)), "k" + random.Next(60), expiresAt);
    }

    private static IndexTableEntry<Doc> Entry(IndexValue value, string partition, string key, DateTimeOffset? expiresAt = null) => new(value, partition, new Doc(key, expiresAt));

    private static IndexMatch Match(IndexTableEntry<Doc> entry)
        => new(entry.Value, new StoredDocument(entry.Partition, Users, entry.Document.Key, "{}"u8.ToArray(), 1, s_now, s_now, entry.Document.ExpiresAt));

    private static IndexEntries Values(long number, string name, string email)
        => new(s_catalog.All, [[IndexValue.Of(number)], [IndexValue.Of(name)], [IndexValue.Of(email)], []]);

    private static DocumentRow Row((Doc Document, IndexEntries Entries) d) => new(1, s_now, d.Document.ExpiresAt, s_now, default, d.Entries);

    /// <summary>A document as a backend holds it: its key and expiry.</summary>
    private sealed record Doc(string Key, DateTimeOffset? ExpiresAt) : IIndexedDocument;
}
