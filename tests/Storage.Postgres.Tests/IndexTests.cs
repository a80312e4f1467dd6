using System.Text;
using Microsoft.Extensions.Time.Testing;
using Npgsql;
using Xunit.Abstractions;

namespace Storage.Postgres.Tests;

/// <summary>
/// Secondary indexes in PostgreSQL: uniqueness across store instances (separate connection pools),
/// index declarations changed by another instance, builds at open (serialized, all or nothing,
/// logged), the entries purges and partition deletes leave, and the query plans.
/// </summary>
public sealed class IndexTests(ITestOutputHelper output)
{
    private const string Users = "users";

    private static readonly DateTimeOffset s_start = new(2030, 1, 1, 0, 0, 0, TimeSpan.Zero);

    private static IndexDefinition Email => new(Users, "email", "email", IndexValueType.String, unique: true, IndexScope.Global);

    private static IndexDefinition Codes => new(Users, "codes", "codes", IndexValueType.String, unique: true, IndexScope.Global);

    private static IndexDefinition Age => new(Users, "age", "age", IndexValueType.Int64);

    private static IndexDefinition Handle => new(Users, "handle", "handle", IndexValueType.String, unique: true, IndexScope.Partition);

    private static IndexDefinition[] All => [Email, Codes, Age, Handle];

    [Fact]
    public async Task Store_instances_on_separate_data_sources_racing_for_one_global_unique_value_in_different_partitions_exactly_one_wins()
    {
        await using var schema = await TestSchema.CreateAsync("idxrace");
        var logs = new ListLoggerFactory();
        var stores = new List<PostgresStore>();
        for (var i = 0; i < 4; i++)
        {
            // Each opens its own data source: four connection pools, as four app servers would have.
            stores.Add(await schema.OpenAsync(o => (o.Indexes, o.LoggerFactory) = (All, logs)));
        }

        for (var round = 0; round < 25; round++)
        {
            var value = $"race-{round}@x";
            var gate = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            var writers = Enumerable.Range(0, 8).Select(w => Task.Run(async () =>
            {
                await gate.Task;
                try
                {
                    await stores[w % stores.Count].PutAsync($"w{w}", Users, "me", $$"""{"email":"{{value}}"}""");
                    return true;
                }
                catch (UniqueConstraintException e)
                {
                    Assert.Equal((IndexValue.Of(value), 0, $"w{w}"), (e.Value, e.OperationIndex, e.Partition));
                    return false;
                }
            })).ToList();
            gate.SetResult();
            var results = await Task.WhenAll(writers);

            Assert.Equal(1, results.Count(won => won));
            var winner = $"w{Array.IndexOf(results, true)}";
            Assert.Equal([winner], await schema.QueryAsync($"SELECT partition FROM \"{schema.Name}\".index_strings WHERE value = $1", value));
            var match = Assert.Single((await stores[(round + 1) % stores.Count].QueryAsync(new IndexQuery(Users, "email") { Equal = value })).Items);
            Assert.Equal(winner, match.Document.Partition);
        }

        // Writers found the value free when they read its holder, and the database's unique index stopped them.
        Assert.True(logs.Count(6) > 0, "no writer lost a race at the unique index; the test proved nothing");
    }

    [Fact]
    public async Task Batches_taking_several_unique_values_in_opposite_orders_from_two_instances_do_not_deadlock_and_exactly_one_wins()
    {
        await using var schema = await TestSchema.CreateAsync("idxorder");
        var logs = new ListLoggerFactory();
        var first = await schema.OpenAsync(o => (o.Indexes, o.LoggerFactory) = (All, logs));
        var second = await schema.OpenAsync(o => (o.Indexes, o.LoggerFactory) = (All, logs));
        for (var round = 0; round < 20; round++)
        {
            // Many values each, so that the two inserts overlap: a takes the xs then the ys, b the ys then the xs.
            var xs = string.Join(',', Enumerable.Range(0, 300).Select(i => $"\"x{round:D2}-{i:D3}\""));
            var ys = string.Join(',', Enumerable.Range(0, 300).Select(i => $"\"y{round:D2}-{i:D3}\""));
            var gate = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            var a = Task.Run(async () =>
            {
                await gate.Task;
                return await TryAsync(() => first.CommitAsync("a", [
                    WriteOperation.Put(Users, "1", $$"""{"codes":[{{xs}}]}"""),
                    WriteOperation.Put(Users, "2", $$"""{"codes":[{{ys}},"z{{round}}a"]}"""),
                ]).AsTask());
            });
            var b = Task.Run(async () =>
            {
                await gate.Task;
                return await TryAsync(() => second.CommitAsync("b", [
                    WriteOperation.Put(Users, "1", $$"""{"codes":["z{{round}}b",{{ys}}]}"""),
                    WriteOperation.Put(Users, "2", $$"""{"codes":[{{xs}}]}"""),
                ]).AsTask());
            });
            gate.SetResult();
            var outcomes = await Task.WhenAll(a, b);

            // Either wins; the loser's first put holds the first taken value.
            Assert.Single(outcomes, o => o is null);
            var lost = Assert.Single(outcomes, o => o is not null)!;
            Assert.Equal(0, lost.OperationIndex);
            Assert.Equal(lost.Partition == "a" ? $"x{round:D2}-000" : $"y{round:D2}-000", lost.Value.AsString);
            Assert.Equal(600, await first.CountAsync(new IndexQuery(Users, "codes") { Prefix = $"x{round:D2}-" }) + await second.CountAsync(new IndexQuery(Users, "codes") { Prefix = $"y{round:D2}-" }));
        }

        // Both insert x before y (index, value order), so neither ever waits for the other in a cycle.
        Assert.DoesNotContain(logs.Entries, e => e.Message.Contains(Npgsql.PostgresErrorCodes.DeadlockDetected, StringComparison.Ordinal));

        static async Task<UniqueConstraintException?> TryAsync(Func<Task> commit)
        {
            try
            {
                await commit();
                return null;
            }
            catch (UniqueConstraintException e)
            {
                return e;
            }
        }
    }

