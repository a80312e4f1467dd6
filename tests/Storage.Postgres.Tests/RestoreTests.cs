using System.Globalization;
using System.Text;
using Microsoft.Extensions.Time.Testing;
using Npgsql;
using Storage.Postgres.Internal;

namespace Storage.Postgres.Tests;

/// <summary>
/// The PostgreSQL translation of a restore (<see cref="RestoreWrite"/>) and of the floor raise, in both
/// layouts: the state written exactly (every row, the partition's revisions, the change feed, index
/// entries), a replace leaving nothing of the partition it replaces, a write landing between the
/// engine's read and the restore's lock, the fence read under the lock, a unique value taken mid-restore
/// (all or nothing), a lost answer to COMMIT resolved through the commit log, and what survives a reopen.
/// </summary>
public sealed class RestoreTests
{
    private const string Users = "users";
    private static readonly TimeSpan s_timeout = TimeSpan.FromSeconds(60);

    private static IndexDefinition Email => new(Users, "email", "email", IndexValueType.String, unique: true, IndexScope.Global);

    private static IndexDefinition Age => new(Users, "age", "age", IndexValueType.Int64);

    private static IndexDefinition Handle => new(Users, "handle", "handle", IndexValueType.String, unique: true, IndexScope.Partition);

    public static TheoryData<int, int> Layouts => new()
    {
        { 0, 5 },
        { 8, 5 },
        { 0, 300 },
    };

    [Theory]
    [MemberData(nameof(Layouts))]
    public async Task A_restored_partition_exports_reads_and_feeds_as_its_source_and_survives_a_reopen(int hashPartitions, int documents)
    {
        await using var source = await TestSchema.CreateAsync("rsrc");
        await using var destination = await TestSchema.CreateAsync("rdst");
        var state = await SourceStateAsync(source, hashPartitions, "p", documents, prefix: "u");
        var store = await OpenAsync(destination, hashPartitions);

        Assert.Equal(RestoreOutcome.Created, await store.RestorePartitionAsync(state));

        var restored = await store.ExportPartitionAsync("p");
        Assert.NotNull(restored);
        Assert.Empty(ExportComparison.Compare(state, restored));
        var sourceStore = await OpenAsync(source, hashPartitions);
        await SameReadsAsync(sourceStore, store, state);
        Assert.Equal(0, (await store.GetExportInfoAsync()).RevisionFloor);

        // Written durably, as one commit: a new instance reads the same, and a repeat changes nothing.
        var reopened = await OpenAsync(destination, hashPartitions);
        Assert.Empty(ExportComparison.Compare(state, (await reopened.ExportPartitionAsync("p"))!));
        Assert.Equal(RestoreOutcome.Unchanged, await reopened.RestorePartitionAsync(state));
        Assert.Single(await destination.QueryAsync($"SELECT 1 FROM \"{destination.Name}\".commit_log WHERE partition = 'p'"));

        // The partition continues from its revision.
        var next = await reopened.PutAsync("p", Users, "new", """{"email":"new@x","age":1,"handle":"new"}""");
        Assert.Equal(state.Revision + 1, next);
    }

