using Microsoft.Extensions.Time.Testing;
using Npgsql;
using Storage.Postgres.Internal;

namespace Storage.Postgres.Tests;

/// <summary>
/// The store-wide cursor on PostgreSQL (docs/postgres-backend.md, "The store-wide cursor"): positions are
/// transaction ids, and the current position stays below every transaction in flight that may write the
/// store, so a commit in flight at a read is never skipped. Each runs on both layouts.
/// </summary>
public sealed class CursorTests
{
    private static readonly TimeSpan s_timeout = TimeSpan.FromSeconds(30);
    private static readonly DateTimeOffset s_start = new(2026, 12, 7, 12, 0, 0, TimeSpan.Zero);

    [Theory]
    [InlineData(0)]
    [InlineData(4)]
    public async Task A_change_whose_transaction_started_before_a_read_and_committed_after_it_is_reported_at_a_later_read(int hashPartitions)
    {
        await using var schema = await TestSchema.CreateAsync("cursorflight");
        var slow = await schema.OpenAsync(o => o.HashPartitions = hashPartitions);
        var fast = await schema.OpenAsync();
        await slow.PutAsync("slow", "docs", "k", "1");
        await fast.PutAsync("fast", "docs", "k", "1");
        var first = await ReadAsync(slow, 0, 2);
        Assert.Equal(["fast", "slow"], first.Items.Select(i => i.Partition).Order(StringComparer.Ordinal));

        // The slow write holds its partition's row (and its transaction id) when the fast one starts,
        // and commits after the fast one and after a read.
        var held = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var release = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        slow.FaultInjector = async (stage, _) =>
        {
            if (stage == CommitStage.BeforeWrite && held.TrySetResult())
            {
                await release.Task;
            }
        };
        var inFlight = slow.PutAsync("slow", "docs", "k", "2").AsTask();
        await held.Task.WaitAsync(s_timeout);
        await fast.PutAsync("fast", "docs", "k", "2");

        var during = await fast.ReadChangedPartitionsAsync(first.LastPosition);
        release.SetResult();
        await inFlight.WaitAsync(s_timeout);
        var after = await ReadAsync(fast, during.LastPosition, 2);

        // The fast commit waits behind the slow one's transaction; both come after the read in flight.
        Assert.Empty(during.Items);
        Assert.False(during.HasMore);
        Assert.Equal([("slow", 2L), ("fast", 2L)], after.Items.Select(i => (i.Partition, i.Revision)));
        Assert.All(after.Items, i => Assert.True(i.Position > during.LastPosition));
        Assert.True(after.Items[0].Position < after.Items[1].Position, "the slow transaction's id is the lower");
    }

    [Theory]
    [InlineData(0)]
    [InlineData(4)]
    public async Task An_open_transaction_holds_the_cursor_back_only_when_it_has_locked_the_stores_meta_table_as_writers_do(int hashPartitions)
    {
        await using var schema = await TestSchema.CreateAsync("cursorhold");
        var store = await schema.OpenAsync(o => o.HashPartitions = hashPartitions);
        await store.PutAsync("a", "docs", "k", "1");
        var start = await ReadAsync(store, 0, 1);

        // Another app's transaction with an id: not a writer of this store.
        await using var other = await OpenTransactionAsync(schema, "SELECT txid_current()");
        await store.PutAsync("b", "docs", "k", "1");
        var past = await ReadAsync(store, start.LastPosition, 1);

        // A transaction that may write the store (as every writer, it locks storage_meta before it has an id).
        await using var writer = await OpenTransactionAsync(schema, $"LOCK TABLE \"{schema.Name}\".storage_meta IN ROW SHARE MODE", "SELECT txid_current()");
        await store.PutAsync("c", "docs", "k", "1");
        var held = await store.ReadChangedPartitionsAsync(past.LastPosition);
        await writer.DisposeAsync();
        var released = await ReadAsync(store, held.LastPosition, 1);

        Assert.Equal("b", Assert.Single(past.Items).Partition);
        Assert.Empty(held.Items);

        // Other tests' transactions take ids on the same server meanwhile: the held position may move, never past c.
        Assert.Equal("c", Assert.Single(released.Items).Partition);
        Assert.InRange(held.LastPosition, past.LastPosition, released.Items[0].Position - 1);
    }

