using System.Text;
using Storage.Internal;

namespace Storage.Sqlite.Tests;

/// <summary>The contract's semantics as the reference (JSON) backend defines them; the conformance suite covers the rest.</summary>
public sealed class StoreSemanticsTests : IDisposable
{
    private readonly TestDatabase _db = new();

    public void Dispose() => _db.Dispose();

    [Fact]
    public async Task Put_then_get_returns_the_value_byte_for_byte_with_metadata()
    {
        await using var store = _db.Open();
        var json = """{"b":1.50,"a":12345678901234567890123,"s":"é😀\u00e9"}""";
        var version = await store.PutAsync("alice", "moods", "k", json);

        var document = await store.GetAsync("alice", "moods", "k");

        Assert.NotNull(document);
        Assert.Equal(Encoding.UTF8.GetBytes(json), document.Value.ToArray());
        Assert.Equal(1, version);
        Assert.Equal(version, document.Version);
        Assert.Equal(_db.Clock.GetUtcNow(), document.CreatedAt);
        Assert.Equal(_db.Clock.GetUtcNow(), document.UpdatedAt);
        Assert.Null(document.ExpiresAt);
    }

    [Fact]
    public async Task Every_commit_takes_the_next_revision_of_its_partition()
    {
        await using var store = _db.Open();
        Assert.Equal(1, await store.PutAsync("p", "c", "a", "1"));
        Assert.Equal(2, await store.PutAsync("p", "c", "b", "2"));
        Assert.Equal(1, await store.PutAsync("q", "c", "a", "1"));
        Assert.Equal(3, await store.IncrementSequenceAsync("p", "ids", 3) is 3 ? (await store.ListPartitionsAsync()).Items.Single(p => p.Partition == "p").Revision : -1);
        var batch = await store.CommitAsync("p", [WriteOperation.Put("c", "x", "1"), WriteOperation.Delete("c", "a")]);
        Assert.Equal(4, batch.Revision);
        Assert.Equal([new OperationOutcome(false, 4), new OperationOutcome(true, null)], batch.Outcomes);
    }

    [Fact]
    public async Task Stale_version_is_refused_with_the_operation_index_and_nothing_is_written()
    {
        await using var store = _db.Open();
        var v1 = await store.PutAsync("p", "c", "a", "1");
        await store.PutAsync("p", "c", "a", "2");

        var e = await Assert.ThrowsAsync<VersionConflictException>(async () => await store.CommitAsync("p", [
            WriteOperation.Put("c", "b", "3"),
            WriteOperation.Put("c", "a", "4", WriteCondition.MustMatchVersion(v1)),
        ]));

        Assert.Equal(1, e.OperationIndex);
        Assert.Equal(v1, e.ExpectedVersion);
        Assert.Equal(2, e.ActualVersion);
        Assert.Equal("2", (await store.GetAsync("p", "c", "a"))!.GetJsonText());
        Assert.Null(await store.GetAsync("p", "c", "b"));
        Assert.Equal(2, (await store.ListPartitionsAsync()).Items.Single().Revision);
    }

    [Fact]
    public async Task Conditions_of_a_batch_are_checked_against_the_state_before_the_batch()
    {
        await using var store = _db.Open();
        var result = await store.CommitAsync("p", [
            WriteOperation.Put("c", "a", "1", WriteCondition.MustNotExist),
            WriteOperation.Put("c", "b", "1", WriteCondition.MustNotExist),
        ]);
        Assert.True(result.Changed);
        await Assert.ThrowsAsync<VersionConflictException>(async () => await store.CommitAsync("p", [
            WriteOperation.Delete("c", "a"),
            WriteOperation.Put("c", "b", "2", WriteCondition.MustNotExist),
        ]));
        Assert.NotNull(await store.GetAsync("p", "c", "a"));
    }

