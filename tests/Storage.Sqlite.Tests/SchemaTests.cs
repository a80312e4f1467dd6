using System.Security.Cryptography;
using System.Text;
using System.Text.RegularExpressions;
using Storage.Sqlite.Internal;
using Xunit.Abstractions;

namespace Storage.Sqlite.Tests;

/// <summary>The on-disk format: tables a person can read, numbered migrations, and refusal of what the store cannot read.</summary>
public sealed class SchemaTests(ITestOutputHelper output) : IDisposable
{
    private readonly TestDatabase _db = new();

    public void Dispose() => _db.Dispose();

    [Fact]
    public async Task Values_are_stored_as_text_byte_for_byte_and_keys_as_text()
    {
        var json = "{\"z\":1.0e+2,\"a\":[18446744073709551617,-0.0],\"s\":\"caf\\u00e9 caf\u00e9 \U0001F600\"}";
        await using (var store = _db.Open())
        {
            await store.PutAsync("Ä", "c", "\U0001F600", json, expiresAt: _db.Clock.GetUtcNow().AddDays(1));
        }

        using var connection = _db.Connect();
        using var command = connection.CreateCommand();
        command.CommandText = "SELECT typeof(value), hex(value), typeof(partition), typeof(key), key, value, created_at, expires_at FROM documents";
        using var reader = command.ExecuteReader();
        Assert.True(reader.Read());
        Assert.Equal("text", reader.GetString(0));
        Assert.Equal(Convert.ToHexString(Encoding.UTF8.GetBytes(json)), reader.GetString(1));
        Assert.Equal("text", reader.GetString(2));
        Assert.Equal("text", reader.GetString(3));
        Assert.Equal("\U0001F600", reader.GetString(4));
        Assert.Equal(json, reader.GetString(5));
        Assert.Equal(_db.Clock.GetUtcNow().ToUnixTimeMilliseconds(), reader.GetInt64(6));
        Assert.Equal(_db.Clock.GetUtcNow().AddDays(1).ToUnixTimeMilliseconds(), reader.GetInt64(7));
    }

    [Fact]
    public async Task Events_are_stored_as_text_byte_for_byte_with_readable_ids()
    {
        var data = "{\"z\":1.0e+2,\"s\":\"caf\u00e9 \U0001F600\"}";
        var id = Guid.Parse("0193a5c4-7d2e-7b3f-9c1a-2b3c4d5e6f70");
        await using (var store = _db.Open())
        {
            await store.AppendAsync("p", "audit/\U0001F600", [EventData.Create("Opened", data, id: id), EventData.Create("Noted", "[]", """{"by":"me"}""")]);
        }

        using var connection = _db.Connect();
        using var command = connection.CreateCommand();
        command.CommandText = "SELECT stream, version, revision, event_id, type, typeof(data), hex(data), typeof(metadata), metadata, committed_at FROM events ORDER BY version";
        using var reader = command.ExecuteReader();
        Assert.True(reader.Read());
        Assert.Equal("audit/\U0001F600", reader.GetString(0));
        Assert.Equal((1L, 1L), (reader.GetInt64(1), reader.GetInt64(2)));
        Assert.Equal("0193a5c4-7d2e-7b3f-9c1a-2b3c4d5e6f70", reader.GetString(3));
        Assert.Equal("Opened", reader.GetString(4));
        Assert.Equal("text", reader.GetString(5));
        Assert.Equal(Convert.ToHexString(Encoding.UTF8.GetBytes(data)), reader.GetString(6));
        Assert.Equal("null", reader.GetString(7));
        Assert.Equal(_db.Clock.GetUtcNow().ToUnixTimeMilliseconds(), reader.GetInt64(9));
        Assert.True(reader.Read());
        Assert.Equal("text", reader.GetString(7));
        Assert.Equal("""{"by":"me"}""", reader.GetString(8));
        Assert.Equal("audit/\U0001F600=2", TestDatabase.Scalar(connection, "SELECT stream || '=' || version FROM streams"));
    }