    [Theory]
    [InlineData(0)]
    [InlineData(4)]
    public async Task Partitions_of_one_transaction_share_its_id_and_a_page_holds_them_all_in_code_point_order(int hashPartitions)
    {
        await using var schema = await TestSchema.CreateAsync("cursorimport");
        var store = await schema.OpenAsync(o => o.HashPartitions = hashPartitions);
        await store.PutAsync("before", "docs", "k", "1");

        // One import chunk: one transaction. UTF-16 order would put the emoji (a surrogate pair) before U+FF5E.
        string[] keys = ["\U0001F600", "\uFF5E", "a", "B", "é"];
        await store.ImportAsync(Stream(keys.Select(k => new ImportedPartition(k, [WriteOperation.Put("docs", "k", "1")]))));
        await store.PutAsync("after", "docs", "k", "1");

        var page = await ReadAsync(store, 0, 6, limit: 2);
        var rest = await ReadAsync(store, page.LastPosition, 1, limit: 2);

        Assert.Equal(["before", "B", "a", "é", "\uFF5E", "\U0001F600"], page.Items.Select(i => i.Partition));
        Assert.Single(page.Items.Skip(1).Select(i => i.Position).Distinct());
        Assert.True(page.HasMore);
        Assert.Equal(page.Items[^1].Position, page.LastPosition);
        Assert.Equal("after", Assert.Single(rest.Items).Partition);
        Assert.False(rest.HasMore);
        var stored = await schema.QueryAsync($"SELECT DISTINCT changed_xid FROM \"{schema.Name}\".partitions WHERE partition <> ALL($1)", (object)new[] { "before", "after" });
        Assert.Equal(page.Items[^1].Position, Assert.Single(stored));
    }

    [Theory]
    [InlineData(0)]
    [InlineData(4)]
    public async Task A_delete_leaves_a_mark_that_creating_the_partition_again_removes_and_a_purge_drops_raising_the_oldest_position(int hashPartitions)
    {
        await using var schema = await TestSchema.CreateAsync("cursormarks");
        var s = $"\"{schema.Name}\"";
        var time = new FakeTimeProvider(s_start);
        var store = await schema.OpenAsync(o => (o.HashPartitions, o.TimeProvider, o.TombstoneRetention) = (hashPartitions, time, TimeSpan.FromDays(1)));
        await store.CommitAsync("gone", [WriteOperation.Put("docs", "a", "1"), WriteOperation.Put("docs", "b", "1")]);
        await store.PutAsync("back", "docs", "a", "1");
        var start = await ReadAsync(store, 0, 2);
        Assert.True(await store.DeletePartitionAsync("gone"));
        Assert.True(await store.DeletePartitionAsync("back"));

        var deleted = await ReadAsync(store, start.LastPosition, 2);
        Assert.Equal([("gone", 1L, true), ("back", 1L, true)], deleted.Items.Select(i => (i.Partition, i.Revision, i.Deleted)));
        Assert.Equal([("back", 1L), ("gone", 1L)], (await MarksAsync(schema)).Select(m => (m.Partition, m.Revision)));
        Assert.All(await schema.QueryAsync($"SELECT deleted_at FROM {s}.partition_marks"), d => Assert.Equal(s_start, (DateTime)d!));

        time.Advance(TimeSpan.FromHours(1));
        await store.PutAsync("back", "docs", "a", "2");
        var created = await ReadAsync(store, deleted.LastPosition, 1);
        Assert.Equal([("back", 2L, false)], created.Items.Select(i => (i.Partition, i.Revision, i.Deleted)));
        Assert.Equal(["gone"], (await MarksAsync(schema)).Select(m => m.Partition));

        // A purge whose tombstone cutoff is past the delete drops the mark: a reader behind it starts over.
        time.Advance(TimeSpan.FromDays(1));
        await store.PurgeExpiredAsync();
        Assert.Empty(await MarksAsync(schema));
        Assert.Equal(deleted.Items[0].Position, Assert.Single(await schema.QueryAsync($"SELECT value FROM {s}.storage_meta WHERE key = 'oldest_position'")));
        var e = await Assert.ThrowsAsync<ChangedPartitionsTruncatedException>(async () => await store.ReadChangedPartitionsAsync(start.LastPosition));
        Assert.Equal(deleted.Items[0].Position, e.OldestResumablePosition);
        Assert.Equal(["back"], (await ReadAsync(store, 0, 1)).Items.Select(i => i.Partition));
    }

