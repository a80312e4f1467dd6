using System.Text.RegularExpressions;
using Storage.Sqlite.Internal;
using Xunit.Abstractions;

namespace Storage.Sqlite.Tests;

/// <summary>
/// The SQLite translation of the store-wide cursor (<see cref="IStoreExport.ReadChangedPartitionsAsync"/>):
/// the position in <c>storage_meta</c> and on each partition's row, the marks of deleted partitions, the
/// migration of a format 4 file, a position per transaction, and the statements' plans.
/// </summary>
public sealed class CursorTests(ITestOutputHelper output) : IDisposable
{
    private const string Docs = "docs";
    private readonly TestDatabase _db = new();

    public void Dispose() => _db.Dispose();

    [Fact]
    public async Task A_format_4_database_is_upgraded_with_one_position_per_partition_in_code_point_order_and_the_cursor_from_0_lists_them()
    {
        // A file as format 4 wrote it: no positions, no marks.
        await using (var store = SqliteStore.Open(_db.Options(), Schema.Migrations.Take(4).ToList()))
        {
        }

        // Code-point order: "Z" < "a" < "b" < "é" < "\uFFFF" < "😀" (UTF-16 order would put "😀" before "\uFFFF").
        string[] partitions = ["b", "\U0001F600", "a", "\uFFFF", "Z", "é"];
        var t = _db.Clock.GetUtcNow().ToUnixTimeMilliseconds();
        using (var connection = _db.Connect())
        {
            Assert.Equal(0L, TestDatabase.Scalar(connection, "SELECT count(*) FROM sqlite_schema WHERE name = 'deleted_partitions'"));
            TestDatabase.Execute(connection, "UPDATE storage_meta SET value = 3 WHERE key = 'revision_floor'");
            foreach (var (partition, i) in partitions.Select((p, i) => (p, i)))
            {
                TestDatabase.Execute(connection, $"INSERT INTO partitions (partition, revision, oldest_resumable) VALUES ('{partition}', {i + 4}, 1)");
            }
        }

        await using (var store = _db.Open())
        {
            // Pages of two, each partition at a position of its own, so a page never grows past its limit.
            var items = new List<PartitionChange>();
            long after = 0;
            while (true)
            {
                var page = await store.ReadChangedPartitionsAsync(after, 2);
                Assert.True(page.Items.Count <= 2);
                Assert.Equal(3, page.RevisionFloor);
                items.AddRange(page.Items);
                after = page.LastPosition;
                if (!page.HasMore)
                {
                    break;
                }
            }

            string[] ordered = ["Z", "a", "b", "é", "\uFFFF", "\U0001F600"];
            Assert.Equal(ordered, items.Select(i => i.Partition));
            Assert.Equal([1L, 2, 3, 4, 5, 6], items.Select(i => i.Position));
            Assert.Equal(ordered.Select(p => Array.IndexOf(partitions, p) + 4L), items.Select(i => i.Revision));
            Assert.All(items, i => Assert.False(i.Deleted));
            Assert.Equal(6, after);

            // The next commit takes the next position.
            await store.PutAsync("a", Docs, "k", "1");
            Assert.Equal([new PartitionChange("a", 7, false, 7)], (await store.ReadChangedPartitionsAsync(6)).Items);
        }

        using (var connection = _db.Connect())
        {
            Assert.Equal(5L, TestDatabase.Scalar(connection, "SELECT value FROM storage_meta WHERE key = 'format_version'"));
            Assert.Equal(7L, TestDatabase.Scalar(connection, "SELECT value FROM storage_meta WHERE key = 'position'"));
            Assert.Equal(0L, TestDatabase.Scalar(connection, "SELECT value FROM storage_meta WHERE key = 'oldest_position'"));
            Assert.Equal("ok", TestDatabase.Scalar(connection, "PRAGMA integrity_check"));
        }
    }