    [Fact]
    public async Task The_change_feed_query_reads_each_table_through_its_revision_index()
    {
        await using (var store = _db.Open())
        {
        }

        using var connection = _db.Connect();
        using var command = connection.CreateCommand();
        command.CommandText = "EXPLAIN QUERY PLAN " + Sql.ReadChanges.Sql;
        foreach (var name in Sql.ReadChanges.ParameterNames)
        {
            command.Parameters.AddWithValue(name, name == "@partition" ? "p" : 1L);
        }

        var plan = new List<string>();
        using (var reader = command.ExecuteReader())
        {
            while (reader.Read())
            {
                plan.Add(reader.GetString(3));
            }
        }

        output.WriteLine(string.Join("\n", plan));
        Assert.Contains("MERGE (UNION ALL)", plan);
        Assert.Contains(plan, p => Regex.IsMatch(p, @"^SEARCH documents USING (COVERING )?INDEX documents_by_version \(partition=\? AND version>\?\)$"));
        foreach (var table in new[] { "tombstones", "events", "sequences" })
        {
            Assert.Contains(plan, p => Regex.IsMatch(p, $@"^SEARCH {table} USING (COVERING )?INDEX {table}_by_revision \(partition=\? AND revision>\?\)$"));
        }

        // Nothing is scanned, and the only sorting is of the rows of one revision (the index gives the revision order).
        Assert.DoesNotContain(plan, p => p.StartsWith("SCAN", StringComparison.Ordinal));
        Assert.All(plan.Where(p => p.Contains("TEMP B-TREE", StringComparison.Ordinal)), p => Assert.Contains("LAST", p, StringComparison.Ordinal));
    }

    [Fact]
    public async Task Every_index_query_and_count_is_one_range_search_of_the_entries_joined_to_documents_by_primary_key()
    {
        await using (var store = _db.Open())
        {
        }

        using var connection = _db.Connect();
        foreach (var statement in Sql.Queries)
        {
            var plan = Plan(connection, statement);
            output.WriteLine($"{statement.Sql}\n  {string.Join("\n  ", plan)}");
            var entries = statement.ParameterNames.Contains("@partition")
                ? @"^SEARCH e USING COVERING INDEX index_entries_by_partition \(partition=\? AND index_id=\? AND (value>\?|\(value,key\)>\(\?,\?\)) AND (value<\?|\(value,key\)<\(\?,\?\))\)$"
                : @"^SEARCH e USING PRIMARY KEY \(index_id=\? AND (value>\?|\(value,partition,key\)>\(\?,\?,\?\)) AND (value<\?|\(value,partition,key\)<\(\?,\?,\?\))\)$";

            // The entries drive the join in the query's order (no sort), and each finds its document by
            // primary key; a count reads the entries alone.
            Assert.Matches(entries, plan[0]);
            if (statement == Sql.Count || statement == Sql.CountInPartition)
            {
                Assert.Single(plan);
            }
            else
            {
                Assert.Equal(2, plan.Count);
                Assert.Equal("SEARCH d USING PRIMARY KEY (partition=? AND collection=? AND key=?)", plan[1]);
            }
        }

        // What writes, deletes, purges, conflicts and builds run is a search too.
        const string ByDocument = @"^SEARCH index_entries USING (COVERING )?INDEX index_entries_by_document \(partition=\? AND key=\? AND index_id=\?\)$";
        const string IndexesOfCollection = @"^SEARCH (indexes|i) USING COVERING INDEX sqlite_autoindex_indexes_1 \(collection=\?\)$";
        Assert.Collection(
            Plan(connection, Sql.DeleteDocumentEntries),
            p => Assert.Matches(ByDocument, p),
            p => Assert.Equal("LIST SUBQUERY 1", p),
            p => Assert.Matches(IndexesOfCollection, p));
        foreach (var statement in new[] { Sql.ReadDocumentEntries, Sql.SetEntriesExpiry })
        {
            Assert.Collection(
                Plan(connection, statement),
                p => Assert.Matches(ByDocument, p),
                p => Assert.StartsWith("LIST SUBQUERY", p, StringComparison.Ordinal),
                p => Assert.Matches(IndexesOfCollection, p));
        }

        Assert.Equal(["SEARCH index_entries USING PRIMARY KEY (index_id=? AND value=? AND partition=? AND key=?)"], Plan(connection, Sql.DeleteEntry));
        Assert.Collection(
            Plan(connection, Sql.PurgeExpiredEntries),
            p => Assert.Matches(ByDocument, p),
            p => Assert.StartsWith("LIST SUBQUERY", p, StringComparison.Ordinal),
            p => Assert.Matches(@"^SEARCH d USING (COVERING )?INDEX documents_by_expiry \(expires_at<\?\)$", p),
            p => Assert.Matches(IndexesOfCollection, p));
        Assert.Matches(@"^SEARCH index_entries USING (COVERING )?INDEX index_entries_by_document \(partition=\?\)$", Assert.Single(Plan(connection, Sql.DeletePartitionEntries)));
        Assert.Equal(["SEARCH index_entries USING PRIMARY KEY (index_id=? AND value=?)"], Plan(connection, Sql.FindHolderInStore));
        Assert.Matches(@"^SEARCH index_entries USING (PRIMARY KEY \(index_id=\? AND value=\? AND partition=\?\)|COVERING INDEX index_entries_by_partition \(partition=\? AND index_id=\? AND value=\?\))$", Assert.Single(Plan(connection, Sql.FindHolderInPartition)));
        Assert.Equal(["SEARCH index_entries USING PRIMARY KEY (index_id=?)"], Plan(connection, Sql.DeleteIndexEntries));

        // A build reads the partitions and, in each, the collection's documents in key order: nothing sorted.
        Assert.Equal(["SCAN p", "SEARCH d USING PRIMARY KEY (partition=? AND collection=?)"], Plan(connection, Sql.ReadIndexSource));

        static List<string> Plan(Microsoft.Data.Sqlite.SqliteConnection connection, Statement statement)
        {
            using var command = connection.CreateCommand();
            command.CommandText = "EXPLAIN QUERY PLAN " + statement.Sql;
            foreach (var name in statement.ParameterNames)
            {
                command.Parameters.AddWithValue(name, name is "@partition" or "@collection" or "@key" ? "p" : 1L);
            }

            var plan = new List<string>();
            using var reader = command.ExecuteReader();
            while (reader.Read())
            {
                plan.Add(reader.GetString(3));
            }

            return plan;
        }
    }

