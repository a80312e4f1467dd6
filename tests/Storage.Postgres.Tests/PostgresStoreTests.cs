using System.Text;
using Microsoft.Extensions.Time.Testing;
using Storage.Postgres.Internal;

namespace Storage.Postgres.Tests;

/// <summary>The contract's rules, checked on this backend where PostgreSQL makes them easy to get wrong.</summary>
public sealed class PostgresStoreTests
{
    [Fact]
    public async Task Values_round_trip_byte_for_byte_and_are_stored_as_the_same_text()
    {
        await using var schema = await TestSchema.CreateAsync("values");
        var store = await schema.OpenAsync();
        const string Json = """{"z":1,"a":[1.0,1e2,-0.0],"big":123456789012345678901234567890,"d":0.1000,"s":"\u00e9 é 😀 \"q\""}""";

        await store.PutAsync("p", "docs", "k", Json);

        var stored = await store.GetAsync("p", "docs", "k");
        Assert.NotNull(stored);
        Assert.Equal(Encoding.UTF8.GetBytes(Json), stored.Value.ToArray());
        var text = await schema.QueryAsync($"SELECT value FROM \"{schema.Name}\".documents WHERE partition = 'p'");
        Assert.Equal(Json, Assert.Single(text));
    }

    [Fact]
    public async Task Keys_list_in_code_point_order_not_in_a_collation_order()
    {
        await using var schema = await TestSchema.CreateAsync("order");
        var store = await schema.OpenAsync();
        string[] keys = ["a", "B", "b", "Z", "é", "e\u0301", "\uE000", "\uFFFD", "😀", "𝄞", "a b", "a-b", "a/b", "ab", "A", "_", "~", "10", "9"];
        var expected = keys.Order(StorageKeyComparer.Instance).ToList();
        await store.CommitAsync("p", keys.Select(k => WriteOperation.Put("docs", k, "1")).ToList());

        var ascending = await store.ListAsync("p", "docs");
        var descending = await store.ListAsync("p", "docs", new ListOptions { Descending = true });

        Assert.Equal(expected, ascending.Items.Select(d => d.Key));
        Assert.Equal(Enumerable.Reverse(expected), descending.Items.Select(d => d.Key));
        Assert.Null(ascending.ContinuationToken);
    }

    [Fact]
    public async Task Listing_pages_by_prefix_and_range_in_both_directions()
    {
        await using var schema = await TestSchema.CreateAsync("paging");
        var store = await schema.OpenAsync();
        var keys = Enumerable.Range(0, 30).Select(i => $"k{i:D2}").Append("j").Append("l").Append("k\U0010FFFF").ToList();
        await store.CommitAsync("p", keys.Select(k => WriteOperation.Put("docs", k, "{}")).ToList());
        var expected = keys.Where(k => k.StartsWith('k') && StorageKeyComparer.Instance.Compare(k, "k05") >= 0).Order(StorageKeyComparer.Instance).ToList();

        foreach (var descending in new[] { false, true })
        {
            var seen = new List<string>();
            string? token = null;
            do
            {
                var page = await store.ListAsync("p", "docs", new ListOptions { Prefix = "k", StartKey = "k05", Descending = descending, Limit = 7, ContinuationToken = token });
                Assert.True(page.Items.Count <= 7);
                seen.AddRange(page.Items.Select(d => d.Key));
                token = page.ContinuationToken;
            }
            while (token is not null);

            Assert.Equal(descending ? Enumerable.Reverse(expected) : expected, seen);
        }
    }