    [Theory]
    [MemberData(nameof(Layouts))]
    public async Task A_replace_leaves_nothing_of_the_partition_it_replaces(int hashPartitions, int documents)
    {
        await using var source = await TestSchema.CreateAsync("rrsrc");
        await using var destination = await TestSchema.CreateAsync("rrdst");
        var state = await SourceStateAsync(source, hashPartitions, "p", documents, prefix: "u");
        var store = await OpenAsync(destination, hashPartitions);

        // The destination's partition holds more of everything, under other keys and values; another partition stays as it is.
        await FillAsync(store, "p", documents + 40, prefix: "old");
        await store.CommitAsync("p", [WriteOperation.Append("old-stream", [EventData.Create("Old", "1")])]);
        await store.IncrementSequenceAsync("p", "old-sequence", 7);
        await store.DeleteAsync("p", Users, "old-1");
        await FillAsync(store, "q", 3, prefix: "q");
        var other = await store.ExportPartitionAsync("q");

        var conflict = await Assert.ThrowsAsync<RestoreConflictException>(async () => await store.RestorePartitionAsync(state));
        Assert.NotEmpty(conflict.Differences);
        Assert.Equal(RestoreOutcome.Replaced, await store.RestorePartitionAsync(state, RestoreMode.Replace));

        Assert.Empty(ExportComparison.Compare(state, (await store.ExportPartitionAsync("p"))!));
        Assert.Empty(ExportComparison.Compare(other!, (await store.ExportPartitionAsync("q"))!));
        Assert.Null(await store.GetAsync("p", Users, "old-2"));
        Assert.DoesNotContain((await store.ListStreamsAsync("p")).Items, s => s.Stream == "old-stream");
        Assert.Equal(0, await store.GetSequenceAsync("p", "old-sequence"));
        Assert.Empty((await store.QueryAsync(new IndexQuery(Users, "email") { Equal = IndexValue.Of("old-2@x") })).Items);
        Assert.Empty((await store.QueryAsync(new IndexQuery(Users, "handle") { Partition = "p", Equal = IndexValue.Of("old-2") })).Items);

        // Every entry of the partition is one of the state's live documents.
        var live = state.Documents.Count(d => d.Collection == Users && (d.ExpiresAt is null || d.ExpiresAt > DateTimeOffset.UtcNow));
        Assert.Equal(live, await store.CountAsync(new IndexQuery(Users, "email") { Partition = "p" }));
        Assert.Equal(live, await store.CountAsync(new IndexQuery(Users, "age") { Partition = "p" }));
        Assert.Equal(live, await store.CountAsync(new IndexQuery(Users, "handle") { Partition = "p" }));
        Assert.Equal([2L * live, (long)live], await destination.QueryAsync(
            $"SELECT count(*) FROM \"{destination.Name}\".index_strings WHERE partition = 'p' UNION ALL SELECT count(*) FROM \"{destination.Name}\".index_int64s WHERE partition = 'p'"));
        await SameReadsAsync(await OpenAsync(source, hashPartitions), store, state);

        // The values the old partition held are free again; those of the state are taken.
        await store.PutAsync("q", Users, "takes-old", """{"email":"old-2@x","age":1,"handle":"x"}""");
        await Assert.ThrowsAsync<UniqueConstraintException>(async () => await store.PutAsync("q", Users, "takes-new", """{"email":"u-2@x","age":1,"handle":"y"}"""));
    }

    [Theory]
    [InlineData(RestoreMode.FailIfDifferent)]
    [InlineData(RestoreMode.Replace)]
    public async Task A_write_that_commits_between_the_engines_read_and_the_restores_lock_is_seen_and_not_overwritten_blindly(RestoreMode mode)
    {
        await using var source = await TestSchema.CreateAsync("rrace");
        await using var destination = await TestSchema.CreateAsync("rracedst");
        var state = await SourceStateAsync(source, 0, "p", 5, prefix: "u");
        var restorer = await destination.OpenAsync(o => o.Indexes = [Email, Age, Handle]);
        var writer = await destination.OpenAsync(o => o.Indexes = [Email, Age, Handle]);

        // The other instance's write creates the partition and holds its lock before it writes.
        var held = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var release = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        writer.FaultInjector = async (stage, _) =>
        {
            if (stage == CommitStage.BeforeWrite && held.TrySetResult())
            {
                await release.Task;
            }
        };
        var write = writer.PutAsync("p", "docs", "interloper", "1").AsTask();
        await held.Task.WaitAsync(s_timeout);

        // The engine reads no partition, and the restore waits for the lock.
        var restore = restorer.RestorePartitionAsync(state, mode).AsTask();
        await UntilWaitingForLockAsync(destination);
        release.SetResult();
        await write.WaitAsync(s_timeout);

        if (mode == RestoreMode.FailIfDifferent)
        {
            var conflict = await Assert.ThrowsAsync<RestoreConflictException>(() => restore.WaitAsync(s_timeout));
            Assert.Contains(conflict.Differences, d => d.Name == "interloper");
            Assert.NotNull(await restorer.GetAsync("p", "docs", "interloper"));
            Assert.Equal(1, (await restorer.ExportPartitionAsync("p"))!.Revision);
        }
        else
        {
            Assert.Equal(RestoreOutcome.Replaced, await restore.WaitAsync(s_timeout));
            Assert.Empty(ExportComparison.Compare(state, (await restorer.ExportPartitionAsync("p"))!));
        }
    }