    [Fact]
    public async Task Index_entries_hold_text_or_integer_values_in_code_point_order_with_the_scope_of_unique_indexes()
    {
        string[] values = ["b", "\uFFFF", "\U0001F600", "a", "\uE000", "\U0010FFFF", "A", "ab"];
        IndexDefinition tags = new("c", "tags", "tags", IndexValueType.String);
        IndexDefinition n = new("c", "n", "n", IndexValueType.Int64, unique: true, IndexScope.Partition);
        IndexDefinition email = new("c", "email", "email", IndexValueType.String, unique: true, IndexScope.Global);
        await using (var store = _db.Open(o => o.Indexes = [tags, n, email]))
        {
            await store.PutAsync("p", "c", "k", $$"""{"tags":{{System.Text.Json.JsonSerializer.Serialize(values)}},"n":-5,"email":"e"}""");
        }

        using var connection = _db.Connect();
        Assert.Equal("c.tags=1,c.n=2,c.email=3", TestDatabase.Scalar(connection, "SELECT group_concat(collection || '.' || name || '=' || id, ',') FROM (SELECT * FROM indexes ORDER BY id)"));
        Assert.Equal(
            string.Join(',', values.Order(StorageKeyComparer.Instance)),
            TestDatabase.Scalar(connection, "SELECT group_concat(value, ',') FROM (SELECT value FROM index_entries WHERE index_id = 1 AND typeof(value) = 'text' AND unique_scope IS NULL ORDER BY value)"));
        Assert.Equal("integer:-5:1,text:e:2", TestDatabase.Scalar(connection, "SELECT group_concat(typeof(value) || ':' || value || ':' || unique_scope, ',') FROM (SELECT * FROM index_entries WHERE index_id IN (2, 3) ORDER BY index_id)"));
    }

    [Fact]
    public async Task Sql_orders_keys_in_code_point_order_like_every_backend()
    {
        string[] keys = ["b", "\uFFFF", "\U0001F600", "a", "\uE000", "\U0010FFFF", "A", "ab"];
        await using (var store = _db.Open())
        {
            await store.CommitAsync("p", keys.Select(k => WriteOperation.Put("c", k, "0")).ToList());
        }

        using var connection = _db.Connect();
        using var command = connection.CreateCommand();
        command.CommandText = "SELECT key FROM documents ORDER BY key";
        using var reader = command.ExecuteReader();
        var ordered = new List<string>();
        while (reader.Read())
        {
            ordered.Add(reader.GetString(0));
        }

        Assert.Equal(keys.Order(StorageKeyComparer.Instance), ordered);
    }