    [Fact]
    public async Task A_value_held_by_an_expired_document_is_taken_over_by_another_instance_and_racers_for_it_have_one_winner()
    {
        await using var schema = await TestSchema.CreateAsync("idxexpired");
        var time = new FakeTimeProvider(s_start);
        var first = await schema.OpenAsync(o => (o.Indexes, o.TimeProvider) = (All, time));
        var second = await schema.OpenAsync(o => (o.Indexes, o.TimeProvider) = (All, time));

        await first.PutAsync("p1", Users, "old", """{"email":"e@x"}""", expiresAt: time.GetUtcNow().AddMinutes(1));
        await Assert.ThrowsAsync<UniqueConstraintException>(async () => await second.PutAsync("p2", Users, "new", """{"email":"e@x"}"""));
        time.Advance(TimeSpan.FromMinutes(1));

        await second.PutAsync("p2", Users, "new", """{"email":"e@x"}""");

        Assert.Equal([("p2", "new")], (await first.QueryAsync(new IndexQuery(Users, "email") { Equal = "e@x" })).Items.Select(m => (m.Document.Partition, m.Document.Key)));
        Assert.Equal(["p2"], await schema.QueryAsync($"SELECT partition FROM \"{schema.Name}\".index_strings WHERE value = 'e@x'"));
        Assert.Equal(1, await first.PurgeExpiredAsync());

        // Racers for a value whose holder has just expired: one takes it over.
        for (var round = 0; round < 10; round++)
        {
            var value = $"v{round}@x";
            await first.PutAsync("holder", Users, $"k{round}", $$"""{"email":"{{value}}"}""", expiresAt: time.GetUtcNow().AddSeconds(1));
            time.Advance(TimeSpan.FromSeconds(1));
            var gate = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            var writers = Enumerable.Range(0, 6).Select(w => Task.Run(async () =>
            {
                await gate.Task;
                try
                {
                    await (w % 2 == 0 ? first : second).PutAsync($"r{w}", Users, "me", $$"""{"email":"{{value}}"}""");
                    return true;
                }
                catch (UniqueConstraintException)
                {
                    return false;
                }
            })).ToList();
            gate.SetResult();
            var results = await Task.WhenAll(writers);

            Assert.Equal(1, results.Count(won => won));
            Assert.Equal([$"r{Array.IndexOf(results, true)}"], await schema.QueryAsync($"SELECT partition FROM \"{schema.Name}\".index_strings WHERE value = $1", value));
        }
    }