    [Fact]
    public async Task A_unique_value_another_partition_takes_mid_restore_fails_it_and_leaves_the_partition_as_it_was()
    {
        await using var source = await TestSchema.CreateAsync("runiq");
        await using var destination = await TestSchema.CreateAsync("runiqdst");
        var state = await SourceStateAsync(source, 0, "p", 300, prefix: "u");
        var restorer = await destination.OpenAsync(o => o.Indexes = [Email, Age, Handle]);
        var other = await destination.OpenAsync(o => o.Indexes = [Email, Age, Handle]);
        await FillAsync(restorer, "p", 30, prefix: "old");
        var before = await restorer.ExportPartitionAsync("p");

        // After the restore read the holders (none) and before it writes: another partition's writer takes a value of the state.
        var taken = 0;
        restorer.FaultInjector = async (stage, _) =>
        {
            if (stage == CommitStage.BeforeWrite && Interlocked.Increment(ref taken) == 1)
            {
                await other.PutAsync("q", Users, "thief", """{"email":"u-7@x","age":1,"handle":"t"}""");
            }
        };

        var e = await Assert.ThrowsAsync<UniqueConstraintException>(async () => await restorer.RestorePartitionAsync(state, RestoreMode.Replace));

        Assert.Equal("email", e.Index);
        Assert.Equal(1, taken); // the insert of the entry failed; the attempt after it found the holder and wrote nothing
        Assert.Empty(ExportComparison.Compare(before!, (await restorer.ExportPartitionAsync("p"))!));
        Assert.Equal("q", Assert.Single((await restorer.QueryAsync(new IndexQuery(Users, "email") { Equal = IndexValue.Of("u-7@x") })).Items).Document.Partition);
        Assert.Equal(30, await restorer.CountAsync(new IndexQuery(Users, "email") { Partition = "p" }));
    }

    [Fact]
    public async Task A_restored_document_takes_a_store_wide_value_whose_holder_in_another_partition_has_expired()
    {
        await using var source = await TestSchema.CreateAsync("rtake");
        await using var destination = await TestSchema.CreateAsync("rtakedst");
        var state = await SourceStateAsync(source, 0, "p", 5, prefix: "u");
        var time = new FakeTimeProvider(DateTimeOffset.UtcNow);
        var store = await OpenAsync(destination, 0, time);
        await store.PutAsync("q", Users, "holder", """{"email":"u-3@x","age":1,"handle":"h"}""", expiresAt: time.GetUtcNow().AddMinutes(1));
        time.Advance(TimeSpan.FromMinutes(2));

        Assert.Equal(RestoreOutcome.Created, await store.RestorePartitionAsync(state));

        Assert.Equal("p", Assert.Single((await store.QueryAsync(new IndexQuery(Users, "email") { Equal = IndexValue.Of("u-3@x") })).Items).Document.Partition);
        Assert.Equal(["p"], await destination.QueryAsync($"SELECT partition FROM \"{destination.Name}\".index_strings WHERE value = 'u-3@x'"));
    }

    [Fact]
    public async Task A_restore_whose_answer_to_COMMIT_was_lost_is_resolved_through_the_commit_log_not_applied_again()
    {
        await using var source = await TestSchema.CreateAsync("rlost");
        await using var destination = await TestSchema.CreateAsync("rlostdst");
        var state = await SourceStateAsync(source, 0, "p", 5, prefix: "u");
        var store = await destination.OpenAsync(o => o.Indexes = [Email, Age, Handle]);
        var faults = 0;
        store.FaultInjector = (stage, _) => stage == CommitStage.AfterCommit && Interlocked.Increment(ref faults) == 1
            ? throw new NpgsqlException("simulated: the connection broke before the answer to COMMIT arrived", new IOException("connection reset"))
            : ValueTask.CompletedTask;

        // Applied again, the retry would find the partition written (not over nothing) and the engine would answer Unchanged.
        Assert.Equal(RestoreOutcome.Created, await store.RestorePartitionAsync(state));
        Assert.Equal(1, faults);
        Assert.Empty(ExportComparison.Compare(state, (await store.ExportPartitionAsync("p"))!));
    }