    [Fact]
    public async Task Deleting_only_missing_documents_takes_no_revision_and_creates_no_partition()
    {
        await using var store = _db.Open();
        var result = await store.CommitAsync("ghost", [WriteOperation.Delete("c", "nothing")]);

        Assert.False(result.Changed);
        Assert.Equal(0, result.Revision);
        Assert.Equal([new OperationOutcome(false, null)], result.Outcomes);
        Assert.Empty((await store.ListPartitionsAsync()).Items);
    }

    [Fact]
    public async Task Expired_documents_are_invisible_absent_to_conditions_and_removed_only_by_purge_or_put()
    {
        await using var store = _db.Open();
        var now = _db.Clock.GetUtcNow();
        await store.PutAsync("p", "c", "old", "1", expiresAt: now.AddMinutes(1));
        await store.PutAsync("p", "c", "keep", "2", expiresAt: now.AddHours(1));
        await store.PutAsync("p", "c", "other", "3", expiresAt: now.AddMinutes(1));
        _db.Clock.Advance(TimeSpan.FromMinutes(1));

        Assert.Null(await store.GetAsync("p", "c", "old"));
        Assert.Equal(["keep"], (await store.ListAsync("p", "c")).Items.Select(d => d.Key));
        var deleted = await store.CommitAsync("p", [WriteOperation.Delete("c", "old", WriteCondition.None)]);
        Assert.False(deleted.Changed);
        var version = await store.PutAsync("p", "c", "other", "4", WriteCondition.MustNotExist);
        var recreated = await store.GetAsync("p", "c", "other");
        Assert.Equal(_db.Clock.GetUtcNow(), recreated!.CreatedAt);
        Assert.Equal(version, recreated.Version);

        // "old" is still there physically (the delete of an expired document is a no-op); "other" was overwritten.
        Assert.Equal(1, await store.PurgeExpiredAsync());
        Assert.Equal(0, await store.PurgeExpiredAsync());
    }

    [Fact]
    public async Task A_deleted_partition_written_again_continues_above_every_version_it_had()
    {
        await using var store = _db.Open();
        await store.PutAsync("p", "c", "a", "1");
        var v2 = await store.PutAsync("p", "c", "a", "2");
        await store.IncrementSequenceAsync("p", "ids");

        Assert.True(await store.DeletePartitionAsync("p"));
        Assert.False(await store.DeletePartitionAsync("p"));
        Assert.Null(await store.GetAsync("p", "c", "a"));
        Assert.Equal(0, await store.GetSequenceAsync("p", "ids"));
        Assert.Empty((await store.ListPartitionsAsync()).Items);

        var again = await store.PutAsync("p", "c", "a", "3");
        Assert.True(again > v2 + 1);
        Assert.Equal(4, again);
        await Assert.ThrowsAsync<VersionConflictException>(async () => await store.PutAsync("p", "c", "a", "4", WriteCondition.MustMatchVersion(v2)));
    }

    [Fact]
    public async Task A_partition_exists_from_its_first_changing_commit_until_it_is_deleted_even_when_empty()
    {
        await using var store = _db.Open();
        await store.PutAsync("p", "c", "a", "1");
        await store.DeleteAsync("p", "c", "a");

        var page = await store.ListPartitionsAsync();

        Assert.Equal([new PartitionInfo("p", 2)], page.Items);
    }

    [Fact]
    public async Task Sequence_overflow_throws_and_leaves_the_counter_and_revision_unchanged()
    {
        await using var store = _db.Open();
        await store.IncrementSequenceAsync("p", "ids", long.MaxValue - 1);
        await Assert.ThrowsAsync<OverflowException>(async () => await store.IncrementSequenceAsync("p", "ids", 2));
        Assert.Equal(long.MaxValue - 1, await store.GetSequenceAsync("p", "ids"));
        Assert.Equal(1, (await store.ListPartitionsAsync()).Items.Single().Revision);
        Assert.Equal(long.MaxValue, await store.IncrementSequenceAsync("p", "ids"));
    }