    [Fact]
    public async Task Opening_records_the_migrations_and_the_format_version()
    {
        await using (var store = _db.Open())
        {
        }

        using var connection = _db.Connect();
        Assert.Equal(5L, TestDatabase.Scalar(connection, "SELECT value FROM storage_meta WHERE key = 'format_version'"));
        Assert.Equal("1,2,3,4,5", TestDatabase.Scalar(connection, "SELECT group_concat(version, ',') FROM (SELECT version FROM storage_migrations ORDER BY version)"));
        Assert.Equal((long)Schema.ApplicationId, TestDatabase.Scalar(connection, "PRAGMA application_id"));
        Assert.Equal("wal", TestDatabase.Scalar(connection, "PRAGMA journal_mode"));
    }

    [Fact]
    public async Task A_database_of_a_newer_format_is_refused_and_left_unchanged()
    {
        await using (var store = _db.Open())
        {
            await store.PutAsync("p", "c", "k", "1");
        }

        using (var connection = _db.Connect())
        {
            TestDatabase.Execute(connection, "UPDATE storage_meta SET value = 7 WHERE key = 'format_version'");
        }

        var before = Hash(_db.Path);
        var e = Assert.Throws<UnsupportedFormatException>(() => _db.Open());

        Assert.Equal(7, e.FoundVersion);
        Assert.Equal(5, e.SupportedVersion);
        Assert.Equal(_db.Path, e.Location);
        Assert.Equal(before, Hash(_db.Path));
    }

    [Fact]
    public async Task Migrations_apply_in_order_at_open_and_a_failing_one_applies_nothing()
    {
        await using (var store = _db.Open())
        {
            await store.PutAsync("p", "c", "k", "1");
        }

        var next = Schema.CurrentVersion(Schema.Migrations) + 1;
        Migration[] failing = [.. Schema.Migrations, new(next, "add notes", ["CREATE TABLE notes (id INTEGER PRIMARY KEY)", "INSERT INTO no_such_table VALUES (1)"])];
        Assert.Throws<StorageException>(() => SqliteStore.Open(_db.Options(), failing));
        using (var connection = _db.Connect())
        {
            Assert.Equal((long)next - 1, TestDatabase.Scalar(connection, "SELECT value FROM storage_meta WHERE key = 'format_version'"));
            Assert.Equal(0L, TestDatabase.Scalar(connection, "SELECT count(*) FROM sqlite_schema WHERE name = 'notes'"));
        }

        Migration[] working = [.. Schema.Migrations, new(next, "add notes", ["CREATE TABLE notes (id INTEGER PRIMARY KEY)"]), new(next + 1, "index notes", ["CREATE INDEX notes_by_id ON notes (id)"])];
        await using (var store = SqliteStore.Open(_db.Options(), working))
        {
            Assert.Equal("1", (await store.GetAsync("p", "c", "k"))!.GetJsonText());
        }

        using (var connection = _db.Connect())
        {
            Assert.Equal((long)next + 1, TestDatabase.Scalar(connection, "SELECT value FROM storage_meta WHERE key = 'format_version'"));
            Assert.Equal(string.Join(',', Enumerable.Range(1, next + 1)), TestDatabase.Scalar(connection, "SELECT group_concat(version, ',') FROM (SELECT version FROM storage_migrations ORDER BY version)"));
            Assert.Equal(1L, TestDatabase.Scalar(connection, "SELECT count(*) FROM sqlite_schema WHERE name = 'notes_by_id'"));
        }

        // This library now refuses the file.
        Assert.Equal(next + 1, Assert.Throws<UnsupportedFormatException>(() => _db.Open()).FoundVersion);
    }