    [Theory]
    [InlineData(0)]
    [InlineData(8)]
    public async Task A_store_restore_writes_new_partitions_in_groups_each_in_one_transaction(int hashPartitions)
    {
        await using var source = await TestSchema.CreateAsync("rgsrc");
        await using var destination = await TestSchema.CreateAsync("rgdst");
        var states = new List<PartitionExport>();
        for (var i = 0; i < 9; i++)
        {
            states.Add(await SourceStateAsync(source, hashPartitions, "p" + i, 5, prefix: "u" + i));
        }

        // About 20 documents a group: partitions of 6 documents go three at a time.
        var store = await destination.OpenAsync(o => (o.HashPartitions, o.Indexes, o.ImportChunkDocuments) = (hashPartitions, [Email, Age, Handle], 20));
        var faults = 0;
        store.FaultInjector = (stage, _) => stage == CommitStage.AfterCommit && Interlocked.Increment(ref faults) == 2
            ? throw new NpgsqlException("simulated: the connection broke before the answer to COMMIT arrived", new IOException("connection reset"))
            : ValueTask.CompletedTask;

        var result = await store.RestoreAsync(new StoreExportInfo(0, []), states.ToAsyncEnumerable());

        Assert.Equal(new RestoreResult(9, 0, 0, states.Sum(s => s.Documents.Count), states.Sum(s => s.Streams.Sum(t => (long)t.Events.Count))), result);
        Assert.Equal(3, faults);
        Assert.Empty(await ExportComparison.CompareAsync(states.ToAsyncEnumerable(), store.ExportAsync()).ToListAsync());

        // Three transactions, each logged once for its partitions; the one whose answer was lost was resolved, not applied again.
        var operations = await destination.QueryAsync($"SELECT count(DISTINCT operation_id) FROM \"{destination.Name}\".commit_log");
        Assert.Equal(3L, Assert.Single(operations));
        Assert.Equal(states.Sum(s => s.Documents.Count(d => d.Collection == Users && d.ExpiresAt is null)), await store.CountAsync(new IndexQuery(Users, "email")));

        // A rerun finds every partition as it is: nothing is written.
        Assert.Equal(new RestoreResult(0, 0, 9, 0, 0), await store.RestoreAsync(new StoreExportInfo(0, []), states.ToAsyncEnumerable()));
        Assert.Equal(3L, Assert.Single(await destination.QueryAsync($"SELECT count(DISTINCT operation_id) FROM \"{destination.Name}\".commit_log")));
    }

    [Fact]
    public async Task A_group_with_a_partition_that_exists_is_restored_partition_by_partition()
    {
        await using var source = await TestSchema.CreateAsync("rgesrc");
        await using var destination = await TestSchema.CreateAsync("rgedst");
        var states = new List<PartitionExport>();
        for (var i = 0; i < 4; i++)
        {
            states.Add(await SourceStateAsync(source, 0, "p" + i, 5, prefix: "u" + i));
        }

        var store = await destination.OpenAsync(o => o.Indexes = [Email, Age, Handle]);
        Assert.Equal(RestoreOutcome.Created, await store.RestorePartitionAsync(states[1]));
        await store.PutAsync("p3", "notes", "mine", "1");

        var result = await store.RestoreAsync(new StoreExportInfo(0, []), states.ToAsyncEnumerable(), RestoreMode.Replace);

        Assert.Equal((2L, 1L, 1L), (result.Created, result.Replaced, result.Unchanged));
        Assert.Empty(await ExportComparison.CompareAsync(states.ToAsyncEnumerable(), store.ExportAsync()).ToListAsync());
    }

    [Fact]
    public async Task The_floor_is_raised_durably_never_lowered_and_a_new_partition_starts_above_it()
    {
        await using var schema = await TestSchema.CreateAsync("rfloor");
        var store = await schema.OpenAsync();
        await store.PutAsync("p", "docs", "a", "1");

        await store.RaiseRevisionFloorAsync(1_000);
        await store.RaiseRevisionFloorAsync(10);

        var reopened = await schema.OpenAsync();
        Assert.Equal(1_000, (await reopened.GetExportInfoAsync()).RevisionFloor);
        Assert.Equal(1_001, await reopened.PutAsync("q", "docs", "a", "1"));

        // An existing partition continues from its own revision.
        Assert.Equal(2, await reopened.PutAsync("p", "docs", "a", "2"));
    }

