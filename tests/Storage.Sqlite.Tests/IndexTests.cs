using System.Globalization;
using Microsoft.Data.Sqlite;
using Storage.Internal;
using Xunit.Abstractions;

namespace Storage.Sqlite.Tests;

/// <summary>
/// What the conformance suite cannot see of the SQLite backend's indexes: the rows of
/// <c>indexes</c> and <c>index_entries</c>, the open-time synchronization of declarations (logged,
/// all or nothing, serialized), the catalog generation between store instances on one file, and
/// uniqueness inside a group commit.
/// </summary>
public sealed class IndexTests(ITestOutputHelper output) : IDisposable
{
    private const string Users = "users";
    private static readonly IndexDefinition s_email = new(Users, "email", "email", IndexValueType.String, unique: true, IndexScope.Global);
    private static readonly IndexDefinition s_name = new(Users, "name", "name", IndexValueType.String);
    private static readonly IndexDefinition s_age = new(Users, "age", "age", IndexValueType.Int64);
    private static readonly IndexDefinition s_handle = new(Users, "handle", "handle", IndexValueType.String, unique: true, IndexScope.Partition);
    private readonly TestDatabase _db = new();

    public void Dispose() => _db.Dispose();

    [Fact]
    public async Task Opening_builds_new_and_changed_indexes_and_drops_removed_ones_logging_each_through_the_logger_factory()
    {
        await using (var store = _db.Open())
        {
            await store.PutAsync("p1", Users, "a", """{"email":"a@x","name":"Ann","nick":"an","age":30}""");
            await store.PutAsync("p2", Users, "b", """{"email":"b@x","name":"Bob","age":40}""");
            await store.PutAsync("p2", "other", "c", """{"email":"c@x","name":"Cy"}""");
        }

        var log = new ListLoggerFactory();
        await using (var store = _db.Open(o => Configure(o, [s_email, s_name], log)))
        {
            Assert.Equal(1, store.IndexGeneration);
        }

        Assert.Equal(["Building index users.email (new) from the existing documents.", "Building index users.name (new) from the existing documents."], log.Messages(100));
        Assert.All(log.Messages(102), m => Assert.Matches(@"^Built index users\.(email|name): 2 documents, 2 entries, in \d+ ms\.$", m));
        Assert.Equal(2, log.Messages(102).Count());
        Assert.All(log.Entries, e => Assert.Equal("Storage.Sqlite.SqliteStore", e.Category));
        Assert.Equal("users.email#1=2,users.name#2=2", Catalog());

        // The same declarations: nothing is built, logged or changed.
        log = new ListLoggerFactory();
        await using (var store = _db.Open(o => Configure(o, [s_email, s_name], log)))
        {
            Assert.Equal(1, store.IndexGeneration);
        }

        Assert.Empty(log.Entries);
        Assert.Equal("users.email#1=2,users.name#2=2", Catalog());

        // name now reads another path (a new id), age is new, email is gone.
        log = new ListLoggerFactory();
        await using (var store = _db.Open(o => Configure(o, [new IndexDefinition(Users, "name", "nick", IndexValueType.String), s_age], log)))
        {
            Assert.Equal(2, store.IndexGeneration);
            Assert.Equal(["an"], (await store.QueryAsync(new IndexQuery(Users, "name"))).Items.Select(m => m.Value.AsString));
        }

        Assert.Equal(["Building index users.name (changed) from the existing documents.", "Building index users.age (new) from the existing documents."], log.Messages(100));
        Assert.Equal(["Dropped index users.email: it is no longer declared."], log.Messages(103));
        Assert.Equal("users.name#3=1,users.age#4=2", Catalog());
        Assert.Equal(2L, Meta("index_generation"));

        string Catalog()
        {
            using var connection = _db.Connect();
            return (string)TestDatabase.Scalar(connection, """
                SELECT group_concat(collection || '.' || name || '#' || id || '=' || (SELECT count(*) FROM index_entries WHERE index_id = id), ',')
                FROM (SELECT * FROM indexes ORDER BY id)
                """)!;
        }
    }