    [Fact]
    public async Task A_format_1_database_is_upgraded_in_place_its_documents_stay_and_its_feed_resumes_from_its_current_revision()
    {
        // A file as format 1 wrote it: the schema of migration 1, rows as its commits left them.
        await using (var store = SqliteStore.Open(_db.Options(), Schema.Migrations.Take(1).ToList()))
        {
        }

        var t = _db.Clock.GetUtcNow().ToUnixTimeMilliseconds();
        using (var connection = _db.Connect())
        {
            Assert.Equal(1L, TestDatabase.Scalar(connection, "SELECT value FROM storage_meta WHERE key = 'format_version'"));
            Assert.Equal(0L, TestDatabase.Scalar(connection, "SELECT count(*) FROM sqlite_schema WHERE name IN ('events', 'streams', 'tombstones')"));

            // alice was last written at revision 5; a partition at revision 7 was deleted since; bob was created after that.
            TestDatabase.Execute(connection, $$"""
                UPDATE storage_meta SET value = 7 WHERE key = 'revision_floor';
                INSERT INTO partitions (partition, revision) VALUES ('alice', 5), ('bob', 9);
                INSERT INTO documents VALUES
                    ('alice', 'c', 'a', '{"n":1}', 2, {{t}}, {{t}}, NULL),
                    ('alice', 'c', 'x', '{"n":2}', 4, {{t}}, {{t}}, {{t + 60_000}}),
                    ('alice', 'c', 'gone', '{}', 3, {{t}}, {{t}}, {{t - 1}}),
                    ('bob', 'c', 'k', 'true', 9, {{t}}, {{t}}, NULL);
                INSERT INTO sequences (partition, name, value) VALUES ('alice', 'n', 3);
                """);
        }

        await using (var store = _db.Open())
        {
            // Reading from 0 returns what the partition holds (documents at their versions, the expired one with its
            // expiry, sequences at the current revision).
            var all = await store.ReadChangesAsync("alice", 0);
            Assert.Equal(["put r2 c/a", "put r3 c/gone", "put r4 c/x", "sequence r5 n=3"], all.Items.Select(Describe));
            Assert.Equal((5L, false), (all.LastRevision, all.HasMore));

            // Older history is unknown (deletes left no tombstones): resuming before the current revision is refused.
            var truncated = await Assert.ThrowsAsync<ChangeFeedTruncatedException>(async () => await store.ReadChangesAsync("alice", 4));
            Assert.Equal(5, truncated.OldestResumableRevision);
            Assert.Equal((0, 5L, false), await Page(store, "alice", 5));
            await Assert.ThrowsAsync<ChangeFeedTruncatedException>(async () => await store.ReadChangesAsync("bob", 8));
            Assert.Equal(["put r9 c/k"], (await store.ReadChangesAsync("bob", 0)).Items.Select(Describe));

            // The upgraded partition goes on: a delete and an append in one commit, then an increment.
            var result = await store.CommitAsync("alice", [WriteOperation.Delete("c", "a"), WriteOperation.Append("log", [EventData.Create("Opened", "{}"), EventData.Create("Closed", "{}")], ExpectedStreamVersion.NoStream)]);
            Assert.Equal(6, result.Revision);
            Assert.Equal(4, await store.IncrementSequenceAsync("alice", "n"));
            Assert.Equal(["delete r6 c/a", "append r6 log@1", "append r6 log@2", "sequence r7 n=4"], (await store.ReadChangesAsync("alice", 5)).Items.Select(Describe));
            Assert.Equal([new StreamInfo("log", 2)], (await store.ListStreamsAsync("alice")).Items);

            // A partition created now starts above the floor, and its feed resumes from its first revision.
            Assert.Equal(8, await store.PutAsync("carol", "c", "k", "1"));
            Assert.Equal((0, 8L, false), await Page(store, "carol", 8));
            await Assert.ThrowsAsync<ChangeFeedTruncatedException>(async () => await store.ReadChangesAsync("carol", 7));
        }

        using (var connection = _db.Connect())
        {
            Assert.Equal(5L, TestDatabase.Scalar(connection, "SELECT value FROM storage_meta WHERE key = 'format_version'"));
            Assert.Equal("alice=7/5,bob=9/9,carol=8/8", TestDatabase.Scalar(connection, "SELECT group_concat(partition || '=' || revision || '/' || oldest_resumable, ',') FROM (SELECT * FROM partitions ORDER BY partition)"));
            Assert.Equal(7L, TestDatabase.Scalar(connection, "SELECT revision FROM sequences WHERE partition = 'alice' AND name = 'n'"));
            Assert.Equal("ok", TestDatabase.Scalar(connection, "PRAGMA integrity_check"));
        }

        static string Describe(Change c) => c.Kind switch
        {
            ChangeKind.Put => $"put r{c.Revision} {c.Collection}/{c.Key}",
            ChangeKind.Delete => $"delete r{c.Revision} {c.Collection}/{c.Key}",
            ChangeKind.Append => $"append r{c.Revision} {c.Event!.Stream}@{c.Event.Version}",
            _ => $"sequence r{c.Revision} {c.SequenceName}={c.SequenceValue}",
        };

        static async Task<(int Count, long Last, bool More)> Page(IStore store, string partition, long after)
        {
            var page = await store.ReadChangesAsync(partition, after);
            return (page.Items.Count, page.LastRevision, page.HasMore);
        }
    }