    [Fact]
    public async Task Listing_pages_in_code_point_order_by_prefix_and_range_in_both_directions()
    {
        await using var store = _db.Open();
        string[] keys = ["a", "a\u0001", "ab", "abc", "ab\uFFFF", "ab\U0001F600", "ab\U0010FFFF", "ab\U0010FFFF\U0010FFFF", "ac", "b", "\uFFFF", "\U0001F600", "\U0010FFFF"];
        foreach (var key in keys)
        {
            await store.PutAsync("p", "c", key, "0");
        }

        var sorted = keys.Order(StorageKeyComparer.Instance).ToList();
        Assert.Equal(sorted, await ListAll(store, new ListOptions { Limit = 2 }));
        Assert.Equal(Enumerable.Reverse(sorted), await ListAll(store, new ListOptions { Limit = 3, Descending = true }));
        var withPrefix = sorted.Where(k => k.StartsWith("ab", StringComparison.Ordinal)).ToList();
        Assert.Equal(withPrefix, await ListAll(store, new ListOptions { Prefix = "ab", Limit = 2 }));
        Assert.Equal(Enumerable.Reverse(withPrefix), await ListAll(store, new ListOptions { Prefix = "ab", Limit = 2, Descending = true }));
        Assert.Equal(["ab\U0010FFFF", "ab\U0010FFFF\U0010FFFF"], await ListAll(store, new ListOptions { Prefix = "ab\U0010FFFF", Limit = 1 }));
        Assert.Equal(["\U0010FFFF"], await ListAll(store, new ListOptions { Prefix = "\U0010FFFF" }));
        Assert.Equal(["ab\uFFFF", "ab\U0001F600"], await ListAll(store, new ListOptions { Prefix = "ab", StartKey = "ab\uFFFF", EndKey = "ab\U0010FFFF", Limit = 1 }));
        Assert.Empty(await ListAll(store, new ListOptions { StartKey = "b", EndKey = "a" }));
    }

    [Fact]
    public async Task Paging_stays_correct_while_keys_are_inserted_and_deleted()
    {
        await using var store = _db.Open();
        for (var i = 0; i < 10; i += 2)
        {
            await store.PutAsync("p", "c", $"k{i}", "0");
        }

        var first = await store.ListAsync("p", "c", new ListOptions { Limit = 2 });
        await store.DeleteAsync("p", "c", "k2");
        await store.PutAsync("p", "c", "k3", "0");
        await store.PutAsync("p", "c", "k1", "0");
        var second = await store.ListAsync("p", "c", new ListOptions { Limit = 2, ContinuationToken = first.ContinuationToken });

        Assert.Equal(["k0", "k2"], first.Items.Select(d => d.Key));
        Assert.Equal(["k3", "k4"], second.Items.Select(d => d.Key));
    }

    [Fact]
    public async Task Partitions_are_listed_in_code_point_order_a_page_at_a_time()
    {
        await using var store = _db.Open();
        string[] partitions = ["alice", "Alice", "\U0001F600", "\uFFFF", "../x", "CON"];
        foreach (var partition in partitions)
        {
            await store.PutAsync(partition, "c", "k", "0");
        }

        var listed = new List<string>();
        string? token = null;
        do
        {
            var page = await store.ListPartitionsAsync(new PartitionListOptions { Limit = 4, ContinuationToken = token });
            listed.AddRange(page.Items.Select(p => p.Partition));
            token = page.ContinuationToken;
        }
        while (token is not null);

        Assert.Equal(partitions.Order(StorageKeyComparer.Instance), listed);
    }

    [Fact]
    public async Task Operations_after_dispose_throw_ObjectDisposedException()
    {
        var store = _db.Open();
        await store.DisposeAsync();
        await Assert.ThrowsAsync<ObjectDisposedException>(async () => await store.GetAsync("p", "c", "k"));
        await Assert.ThrowsAsync<ObjectDisposedException>(async () => await store.PutAsync("p", "c", "k", "1"));
        await Assert.ThrowsAsync<ObjectDisposedException>(async () => await store.AppendAsync("p", "s", [EventData.Create("E", "1")]));
        await Assert.ThrowsAsync<ObjectDisposedException>(async () => await store.ReadStreamAsync("p", "s"));
        await Assert.ThrowsAsync<ObjectDisposedException>(async () => await store.ListStreamsAsync("p"));
        await Assert.ThrowsAsync<ObjectDisposedException>(async () => await store.ReadChangesAsync("p", 0));
    }