    [Fact]
    public async Task An_open_that_keeps_the_stored_indexes_adopts_them_while_the_app_runs_changing_nothing_and_enforcing_their_unique_values()
    {
        var path = new IndexDefinition(Users, "path", "a|b.c", IndexValueType.String);
        await using var app = _db.Open(o => o.Indexes = [s_email, s_age, path]);
        await app.PutAsync("p1", Users, "a", """{"email":"a@x","age":30,"a|b":{"c":"deep"}}""");

        // A tool opens the app's file without knowing its declarations, and writes through it.
        var log = new ListLoggerFactory();
        await using (var tool = _db.Open(o => { o.KeepStoredIndexes = true; o.LoggerFactory = log; }))
        {
            Assert.Equal(app.IndexGeneration, tool.IndexGeneration);
            Assert.Equal(["a"], (await tool.QueryAsync(new IndexQuery(Users, "email") { Equal = "a@x" })).Items.Select(m => m.Document.Key));
            Assert.Equal(["deep"], (await tool.QueryAsync(new IndexQuery(Users, "path"))).Items.Select(m => m.Value.AsString));
            await Assert.ThrowsAsync<UniqueConstraintException>(() => tool.PutAsync("p2", Users, "b", """{"email":"a@x"}""").AsTask());
            await tool.PutAsync("p2", Users, "b", """{"email":"b@x","age":41}""");
        }

        Assert.Empty(log.Entries);
        Assert.Equal(3L, Count("SELECT count(*) FROM indexes"));

        // The app's instance still writes (the generation did not move), and sees the tool's write in its index.
        await app.PutAsync("p3", Users, "c", """{"email":"c@x"}""");
        Assert.Equal(["a", "b", "c"], (await app.QueryAsync(new IndexQuery(Users, "email"))).Items.Select(m => m.Document.Key));
        Assert.Equal([41L], (await app.QueryAsync(new IndexQuery(Users, "age") { Partition = "p2" })).Items.Select(m => m.Value.AsInt64));

        // Declaring indexes as well is a mistake, refused before the file is touched.
        var both = Assert.Throws<ArgumentException>(() => _db.Open(o => { o.KeepStoredIndexes = true; o.Indexes = [s_email]; }));
        Assert.Contains("KeepStoredIndexes", both.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_failed_build_changes_nothing_and_releases_the_file()
    {
        await using (var store = _db.Open(o => o.Indexes = [s_name]))
        {
            await store.PutAsync("p", Users, "a", """{"name":"Ann","age":"forty","email":"e@x"}""");
            await store.PutAsync("q", Users, "b", """{"name":"Bob","age":40,"email":"e@x"}""");
        }

        var before = Snapshot();
        var log = new ListLoggerFactory();

        var e = Assert.Throws<IndexBuildException>(() => _db.Open(o => Configure(o, [s_email, s_name, s_age], log)));

        // The first failing index in declaration order is reported, as by the reference model.
        Assert.Equal(("email", "q", "b"), (e.Index, e.Partition, e.Key));
        Assert.Empty(log.Messages(102));
        Assert.Empty(TestDatabase.OpenDescriptorsOf(_db.Path));
        Assert.Equal(before, Snapshot());
        using (var connection = _db.Connect())
        {
            TestDatabase.Execute(connection, "PRAGMA busy_timeout = 0");
            TestDatabase.Execute(connection, "BEGIN EXCLUSIVE");
            TestDatabase.Execute(connection, "ROLLBACK");
        }

        await using var reopened = _db.Open(o => o.Indexes = [s_name]);
        Assert.Equal(["Ann", "Bob"], (await reopened.QueryAsync(new IndexQuery(Users, "name"))).Items.Select(m => m.Value.AsString));
        Assert.Equal(1, reopened.IndexGeneration);

        string Snapshot()
        {
            using var connection = _db.Connect();
            return (string)TestDatabase.Scalar(connection, """
                SELECT (SELECT group_concat(id || ':' || signature, ';') FROM indexes)
                    || '|' || (SELECT group_concat(index_id || ':' || value || ':' || partition || ':' || key, ';') FROM index_entries)
                    || '|' || (SELECT group_concat(key || '=' || value, ';') FROM storage_meta)
                """)!;
        }
    }

    [Fact]
    public async Task A_failed_build_logs_no_drop_and_keeps_the_index_it_would_have_dropped()
    {
        await using (var store = _db.Open(o => o.Indexes = [s_name]))
        {
            await store.PutAsync("p", Users, "a", """{"name":"Ann","age":"forty"}""");
        }

        var log = new ListLoggerFactory();

        // name is no longer declared and age cannot be built: the drop is rolled back with the build, so it is not logged.
        Assert.Throws<IndexBuildException>(() => _db.Open(o => Configure(o, [s_age], log)));
        Assert.Equal(["Building index users.age (new) from the existing documents."], log.Messages(100));
        Assert.Empty(log.Messages(103));

        await using var reopened = _db.Open(o => o.Indexes = [s_name]);
        Assert.Equal(["Ann"], (await reopened.QueryAsync(new IndexQuery(Users, "name"))).Items.Select(m => m.Value.AsString));
        Assert.Equal(1, reopened.IndexGeneration);
    }

    [Fact]
    public async Task An_instance_whose_declarations_another_replaced_can_no_longer_write_nor_read_a_dropped_index()
    {
        await using var first = _db.Open(o => o.Indexes = [s_email]);
        await first.PutAsync("p", Users, "a", """{"email":"a@x"}""");

        // A second instance adds an index: the first would write documents without its entries.
        await using var second = _db.Open(o => o.Indexes = [s_email, s_name]);

        await Assert.ThrowsAsync<IndexDeclarationsChangedException>(async () => await first.PutAsync("p", Users, "b", """{"email":"b@x","name":"Bo"}"""));
        await Assert.ThrowsAsync<IndexDeclarationsChangedException>(async () => await first.CommitAsync("q", [WriteOperation.Put("other", "k", "1")]));
        await Assert.ThrowsAsync<IndexDeclarationsChangedException>(async () => await first.IncrementSequenceAsync("p", "n"));
        await Assert.ThrowsAsync<IndexDeclarationsChangedException>(async () => await first.DeletePartitionAsync("p"));
        Assert.Null(await second.GetAsync("p", Users, "b"));
        Assert.Equal(["p"], (await second.ListPartitionsAsync()).Items.Select(i => i.Partition));

        // Reading an index both know is still right; the newcomer writes.
        Assert.Equal(["a"], (await first.QueryAsync(new IndexQuery(Users, "email"))).Items.Select(m => m.Document.Key));
        await second.PutAsync("p", Users, "b", """{"email":"b@x","name":"Bo"}""");
        Assert.Equal(["a", "b"], (await first.QueryAsync(new IndexQuery(Users, "email"))).Items.Select(m => m.Document.Key));

        // A third drops email: the first can no longer read it (its id is gone), the second no longer write.
        await using var third = _db.Open(o => o.Indexes = [s_name]);
        await Assert.ThrowsAsync<IndexDeclarationsChangedException>(async () => await first.QueryAsync(new IndexQuery(Users, "email")));
        await Assert.ThrowsAsync<IndexDeclarationsChangedException>(async () => await first.CountAsync(new IndexQuery(Users, "email")));
        await Assert.ThrowsAsync<IndexDeclarationsChangedException>(async () => await second.PutAsync("p", Users, "c", """{"email":"b@x"}"""));
        Assert.Equal(["Bo"], (await second.QueryAsync(new IndexQuery(Users, "name"))).Items.Select(m => m.Value.AsString));
        await third.PutAsync("p", Users, "c", """{"email":"b@x","name":"Cy"}""");
        Assert.Equal(2, await third.CountAsync(new IndexQuery(Users, "name")));
    }

    [Fact]
    public async Task Instances_with_identical_declarations_share_the_file_without_rebuilding_or_disturbing_each_other()
    {
        await using var first = _db.Open(o => o.Indexes = [s_email, s_name]);
        await first.PutAsync("p", Users, "a", """{"email":"a@x","name":"Ann"}""");
        var log = new ListLoggerFactory();

        await using var second = _db.Open(o => Configure(o, [s_email, s_name], log));

        Assert.Empty(log.Entries);
        Assert.Equal(first.IndexGeneration, second.IndexGeneration);
        await second.PutAsync("q", Users, "b", """{"email":"b@x","name":"Ann"}""");
        await first.PutAsync("r", Users, "c", """{"name":"Ann"}""");
        Assert.Equal(["a", "b", "c"], (await second.QueryAsync(new IndexQuery(Users, "name") { Equal = "Ann" })).Items.Select(m => m.Document.Key));
        var e = await Assert.ThrowsAsync<UniqueConstraintException>(async () => await first.PutAsync("s", Users, "d", """{"email":"b@x"}"""));
        Assert.Equal(IndexValue.Of("b@x"), e.Value);
    }

    [Fact]
    public async Task Concurrent_opens_with_different_declarations_are_serialized_and_only_the_last_one_can_write()
    {
        await using (var store = _db.Open(o => o.Durability = DurabilityMode.Relaxed))
        {
            for (var first = 0; first < 20_000; first += 500)
            {
                await store.CommitAsync($"p{first / 500}", Enumerable.Range(first, 500).Select(i => WriteOperation.Put(Users, $"u{i}", $$"""{"name":"n{{i % 50}}","age":{{i % 70}}}""")).ToList());
            }
        }

        using var start = new Barrier(2);
        var opening = new IndexDefinition[][] { [s_name], [s_age] }.Select(indexes => Task.Factory.StartNew(
            () =>
            {
                start.SignalAndWait();
                return _db.Open(o => o.Indexes = indexes);
            },
            TaskCreationOptions.LongRunning)).ToList();
        var stores = await Task.WhenAll(opening);
        try
        {
            // Each open changed the declarations in its own transaction: the later one dropped the earlier one's index.
            Assert.Equal(2L, Meta("index_generation"));
            var last = stores.Single(s => s.IndexGeneration == 2);
            var earlier = stores.Single(s => s.IndexGeneration == 1);
            await Assert.ThrowsAsync<IndexDeclarationsChangedException>(async () => await earlier.PutAsync("p0", Users, "new", """{"name":"x","age":1}"""));
            await last.PutAsync("p0", Users, "new", """{"name":"x","age":1}""");
            var kept = last == stores[0] ? "name" : "age";
            using var connection = _db.Connect();
            Assert.Equal(kept, TestDatabase.Scalar(connection, "SELECT group_concat(name) FROM indexes"));
            Assert.Equal(20_001L, TestDatabase.Scalar(connection, "SELECT count(*) FROM index_entries"));
            output.WriteLine($"the open declaring {kept} synchronized last");
        }
        finally
        {
            foreach (var store in stores)
            {
                await store.DisposeAsync();
            }
        }
    }

    [Fact]
    public async Task An_expired_holder_of_a_unique_value_gives_up_its_entries_when_another_document_takes_the_value()
    {
        await using var store = _db.Open(o => o.Indexes = [s_email, s_name, s_handle]);
        await store.PutAsync("p1", Users, "old", """{"email":"a@x","name":"Old","handle":"h"}""", expiresAt: _db.Clock.GetUtcNow().AddMinutes(1));
        await store.PutAsync("p1", Users, "live", """{"handle":"h2"}""");
        await Assert.ThrowsAsync<UniqueConstraintException>(async () => await store.PutAsync("p2", Users, "new", """{"email":"a@x"}"""));
        await Assert.ThrowsAsync<UniqueConstraintException>(async () => await store.PutAsync("p1", Users, "new", """{"handle":"h"}"""));
        Assert.Equal(4L, Count("SELECT count(*) FROM index_entries"));

        _db.Clock.Advance(TimeSpan.FromMinutes(1));
        await store.PutAsync("p2", Users, "new", """{"email":"a@x"}""");

        // The expired document's entries went in the same commit; the document itself stays until purged.
        Assert.Equal(0L, Count("SELECT count(*) FROM index_entries WHERE partition = 'p1' AND key = 'old'"));
        Assert.Equal(1L, Count("SELECT count(*) FROM documents WHERE partition = 'p1' AND key = 'old'"));
        await store.PutAsync("p1", Users, "new", """{"handle":"h"}""");
        Assert.Equal(["new", "new"], (await store.QueryAsync(new IndexQuery(Users, "handle") { Equal = "h" })).Items.Concat((await store.QueryAsync(new IndexQuery(Users, "email"))).Items).Select(m => m.Document.Key));
        Assert.Equal(1, await store.PurgeExpiredAsync());
        Assert.Equal(3L, Count("SELECT count(*) FROM index_entries"));
    }

    /// <summary>
    /// A value a document keeps stays in place only while no other put of the batch wants it: the
    /// first conflict the database finds is then the second claim in batch order, as the reference
    /// model reports it — not an earlier put that meets the keeper's entry.
    /// </summary>
    [Fact]
    public async Task A_batch_that_claims_a_kept_value_twice_fails_at_the_second_claim_and_an_update_that_keeps_its_values_keeps_their_entries()
    {
        await using var store = _db.Open(o => o.Indexes = [s_email, s_name]);
        await store.PutAsync("p", Users, "a", """{"email":"a@x","name":"A"}""");
        await store.PutAsync("p", Users, "b", """{"email":"b@x","name":"B"}""");

        var conflict = await Assert.ThrowsAsync<UniqueConstraintException>(async () => await store.CommitAsync("p", [
            WriteOperation.Put(Users, "a", """{"email":"b@x"}"""),
            WriteOperation.Put(Users, "b", """{"email":"b@x","name":"B2"}""")]));
        Assert.Equal(1, conflict.OperationIndex);

        // An update that keeps its values: its entries stay, carrying the document's new expiry.
        var expiresAt = _db.Clock.GetUtcNow().AddHours(1);
        await store.PutAsync("p", Users, "b", """{"email":"b@x","name":"B3"}""", expiresAt: expiresAt);
        Assert.Equal(expiresAt.ToUnixTimeMilliseconds(), Count("SELECT expires_at FROM index_entries WHERE key = 'b' AND value = 'b@x'"));
        Assert.Equal(["B3"], (await store.QueryAsync(new IndexQuery(Users, "name") { Prefix = "B" })).Items.Select(m => m.Value.AsString));
        Assert.Equal(4L, Count("SELECT count(*) FROM index_entries"));
    }

    [Fact]
    public async Task Deletes_partition_deletes_and_purges_remove_exactly_the_entries_of_what_they_remove()
    {
        await using var store = _db.Open(o => o.Indexes = [s_email, s_name, s_age]);
        await store.PutAsync("p1", Users, "a", """{"email":"a@x","name":"A","age":1}""");
        await store.PutAsync("p1", Users, "b", """{"email":"b@x","name":"B","age":2}""");
        await store.PutAsync("p1", "other", "a", """{"email":"a@x","name":"A","age":1}""");
        await store.PutAsync("p2", Users, "a", """{"name":"A","age":[1,2,3]}""");
        await store.PutAsync("p3", Users, "x", """{"email":"x@x","age":9}""", expiresAt: _db.Clock.GetUtcNow().AddSeconds(1));
        await store.PutAsync("p3", Users, "y", """{"email":"y@x"}""");
        Assert.Equal(13L, Count("SELECT count(*) FROM index_entries"));

        await store.DeleteAsync("p1", Users, "a");
        Assert.Equal(10L, Count("SELECT count(*) FROM index_entries"));
        Assert.Equal(0L, Count("SELECT count(*) FROM index_entries WHERE partition = 'p1' AND key = 'a'"));

        Assert.True(await store.DeletePartitionAsync("p2"));
        Assert.Equal(6L, Count("SELECT count(*) FROM index_entries"));

        _db.Clock.Advance(TimeSpan.FromSeconds(1));
        Assert.Equal(1, await store.PurgeExpiredAsync());
        Assert.Equal("p1/b,p1/b,p1/b,p3/y", Text("SELECT group_concat(partition || '/' || key, ',') FROM (SELECT * FROM index_entries ORDER BY partition, key)"));
    }

    [Fact]
    public async Task Writers_racing_for_a_unique_value_in_one_group_each_roll_back_only_their_own_request()
    {
        await using var store = _db.Open(o => o.Indexes = [s_email, s_name]);
        var groups = new List<int>();
        store.GroupCommitted = group =>
        {
            lock (groups)
            {
                groups.Add(group.Count);
            }
        };

        // Hold the writer's turn so that every request below queues up and lands in one group.
        var turn = await WriterTurn.HoldAsync(store);
        var racers = Enumerable.Range(0, 8).Select(i => store.CommitAsync($"w{i}", [
            WriteOperation.Put(Users, "other", $$"""{"name":"racer {{i}}"}"""),
            WriteOperation.Put(Users, "me", """{"email":"same@x","name":"me"}"""),
        ]).AsTask()).ToList();
        var bystander = store.PutAsync("z", Users, "k", """{"email":"z@x","name":"me"}""").AsTask();
        await turn.ReleaseWhenQueuedAsync(9);

        var won = new List<int>();
        for (var i = 0; i < racers.Count; i++)
        {
            try
            {
                await racers[i];
                won.Add(i);
            }
            catch (UniqueConstraintException e)
            {
                Assert.Equal((1, $"w{i}"), (e.OperationIndex, e.Partition));
            }
        }

        await bystander;
        Assert.Contains(9, groups);
        var winner = Assert.Single(won);
        Assert.Equal([$"w{winner}", "z"], (await store.ListPartitionsAsync()).Items.Select(p => p.Partition));
        Assert.Equal([$"w{winner}/me", "z/k"], (await store.QueryAsync(new IndexQuery(Users, "name") { Equal = "me" })).Items.Select(m => $"{m.Document.Partition}/{m.Document.Key}"));
        Assert.Equal(5L, Count("SELECT count(*) FROM index_entries"));
    }

    [Fact]
    public async Task After_random_writes_every_entry_belongs_to_a_stored_document_that_holds_its_value_with_its_expiry_and_every_live_value_has_its_entry()
    {
        var seed = Environment.GetEnvironmentVariable("STORAGE_TEST_SEED") is { Length: > 0 } s ? int.Parse(s, CultureInfo.InvariantCulture) : Random.Shared.Next();
        output.WriteLine($"seed {seed}");
        var random = new Random(seed);
        IndexDefinition[] indexes = [s_email, s_name, s_age, s_handle, new("notes", "tags", "tags", IndexValueType.String)];
        await using var store = _db.Open(o => o.Indexes = indexes);
        string[] partitions = ["p1", "p2", "p3"];
        string[] keys = ["a", "b", "c", "d", "e"];

        // The invariant is checked often: a later batch, partition delete or purge would hide a stale entry.
        for (var i = 0; i < 1_500; i++)
        {
            if (i % 50 == 0)
            {
                CheckEntries();
            }

            var partition = partitions[random.Next(partitions.Length)];
            try
            {
                switch (random.Next(50))
                {
                    case 0:
                        await store.DeletePartitionAsync(partition);
                        break;
                    case 1 or 2:
                        await store.PurgeExpiredAsync();
                        break;
                    case < 8:
                        _db.Clock.Advance(TimeSpan.FromSeconds(random.Next(1, 30)));
                        break;
                    default:
                        var batch = keys.OrderBy(_ => random.Next()).Take(random.Next(1, 4)).Select(key => random.Next(5) == 0
                            ? WriteOperation.Delete(random.Next(4) == 0 ? "notes" : Users, key)
                            : random.Next(4) == 0
                                ? WriteOperation.Put("notes", key, $$"""{"tags":["t{{random.Next(4)}}","t{{random.Next(4)}}"]}""")
                                : WriteOperation.Put(Users, key, Document(random), expiresAt: random.Next(3) == 0 ? _db.Clock.GetUtcNow().AddSeconds(random.Next(1, 60)) : null)).ToList();
                        await store.CommitAsync(partition, batch);
                        break;
                }
            }
            catch (UniqueConstraintException)
            {
            }
            catch (ArgumentException)
            {
            }
        }

        CheckEntries();

        void CheckEntries()
        {
            var now = _db.Clock.GetUtcNow().ToUnixTimeMilliseconds();
            var catalog = new IndexCatalog(indexes);
            var expected = new HashSet<string>(StringComparer.Ordinal);
            var allowed = new HashSet<string>(StringComparer.Ordinal);
            using var connection = _db.Connect();
            using (var command = connection.CreateCommand())
            {
                command.CommandText = "SELECT partition, collection, key, value, expires_at FROM documents";
                using var reader = command.ExecuteReader();
                while (reader.Read())
                {
                    var live = reader.IsDBNull(4) || reader.GetInt64(4) > now;
                    foreach (var index in catalog.For(reader.GetString(1)))
                    {
                        foreach (var value in IndexValues.Extract(index, reader.GetFieldValue<byte[]>(3)))
                        {
                            var entry = $"{index.Name}|{value.Type}:{value}|{reader.GetString(0)}|{reader.GetString(2)}|expires {(reader.IsDBNull(4) ? "never" : reader.GetInt64(4))}";
                            allowed.Add(entry);
                            if (live)
                            {
                                expected.Add(entry);
                            }
                        }
                    }
                }
            }

            var actual = new List<string>();
            using (var command = connection.CreateCommand())
            {
                command.CommandText = "SELECT i.name, e.value, e.partition, e.key, e.expires_at FROM index_entries AS e JOIN indexes AS i ON i.id = e.index_id";
                using var reader = command.ExecuteReader();
                while (reader.Read())
                {
                    var value = reader.GetFieldType(1) == typeof(long) ? $"{IndexValueType.Int64}:{reader.GetInt64(1)}" : $"{IndexValueType.String}:{reader.GetString(1)}";
                    actual.Add($"{reader.GetString(0)}|{value}|{reader.GetString(2)}|{reader.GetString(3)}|expires {(reader.IsDBNull(4) ? "never" : reader.GetInt64(4))}");
                }
            }

                Assert.Equal(actual.Count, actual.Distinct().Count());
            Assert.DoesNotContain(actual, e => !allowed.Contains(e));
            Assert.DoesNotContain(expected, e => !actual.Contains(e));
            Assert.Equal(0L, TestDatabase.Scalar(connection, "SELECT count(*) FROM index_entries AS e WHERE NOT EXISTS (SELECT 1 FROM indexes WHERE id = e.index_id)"));
        }

        static string Document(Random random) => "{" + string.Join(',', new[]
        {
            random.Next(3) == 0 ? null : $"\"email\":\"e{random.Next(8)}@x\"",
            random.Next(3) == 0 ? null : $"\"name\":\"n{random.Next(4)}\"",
            random.Next(20) == 0 ? "\"age\":\"wrong\"" : random.Next(3) == 0 ? null : $"\"age\":[{random.Next(5)},{random.Next(5)}]",
            random.Next(2) == 0 ? null : $"\"handle\":\"h{random.Next(4)}\"",
        }.Where(m => m is not null)) + "}";
    }

    private static void Configure(SqliteStoreOptions options, IReadOnlyList<IndexDefinition> indexes, ListLoggerFactory log)
    {
        options.Indexes = indexes;
        options.LoggerFactory = log;
    }

    private long Count(string sql) => (long)Scalar(sql)!;

    private string Text(string sql) => (string)Scalar(sql)!;

    private long Meta(string key) => (long)Scalar($"SELECT value FROM storage_meta WHERE key = '{key}'")!;

    private object? Scalar(string sql)
    {
        using var connection = _db.Connect();
        return TestDatabase.Scalar(connection, sql);
    }
}