    [Fact]
    public async Task A_format_2_database_is_upgraded_in_place_and_the_indexes_declared_at_that_open_are_built_from_its_documents()
    {
        IndexDefinition email = new("users", "email", "email", IndexValueType.String, unique: true, IndexScope.Global);
        IndexDefinition age = new("users", "age", "age", IndexValueType.Int64);
        await using (var store = SqliteStore.Open(_db.Options(), Schema.Migrations.Take(2).ToList()))
        {
        }

        // Rows as format 2 wrote them (this library's writes need the checksum column of format 4).
        var t = _db.Clock.GetUtcNow().ToUnixTimeMilliseconds();
        using (var connection = _db.Connect())
        {
            Assert.Equal(2L, TestDatabase.Scalar(connection, "SELECT value FROM storage_meta WHERE key = 'format_version'"));
            Assert.Equal(0L, TestDatabase.Scalar(connection, "SELECT count(*) FROM sqlite_schema WHERE name IN ('indexes', 'index_entries')"));
            TestDatabase.Execute(connection, $$"""
                INSERT INTO partitions (partition, revision, oldest_resumable) VALUES ('alice', 2, 2), ('bob', 4, 1);
                INSERT INTO documents VALUES
                    ('bob', 'users', 'b', '{"email":"b@x","age":-4}', 1, {{t}}, {{t}}, NULL),
                    ('alice', 'users', 'a', '{"email":"a@x","age":30}', 2, {{t}}, {{t}}, NULL),
                    ('bob', 'users', 'gone', '{"email":"a@x","age":"old"}', 3, {{t}}, {{t}}, {{t + 60_000}}),
                    ('bob', 'notes', 'n', '{"email":"a@x"}', 4, {{t}}, {{t}}, NULL);
                """);
        }

        _db.Clock.Advance(TimeSpan.FromMinutes(1));
        await using (var store = _db.Open(o => o.Indexes = [email, age]))
        {
            Assert.Equal([("a@x", "alice", "a"), ("b@x", "bob", "b")], (await store.QueryAsync(new IndexQuery("users", "email"))).Items.Select(m => (m.Value.AsString, m.Document.Partition, m.Document.Key)));
            Assert.Equal([-4L, 30], (await store.QueryAsync(new IndexQuery("users", "age"))).Items.Select(m => m.Value.AsInt64));
            await Assert.ThrowsAsync<UniqueConstraintException>(async () => await store.PutAsync("carol", "users", "c", """{"email":"a@x"}"""));
            await store.PutAsync("carol", "users", "c", """{"email":"c@x"}""");
        }

        using (var connection = _db.Connect())
        {
            Assert.Equal(5L, TestDatabase.Scalar(connection, "SELECT value FROM storage_meta WHERE key = 'format_version'"));
            Assert.Equal("1,2,3,4,5", TestDatabase.Scalar(connection, "SELECT group_concat(version, ',') FROM (SELECT version FROM storage_migrations ORDER BY version)"));
            Assert.Equal(1L, TestDatabase.Scalar(connection, "SELECT value FROM storage_meta WHERE key = 'index_generation'"));
            Assert.Equal(5L, TestDatabase.Scalar(connection, "SELECT count(*) FROM index_entries"));
            Assert.Equal("ok", TestDatabase.Scalar(connection, "PRAGMA integrity_check"));
        }
    }