    [Theory]
    [InlineData(0)]
    [InlineData(4)]
    public async Task A_store_of_schema_version_3_is_migrated_and_a_cursor_from_0_lists_its_partitions(int hashPartitions)
    {
        await using var schema = await TestSchema.CreateAsync("cursorv3");
        var s = $"\"{schema.Name}\"";
        await SchemaTests.CreateVersionAsync(schema, 3, hashPartitions);

        // A placeholder (revision 0) that a writer left is not a partition.
        await schema.QueryAsync($"INSERT INTO {s}.partitions (partition, revision, oldest_resumable) VALUES ('p', 3, 1), ('Q', 1, 1), ('placeholder', 0, 0)");
        await schema.QueryAsync($"INSERT INTO {s}.documents (partition, collection, key, value, version, created_at, updated_at) VALUES ('p', 'docs', 'a', '1', 3, now(), now()), ('Q', 'docs', 'a', '1', 1, now(), now())");

        var store = await schema.OpenAsync();
        var existing = await ReadAsync(store, 0, 2);
        await store.PutAsync("p", "docs", "b", "2");
        var moved = await ReadAsync(store, existing.LastPosition, 1);

        Assert.Equal([1, 2, 3, 4], (await schema.QueryAsync($"SELECT version FROM {s}.storage_migrations ORDER BY 1")).Cast<int>());
        Assert.Equal([("Q", 1L, 1L), ("p", 3L, 1L)], existing.Items.Select(i => (i.Partition, i.Revision, i.Position)));
        Assert.False(existing.HasMore);
        Assert.Equal([("p", 4L)], moved.Items.Select(i => (i.Partition, i.Revision)));
        Assert.Equal(0L, Assert.Single(await schema.QueryAsync($"SELECT value FROM {s}.storage_meta WHERE key = 'oldest_position'")));
    }

    [Theory]
    [InlineData(0)]
    [InlineData(4)]
    public async Task A_restore_and_an_increment_move_their_partition_and_the_feed_carries_the_time_of_a_delete(int hashPartitions)
    {
        await using var schema = await TestSchema.CreateAsync("cursorrestore");
        var time = new FakeTimeProvider(s_start);
        var store = await schema.OpenAsync(o => (o.HashPartitions, o.TimeProvider) = (hashPartitions, time));
        await store.PutAsync("p", "docs", "a", "1");
        time.Advance(TimeSpan.FromMinutes(5));
        await store.DeleteAsync("p", "docs", "a");
        var export = (await store.ExportPartitionAsync("p"))!;
        Assert.True(await store.DeletePartitionAsync("p"));
        var start = await ReadAsync(store, 0, 1);

        await store.RestorePartitionAsync(export);
        var restored = await ReadAsync(store, start.LastPosition, 1);
        await store.IncrementSequenceAsync("p", "ids");
        var incremented = await ReadAsync(store, restored.LastPosition, 1);

        Assert.Equal([("p", 2L, true)], start.Items.Select(i => (i.Partition, i.Revision, i.Deleted)));
        Assert.Equal([("p", 2L, false)], restored.Items.Select(i => (i.Partition, i.Revision, i.Deleted)));
        Assert.Empty(await MarksAsync(schema));
        Assert.Equal([("p", 3L, false)], incremented.Items.Select(i => (i.Partition, i.Revision, i.Deleted)));
        var delete = (await store.ReadChangesAsync("p", 1)).Items[0];
        Assert.Equal((ChangeKind.Delete, "a", s_start.AddMinutes(5)), (delete.Kind, delete.Key, delete.DeletedAt));
    }

    /// <summary>
    /// Reads after <paramref name="after"/> until the page holds <paramref name="count"/> partitions: a
    /// transaction of another test that ended while the read looked at pg_locks may hold a read back.
    /// </summary>
    private static async Task<PartitionChangePage> ReadAsync(IStoreExport store, long after, int count, int limit = StoreLimits.DefaultPageSize)
    {
        var deadline = DateTime.UtcNow + s_timeout;
        while (true)
        {
            var page = await store.ReadChangedPartitionsAsync(after, limit);
            if (page.Items.Count >= count || DateTime.UtcNow > deadline)
            {
                return page;
            }

            await Task.Delay(20);
        }
    }

    private static async Task<List<(string Partition, long Revision)>> MarksAsync(TestSchema schema)
    {
        await using var connection = new NpgsqlConnection(schema.Server.ConnectionString);
        await connection.OpenAsync();
        await using var command = new NpgsqlCommand($"SELECT partition, revision FROM \"{schema.Name}\".partition_marks ORDER BY partition COLLATE \"C\"", connection);
        await using var reader = await command.ExecuteReaderAsync();
        var marks = new List<(string, long)>();
        while (await reader.ReadAsync())
        {
            marks.Add((reader.GetString(0), reader.GetInt64(1)));
        }

        return marks;
    }

    /// <summary>A connection of its own with a transaction open after <paramref name="statements"/>; disposing it rolls the transaction back.</summary>
    private static async Task<NpgsqlConnection> OpenTransactionAsync(TestSchema schema, params string[] statements)
    {
        var connection = new NpgsqlConnection(schema.Server.ConnectionString);
        await connection.OpenAsync();
        foreach (var statement in (string[])["BEGIN", .. statements])
        {
            await using var command = new NpgsqlCommand(statement, connection);
            await command.ExecuteNonQueryAsync();
        }

        return connection;
    }

    private static async IAsyncEnumerable<ImportedPartition> Stream(IEnumerable<ImportedPartition> partitions)
    {
        foreach (var partition in partitions)
        {
            await Task.Yield();
            yield return partition;
        }
    }
}