    [Fact]
    public async Task Positions_marks_and_the_oldest_position_persist_across_a_reopen()
    {
        await using (var store = _db.Open(o => o.TombstoneRetention = TimeSpan.FromHours(1)))
        {
            await store.PutAsync("a", Docs, "k", "1");                        // position 1
            await store.PutAsync("b", Docs, "k", "1");                        // 2
            await store.PutAsync("c", Docs, "k", "1");                        // 3
            Assert.True(await store.DeletePartitionAsync("a"));               // 4
            _db.Clock.Advance(TimeSpan.FromHours(2));
            Assert.True(await store.DeletePartitionAsync("c"));               // 5
            await store.PurgeExpiredAsync();                                  // drops a's mark (deleted two hours ago)
        }

        await using (var store = _db.Open(o => o.TombstoneRetention = TimeSpan.FromHours(1)))
        {
            var page = await store.ReadChangedPartitionsAsync(0);
            Assert.Equal([new PartitionChange("b", 1, false, 2), new PartitionChange("c", 1, true, 5)], page.Items);
            Assert.Equal((5L, false, 1L), (page.LastPosition, page.HasMore, page.RevisionFloor));

            // The purge raised the oldest position to the dropped mark's, durably.
            var truncated = await Assert.ThrowsAsync<ChangedPartitionsTruncatedException>(async () => await store.ReadChangedPartitionsAsync(3));
            Assert.Equal(4, truncated.OldestResumablePosition);
            Assert.Empty((await store.ReadChangedPartitionsAsync(5)).Items);

            // The counter goes on after the reopen, and creating c again replaces its mark.
            await store.PutAsync("c", Docs, "k", "2");
            Assert.Equal([new PartitionChange("c", 2, false, 6)], (await store.ReadChangedPartitionsAsync(4)).Items);
        }

        using var connection = _db.Connect();
        Assert.Equal(6L, TestDatabase.Scalar(connection, "SELECT value FROM storage_meta WHERE key = 'position'"));
        Assert.Equal(4L, TestDatabase.Scalar(connection, "SELECT value FROM storage_meta WHERE key = 'oldest_position'"));
        Assert.Equal(0L, TestDatabase.Scalar(connection, "SELECT count(*) FROM deleted_partitions"));
    }

    [Fact]
    public async Task A_group_commit_spanning_partitions_gives_every_partition_it_changes_one_position_and_a_page_takes_it_whole()
    {
        await using var store = _db.Open();
        await store.PutAsync("doomed", Docs, "k", "1");                     // position 1
        var v = await store.PutAsync("p0", Docs, "k", "1");                 // 2

        var turn = await WriterTurn.HoldAsync(store);
        var writes = new List<Task>
        {
            store.PutAsync("p1", Docs, "k", "1").AsTask(),
            store.CommitAsync("p2", [WriteOperation.Put(Docs, "k", "1")]).AsTask(),
            store.IncrementSequenceAsync("p3", "n").AsTask(),
            store.DeletePartitionAsync("doomed").AsTask(),

            // A write whose condition fails changes nothing and takes no position.
            store.PutAsync("p0", Docs, "k", "2", WriteCondition.MustMatchVersion(v + 1)).AsTask(),
        };
        await turn.ReleaseWhenQueuedAsync(writes.Count);
        await Assert.ThrowsAsync<VersionConflictException>(() => writes[^1]);
        await Task.WhenAll(writes.SkipLast(1));

        // All four changed partitions share position 3; a page of one takes the whole position.
        var page = await store.ReadChangedPartitionsAsync(2, 1);
        Assert.Equal(["doomed", "p1", "p2", "p3"], page.Items.Select(i => i.Partition));
        Assert.All(page.Items, i => Assert.Equal(3, i.Position));
        Assert.Equal([true, false, false, false], page.Items.Select(i => i.Deleted));
        Assert.Equal(1, page.Items[0].Revision);
        Assert.Equal((3L, false), (page.LastPosition, page.HasMore));

        // From 0, a page of one ends after position 1 with more to come.
        var first = await store.ReadChangedPartitionsAsync(0, 1);
        Assert.Equal(["p0"], first.Items.Select(i => i.Partition));
        Assert.Equal((2L, true), (first.LastPosition, first.HasMore));
    }

