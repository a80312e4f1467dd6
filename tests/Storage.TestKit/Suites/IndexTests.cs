using System.Globalization;
using Microsoft.Extensions.Time.Testing;
using Storage.Internal;
using static Storage.Conformance.StoreAssert;
using static Storage.Conformance.TestData;

namespace Storage.Conformance;

/// <summary>
/// Secondary indexes and queries: what is indexed, ordering of strings and integers, equality,
/// ranges and prefixes, paging, counts, uniqueness per partition and store-wide, arrays, expiry,
/// partition deletion and atomicity with the documents.
/// </summary>
/// <typeparam name="TFixture">The backend's fixture.</typeparam>
public abstract class IndexTests<TFixture>(TFixture fixture) : StoreTestBase<TFixture>(fixture)
    where TFixture : StoreFixture
{
    private const string Users = "users";

    // Code-point order; UTF-16 ordinal order would put the non-BMP values before U+E000–U+FFFF.
    private static readonly string[] s_codePointOrder = ["", "Z", "a", "ab", "\u00e9", "\uE000", "\uFFFD", "\U00010000", "😀", "\U0010FFFF"];

    private static readonly long[] s_integers = [long.MinValue, -10_000_000_000, -2, -1, 0, 1, 2, 9, 10, 4_294_967_296, long.MaxValue];

    private static IndexDefinition Email => new(Users, "email", "email", IndexValueType.String, unique: true, IndexScope.Global);

    private static IndexDefinition Name => new(Users, "name", "profile.name", IndexValueType.String);

    private static IndexDefinition Age => new(Users, "age", "age", IndexValueType.Int64);

    private static IndexDefinition Tags => new(Users, "tags", "tags", IndexValueType.String);

    private static IndexDefinition Handle => new(Users, "handle", "handle", IndexValueType.String, unique: true, IndexScope.Partition);

    private static IReadOnlyList<IndexDefinition> All => [Email, Name, Age, Tags, Handle];

    [Fact]
    public async Task Equality_finds_documents_across_partitions_in_value_partition_key_order()
    {
        var store = await CreateStoreAsync(indexes: All);
        await store.PutAsync("p2", Users, "k1", """{"profile":{"name":"Ann"}}""");
        await store.PutAsync("p1", Users, "k2", """{"profile":{"name":"Ann"}}""");
        await store.PutAsync("p1", Users, "k1", """{"profile":{"name":"Ann"}}""");
        await store.PutAsync("p1", Users, "k3", """{"profile":{"name":"Bob"}}""");

        var page = await store.QueryAsync(new IndexQuery(Users, "name") { Equal = "Ann" });

        Assert.Equal([("p1", "k1"), ("p1", "k2"), ("p2", "k1")], page.Items.Select(m => (m.Document.Partition, m.Document.Key)));
        Assert.All(page.Items, m => Assert.Equal(IndexValue.Of("Ann"), m.Value));
        Assert.Null(page.ContinuationToken);
        SameDocument((await store.GetAsync("p1", Users, "k2"))!, page.Items[1].Document);
        Assert.Equal(3, await store.CountAsync(new IndexQuery(Users, "name") { Equal = "Ann" }));
        Assert.Equal(2, await store.CountAsync(new IndexQuery(Users, "name") { Equal = "Ann", Partition = "p1" }));
        Assert.Equal(["k3"], (await store.QueryAsync(new IndexQuery(Users, "name") { Equal = "Bob", Partition = "p1" })).Items.Select(m => m.Document.Key));
        Assert.Empty((await store.QueryAsync(new IndexQuery(Users, "name") { Equal = "Bob", Partition = "p2" })).Items);
    }

    [Fact]
    public async Task String_values_are_ordered_by_code_point()
    {
        var store = await CreateStoreAsync(indexes: All);
        var i = 0;
        foreach (var value in s_codePointOrder.Reverse())
        {
            await store.PutAsync("p", Users, $"k{i++}", Json(("profile", $$"""{"name":{{Quote(value)}}}""")));
        }

        Assert.Equal(s_codePointOrder, await ValuesAsync(store, new IndexQuery(Users, "name")));
        Assert.Equal(s_codePointOrder, await ValuesAsync(store, new IndexQuery(Users, "name") { Limit = 1 }));
        Assert.Equal(s_codePointOrder.Reverse(), await ValuesAsync(store, new IndexQuery(Users, "name") { Descending = true, Limit = 3 }));
        Assert.Equal(["\uFFFD", "\U00010000", "😀"], await ValuesAsync(store, new IndexQuery(Users, "name") { From = "\uFFFD", To = "\U0010FFFF" }));
        Assert.Equal(["\U00010000", "😀", "\U0010FFFF"], await ValuesAsync(store, new IndexQuery(Users, "name") { From = "\uFFFF" }));
    }

    [Fact]
    public async Task Integer_values_are_ordered_numerically_with_inclusive_and_exclusive_bounds()
    {
        var store = await CreateStoreAsync(indexes: All);
        foreach (var (value, n) in s_integers.Reverse().Select((v, n) => (v, n)))
        {
            await store.PutAsync("p", Users, $"k{n:D2}", $$"""{"age":{{value}}}""");
        }

        Assert.Equal(s_integers.Select(v => v.ToString(System.Globalization.CultureInfo.InvariantCulture)), await ValuesAsync(store, new IndexQuery(Users, "age") { Limit = 4 }));
        Assert.Equal(["-1", "0", "1"], await ValuesAsync(store, new IndexQuery(Users, "age") { From = -1L, To = 2L }));
        Assert.Equal(["0", "1", "2"], await ValuesAsync(store, new IndexQuery(Users, "age") { From = -1L, FromInclusive = false, To = 2L, ToInclusive = true }));
        Assert.Equal(["2", "1", "0"], await ValuesAsync(store, new IndexQuery(Users, "age") { From = -1L, FromInclusive = false, To = 2L, ToInclusive = true, Descending = true }));
        Assert.Equal(["4294967296", long.MaxValue.ToString(System.Globalization.CultureInfo.InvariantCulture)], await ValuesAsync(store, new IndexQuery(Users, "age") { From = 11L }));
        Assert.Equal([long.MinValue.ToString(System.Globalization.CultureInfo.InvariantCulture)], await ValuesAsync(store, new IndexQuery(Users, "age") { To = -10_000_000_000L }));
        Assert.Equal(1, await store.CountAsync(new IndexQuery(Users, "age") { Equal = long.MinValue }));
        Assert.Equal(s_integers.Length, await store.CountAsync(new IndexQuery(Users, "age")));
    }

    [Fact]
    public async Task Prefix_matches_by_code_point_including_edges()
    {
        var store = await CreateStoreAsync(indexes: All);
        string[] values = ["ab", "abc", "abd", "ab\U0010FFFF", "ac", "a", "b", "\uFFFF", "\uFFFFx", "\U0010FFFF", "\U0010FFFFa"];
        foreach (var (value, n) in values.Select((v, n) => (v, n)))
        {
            await store.PutAsync("p", Users, $"k{n}", Json(("profile", $$"""{"name":{{Quote(value)}}}""")));
        }

        Assert.Equal(["ab", "abc", "abd", "ab\U0010FFFF"], await ValuesAsync(store, new IndexQuery(Users, "name") { Prefix = "ab" }));
        Assert.Equal(["\uFFFF", "\uFFFFx"], await ValuesAsync(store, new IndexQuery(Users, "name") { Prefix = "\uFFFF" }));
        Assert.Equal(["\U0010FFFF", "\U0010FFFFa"], await ValuesAsync(store, new IndexQuery(Users, "name") { Prefix = "\U0010FFFF" }));
        Assert.Equal(["abd", "ab\U0010FFFF"], await ValuesAsync(store, new IndexQuery(Users, "name") { Prefix = "ab", From = "abd" }));
        Assert.Equal(["ab\U0010FFFF", "abd", "abc", "ab"], await ValuesAsync(store, new IndexQuery(Users, "name") { Prefix = "ab", Descending = true, Limit = 1 }));
        Assert.Equal(4, await store.CountAsync(new IndexQuery(Users, "name") { Prefix = "ab" }));
    }

    [Fact]
    public async Task Missing_and_null_values_are_not_indexed()
    {
        var store = await CreateStoreAsync(indexes: All);
        await store.PutAsync("p", Users, "missing", "{}");
        await store.PutAsync("p", Users, "null", """{"profile":{"name":null},"age":null,"tags":null}""");
        await store.PutAsync("p", Users, "not-an-object", """{"profile":"Ann"}""");
        await store.PutAsync("p", Users, "scalar-root", "42");
        await store.PutAsync("p", Users, "array-root", "[1,2]");
        await store.PutAsync("p", "other", "k", """{"profile":{"name":"Ann"}}""");

        Assert.Equal(0, await store.CountAsync(new IndexQuery(Users, "name")));
        Assert.Equal(0, await store.CountAsync(new IndexQuery(Users, "age")));
        Assert.Equal(0, await store.CountAsync(new IndexQuery(Users, "tags")));
    }

    [Theory]
    [InlineData("""{"age":"12"}""", "age", "a string")]
    [InlineData("""{"age":1.5}""", "age", "1.5")]
    [InlineData("""{"age":1e3}""", "age", "1e3")]
    [InlineData("""{"age":9223372036854775808}""", "age", "9223372036854775808")]
    [InlineData("""{"age":true}""", "age", "a boolean")]
    [InlineData("""{"age":{"years":3}}""", "age", "an object")]
    [InlineData("""{"profile":{"name":7}}""", "name", "the number 7")]
    [InlineData("""{"tags":["a",["b"]]}""", "tags", "a nested array")]
    [InlineData("""{"tags":["a",{"b":1}]}""", "tags", "an object")]
    [InlineData("""{"profile":{"name":"a\u0000b"}}""", "name", "NUL")]
    public async Task A_value_of_the_wrong_type_is_rejected_naming_the_index_and_nothing_is_written(string json, string index, string detail)
    {
        var store = await CreateStoreAsync(indexes: All);
        await store.PutAsync("p", Users, "before", "{}");

        var e = await ThrowsArgumentAsync(() => store.CommitAsync("p", [
            WriteOperation.Put(Users, "other", "{}"),
            WriteOperation.Put(Users, "bad", json),
        ]).AsTask());

        Assert.Contains($"'{Users}.{index}'", e.Message, StringComparison.Ordinal);
        Assert.Contains(detail, e.Message, StringComparison.Ordinal);
        Assert.Null(await store.GetAsync("p", Users, "other"));
        Assert.Null(await store.GetAsync("p", Users, "bad"));
        Assert.Equal(1, await RevisionAsync(store, "p"));
    }

    [Fact]
    public async Task Arrays_index_each_distinct_element()
    {
        var store = await CreateStoreAsync(indexes: All);
        await store.PutAsync("p", Users, "a", """{"tags":["beach","sea","beach",null]}""");
        await store.PutAsync("p", Users, "b", """{"tags":["sea"]}""");
        await store.PutAsync("p", Users, "c", """{"tags":[]}""");

        Assert.Equal(["a"], await KeysAsync(store, new IndexQuery(Users, "tags") { Equal = "beach" }));
        Assert.Equal(["a", "b"], await KeysAsync(store, new IndexQuery(Users, "tags") { Equal = "sea" }));
        Assert.Equal(["beach", "sea", "sea"], await ValuesAsync(store, new IndexQuery(Users, "tags")));
        Assert.Equal(3, await store.CountAsync(new IndexQuery(Users, "tags")));

        await store.PutAsync("p", Users, "a", """{"tags":["sand"]}""");
        Assert.Empty(await KeysAsync(store, new IndexQuery(Users, "tags") { Equal = "beach" }));
        Assert.Equal(["sand", "sea"], await ValuesAsync(store, new IndexQuery(Users, "tags")));
    }

    [Fact]
    public async Task Duplicate_properties_use_the_last_occurrence()
    {
        var store = await CreateStoreAsync(indexes: All);
        await store.PutAsync("p", Users, "k", """{"age":1,"age":2}""");

        Assert.Equal(["2"], await ValuesAsync(store, new IndexQuery(Users, "age")));
    }

    [Fact]
    public async Task Updates_and_deletes_change_the_index_in_the_same_commit()
    {
        var store = await CreateStoreAsync(indexes: All);
        await store.PutAsync("p", Users, "k", """{"age":30}""");
        await store.PutAsync("p", Users, "k", """{"age":31}""");

        Assert.Empty(await KeysAsync(store, new IndexQuery(Users, "age") { Equal = 30L }));
        var match = Assert.Single((await store.QueryAsync(new IndexQuery(Users, "age") { Equal = 31L })).Items);
        Assert.Equal(2, match.Document.Version);

        await store.CommitAsync("p", [WriteOperation.Delete(Users, "k"), WriteOperation.Put(Users, "j", """{"age":31}""")]);
        Assert.Equal(["j"], await KeysAsync(store, new IndexQuery(Users, "age") { Equal = 31L }));
    }

    [Fact]
    public async Task A_failed_batch_leaves_the_index_unchanged()
    {
        var store = await CreateStoreAsync(indexes: All);
        var version = await store.PutAsync("p", Users, "k", """{"age":30}""");

        await Assert.ThrowsAsync<VersionConflictException>(() => store.CommitAsync("p", [
            WriteOperation.Put(Users, "k", """{"age":40}"""),
            WriteOperation.Put(Users, "j", """{"age":40}""", WriteCondition.MustMatchVersion(version + 5)),
        ]).AsTask());

        Assert.Equal(["30"], await ValuesAsync(store, new IndexQuery(Users, "age")));
    }

    [Fact]
    public async Task Expired_documents_never_match_and_do_not_hold_unique_values()
    {
        var time = new FakeTimeProvider(Start);
        var store = await CreateStoreAsync(time, indexes: All);
        await store.PutAsync("p1", Users, "old", """{"email":"a@x","age":5}""", expiresAt: Start.AddMinutes(1));
        await store.PutAsync("p1", Users, "live", """{"age":5}""");

        Assert.Equal(2, await store.CountAsync(new IndexQuery(Users, "age") { Equal = 5L }));
        await Assert.ThrowsAsync<UniqueConstraintException>(() => store.PutAsync("p2", Users, "new", """{"email":"a@x"}""").AsTask());

        time.Advance(TimeSpan.FromMinutes(1));

        Assert.Equal(["live"], await KeysAsync(store, new IndexQuery(Users, "age") { Equal = 5L }));
        Assert.Equal(1, await store.CountAsync(new IndexQuery(Users, "age")));
        await store.PutAsync("p2", Users, "new", """{"email":"a@x"}""");
        Assert.Equal([("p2", "new")], (await store.QueryAsync(new IndexQuery(Users, "email") { Equal = "a@x" })).Items.Select(m => (m.Document.Partition, m.Document.Key)));
        Assert.Equal(1, await store.PurgeExpiredAsync());
        Assert.Equal(1, await store.CountAsync(new IndexQuery(Users, "email")));
    }

    [Fact]
    public async Task A_global_unique_index_rejects_a_value_held_in_another_partition_naming_the_index_and_value_only()
    {
        var store = await CreateStoreAsync(indexes: All);
        await store.PutAsync("alice", Users, "me", """{"email":"x@example.com"}""");

        var e = await Assert.ThrowsAsync<UniqueConstraintException>(() => store.CommitAsync("bob", [
            WriteOperation.Put(Users, "other", "{}"),
            WriteOperation.Put(Users, "me", """{"email":"x@example.com"}"""),
        ]).AsTask());

        Assert.Equal("email", e.Index);
        Assert.Equal(Users, e.Collection);
        Assert.Equal(IndexScope.Global, e.Scope);
        Assert.Equal(IndexValue.Of("x@example.com"), e.Value);
        Assert.Equal(1, e.OperationIndex);
        Assert.Equal("bob", e.Partition);
        Assert.Contains("x@example.com", e.Message, StringComparison.Ordinal);
        Assert.DoesNotContain("alice", e.Message, StringComparison.Ordinal);
        Assert.Null(await store.GetAsync("bob", Users, "other"));
        Assert.Null(await RevisionAsync(store, "bob"));

        // Releasing the value lets another partition take it.
        await store.PutAsync("alice", Users, "me", """{"email":"new@example.com"}""");
        await store.PutAsync("bob", Users, "me", """{"email":"x@example.com"}""");
        Assert.Equal(2, await store.CountAsync(new IndexQuery(Users, "email")));
    }

    [Fact]
    public async Task A_partition_unique_index_allows_the_same_value_in_other_partitions()
    {
        var store = await CreateStoreAsync(indexes: All);
        await store.PutAsync("p1", Users, "a", """{"handle":"h"}""");
        await store.PutAsync("p2", Users, "a", """{"handle":"h"}""");

        var e = await Assert.ThrowsAsync<UniqueConstraintException>(() => store.PutAsync("p1", Users, "b", """{"handle":"h"}""").AsTask());

        Assert.Equal(IndexScope.Partition, e.Scope);
        Assert.Equal(2, await store.CountAsync(new IndexQuery(Users, "handle") { Equal = "h" }));
        await store.PutAsync("p1", Users, "a", """{"handle":"h"}""");
    }

    [Fact]
    public async Task Uniqueness_is_checked_within_a_batch_and_against_the_state_after_it()
    {
        var store = await CreateStoreAsync(indexes: All);
        var e = await Assert.ThrowsAsync<UniqueConstraintException>(() => store.CommitAsync("p", [
            WriteOperation.Put(Users, "a", """{"email":"same"}"""),
            WriteOperation.Put(Users, "b", """{"email":"same"}"""),
        ]).AsTask());
        Assert.Equal(1, e.OperationIndex);
        Assert.Null(await RevisionAsync(store, "p"));

        // A value moves from one document to another in one batch, and an array may repeat its own value.
        await store.PutAsync("p", Users, "a", """{"email":"same"}""");
        await store.CommitAsync("p", [
            WriteOperation.Put(Users, "a", """{"email":"moved"}"""),
            WriteOperation.Put(Users, "b", """{"email":"same"}"""),
        ]);
        await store.CommitAsync("p", [WriteOperation.Delete(Users, "b"), WriteOperation.Put(Users, "c", """{"email":["same","same"]}""")]);

        Assert.Equal([("moved", "a"), ("same", "c")], (await store.QueryAsync(new IndexQuery(Users, "email"))).Items.Select(m => (m.Value.AsString, m.Document.Key)));
    }

    [Fact]
    public async Task Concurrent_writers_racing_for_one_unique_value_exactly_one_wins()
    {
        var store = await CreateStoreAsync(indexes: All);
        for (var round = 0; round < 10; round++)
        {
            var value = $"race-{round}@x";
            var results = await Task.WhenAll(Enumerable.Range(0, 8).Select(async writer =>
            {
                await Task.Yield();
                try
                {
                    await store.PutAsync($"w{writer}", Users, "me", $$"""{"email":"{{value}}"}""");
                    return true;
                }
                catch (UniqueConstraintException)
                {
                    return false;
                }
            }));

            Assert.Equal(1, results.Count(won => won));
            var winner = Assert.Single((await store.QueryAsync(new IndexQuery(Users, "email") { Equal = value })).Items);
            Assert.Equal($"w{Array.IndexOf(results, true)}", winner.Document.Partition);
            foreach (var writer in Enumerable.Range(0, 8))
            {
                await store.DeleteAsync($"w{writer}", Users, "me");
            }
        }
    }

    /// <summary>How many rounds the refused-writer races (<see cref="A_writer_refused_a_global_unique_value_finds_its_holder_with_a_query_at_once"/> and its partition-scope twin) run (10 by default; raise it for a soak run).</summary>
    public const string HolderRaceRoundsVariable = "STORAGE_UNIQUE_HOLDER_ROUNDS";

    [Fact]
    public Task A_writer_refused_a_global_unique_value_finds_its_holder_with_a_query_at_once()
        => RefusedWritersFindTheHolderAsync(Email);

    [Fact]
    public Task A_writer_refused_a_partition_unique_value_finds_its_holder_in_the_partition_at_once()
        => RefusedWritersFindTheHolderAsync(Handle);

    // The sign-in pattern: insert; on a unique conflict, look the holder up. A refusal must come from
    // a holder the query can see, never from a commit that is not visible yet (or fails). Four
    // writers race one value each round: in four partitions (global scope) or in one (partition scope).
    private async Task RefusedWritersFindTheHolderAsync(IndexDefinition index)
    {
        const int Writers = 4;
        var store = await CreateStoreAsync(indexes: All);
        var rounds = int.TryParse(Environment.GetEnvironmentVariable(HolderRaceRoundsVariable), NumberStyles.None, CultureInfo.InvariantCulture, out var set) && set > 0 ? set : 10;
        var global = index.Scope == IndexScope.Global;
        var refusals = 0;
        var misses = new List<string>();
        for (var round = 0; round < rounds; round++)
        {
            var value = $"holder-{round}@x";
            var query = new IndexQuery(Users, index.Name) { Equal = value, Partition = global ? null : $"r{round}" };
            var holders = await Task.WhenAll(Enumerable.Range(0, Writers).Select(async writer =>
            {
                await Task.Yield();
                var (partition, key) = global ? ($"r{round}-w{writer}", "me") : ($"r{round}", $"w{writer}");
                try
                {
                    await store.PutAsync(partition, Users, key, $$"""{"{{index.Path}}":"{{value}}"}""", WriteCondition.MustNotExist);
                    return $"{partition}/{key}";
                }
                catch (UniqueConstraintException)
                {
                    var found = await store.QueryAsync(query);
                    lock (misses)
                    {
                        refusals++;
                        if (found.Items.Count == 0)
                        {
                            misses.Add($"round {round}: {partition}/{key} was refused {value}, and the query right after found no holder");
                        }
                    }

                    return found.Items.Count == 0 ? null : $"held by {found.Items[0].Document.Partition}/{found.Items[0].Document.Key}";
                }
            }));

            var winner = Assert.Single(holders, h => h is not null && !h.StartsWith("held by ", StringComparison.Ordinal));
            Assert.All(holders, h => Assert.True(h is null || h == winner || h == "held by " + winner, $"round {round}: {h}, but {winner} won"));
        }

        Assert.True(misses.Count == 0, $"{misses.Count} of {refusals} refusals in {rounds} rounds found no holder:\n{string.Join("\n", misses.Take(5))}");
        Assert.Equal(rounds * (Writers - 1), refusals);
    }

    [Fact]
    public async Task Deleting_a_partition_removes_its_entries_and_frees_its_unique_values()
    {
        var store = await CreateStoreAsync(indexes: All);
        await store.PutAsync("p1", Users, "a", """{"email":"e","age":1}""");
        await store.PutAsync("p2", Users, "a", """{"age":1}""");

        Assert.True(await store.DeletePartitionAsync("p1"));

        Assert.Equal([("p2", "a")], (await store.QueryAsync(new IndexQuery(Users, "age"))).Items.Select(m => (m.Document.Partition, m.Document.Key)));
        await store.PutAsync("p3", Users, "a", """{"email":"e"}""");
        Assert.Equal(1, await store.CountAsync(new IndexQuery(Users, "email")));
    }

    [Fact]
    public async Task Paging_while_writers_change_indexed_values_never_repeats_or_skips_unchanged_matches()
    {
        var store = await CreateStoreAsync(indexes: All);
        var stable = Enumerable.Range(0, 60).Select(i => $"s{i:D2}").ToList();
        foreach (var key in stable)
        {
            await store.PutAsync("p", Users, key, $$"""{"age":{{int.Parse(key[1..], System.Globalization.CultureInfo.InvariantCulture)}}}""");
        }

        foreach (var descending in new[] { false, true })
        {
            var seen = new List<(long, string, string)>();
            string? token = null;
            var round = 0;
            do
            {
                var page = await store.QueryAsync(new IndexQuery(Users, "age") { Limit = 7, ContinuationToken = token, Descending = descending });
                seen.AddRange(page.Items.Select(m => (m.Value.AsInt64, m.Document.Partition, m.Document.Key)));
                token = page.ContinuationToken;

                // Churn between pages: movers jump around the stable values, some come and go.
                round++;
                await store.PutAsync("p", Users, $"m{round % 5}", $$"""{"age":{{(round * 37) % 70}}}""");
                await store.DeleteAsync("p", Users, $"m{(round + 2) % 5}");
                await store.PutAsync("q", Users, $"m{round % 3}", $$"""{"age":{{(round * 13) % 70}}}""");
            }
            while (token is not null);

            Assert.Equal(seen.Count, seen.Distinct().Count());
            var expectedOrder = descending ? seen.OrderByDescending(s => s.Item1).ThenByDescending(s => s.Item2, StorageKeyComparer.Instance).ThenByDescending(s => s.Item3, StorageKeyComparer.Instance)
                : seen.OrderBy(s => s.Item1).ThenBy(s => s.Item2, StorageKeyComparer.Instance).ThenBy(s => s.Item3, StorageKeyComparer.Instance);
            Assert.Equal(expectedOrder, seen);
            Assert.Equal(stable.Order(StringComparer.Ordinal), seen.Where(s => s.Item3.StartsWith('s')).Select(s => s.Item3).Order(StringComparer.Ordinal));
        }
    }

    [Fact]
    public async Task Queries_are_validated()
    {
        var store = await CreateStoreAsync(indexes: All);

        await ThrowsArgumentAsync(() => store.QueryAsync(new IndexQuery(Users, "nope")).AsTask());
        await ThrowsArgumentAsync(() => store.QueryAsync(new IndexQuery("other", "email")).AsTask());
        await ThrowsArgumentAsync(() => store.QueryAsync(new IndexQuery(Users, "age") { Equal = "1" }).AsTask());
        await ThrowsArgumentAsync(() => store.QueryAsync(new IndexQuery(Users, "name") { From = 1L }).AsTask());
        await ThrowsArgumentAsync(() => store.QueryAsync(new IndexQuery(Users, "age") { Prefix = "1" }).AsTask());
        await ThrowsArgumentAsync(() => store.QueryAsync(new IndexQuery(Users, "name") { Prefix = "" }).AsTask());
        await ThrowsArgumentAsync(() => store.QueryAsync(new IndexQuery(Users, "name") { Equal = "a", From = "a" }).AsTask());
        await ThrowsArgumentAsync(() => store.QueryAsync(new IndexQuery(Users, "name") { Limit = 0 }).AsTask());
        await ThrowsArgumentAsync(() => store.QueryAsync(new IndexQuery(Users, "name") { Limit = StoreLimits.MaxPageSize + 1 }).AsTask());
        await ThrowsArgumentAsync(() => store.QueryAsync(new IndexQuery(Users, "name") { Partition = "" }).AsTask());
        await ThrowsArgumentAsync(() => store.QueryAsync(new IndexQuery(Users, "name") { ContinuationToken = "garbage" }).AsTask());
        await ThrowsArgumentAsync(() => store.CountAsync(new IndexQuery(Users, "nope")).AsTask());

        await store.PutAsync("p", Users, "a", """{"age":1}""");
        await store.PutAsync("p", Users, "b", """{"age":2}""");
        var token = (await store.QueryAsync(new IndexQuery(Users, "age") { Limit = 1 })).ContinuationToken;
        Assert.NotNull(token);
        await ThrowsArgumentAsync(() => store.QueryAsync(new IndexQuery(Users, "age") { Limit = 1, Descending = true, ContinuationToken = token }).AsTask());
        await ThrowsArgumentAsync(() => store.QueryAsync(new IndexQuery(Users, "name") { ContinuationToken = token }).AsTask());
        Assert.Equal(["b"], await KeysAsync(store, new IndexQuery(Users, "age") { Limit = 5, ContinuationToken = token }));
    }

    [Fact]
    public async Task Index_declarations_are_validated()
    {
        Assert.Throws<ArgumentException>(() => new IndexDefinition(Users, "x", "", IndexValueType.String));
        Assert.Throws<ArgumentException>(() => new IndexDefinition(Users, "x", "a..b", IndexValueType.String));
        Assert.Throws<ArgumentException>(() => new IndexDefinition(Users, "x", ".a", IndexValueType.String));
        Assert.Throws<ArgumentException>(() => new IndexDefinition(Users, "x", string.Join('.', Enumerable.Repeat("a", IndexPath.MaxDepth + 1)), IndexValueType.String));
        Assert.Throws<ArgumentException>(() => new IndexDefinition(Users, "1bad", "a", IndexValueType.String));
        Assert.Throws<ArgumentException>(() => new IndexDefinition("bad name", "x", "a", IndexValueType.String));
        Assert.Throws<ArgumentOutOfRangeException>(() => new IndexDefinition(Users, "x", "a", (IndexValueType)9));
        Assert.Throws<ArgumentOutOfRangeException>(() => new IndexDefinition(Users, "x", "a", IndexValueType.String, scope: (IndexScope)9));
        var e = await Assert.ThrowsAsync<ArgumentException>(() => CreateStoreAsync(indexes: [Email, Email]));
        Assert.Contains("users.email", e.Message, StringComparison.Ordinal);
        Assert.Equal("a.b c.ü", new IndexDefinition(Users, "x", "a.b c.ü", IndexValueType.String).Path);
    }

    [Fact]
    public async Task Opening_a_store_with_a_duplicate_index_declaration_fails()
    {
        await Assert.ThrowsAnyAsync<ArgumentException>(() => CreateStoreAsync(indexes: [Email, new IndexDefinition(Users, "email", "other", IndexValueType.String)]));
    }

    [Fact]
    public async Task Adding_indexes_to_an_existing_store_builds_them_from_its_live_documents()
    {
        var time = new FakeTimeProvider(Start);
        var name = StoreFixture.NewStoreName();
        var store = await Fixture.OpenAsync(name, time);
        await store.PutAsync("p2", Users, "b", """{"profile":{"name":"Ann"},"tags":["x","y"],"email":"b@x"}""");
        await store.PutAsync("p1", Users, "a", """{"profile":{"name":"Ann"},"tags":["y"],"email":"a@x"}""");
        await store.PutAsync("p1", Users, "c", """{"profile":{"name":"Cy"}}""");
        await store.PutAsync("p1", "other", "a", """{"profile":{"name":"Ann"}}""");
        // Expired documents hold no values: a wrong type or a duplicate unique value in one does not stop the build.
        await store.PutAsync("p1", Users, "gone", """{"profile":{"name":5},"email":"a@x","age":"old"}""", expiresAt: Start.AddMinutes(1));
        await store.DisposeAsync();
        time.Advance(TimeSpan.FromMinutes(1));

        store = await Fixture.OpenAsync(name, time, indexes: All);

        Assert.Equal([("p1", "a"), ("p2", "b")], (await store.QueryAsync(new IndexQuery(Users, "name") { Equal = "Ann" })).Items.Select(m => (m.Document.Partition, m.Document.Key)));
        Assert.Equal(["x", "y", "y"], await ValuesAsync(store, new IndexQuery(Users, "tags")));
        Assert.Equal(3, await store.CountAsync(new IndexQuery(Users, "name")));
        Assert.Equal(0, await store.CountAsync(new IndexQuery(Users, "age")));
        await Assert.ThrowsAsync<UniqueConstraintException>(() => store.PutAsync("p3", Users, "d", """{"email":"b@x"}""").AsTask());

        // The built index is maintained from then on.
        await store.PutAsync("p1", Users, "a", """{"profile":{"name":"Zed"}}""");
        Assert.Equal(["p2"], (await store.QueryAsync(new IndexQuery(Users, "name") { Equal = "Ann" })).Items.Select(m => m.Document.Partition));
        await store.PutAsync("p3", Users, "d", """{"email":"a@x"}""");
        Assert.Equal(["a@x", "b@x"], await ValuesAsync(store, new IndexQuery(Users, "email")));
    }

    [Fact]
    public async Task A_removed_index_is_dropped_and_when_declared_again_indexes_what_was_written_meanwhile()
    {
        var name = StoreFixture.NewStoreName();
        var store = await Fixture.OpenAsync(name, indexes: [Name, Email]);
        await store.PutAsync("p", Users, "a", """{"profile":{"name":"Ann"},"email":"a@x"}""");
        await store.DisposeAsync();

        store = await Fixture.OpenAsync(name, indexes: [Name]);
        await Assert.ThrowsAnyAsync<ArgumentException>(() => store.QueryAsync(new IndexQuery(Users, "email") { Equal = "a@x" }).AsTask());
        await store.PutAsync("p", Users, "b", """{"email":"a@x"}""");
        await store.PutAsync("p", Users, "a", """{"profile":{"name":"Bo"},"email":"a@x"}""");
        await store.DisposeAsync();

        // Two documents now hold a@x: the unique index cannot come back until one of them changes.
        var e = await Assert.ThrowsAsync<IndexBuildException>(() => Fixture.OpenAsync(name, indexes: [Name, Email]));
        Assert.Equal((Users, "email", "p"), (e.Collection, e.Index, e.Partition));
        Assert.Equal("b", e.Key);

        store = await Fixture.OpenAsync(name, indexes: [Name, new IndexDefinition(Users, "email", "email", IndexValueType.String)]);
        Assert.Equal(["a", "b"], await KeysAsync(store, new IndexQuery(Users, "email") { Equal = "a@x" }));
        Assert.Equal(["Bo"], await ValuesAsync(store, new IndexQuery(Users, "name")));
        await store.PutAsync("p", Users, "b", """{"email":"b@x"}""");
        await store.DisposeAsync();

        store = await Fixture.OpenAsync(name, indexes: [Name, Email]);
        Assert.Equal(["a@x", "b@x"], await ValuesAsync(store, new IndexQuery(Users, "email")));
        await Assert.ThrowsAsync<UniqueConstraintException>(() => store.PutAsync("q", Users, "x", """{"email":"b@x"}""").AsTask());
    }

    [Fact]
    public async Task A_changed_declaration_rebuilds_the_index()
    {
        var name = StoreFixture.NewStoreName();
        var store = await Fixture.OpenAsync(name, indexes: [Name]);
        await store.PutAsync("p", Users, "a", """{"profile":{"name":"Ann"},"nick":"zz","n":7}""");
        await store.PutAsync("p", Users, "b", """{"profile":{"name":"Bob"},"nick":"aa","n":-7}""");
        await store.DisposeAsync();

        store = await Fixture.OpenAsync(name, indexes: [new IndexDefinition(Users, "name", "nick", IndexValueType.String)]);
        Assert.Equal(["aa", "zz"], await ValuesAsync(store, new IndexQuery(Users, "name")));
        Assert.Equal(["b", "a"], (await store.QueryAsync(new IndexQuery(Users, "name"))).Items.Select(m => m.Document.Key));
        await store.DisposeAsync();

        store = await Fixture.OpenAsync(name, indexes: [new IndexDefinition(Users, "name", "n", IndexValueType.Int64, unique: true)]);
        Assert.Equal(["-7", "7"], await ValuesAsync(store, new IndexQuery(Users, "name")));
        await Assert.ThrowsAsync<UniqueConstraintException>(() => store.PutAsync("p", Users, "c", """{"n":7}""").AsTask());
    }

    [Fact]
    public async Task A_store_whose_documents_violate_a_new_index_refuses_to_open_naming_the_index_and_document_and_changes_nothing()
    {
        var name = StoreFixture.NewStoreName();
        var store = await Fixture.OpenAsync(name, indexes: [Name]);
        await store.PutAsync("p", Users, "a", """{"profile":{"name":"Ann"},"age":"forty","email":"e@x"}""");
        await store.PutAsync("q", Users, "b", """{"age":40,"email":"e@x","handle":"h"}""");
        await store.PutAsync("r", Users, "c", """{"handle":"h"}""");
        await store.DisposeAsync();

        var wrongType = await Assert.ThrowsAsync<IndexBuildException>(() => Fixture.OpenAsync(name, indexes: [Name, Age]));
        Assert.Equal((Users, "age", "p", "a"), (wrongType.Collection, wrongType.Index, wrongType.Partition, wrongType.Key));
        Assert.Contains("users.age", wrongType.Message, StringComparison.Ordinal);
        Assert.Contains("'a'", wrongType.Message, StringComparison.Ordinal);
        Assert.DoesNotContain("(Parameter", wrongType.Message, StringComparison.Ordinal);
        Assert.EndsWith("fix the document or the index declaration.", wrongType.Message, StringComparison.Ordinal);

        var duplicate = await Assert.ThrowsAsync<IndexBuildException>(() => Fixture.OpenAsync(name, indexes: [Email, Name]));
        Assert.Equal((Users, "email", "q", "b"), (duplicate.Collection, duplicate.Index, duplicate.Partition, duplicate.Key));
        Assert.Contains("e@x", duplicate.Message, StringComparison.Ordinal);

        // Nothing changed: the store opens with its earlier declarations, index and documents intact.
        store = await Fixture.OpenAsync(name, indexes: [Name, Handle]);
        Assert.Equal(["Ann"], await ValuesAsync(store, new IndexQuery(Users, "name")));
        Assert.Equal(2, await store.CountAsync(new IndexQuery(Users, "handle") { Equal = "h" }));
        Assert.Equal(3, (await store.ListPartitionsAsync()).Items.Count);
        await store.PutAsync("p", Users, "z", """{"profile":{"name":"Zoe"}}""");
        Assert.Equal(["Ann", "Zoe"], await ValuesAsync(store, new IndexQuery(Users, "name")));
    }

    private static async Task<List<string>> ValuesAsync(IStore store, IndexQuery query)
    {
        var values = new List<string>();
        string? token = null;
        do
        {
            var page = await store.QueryAsync(query with { ContinuationToken = token });
            values.AddRange(page.Items.Select(m => m.Value.ToString()));
            token = page.ContinuationToken;
        }
        while (token is not null);

        return values;
    }

    private static async Task<List<string>> KeysAsync(IStore store, IndexQuery query)
        => (await store.QueryAsync(query)).Items.Select(m => m.Document.Key).ToList();

    private static string Quote(string value) => System.Text.Json.JsonSerializer.Serialize(value, ConformanceJsonContext.Default.String);

    private static string Json(params (string Name, string RawValue)[] members)
        => "{" + string.Join(',', members.Select(m => $"{Quote(m.Name)}:{m.RawValue}")) + "}";
}