    [Fact]
    public async Task An_upgrade_whose_index_build_fails_applies_neither_the_migration_nor_any_index()
    {
        await using (var store = SqliteStore.Open(_db.Options(), Schema.Migrations.Take(2).ToList()))
        {
        }

        using (var connection = _db.Connect())
        {
            var t = _db.Clock.GetUtcNow().ToUnixTimeMilliseconds();
            TestDatabase.Execute(connection, $$"""
                INSERT INTO partitions (partition, revision, oldest_resumable) VALUES ('p', 1, 1);
                INSERT INTO documents VALUES ('p', 'users', 'a', '{"age":"forty"}', 1, {{t}}, {{t}}, NULL);
                """);
        }

        var e = Assert.Throws<IndexBuildException>(() => _db.Open(o => o.Indexes = [new IndexDefinition("users", "name", "name", IndexValueType.String), new IndexDefinition("users", "age", "age", IndexValueType.Int64)]));

        Assert.Equal(("age", "p", "a"), (e.Index, e.Partition, e.Key));
        using (var connection = _db.Connect())
        {
            Assert.Equal(2L, TestDatabase.Scalar(connection, "SELECT value FROM storage_meta WHERE key = 'format_version'"));
            Assert.Equal(0L, TestDatabase.Scalar(connection, "SELECT count(*) FROM sqlite_schema WHERE name IN ('indexes', 'index_entries')"));
        }

        await using var reopened = _db.Open();
        Assert.Equal("""{"age":"forty"}""", (await reopened.GetAsync("p", "users", "a"))!.GetJsonText());
    }

    [Fact]
    public void A_file_that_is_not_a_sqlite_database_raises_CorruptDataException_naming_it_and_is_left_alone()
    {
        var content = Encoding.UTF8.GetBytes("{\"this is\": \"a JSON file, not a database\"}" + new string(' ', 5000));
        File.WriteAllBytes(_db.Path, content);

        var e = Assert.Throws<CorruptDataException>(() => _db.Open());

        Assert.Equal(_db.Path, e.Location);
        Assert.Contains(_db.Path, e.Message, StringComparison.Ordinal);
        Assert.Equal(content, File.ReadAllBytes(_db.Path));
    }

    [Fact]
    public void Another_applications_sqlite_database_is_refused_and_not_modified()
    {
        using (var connection = _db.Connect())
        {
            TestDatabase.Execute(connection, "CREATE TABLE users (id INTEGER PRIMARY KEY, name TEXT)");
        }

        var before = Hash(_db.Path);
        var e = Assert.Throws<CorruptDataException>(() => _db.Open());

        Assert.Equal(_db.Path, e.Location);
        Assert.Equal(before, Hash(_db.Path));
        Assert.False(File.Exists(_db.Path + "-wal"), "the store switched the other application's database to WAL mode");
        using var check = _db.Connect();
        Assert.Equal(0L, TestDatabase.Scalar(check, "SELECT count(*) FROM sqlite_schema WHERE name LIKE 'storage%'"));
    }

    [Fact]
    public async Task A_damaged_page_is_found_by_the_integrity_check_on_open_and_on_demand()
    {
        long pages;
        await using (var store = _db.Open())
        {
            for (var i = 0; i < 50; i++)
            {
                await store.CommitAsync("p", Enumerable.Range(0, 20).Select(j => WriteOperation.Put("c", $"k{i:D3}-{j:D2}", $"{{\"n\":\"{new string('x', 200)}\"}}")).ToList());
            }

            await store.CheckIntegrityAsync();
        }

        // The last connection to close checkpointed the WAL into the file.
        Assert.False(File.Exists(_db.Path + "-wal"));
        using (var connection = _db.Connect())
        {
            pages = (long)TestDatabase.Scalar(connection, "PRAGMA page_count")!;
        }

        // No connection is open now: damage the last page (a leaf of the documents table).
        using (var file = new FileStream(_db.Path, FileMode.Open, FileAccess.Write))
        {
            file.Position = (pages - 1) * 4096;
            file.Write(Enumerable.Repeat((byte)0xA5, 4096).ToArray());
        }

        var damaged = Hash(_db.Path);
        var onOpen = Assert.Throws<CorruptDataException>(() => _db.Open(o => o.CheckIntegrityOnOpen = true));
        Assert.Equal(_db.Path, onOpen.Location);
        Assert.Contains("integrity_check", onOpen.Reason, StringComparison.Ordinal);
        Assert.Equal(damaged, Hash(_db.Path));

        await using var opened = _db.Open();
        var onDemand = await Assert.ThrowsAsync<CorruptDataException>(async () => await opened.CheckIntegrityAsync());
        Assert.Equal(_db.Path, onDemand.Location);
        var onRead = await Assert.ThrowsAsync<CorruptDataException>(async () => await opened.ListAsync("p", "c", new ListOptions { Limit = 1000 }));
        Assert.Equal(_db.Path, onRead.Location);
    }

    private static string Hash(string path) => Convert.ToHexString(SHA256.HashData(File.ReadAllBytes(path)));
}