    [Fact]
    public async Task The_import_fast_path_and_a_restore_position_their_partitions_and_replace_a_mark()
    {
        await using var store = _db.Open();
        await store.PutAsync("gone", Docs, "k", "1");                       // position 1
        Assert.True(await store.DeletePartitionAsync("gone"));              // 2: a mark at revision 1
        Assert.Equal([new PartitionChange("gone", 1, true, 2)], (await store.ReadChangedPartitionsAsync(0)).Items);

        // The import creates "gone" again (the fast path: it has no row) and "fresh".
        await store.ImportAsync(Stream(new ImportedPartition("gone", [WriteOperation.Put(Docs, "a", "1")]), new ImportedPartition("fresh", [WriteOperation.Put(Docs, "b", "1")])));
        var imported = (await store.ReadChangedPartitionsAsync(2)).Items;
        Assert.Equal([("fresh", false), ("gone", false)], imported.Select(i => (i.Partition, i.Deleted)).Order());
        Assert.All(imported, i => Assert.True(i.Position > 2));

        // A restore of a deleted partition takes a position and replaces its mark too.
        var export = (await store.ExportPartitionAsync("fresh"))!;
        Assert.True(await store.DeletePartitionAsync("fresh"));
        var deleted = (await store.ReadChangedPartitionsAsync(0)).Items.Single(i => i.Partition == "fresh");
        Assert.True(deleted.Deleted);
        await store.RestoreAsync(await store.GetExportInfoAsync(), Stream(export));
        var restored = (await store.ReadChangedPartitionsAsync(0)).Items.Single(i => i.Partition == "fresh");
        Assert.False(restored.Deleted);
        Assert.True(restored.Position > deleted.Position);

        using var connection = _db.Connect();
        Assert.Equal(0L, TestDatabase.Scalar(connection, "SELECT count(*) FROM deleted_partitions"));
    }

    [Fact]
    public async Task A_deleted_document_in_the_change_feed_carries_its_tombstones_time()
    {
        await using var store = _db.Open();
        await store.PutAsync("p", Docs, "k", "1");
        _db.Clock.Advance(TimeSpan.FromMinutes(3));
        Assert.True(await store.DeleteAsync("p", Docs, "k"));

        var delete = Assert.Single((await store.ReadChangesAsync("p", 1)).Items);
        Assert.Equal((ChangeKind.Delete, (DateTimeOffset?)_db.Clock.GetUtcNow()), (delete.Kind, delete.DeletedAt));
    }

    [Fact]
    public async Task The_cursor_reads_each_table_through_its_position_index()
    {
        await using (var store = _db.Open())
        {
        }

        using var connection = _db.Connect();
        foreach (var statement in new[] { Sql.CursorLastPosition, Sql.CursorItems, Sql.CursorHasMore })
        {
            using var command = connection.CreateCommand();
            command.CommandText = "EXPLAIN QUERY PLAN " + statement.Sql;
            foreach (var name in statement.ParameterNames)
            {
                command.Parameters.AddWithValue(name, 1L);
            }

            var plan = new List<string>();
            using (var reader = command.ExecuteReader())
            {
                while (reader.Read())
                {
                    plan.Add(reader.GetString(3));
                }
            }

            output.WriteLine($"{statement.Sql}\n  {string.Join("\n  ", plan)}");
            Assert.Contains(plan, p => Regex.IsMatch(p, @"^SEARCH partitions USING (COVERING )?INDEX partitions_by_position \(position>\? AND position<\?\)$"));
            Assert.Contains(plan, p => Regex.IsMatch(p, @"^SEARCH deleted_partitions USING (COVERING )?INDEX deleted_partitions_by_position \(position>\? AND position<\?\)$"));
            Assert.DoesNotContain(plan, p => p.StartsWith("SCAN", StringComparison.Ordinal) && p != "SCAN CONSTANT ROW");
            if (statement != Sql.CursorHasMore)
            {
                // The two arms are merged in order: nothing is sorted.
                Assert.Contains("MERGE (UNION ALL)", plan);
                Assert.DoesNotContain(plan, p => p.Contains("TEMP B-TREE", StringComparison.Ordinal));
            }
        }
    }

    private static async IAsyncEnumerable<T> Stream<T>(params T[] items)
    {
        foreach (var item in items)
        {
            await Task.Yield();
            yield return item;
        }
    }
}