    [Fact]
    public async Task An_instance_whose_declarations_another_instance_changed_refuses_to_write_and_to_query_a_dropped_index()
    {
        await using var schema = await TestSchema.CreateAsync("idxchanged");
        var first = await schema.OpenAsync(o => o.Indexes = [Email]);
        await first.PutAsync("p", Users, "a", """{"email":"a@x","age":30}""");

        var second = await schema.OpenAsync(o => o.Indexes = [Email, Age]);
        Assert.Equal(["a"], (await second.QueryAsync(new IndexQuery(Users, "age") { Equal = 30L })).Items.Select(m => m.Document.Key));

        // The first would write documents that the age index never learns of.
        await Assert.ThrowsAsync<IndexDeclarationsChangedException>(async () => await first.PutAsync("p", Users, "b", """{"age":30}"""));
        Assert.Null(await first.GetAsync("p", Users, "b"));
        Assert.Equal(1, (await first.ListPartitionsAsync()).Items.Single().Revision);

        // Its unchanged index still answers; an instance with the same declarations disturbs nobody.
        Assert.Single((await first.QueryAsync(new IndexQuery(Users, "email") { Equal = "a@x" })).Items);
        var generation = await GenerationAsync(schema);
        var third = await schema.OpenAsync(o => o.Indexes = [Email, Age]);
        Assert.Equal(generation, await GenerationAsync(schema));
        await second.PutAsync("p", Users, "b", """{"age":30}""");
        await third.PutAsync("p", Users, "c", """{"age":30}""");
        Assert.Equal(3, await second.CountAsync(new IndexQuery(Users, "age") { Equal = 30L }));

        // Dropping the email index: queries of it from instances that still declare it fail rather than find nothing.
        await schema.OpenAsync(o => o.Indexes = [Age]);
        await Assert.ThrowsAsync<IndexDeclarationsChangedException>(async () => await first.QueryAsync(new IndexQuery(Users, "email") { Equal = "a@x" }));
        await Assert.ThrowsAsync<IndexDeclarationsChangedException>(async () => await second.CountAsync(new IndexQuery(Users, "email")));
        await Assert.ThrowsAsync<IndexDeclarationsChangedException>(async () => await second.PutAsync("p", Users, "d", "{}"));
        Assert.Equal(3, await second.CountAsync(new IndexQuery(Users, "age")));
    }

    [Fact]
    public async Task An_instance_that_keeps_the_stored_indexes_adopts_the_apps_declarations_changing_nothing_and_enforcing_their_unique_values()
    {
        await using var schema = await TestSchema.CreateAsync("idxkeep");
        var app = await schema.OpenAsync(o => o.Indexes = [Email, Age]);
        await app.PutAsync("p", Users, "a", """{"email":"a@x","age":30}""");
        var generation = await GenerationAsync(schema);

        // A tool that does not know the declarations: it neither drops them nor lets a duplicate in.
        var logs = new ListLoggerFactory();
        var tool = await schema.OpenAsync(o => (o.KeepStoredIndexes, o.LoggerFactory) = (true, logs));
        Assert.Equal(generation, await GenerationAsync(schema));
        Assert.Equal(["a"], (await tool.QueryAsync(new IndexQuery(Users, "age") { Equal = 30L })).Items.Select(m => m.Document.Key));
        await Assert.ThrowsAsync<UniqueConstraintException>(async () => await tool.PutAsync("q", Users, "b", """{"email":"a@x"}"""));
        await tool.PutAsync("q", Users, "b", """{"email":"b@x","age":30}""");
        Assert.DoesNotContain(logs.Entries, e => e.Message.Contains("index", StringComparison.OrdinalIgnoreCase));

        // The app goes on writing, and its index holds the tool's write.
        await app.PutAsync("p", Users, "c", """{"age":30}""");
        Assert.Equal(3, await app.CountAsync(new IndexQuery(Users, "age") { Equal = 30L }));
    }

    [Fact]
    public async Task A_writer_racing_an_open_that_adds_an_index_either_commits_before_the_build_reads_or_is_refused()
    {
        await using var schema = await TestSchema.CreateAsync("idxbuildrace");
        var writer = await schema.OpenAsync(o => o.Indexes = [Email]);
        for (var i = 0; i < 500; i++)
        {
            await writer.PutAsync($"p{i % 10}", Users, $"seed{i}", $$"""{"age":{{i}}}""");
        }

        var written = 0;
        var writing = Task.Run(async () =>
        {
            for (var i = 0; ; i++)
            {
                try
                {
                    await writer.PutAsync($"p{i % 10}", Users, $"w{i}", $$"""{"age":{{i}}}""");
                    written++;
                }
                catch (IndexDeclarationsChangedException)
                {
                    return;
                }
            }
        });

        // Open while the old instance is writing: wait for its first writes, not for a fixed time.
        while (Volatile.Read(ref written) < 10 && !writing.IsCompleted)
        {
            await Task.Delay(10);
        }

        var opener = await schema.OpenAsync(o => o.Indexes = [Email, Age]);
        await writing;

        // Every document the old instance managed to write is in the index that was built meanwhile.
        Assert.True(written > 0, "the writer never wrote before the open; the test proved nothing");
        Assert.Equal(500 + written, await opener.CountAsync(new IndexQuery(Users, "age")));
        Assert.Equal(500 + written, await CountDocumentsAsync(schema));
    }