    [Fact]
    public async Task The_fence_set_while_a_restore_or_a_floor_raise_waits_for_its_lock_refuses_it_and_nothing_is_written()
    {
        await using var source = await TestSchema.CreateAsync("rfsrc");
        await using var destination = await TestSchema.CreateAsync("rfence");
        var state = await SourceStateAsync(source, 0, "p", 5, prefix: "u");
        var store = await destination.OpenAsync(o => o.Indexes = [Email, Age, Handle]);
        var s = "\"" + destination.Name + "\"";

        foreach (var operation in (Func<Task>[])[() => store.RestorePartitionAsync(state).AsTask(), () => store.RaiseRevisionFloorAsync(500).AsTask()])
        {
            // Another instance sets the fence (as SetReadOnlyAsync does): the engine's check before the
            // operation reads no fence yet, and the operation's transaction waits for the fence's lock.
            await using var setter = new NpgsqlConnection(destination.Server.ConnectionString);
            await setter.OpenAsync();
            await using (var begin = new NpgsqlCommand($"BEGIN; LOCK TABLE {s}.storage_meta IN EXCLUSIVE MODE; INSERT INTO {s}.storage_meta (key, value) VALUES ('read_only', 1)", setter))
            {
                await begin.ExecuteNonQueryAsync();
            }

            var pending = operation();
            await UntilWaitingForLockAsync(destination);
            await using (var commit = new NpgsqlCommand("COMMIT", setter))
            {
                await commit.ExecuteNonQueryAsync();
            }

            await Assert.ThrowsAsync<StoreReadOnlyException>(() => pending.WaitAsync(s_timeout));
            Assert.Null(await store.ExportPartitionAsync("p"));
            Assert.Equal(0, (await store.GetExportInfoAsync()).RevisionFloor);
            await store.SetReadOnlyAsync(false);
        }
    }

    /// <summary>A partition of a source store with every kind of row: documents (one expired, not purged), tombstones, sequences, two streams (metadata on some events).</summary>
    private static async Task<PartitionExport> SourceStateAsync(TestSchema schema, int hashPartitions, string partition, int documents, string prefix)
    {
        var time = new FakeTimeProvider(new DateTimeOffset(2026, 12, 1, 8, 0, 0, TimeSpan.Zero));
        var store = await OpenAsync(schema, hashPartitions, time);
        await FillAsync(store, partition, documents, prefix);
        await store.PutAsync(partition, Users, prefix + "-expired", $$"""{"email":"{{prefix}}-expired@x","age":-1,"handle":"{{prefix}}-expired"}""", expiresAt: time.GetUtcNow().AddMinutes(1));
        time.Advance(TimeSpan.FromMinutes(2));
        await store.DeleteAsync(partition, Users, prefix + "-0");
        await store.DeleteAsync(partition, Users, prefix + "-1");
        await store.PutAsync(partition, "notes", "n", """{"text":"not indexed"}""", expiresAt: time.GetUtcNow().AddDays(30));
        await store.IncrementSequenceAsync(partition, "orders", 3);
        await store.IncrementSequenceAsync(partition, "invoices");
        await store.CommitAsync(partition, [
            WriteOperation.Append("cart", [EventData.Create("Added", """{"sku":1}"""), EventData.Create("Added", """{"sku":2}""", """{"by":"me"}""")]),
            WriteOperation.Append("audit", [EventData.Create("Seen", "true")]),
        ]);
        time.Advance(TimeSpan.FromSeconds(3));
        await store.CommitAsync(partition, [WriteOperation.Append("cart", [EventData.Create("Removed", """{"sku":1}""")])]);
        var state = await store.ExportPartitionAsync(partition);
        Assert.NotNull(state);
        Assert.True(state.Documents.Count >= documents);
        Assert.Contains(state.Documents, d => d.ExpiresAt < DateTimeOffset.UtcNow);
        Assert.NotEmpty(state.Tombstones);
        return state;
    }