    [Fact]
    public async Task Versions_come_from_the_partition_revision_and_a_deleted_partition_never_repeats_one()
    {
        await using var schema = await TestSchema.CreateAsync("versions");
        var store = await schema.OpenAsync();

        var first = await store.PutAsync("alice", "docs", "a", "1");
        var second = await store.CommitAsync("alice", [WriteOperation.Put("docs", "a", "2"), WriteOperation.Put("docs", "b", "3")]);
        var counter = await store.IncrementSequenceAsync("alice", "ids");
        var other = await store.PutAsync("bob", "docs", "a", "1");
        Assert.Equal(1, first);
        Assert.Equal(2, second.Revision);
        Assert.All(second.Outcomes, o => Assert.Equal(2, o.Version));
        Assert.Equal(1, counter);
        Assert.Equal(1, other);

        Assert.True(await store.DeletePartitionAsync("alice"));
        Assert.False(await store.DeletePartitionAsync("alice"));
        Assert.Null(await store.GetAsync("alice", "docs", "a"));
        Assert.Equal(0, await store.GetSequenceAsync("alice", "ids"));

        // Partitions created after the delete start above the floor (alice's last revision, 3).
        Assert.Equal(4, await store.PutAsync("alice", "docs", "a", "\"again\""));
        Assert.Equal(4, await store.PutAsync("carol", "docs", "a", "\"new\""));
        Assert.Equal(2, await store.PutAsync("bob", "docs", "a", "\"old partitions keep counting\""));
    }

    [Fact]
    public async Task A_commit_that_changes_nothing_takes_no_revision_and_creates_no_partition()
    {
        await using var schema = await TestSchema.CreateAsync("nochange");
        var store = await schema.OpenAsync();

        var missing = await store.CommitAsync("ghost", [WriteOperation.Delete("docs", "a")]);
        Assert.False(missing.Changed);
        Assert.Equal(0, missing.Revision);
        Assert.Empty((await store.ListPartitionsAsync()).Items);

        await store.PutAsync("p", "docs", "a", "1");
        await store.PutAsync("p", "docs", "b", "1");
        var unchanged = await store.CommitAsync("p", [WriteOperation.Delete("docs", "zzz")]);
        Assert.False(unchanged.Changed);
        Assert.Equal(2, unchanged.Revision);
        Assert.Equal([new PartitionInfo("p", 2)], (await store.ListPartitionsAsync()).Items);
    }

    [Fact]
    public async Task Conditions_are_checked_against_the_state_before_the_batch_and_a_conflict_writes_nothing()
    {
        await using var schema = await TestSchema.CreateAsync("conditions");
        var store = await schema.OpenAsync();
        var v1 = await store.PutAsync("p", "docs", "a", "1");

        var conflict = await Assert.ThrowsAsync<VersionConflictException>(async () => await store.CommitAsync("p",
        [
            WriteOperation.Put("docs", "a", "2", WriteCondition.MustMatchVersion(v1)),
            WriteOperation.Put("docs", "b", "2", WriteCondition.MustNotExist),
            WriteOperation.Put("docs", "a2", "2", WriteCondition.MustMatchVersion(v1 + 1)),
        ]));

        Assert.Equal(2, conflict.OperationIndex);
        Assert.Equal(v1 + 1, conflict.ExpectedVersion);
        Assert.Null(conflict.ActualVersion);
        Assert.Equal("1", (await store.GetAsync("p", "docs", "a"))!.GetJsonText());
        Assert.Null(await store.GetAsync("p", "docs", "b"));
        Assert.Equal([new PartitionInfo("p", v1)], (await store.ListPartitionsAsync()).Items);
    }

    [Fact]
    public async Task Expiry_follows_the_stores_clock_and_expired_documents_stay_until_purged()
    {
        var clock = new FakeTimeProvider(new DateTimeOffset(2026, 11, 23, 12, 0, 0, TimeSpan.Zero));
        await using var schema = await TestSchema.CreateAsync("expiry");
        var store = await schema.OpenAsync(o => o.TimeProvider = clock);
        var created = clock.GetUtcNow();
        await store.PutAsync("p", "docs", "a", "1", expiresAt: created.AddMinutes(1));
        await store.PutAsync("p", "docs", "b", "1", expiresAt: created.AddMinutes(1));
        await store.PutAsync("p", "docs", "c", "1");

        clock.Advance(TimeSpan.FromMinutes(1));
        Assert.Null(await store.GetAsync("p", "docs", "a"));
        Assert.Equal(["c"], (await store.ListAsync("p", "docs")).Items.Select(d => d.Key));
        Assert.False(await store.DeleteAsync("p", "docs", "b"));

        // A must-not-exist put replaces the expired document with a fresh creation time.
        clock.Advance(TimeSpan.FromSeconds(5));
        await store.PutAsync("p", "docs", "a", "2", WriteCondition.MustNotExist);
        var replaced = await store.GetAsync("p", "docs", "a");
        Assert.Equal(clock.GetUtcNow(), replaced!.CreatedAt);

        // Only b is left to purge: a was overwritten, and the delete left b in place.
        Assert.Equal(1, await store.PurgeExpiredAsync());
        Assert.Equal(0, await store.PurgeExpiredAsync());
        Assert.Equal(["a", "c"], await schema.QueryAsync($"SELECT key FROM \"{schema.Name}\".documents ORDER BY key"));
    }