    [Fact]
    public async Task Instances_opening_together_with_different_declarations_take_turns_and_leave_one_consistent_catalog()
    {
        await using var schema = await TestSchema.CreateAsync("idxopeners");
        var seed = await schema.OpenAsync();
        for (var p = 0; p < 20; p++)
        {
            await seed.CommitAsync($"p{p}", [.. Enumerable.Range(0, 50).Select(k => WriteOperation.Put(Users, $"k{k}", $$"""{"email":"{{p}}-{{k}}@x","age":{{k}},"handle":"h{{k}}"}"""))]);
        }

        IndexDefinition[][] declarations = [[Email], [Age], [Email, Age], [Handle, Age], [], [Age, Email, Handle]];
        var opened = await Task.WhenAll(declarations.Select(d => Task.Run(() => schema.OpenAsync(o => o.Indexes = d))));

        var persisted = (await schema.QueryAsync($"SELECT name FROM \"{schema.Name}\".index_definitions ORDER BY name")).Cast<string>().ToList();
        var last = Assert.Single(declarations, d => d.Select(i => i.Name).Order(StringComparer.Ordinal).SequenceEqual(persisted));
        var store = opened[Array.IndexOf(declarations, last)];
        foreach (var index in last)
        {
            Assert.Equal(1000, await store.CountAsync(new IndexQuery(Users, index.Name)));
        }

        Assert.Equal((long)(1000 * last.Length), (long)(await schema.QueryAsync($"SELECT (SELECT count(*) FROM \"{schema.Name}\".index_strings) + (SELECT count(*) FROM \"{schema.Name}\".index_int64s)"))[0]!);
        await store.PutAsync("p0", Users, "new", """{"email":"new@x","age":1,"handle":"new"}""");
    }

    [Fact]
    public async Task A_build_that_fails_changes_nothing_and_releases_its_connections()
    {
        await using var schema = await TestSchema.CreateAsync("idxfail");
        var store = await schema.OpenAsync(o => o.Indexes = [Age]);
        await store.PutAsync("p", Users, "a", """{"age":1,"email":"same"}""");
        await store.PutAsync("q", Users, "b", """{"age":2,"email":"same"}""");
        var generation = await GenerationAsync(schema);
        var application = "idxfail" + TestSchema.UniqueSuffix();

        var e = await Assert.ThrowsAsync<IndexBuildException>(async () => await PostgresStore.OpenAsync(schema.Options(o =>
        {
            o.ConnectionString += ";Application Name=" + application;
            o.Indexes = [Email];
        })));

        Assert.Equal(("email", "q", "b"), (e.Index, e.Partition, e.Key));
        Assert.Equal(generation, await GenerationAsync(schema));
        Assert.Equal(["age"], await schema.QueryAsync($"SELECT name FROM \"{schema.Name}\".index_definitions"));
        Assert.Equal(0L, (await schema.QueryAsync($"SELECT count(*) FROM \"{schema.Name}\".index_strings"))[0]);
        await store.PutAsync("p", Users, "c", """{"age":3}""");

        // The store made its own data source; it closed every connection of it.
        for (var wait = 0; wait < 50 && (long)(await schema.QueryAsync("SELECT count(*) FROM pg_stat_activity WHERE application_name = $1", application))[0]! > 0; wait++)
        {
            await Task.Delay(100);
        }

        Assert.Equal(0L, (await schema.QueryAsync("SELECT count(*) FROM pg_stat_activity WHERE application_name = $1", application))[0]);
    }

    [Fact]
    public async Task Builds_and_drops_are_logged_through_the_logger_factory()
    {
        await using var schema = await TestSchema.CreateAsync("idxlog");
        var store = await schema.OpenAsync(o => o.Indexes = [Email]);
        await store.PutAsync("p", Users, "a", """{"email":"a@x","age":1}""");
        await store.PutAsync("p", Users, "b", """{"email":"b@x","tags":[1]}""");
        var logs = new ListLoggerFactory();

        await schema.OpenAsync(o => (o.Indexes, o.LoggerFactory) = ([Age, new IndexDefinition(Users, "email", "email", IndexValueType.String)], logs));

        var lines = logs.Entries.Where(e => e.Event.Id is >= 100 and <= 103).Select(e => e.Message).ToList();
        Assert.Equal(
            [
                "Building index users.age (new) from the existing documents.",
                "Building index users.email (changed) from the existing documents.",
            ],
            lines.Where(l => l.StartsWith("Building", StringComparison.Ordinal)));
        Assert.Contains(lines, l => l.StartsWith("Built index users.age: 2 documents, 1 entries, in ", StringComparison.Ordinal));
        Assert.Contains(lines, l => l.StartsWith("Built index users.email: 2 documents, 2 entries, in ", StringComparison.Ordinal));
        Assert.DoesNotContain(lines, l => l.StartsWith("Dropped", StringComparison.Ordinal));

        logs = new ListLoggerFactory();
        await schema.OpenAsync(o => (o.Indexes, o.LoggerFactory) = ([Age], logs));
        Assert.Equal(["Dropped index users.email: it is no longer declared."], logs.Entries.Where(e => e.Event.Id is >= 100 and <= 103).Select(e => e.Message));
    }