    private static async Task FillAsync(IStore store, string partition, int count, string prefix)
    {
        for (var start = 0; start < count; start += 100)
        {
            var puts = Enumerable.Range(start, Math.Min(100, count - start))
                .Select(i => WriteOperation.Put(Users, $"{prefix}-{i}", Encoding.UTF8.GetBytes($$"""{"email":"{{prefix}}-{{i}}@x","age":{{i}},"handle":"{{prefix}}-{{i}}"}""")))
                .ToList();
            await store.CommitAsync(partition, puts);
        }
    }

    private static Task<PostgresStore> OpenAsync(TestSchema schema, int hashPartitions, TimeProvider? time = null)
        => schema.OpenAsync(o =>
        {
            o.HashPartitions = hashPartitions;
            o.Indexes = [Email, Age, Handle];
            o.TimeProvider = time ?? TimeProvider.System;
        });

    /// <summary>The restored partition answers the source's reads: its documents, index queries and counts, streams, sequences and change feed.</summary>
    private static async Task SameReadsAsync(IStore expected, IStore actual, PartitionExport state)
    {
        var partition = state.Partition;
        foreach (var collection in state.Documents.Select(d => d.Collection).Distinct())
        {
            Assert.Equal(Keys(await expected.ListAsync(partition, collection, new ListOptions { Limit = 1000 })), Keys(await actual.ListAsync(partition, collection, new ListOptions { Limit = 1000 })));
        }

        foreach (var index in (string[])["email", "age", "handle"])
        {
            var query = new IndexQuery(Users, index) { Partition = partition, Limit = 1000 };
            Assert.Equal(Matches(await expected.QueryAsync(query)), Matches(await actual.QueryAsync(query)));
            Assert.Equal(await expected.CountAsync(query), await actual.CountAsync(query));
        }

        Assert.Equal(await expected.GetSequenceAsync(partition, "orders"), await actual.GetSequenceAsync(partition, "orders"));
        var events = await actual.ReadStreamAsync(partition, "cart");
        Assert.Equal(Events(await expected.ReadStreamAsync(partition, "cart")), Events(events));
        Assert.Equal(3, events.Items.Count);
        Assert.Equal(Changes(await expected.ReadChangesAsync(partition, state.OldestResumable, 1000)), Changes(await actual.ReadChangesAsync(partition, state.OldestResumable, 1000)));
        Assert.NotEmpty(Changes(await actual.ReadChangesAsync(partition, state.OldestResumable, 1000)));

        static List<string> Keys(DocumentPage page) => [.. page.Items.Select(d => $"{d.Key} {d.Version} {d.CreatedAt:O} {d.UpdatedAt:O} {d.ExpiresAt:O} {Encoding.UTF8.GetString(d.Value.Span)}")];
        static List<string> Matches(QueryPage page) => [.. page.Items.Select(m => $"{m.Value} {m.Document.Key} {m.Document.Version}")];
        static List<string> Events(EventPage page) => [.. page.Items.Select(e => $"{e.Version} {e.Revision} {e.Id} {e.Type} {e.CommittedAt:O} {Encoding.UTF8.GetString(e.Data.Span)} {Encoding.UTF8.GetString(e.Metadata.Span)}")];
        static List<string> Changes(ChangePage page) =>
        [
            .. page.Items.Select(c => string.Create(CultureInfo.InvariantCulture, $"{c.Kind} {c.Revision} {c.Collection} {c.Key} {c.Document?.Version} {c.Event?.Id} {c.SequenceName} {c.SequenceValue}")),
            string.Create(CultureInfo.InvariantCulture, $"last {page.LastRevision} {page.HasMore}"),
        ];
    }

    /// <summary>Waits until a statement on the schema waits for a lock (the restore's or the floor raise's transaction).</summary>
    private static async Task UntilWaitingForLockAsync(TestSchema schema)
    {
        var deadline = DateTime.UtcNow + s_timeout;
        while ((await schema.QueryAsync(
            "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND position($1 in query) > 0", "\"" + schema.Name + "\"")).Single() is 0L)
        {
            Assert.True(DateTime.UtcNow < deadline, "timed out waiting for the operation to wait for its lock");
            await Task.Delay(10);
        }
    }
}