    [Fact]
    public void A_negative_tombstone_retention_is_refused_at_open_before_the_file_is_created()
    {
        var e = Assert.Throws<ArgumentOutOfRangeException>(() => _db.Open(o => o.TombstoneRetention = TimeSpan.FromTicks(-1)));
        Assert.Equal("options", e.ParamName);
        Assert.False(File.Exists(_db.Path));
    }

    [Fact]
    public async Task A_retention_of_TimeSpan_MaxValue_keeps_every_tombstone()
    {
        await using var store = _db.Open(o => o.TombstoneRetention = TimeSpan.MaxValue);
        await store.PutAsync("p", "c", "k", "1");
        await store.DeleteAsync("p", "c", "k");
        _db.Clock.Advance(TimeSpan.FromDays(3650));
        await store.PurgeExpiredAsync();
        Assert.Equal(ChangeKind.Delete, (await store.ReadChangesAsync("p", 1)).Items.Single().Kind);
    }

    [Fact]
    public async Task The_purge_drops_tombstones_past_the_retention_and_raises_the_oldest_resumable_revision()
    {
        var options = _db.Options();
        options.TombstoneRetention = TimeSpan.FromMinutes(10);
        await using var store = SqliteStore.Open(options);
        options.TombstoneRetention = TimeSpan.Zero; // the store keeps its own copy

        await store.PutAsync("p", "c", "a", "1");
        await store.PutAsync("p", "c", "b", "1");
        await store.DeleteAsync("p", "c", "a");                  // revision 3
        _db.Clock.Advance(TimeSpan.FromMinutes(1));
        await store.DeleteAsync("p", "c", "b");                  // revision 4
        await store.PutAsync("p", "c", "a", "2");                // revision 5: the put removes a's tombstone
        Assert.Equal(["delete r4 c/b", "put r5 c/a"], (await store.ReadChangesAsync("p", 2)).Items.Select(c => $"{c.Kind.ToString().ToLowerInvariant()} r{c.Revision} {c.Collection}/{c.Key}"));

        // One millisecond before b's tombstone is due: kept. At the moment it is due: dropped, and resuming before revision 4 is refused.
        _db.Clock.Advance(TimeSpan.FromMinutes(10) - TimeSpan.FromMilliseconds(1));
        Assert.Equal(0, await store.PurgeExpiredAsync());
        Assert.Equal(1L, TombstoneCount());
        _db.Clock.Advance(TimeSpan.FromMilliseconds(1));
        Assert.Equal(0, await store.PurgeExpiredAsync());
        Assert.Equal(0L, TombstoneCount());
        Assert.Equal(4, (await Assert.ThrowsAsync<ChangeFeedTruncatedException>(async () => await store.ReadChangesAsync("p", 3))).OldestResumableRevision);
        Assert.Equal(["put r5 c/a"], (await store.ReadChangesAsync("p", 4)).Items.Select(c => $"put r{c.Revision} {c.Collection}/{c.Key}"));
        Assert.Equal(5, (await store.ListPartitionsAsync()).Items.Single().Revision); // the purge took no revision

        long TombstoneCount()
        {
            using var connection = _db.Connect();
            return (long)TestDatabase.Scalar(connection, "SELECT count(*) FROM tombstones")!;
        }
    }

    internal static async Task<List<string>> ListAll(IStore store, ListOptions options)
    {
        var keys = new List<string>();
        string? token = null;
        do
        {
            var page = await store.ListAsync("p", "c", options with { ContinuationToken = token });
            Assert.True(page.Items.Count <= options.Limit);
            keys.AddRange(page.Items.Select(d => d.Key));
            token = page.ContinuationToken;
        }
        while (token is not null);

        return keys;
    }
}