    [Fact]
    public async Task Overwriting_an_expired_document_that_a_later_index_could_not_index_replaces_its_other_entries()
    {
        await using var schema = await TestSchema.CreateAsync("idxstale");
        var time = new FakeTimeProvider(s_start);
        var store = await schema.OpenAsync(o => (o.Indexes, o.TimeProvider) = ([Email], time));
        await store.PutAsync("p", Users, "d", """{"email":"a@x","age":"old"}""", expiresAt: time.GetUtcNow().AddMinutes(1));
        time.Advance(TimeSpan.FromMinutes(1));

        // The age index skips the expired document (its age is not an integer); the email entry stays until a purge.
        store = await schema.OpenAsync(o => (o.Indexes, o.TimeProvider) = ([Email, Age], time));
        await store.PutAsync("p", Users, "d", """{"email":"b@x","age":5}""");

        Assert.Equal(["b@x"], await schema.QueryAsync($"SELECT value FROM \"{schema.Name}\".index_strings WHERE key = 'd'"));
        Assert.Equal([5L], await schema.QueryAsync($"SELECT value FROM \"{schema.Name}\".index_int64s WHERE key = 'd'"));
    }

    [Fact]
    public async Task A_document_keeping_a_unique_value_that_an_expired_put_of_its_group_also_carries_still_holds_it_alone()
    {
        await using var schema = await TestSchema.CreateAsync("idxkeep");
        var time = new FakeTimeProvider(s_start);
        var store = await schema.OpenAsync(o => (o.Indexes, o.TimeProvider) = (All, time));
        await store.PutAsync("p", Users, "a", """{"email":"x@x","age":1}""");
        var groups = store.GroupCommits;

        // A transaction holding the partition's row keeps a first write waiting, so the next two commit as one group.
        Task first, expired, kept;
        await using (var blocker = new NpgsqlConnection(schema.Server.ConnectionString))
        {
            await blocker.OpenAsync();
            await using var transaction = await blocker.BeginTransactionAsync();
            await using (var command = new NpgsqlCommand($"SELECT 1 FROM \"{schema.Name}\".partitions WHERE partition = 'p' FOR UPDATE", blocker, transaction))
            {
                await command.ExecuteScalarAsync();
            }

            first = store.PutAsync("p", Users, "z", "{}").AsTask();
            while ((long)(await schema.QueryAsync($"SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND query LIKE '%{schema.Name}%'"))[0]! == 0)
            {
                await Task.Delay(10);
            }

            // The expired put takes no value, so the value a gives up in the first batch is a's again in the second.
            expired = await Queue(() => store.CommitAsync("p", [
                WriteOperation.Delete(Users, "a"),
                WriteOperation.Put(Users, "b", """{"email":"x@x"}""", expiresAt: time.GetUtcNow().AddMinutes(-1))]).AsTask(), 1);
            kept = await Queue(() => store.PutAsync("p", Users, "a", """{"email":"x@x","age":2}""").AsTask(), 2);
            await transaction.CommitAsync();
        }

        await Task.WhenAll(first, expired, kept);
        Assert.Equal(2, store.GroupCommits - groups);
        Assert.Equal(["a"], await schema.QueryAsync($"SELECT key FROM \"{schema.Name}\".index_strings WHERE value = 'x@x'"));
        await AssertEntriesMatchDocumentsAsync(schema, time.GetUtcNow());
        var conflict = await Assert.ThrowsAsync<UniqueConstraintException>(async () => await store.PutAsync("q", Users, "c", """{"email":"x@x"}"""));
        Assert.Equal(("q", IndexValue.Of("x@x")), (conflict.Partition, conflict.Value));

        async Task<Task> Queue(Func<Task> request, int waiting)
        {
            var task = request();
            while (store.WaitingRequests("p") < waiting)
            {
                await Task.Yield();
            }

            return task;
        }
    }

    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    public async Task The_live_entries_are_exactly_the_values_of_the_live_documents_after_random_writes(int seed)
    {
        output.WriteLine($"seed {seed}");
        var random = new Random(seed);
        await using var schema = await TestSchema.CreateAsync("idxrandom");
        var time = new FakeTimeProvider(s_start);
        var stores = new[]
        {
            await schema.OpenAsync(o => (o.Indexes, o.TimeProvider) = (All, time)),
            await schema.OpenAsync(o => (o.Indexes, o.TimeProvider) = (All, time)),
        };
        string Pick(string prefix, int pool) => $"{prefix}{random.Next(pool)}";
        string Document()
        {
            var members = new List<string>();
            if (random.Next(4) > 0)
            {
                members.Add($"\"email\":\"{Pick("e", 12)}\"");
            }

            if (random.Next(3) > 0)
            {
                members.Add($"\"codes\":[{string.Join(',', Enumerable.Range(0, random.Next(4)).Select(_ => $"\"{Pick("c", 15)}\""))}]");
            }

            if (random.Next(5) > 0)
            {
                members.Add($"\"age\":{random.Next(-3, 4)}");
            }

            if (random.Next(3) > 0)
            {
                members.Add($"\"handle\":\"{Pick("h", 4)}\"");
            }

            return "{" + string.Join(',', members) + "}";
        }

        for (var step = 1; step <= 400; step++)
        {
            var store = stores[random.Next(stores.Length)];
            var partition = Pick("p", 4);
            try
            {
                switch (random.Next(20))
                {
                    case < 12:
                        await store.CommitAsync(partition, [.. Enumerable.Range(0, random.Next(1, 4)).Select(_ => Pick("k", 6)).Distinct().Select(key =>
                            random.Next(4) == 0
                                ? WriteOperation.Delete(Users, key)
                                : WriteOperation.Put(Users, key, Document(), expiresAt: random.Next(3) == 0 ? time.GetUtcNow().AddSeconds(random.Next(1, 20)) : null))]);
                        break;
                    case < 16:
                        await store.PutAsync(partition, Users, Pick("k", 6), Document());
                        break;
                    case < 18:
                        time.Advance(TimeSpan.FromSeconds(random.Next(1, 10)));
                        break;
                    case 18:
                        await store.PurgeExpiredAsync();
                        break;
                    default:
                        await store.DeletePartitionAsync(partition);
                        break;
                }
            }
            catch (UniqueConstraintException)
            {
            }

            if (step % 50 == 0)
            {
                await AssertEntriesMatchDocumentsAsync(schema, time.GetUtcNow());
            }
        }
    }

    [Fact]
    public async Task Purges_and_partition_deletes_leave_no_entries_behind()
    {
        await using var schema = await TestSchema.CreateAsync("idxpurge");
        var time = new FakeTimeProvider(s_start);
        var store = await schema.OpenAsync(o => (o.Indexes, o.TimeProvider) = (All, time));
        var expiry = time.GetUtcNow().AddMinutes(1);
        for (var i = 0; i < 1500; i++)
        {
            await store.PutAsync($"p{i % 3}", Users, $"k{i}", $$"""{"email":"e{{i}}","age":{{i}}}""", expiresAt: i % 2 == 0 ? expiry : null);
        }

        time.Advance(TimeSpan.FromMinutes(1));
        Assert.Equal(750, await store.PurgeExpiredAsync());

        Assert.Equal(750L, (await schema.QueryAsync($"SELECT count(*) FROM \"{schema.Name}\".index_strings"))[0]);
        Assert.Equal(750L, (await schema.QueryAsync($"SELECT count(*) FROM \"{schema.Name}\".index_int64s"))[0]);
        Assert.Equal(0L, (await schema.QueryAsync($"SELECT count(*) FROM \"{schema.Name}\".index_int64s WHERE expires_at IS NOT NULL"))[0]);

        Assert.True(await store.DeletePartitionAsync("p1"));
        Assert.Equal(0L, (await schema.QueryAsync($"SELECT count(*) FROM \"{schema.Name}\".index_strings WHERE partition = 'p1'"))[0]);
        Assert.Equal(500L, (await schema.QueryAsync($"SELECT count(*) FROM \"{schema.Name}\".index_int64s"))[0]);
    }

    [Theory]
    [InlineData(0)]
    [InlineData(4)]
    public async Task Every_query_and_count_shape_reads_the_entries_through_a_B_tree_in_order_and_documents_by_key(int hashPartitions)
    {
        await using var schema = await TestSchema.CreateAsync("idxplan");
        var store = await schema.OpenAsync(o => (o.Indexes, o.HashPartitions) = (All, hashPartitions));
        for (var p = 0; p < 20; p++)
        {
            await store.CommitAsync($"user{p:D2}", [.. Enumerable.Range(0, 500).Select(k => WriteOperation.Put(Users, $"k{k:D3}", $$"""{"email":"{{p}}-{{k}}@x","age":{{k % 50}},"handle":"h{{k}}"}"""))]);
        }

        var s = $"\"{schema.Name}\"";
        await VacuumUntilAllVisibleAsync(schema, s, ["index_strings", "index_int64s"]);
        await schema.QueryAsync($"VACUUM ANALYZE {s}.documents");
        var ids = (await schema.QueryAsync($"SELECT id FROM {s}.index_definitions ORDER BY name")).Cast<int>().ToList(); // age, codes, email, handle
        var sql = new Internal.Sql(schema.Name).Indexes;
        var now = DateTimeOffset.UtcNow;

        await using var connection = new NpgsqlConnection(schema.Server.ConnectionString);
        await connection.OpenAsync();
        await using (var off = new NpgsqlCommand("SET enable_seqscan = off", connection))
        {
            // 10,000 documents: the planner would still scan a table this small whole now and then, which says nothing about big ones.
            await off.ExecuteNonQueryAsync();
        }

        foreach (var partition in new[] { false, true })
        {
            foreach (var descending in new[] { false, true })
            {
                foreach (var bounded in new[] { false, true })
                {
                    foreach (var cursor in new[] { false, true })
                    {
                        // An integer index: age in [10, 20), after (12, user05, k112) when continuing.
                        var parameters = new List<NpgsqlParameter> { P(ids[0]), P(Users), P(now), P(101), P(10L) };
                        parameters.AddRange(bounded ? [P(20L)] : []);
                        parameters.AddRange(partition ? [P("user05")] : []);
                        parameters.AddRange(cursor ? [P(12L), .. partition ? Array.Empty<NpgsqlParameter>() : [P("user05")], P("k112")] : []);
                        var plan = await ExplainAsync(connection, sql.Int64s.Query(partition, descending, bounded, cursor), parameters);
                        var index = partition ? "index_int64s_by_partition" : "index_int64s_pkey";
                        Assert.Matches($"Index (Only )?Scan{(descending ? " Backward" : string.Empty)} using {index} on index_int64s\n", plan);
                        Assert.Contains(hashPartitions == 0 ? "Index Scan using documents_pkey on documents" : "Index Scan using documents_p0_pkey on documents_p0", plan, StringComparison.Ordinal);
                        Assert.DoesNotContain("Hash", plan, StringComparison.Ordinal);
                        Assert.DoesNotContain("Sort", plan, StringComparison.Ordinal);
                        Assert.DoesNotContain("Seq Scan", plan, StringComparison.Ordinal);
                    }
                }
            }

            foreach (var bounded in new[] { false, true })
            {
                // A string prefix as the counts of the store send it: ["1-", "1.").
                var parameters = new List<NpgsqlParameter> { P(ids[2]), P(now), P("1-") };
                parameters.AddRange(bounded ? [P("1.")] : []);
                parameters.AddRange(partition ? [P("user01")] : []);
                var plan = await ExplainAsync(connection, sql.Strings.Count(partition, bounded), parameters);
                Assert.Contains($"Index Only Scan using {(partition ? "index_strings_by_partition" : "index_strings_pkey")} on index_strings", plan, StringComparison.Ordinal);
                Assert.DoesNotContain("Seq Scan", plan, StringComparison.Ordinal);
            }
        }

        // The holders a write reads: seeks on the unique indexes.
        var holders = await ExplainAsync(connection, sql.Strings.ReadHolders, [P(new[] { ids[2] }), P(new[] { "1-1@x" }), P(new[] { ids[3] }), P(new[] { "h1" }), P(new[] { "user01" })]);
        Assert.DoesNotContain("Seq Scan", holders, StringComparison.Ordinal);
        Assert.Contains("Index Scan using index_strings_unique_in_store on index_strings", holders, StringComparison.Ordinal);
        Assert.Contains("Index Scan using index_strings_unique_in_partition on index_strings", holders, StringComparison.Ordinal);
    }

    private static NpgsqlParameter P<T>(T value) => new NpgsqlParameter<T> { TypedValue = value };

    /// <summary>
    /// Vacuums the entry tables until every page is all-visible, as it is on a quiet server: a count is
    /// then planned as an index-only scan. Other tests of the run hold snapshots on the same cluster, and
    /// while one is older than the rows, a vacuum cannot mark their pages (the planner then prefers a
    /// bitmap scan), so the vacuum is repeated until they have ended — the plan asserted is the quiet server's.
    /// </summary>
    private static async Task VacuumUntilAllVisibleAsync(TestSchema schema, string quotedSchema, string[] tables)
    {
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(60);
        while (true)
        {
            await schema.QueryAsync($"VACUUM ANALYZE {string.Join(", ", tables.Select(t => quotedSchema + "." + t))}");
            var notVisible = await schema.QueryAsync(
                $"SELECT count(*) FROM pg_class WHERE relnamespace = '{quotedSchema}'::regnamespace AND relname = ANY($1) AND relallvisible < relpages",
                (object)tables);
            if (Convert.ToInt64(notVisible.Single(), System.Globalization.CultureInfo.InvariantCulture) == 0 || DateTime.UtcNow > deadline)
            {
                return;
            }

            await Task.Delay(200);
        }
    }

    private async Task<string> ExplainAsync(NpgsqlConnection connection, string sql, IReadOnlyList<NpgsqlParameter> parameters)
    {
        var plan = new StringBuilder();
        await using (var explain = new NpgsqlCommand("EXPLAIN (COSTS OFF) " + sql, connection))
        {
            foreach (var parameter in parameters)
            {
                explain.Parameters.Add(parameter);
            }

            await using var reader = await explain.ExecuteReaderAsync();
            while (await reader.ReadAsync())
            {
                plan.AppendLine(reader.GetString(0));
            }
        }

        output.WriteLine(sql);
        output.WriteLine(plan.ToString());
        return plan.ToString();
    }

    /// <summary>
    /// The invariant readers rely on: the entries that are not expired are exactly those of the live
    /// documents, with their expiry, and no entry (expired or not) of a live document holds a value it does not have.
    /// </summary>
    private static async Task AssertEntriesMatchDocumentsAsync(TestSchema schema, DateTimeOffset now)
    {
        var s = $"\"{schema.Name}\"";
        var ids = new Dictionary<string, int>(StringComparer.Ordinal);
        await using var connection = new NpgsqlConnection(schema.Server.ConnectionString);
        await connection.OpenAsync();
        await using (var command = new NpgsqlCommand($"SELECT name, id FROM {s}.index_definitions", connection))
        await using (var reader = await command.ExecuteReaderAsync())
        {
            while (await reader.ReadAsync())
            {
                ids[reader.GetString(0)] = reader.GetInt32(1);
            }
        }

        var expected = new HashSet<string>(StringComparer.Ordinal);
        var live = new HashSet<string>(StringComparer.Ordinal);
        await using (var command = new NpgsqlCommand($"SELECT partition, key, value, expires_at FROM {s}.documents WHERE collection = 'users'", connection))
        await using (var reader = await command.ExecuteReaderAsync())
        {
            while (await reader.ReadAsync())
            {
                DateTimeOffset? expiresAt = reader.IsDBNull(3) ? null : reader.GetFieldValue<DateTimeOffset>(3);
                if (expiresAt <= now)
                {
                    continue;
                }

                var (partition, key) = (reader.GetString(0), reader.GetString(1));
                live.Add($"{partition}/{key}");
                foreach (var index in All)
                {
                    foreach (var value in Storage.Internal.IndexValues.Extract(index, reader.GetFieldValue<byte[]>(2)))
                    {
                        expected.Add($"{ids[index.Name]} {value} {partition}/{key} {expiresAt?.ToUnixTimeMilliseconds()}");
                    }
                }
            }
        }

        var actual = new HashSet<string>(StringComparer.Ordinal);
        foreach (var table in new[] { "index_strings", "index_int64s" })
        {
            await using var command = new NpgsqlCommand($"SELECT index_id, value::text, partition, key, expires_at FROM {s}.{table}", connection);
            await using var reader = await command.ExecuteReaderAsync();
            while (await reader.ReadAsync())
            {
                DateTimeOffset? expiresAt = reader.IsDBNull(4) ? null : reader.GetFieldValue<DateTimeOffset>(4);
                var entry = $"{reader.GetInt32(0)} {reader.GetString(1)} {reader.GetString(2)}/{reader.GetString(3)} {expiresAt?.ToUnixTimeMilliseconds()}";
                if (!(expiresAt <= now) || live.Contains($"{reader.GetString(2)}/{reader.GetString(3)}"))
                {
                    Assert.True(actual.Add(entry), entry);
                }
            }
        }

        Assert.Equal(expected.Order(StringComparer.Ordinal), actual.Order(StringComparer.Ordinal));
    }

    private static async Task<long> GenerationAsync(TestSchema schema)
        => (long)(await schema.QueryAsync($"SELECT value FROM \"{schema.Name}\".storage_meta WHERE key = 'index_generation'"))[0]!;

    private static async Task<long> CountDocumentsAsync(TestSchema schema)
        => (long)(await schema.QueryAsync($"SELECT count(*) FROM \"{schema.Name}\".documents"))[0]!;
}