    [Fact]
    public async Task A_sequence_that_would_overflow_is_left_unchanged()
    {
        await using var schema = await TestSchema.CreateAsync("seq");
        var store = await schema.OpenAsync();
        Assert.Equal(long.MaxValue - 1, await store.IncrementSequenceAsync("p", "n", long.MaxValue - 1));

        await Assert.ThrowsAsync<OverflowException>(async () => await store.IncrementSequenceAsync("p", "n", 2));

        Assert.Equal(long.MaxValue - 1, await store.GetSequenceAsync("p", "n"));
        Assert.Equal(long.MaxValue, await store.IncrementSequenceAsync("p", "n"));
        Assert.Equal([new PartitionInfo("p", 2)], (await store.ListPartitionsAsync()).Items);
    }

    [Fact]
    public async Task Timestamps_are_utc_milliseconds_from_the_stores_clock()
    {
        var clock = new FakeTimeProvider(new DateTimeOffset(2026, 1, 2, 3, 4, 5, TimeSpan.FromHours(2)).AddTicks(1234567));
        await using var schema = await TestSchema.CreateAsync("time");
        var store = await schema.OpenAsync(o => o.TimeProvider = clock);
        var expires = StoreLimits.MaxExpiry;

        await store.PutAsync("p", "docs", "a", "1", expiresAt: expires);
        clock.Advance(TimeSpan.FromSeconds(3));
        await store.PutAsync("p", "docs", "a", "2", expiresAt: expires);

        var stored = (await store.GetAsync("p", "docs", "a"))!;
        Assert.Equal(new DateTimeOffset(2026, 1, 2, 1, 4, 5, 123, TimeSpan.Zero), stored.CreatedAt);
        Assert.Equal(stored.CreatedAt.AddSeconds(3), stored.UpdatedAt);
        Assert.Equal(expires, stored.ExpiresAt);
        Assert.Equal(TimeSpan.Zero, stored.CreatedAt.Offset);
    }

    [Fact]
    public async Task Keys_that_look_like_paths_or_sql_are_ordinary_keys()
    {
        await using var schema = await TestSchema.CreateAsync("keys");
        var store = await schema.OpenAsync();
        string[] partitions = ["../x", "a/b", "CON", "'; DROP TABLE documents; --", "Alice", "alice", new string('é', 128)];
        foreach (var partition in partitions)
        {
            await store.PutAsync(partition, "docs", partition, "1");
        }

        foreach (var partition in partitions)
        {
            Assert.Equal(partition, (await store.GetAsync(partition, "docs", partition))!.Key);
        }

        Assert.Equal(partitions.Order(StorageKeyComparer.Instance), (await store.ListPartitionsAsync()).Items.Select(p => p.Partition));
    }

    [Theory]
    [InlineData(DurabilityMode.Full, "on")]
    [InlineData(DurabilityMode.Relaxed, "off")]
    public async Task Relaxed_durability_turns_synchronous_commit_off_for_the_stores_transactions_only(DurabilityMode durability, string expected)
    {
        await using var schema = await TestSchema.CreateAsync("durability");
        var store = await schema.OpenAsync(o => o.Durability = durability);
        string? seen = null;
        store.FaultInjector = async (stage, connection) =>
        {
            if (stage == CommitStage.BeforeWrite)
            {
                await using var command = new Npgsql.NpgsqlCommand("SHOW synchronous_commit", connection);
                seen = (string?)await command.ExecuteScalarAsync();
            }
        };

        await store.PutAsync("p", "docs", "a", "1");

        Assert.Equal(expected, seen);
        Assert.Equal(["on"], await schema.QueryAsync("SHOW synchronous_commit"));
    }
}
