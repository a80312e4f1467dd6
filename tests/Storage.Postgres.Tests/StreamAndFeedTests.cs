using System.Globalization;
using System.Text;
using Microsoft.Extensions.Time.Testing;
using Npgsql;
using Xunit.Abstractions;

namespace Storage.Postgres.Tests;

/// <summary>Streams and the change feed on this backend: what the tables hold, the feed's snapshot and plan, tombstones, races across app instances.</summary>
public sealed class StreamAndFeedTests(ITestOutputHelper output)
{
    private static readonly DateTimeOffset s_start = new(2026, 11, 23, 12, 0, 0, TimeSpan.Zero);

    [Fact]
    public async Task Events_are_stored_as_text_byte_for_byte_and_read_back_forwards_and_backwards()
    {
        await using var schema = await TestSchema.CreateAsync("events");
        var clock = new FakeTimeProvider(s_start);
        var store = await schema.OpenAsync(o => o.TimeProvider = clock);
        const string Data = """{"z":1,"a":[1.0,1e2],"big":123456789012345678901234567890,"s":"\u00e9 é 😀"}""";
        const string Metadata = """{"by":"alice","n":1.50}""";
        var events = new[]
        {
            EventData.Create("Created", Data, Metadata),
            EventData.Create("Renamed", "\"x\""),
            EventData.Create("Closed", "null"),
        };

        var result = await store.CommitAsync("p", [WriteOperation.Put("docs", "d", "1"), WriteOperation.Append("s/😀", events, ExpectedStreamVersion.NoStream)]);

        Assert.Equal(new OperationOutcome(false, 3), result.Outcomes[1]);
        var forwards = await store.ReadStreamAsync("p", "s/😀");
        Assert.Equal(3, forwards.StreamVersion);
        Assert.Null(forwards.NextVersion);
        Assert.Equal([1L, 2, 3], forwards.Items.Select(e => e.Version));
        Assert.All(forwards.Items, e => Assert.Equal(result.Revision, e.Revision));
        Assert.All(forwards.Items, e => Assert.Equal(s_start, e.CommittedAt));
        Assert.Equal(events.Select(e => e.Id), forwards.Items.Select(e => e.Id));
        Assert.Equal(Encoding.UTF8.GetBytes(Data), forwards.Items[0].Data.ToArray());
        Assert.Equal(Encoding.UTF8.GetBytes(Metadata), forwards.Items[0].Metadata.ToArray());
        Assert.True(forwards.Items[1].Metadata.IsEmpty);

        var backwards = await store.ReadStreamAsync("p", "s/😀", new ReadStreamOptions { Backwards = true, Limit = 2 });
        Assert.Equal([3L, 2], backwards.Items.Select(e => e.Version));
        Assert.Equal(1, backwards.NextVersion);

        // The same text in the table, no metadata as NULL.
        var rows = await schema.QueryAsync($"SELECT data || '|' || coalesce(metadata, 'NULL') FROM \"{schema.Name}\".events ORDER BY version");
        Assert.Equal([Data + "|" + Metadata, "\"x\"|NULL", "null|NULL"], rows);
        Assert.Equal([new StreamInfo("s/😀", 3)], (await store.ListStreamsAsync("p")).Items);
    }

    [Fact]
    public async Task The_feed_returns_puts_tombstones_appends_and_sequences_compacted_in_feed_order()
    {
        await using var schema = await TestSchema.CreateAsync("feed");
        var clock = new FakeTimeProvider(s_start);
        var store = await schema.OpenAsync(o => o.TimeProvider = clock);
        await store.CommitAsync("p", [WriteOperation.Put("b", "k", "1"), WriteOperation.Put("a", "z", "2"), WriteOperation.Put("a", "\uE000", "3"), WriteOperation.Put("a", "😀", "4")]); // 1
        await store.IncrementSequenceAsync("p", "ids"); // 2
        await store.CommitAsync("p", [WriteOperation.Delete("a", "z"), WriteOperation.Append("t", [EventData.Create("E", "1")]), WriteOperation.Append("s", [EventData.Create("E", "2"), EventData.Create("E", "3")])]); // 3
        await store.IncrementSequenceAsync("p", "ids"); // 4
        await store.IncrementSequenceAsync("p", "other"); // 5
        await store.PutAsync("p", "b", "k", "5"); // 6
        await store.PutAsync("p", "b", "gone", "6", expiresAt: s_start.AddSeconds(1)); // 7
        clock.Advance(TimeSpan.FromSeconds(2));

        var all = await store.ReadChangesAsync("p", 0);

        Assert.False(all.HasMore);
        Assert.Equal(7, all.LastRevision);
        Assert.Equal(
            ["1 Put a/\uE000", "1 Put a/😀", "3 Delete a/z", "3 Append s#1", "3 Append s#2", "3 Append t#1", "4 Sequence ids=2", "5 Sequence other=1", "6 Put b/k", "7 Put b/gone"],
            all.Items.Select(Describe));
        Assert.Equal("5", all.Items[^2].Document!.GetJsonText());

        // The expired document appears with its expiry (a copy holds it as the store does, and hides it alike).
        Assert.Equal(s_start.AddSeconds(1), all.Items[^1].Document!.ExpiresAt);

        // Whole commits per page: a page of 2 still holds all of revision 3 after revision 1.
        var first = await store.ReadChangesAsync("p", 0, limit: 2);
        Assert.Equal(["1 Put a/\uE000", "1 Put a/😀"], first.Items.Select(Describe));
        Assert.True(first.HasMore);
        var second = await store.ReadChangesAsync("p", first.LastRevision, limit: 2);
        Assert.Equal(["3 Delete a/z", "3 Append s#1", "3 Append s#2", "3 Append t#1"], second.Items.Select(Describe));
        Assert.Equal(3, second.LastRevision);
        var rest = await store.ReadChangesAsync("p", 3, limit: 100);
        Assert.Equal(7, rest.LastRevision);
        Assert.False(rest.HasMore);

        // A put of a deleted key replaces its tombstone.
        await store.PutAsync("p", "a", "z", "7");
        Assert.Equal(["8 Put a/z"], (await store.ReadChangesAsync("p", 7)).Items.Select(Describe));
        Assert.Empty(await schema.QueryAsync($"SELECT 1 FROM \"{schema.Name}\".tombstones"));
    }

    [Fact]
    public async Task Purging_drops_tombstones_past_the_retention_and_readers_from_before_them_are_told_to_start_over()
    {
        await using var schema = await TestSchema.CreateAsync("retention");
        var clock = new FakeTimeProvider(s_start);
        var store = await schema.OpenAsync(o => (o.TimeProvider, o.TombstoneRetention) = (clock, TimeSpan.FromHours(1)));
        await store.CommitAsync("p", [WriteOperation.Put("d", "a", "1"), WriteOperation.Put("d", "b", "1")]); // 1
        await store.DeleteAsync("p", "d", "a"); // 2
        clock.Advance(TimeSpan.FromMinutes(30));
        await store.DeleteAsync("p", "d", "b"); // 3
        clock.Advance(TimeSpan.FromMinutes(30));

        Assert.Equal(0, await store.PurgeExpiredAsync());

        // Exactly one hour old: dropped; half an hour old: kept.
        Assert.Equal(["3 Delete d/b"], (await store.ReadChangesAsync("p", 0)).Items.Select(Describe));
        var e = await Assert.ThrowsAsync<ChangeFeedTruncatedException>(async () => await store.ReadChangesAsync("p", 1));
        Assert.Equal(2, e.OldestResumableRevision);
        Assert.Equal(["3 Delete d/b"], (await store.ReadChangesAsync("p", 2)).Items.Select(Describe));
        Assert.Equal(2L, Assert.Single(await schema.QueryAsync($"SELECT oldest_resumable FROM \"{schema.Name}\".partitions")));

        // A partition that does not exist cannot be resumed, only read from the start.
        await Assert.ThrowsAsync<ChangeFeedTruncatedException>(async () => await store.ReadChangesAsync("nobody", 5));
        var nobody = await store.ReadChangesAsync("nobody", 0);
        Assert.Empty(nobody.Items);
        Assert.Equal(0, nobody.LastRevision);
        Assert.False(nobody.HasMore);
    }

    [Fact]
    public async Task Deleting_a_partition_removes_its_streams_events_and_tombstones_and_its_successor_resumes_from_its_first_revision()
    {
        await using var schema = await TestSchema.CreateAsync("forget");
        var store = await schema.OpenAsync();
        await store.CommitAsync("p", [WriteOperation.Put("d", "a", "1"), WriteOperation.Append("s", [EventData.Create("E", "1")])]);
        await store.DeleteAsync("p", "d", "a");

        Assert.True(await store.DeletePartitionAsync("p"));

        foreach (var table in new[] { "documents", "tombstones", "events", "streams", "sequences", "partitions" })
        {
            Assert.Empty(await schema.QueryAsync($"SELECT 1 FROM \"{schema.Name}\".{table}"));
        }

        await store.PutAsync("p", "d", "a", "2");
        await Assert.ThrowsAsync<ChangeFeedTruncatedException>(async () => await store.ReadChangesAsync("p", 2));
        Assert.Equal(["3 Put d/a"], (await store.ReadChangesAsync("p", 0)).Items.Select(Describe));
        Assert.Empty((await store.ReadChangesAsync("p", 3)).Items);
        Assert.Equal(0, (await store.ReadStreamAsync("p", "s")).StreamVersion);
    }

    [Fact]
    public async Task Two_app_instances_appending_to_one_stream_with_expected_versions_store_every_event_once_without_gaps()
    {
        await using var schema = await TestSchema.CreateAsync("appendrace");

        // Two stores with two data sources (two connection pools), as two app servers would have.
        var stores = new[] { await schema.OpenAsync(), await schema.OpenAsync() };
        const int Writers = 8;
        const int AppendsPerWriter = 12;
        var conflicts = 0;
        var start = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var writers = Enumerable.Range(0, Writers).Select(w => Task.Run(async () =>
        {
            var store = stores[w % 2];
            var mine = new List<Guid>();
            await start.Task;
            for (var i = 0; i < AppendsPerWriter; i++)
            {
                var e = EventData.Create("Tick", $"{{\"w\":{w},\"i\":{i}}}");
                while (true)
                {
                    // Read the version, append after it; a loser is told so and tries again from the new version.
                    var version = (await store.ReadStreamAsync("p", "log", new ReadStreamOptions { Backwards = true, Limit = 1 })).StreamVersion;
                    try
                    {
                        var result = await store.CommitAsync("p", [WriteOperation.Append("log", [e], ExpectedStreamVersion.Exactly(version))]);
                        Assert.Equal(version + 1, result.Outcomes[0].Version);
                        mine.Add(e.Id);
                        break;
                    }
                    catch (VersionConflictException conflict)
                    {
                        Assert.Equal("log", conflict.Stream);
                        Assert.True(conflict.ActualVersion > version);
                        Interlocked.Increment(ref conflicts);
                    }
                }
            }

            return mine;
        })).ToList();
        start.SetResult();
        var acknowledged = (await Task.WhenAll(writers)).SelectMany(ids => ids).ToList();

        var stored = await ReadWholeStreamAsync(stores[1], "p", "log");
        output.WriteLine($"{stored.Count} events, {conflicts} conflicts");
        Assert.Equal(Writers * AppendsPerWriter, stored.Count);
        Assert.Equal(Enumerable.Range(1, stored.Count).Select(v => (long)v), stored.Select(e => e.Version));
        Assert.Equal(stored.Count, stored.Select(e => e.Id).Distinct().Count());
        Assert.Equal(acknowledged.Order(), stored.Select(e => e.Id).Order());
        Assert.True(conflicts > 0, "the writers never raced; the test proved nothing");

        // Each append took its own revision, and the feed has every event once.
        var revision = Assert.Single((await stores[0].ListPartitionsAsync()).Items).Revision;
        Assert.Equal(stored.Count, revision);
        var feed = await stores[0].ReadChangesAsync("p", 0, limit: 1000);
        Assert.Equal(stored.Select(e => e.Id), feed.Items.Select(c => c.Event!.Id));
    }

    [Fact]
    public async Task An_append_expecting_a_version_far_beyond_its_stream_conflicts_alone_in_its_group()
    {
        await using var schema = await TestSchema.CreateAsync("farversion");
        var store = await schema.OpenAsync();
        await store.CommitAsync("p", [WriteOperation.Append("s", [EventData.Create("E", "1"), EventData.Create("E", "2")])]);

        // Concurrent writers share a transaction: one impossible expectation must fail only its own append.
        var start = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var writers = Enumerable.Range(0, 6).Select(async i =>
        {
            await start.Task;
            var expected = i == 3 ? ExpectedStreamVersion.Exactly(long.MaxValue) : ExpectedStreamVersion.Any;
            return await store.CommitAsync("p", [WriteOperation.Append("s", [EventData.Create("E", "3"), EventData.Create("E", "4")], expected)]);
        }).ToList();
        start.SetResult();
        await Task.WhenAll(writers.Select(w => w.ContinueWith(_ => { }, TaskScheduler.Default)));

        var conflict = await Assert.ThrowsAsync<VersionConflictException>(() => writers[3]);
        Assert.Equal(long.MaxValue, conflict.ExpectedVersion);
        Assert.All(writers.Where((_, i) => i != 3), w => Assert.True(w.IsCompletedSuccessfully));
        Assert.Equal(12, (await store.ReadStreamAsync("p", "s")).StreamVersion);
    }

    [Fact]
    public async Task The_feed_query_reads_every_table_through_its_partition_and_revision_index()
    {
        await using var schema = await TestSchema.CreateAsync("plan");
        var store = await schema.OpenAsync();
        for (var p = 0; p < 40; p++)
        {
            var partition = $"user{p:D2}";
            for (var r = 0; r < 25; r++)
            {
                await store.CommitAsync(partition, [
                    WriteOperation.Put("docs", $"k{r:D2}", "{\"n\":1}"),
                    WriteOperation.Delete("docs", $"k{r - 1:D2}"),
                    WriteOperation.Append("audit", [EventData.Create("E", "1")]),
                ]);
            }

            await store.IncrementSequenceAsync(partition, "ids");
        }

        await schema.QueryAsync($"ANALYZE \"{schema.Name}\".documents, \"{schema.Name}\".tombstones, \"{schema.Name}\".events, \"{schema.Name}\".sequences");
        var sql = new Internal.Sql(schema.Name).ReadChanges;
        await using var connection = new NpgsqlConnection(schema.Server.ConnectionString);
        await connection.OpenAsync();
        await using (var off = new NpgsqlCommand("SET enable_seqscan = off", connection))
        {
            // Small tables: without this the planner may scan them whole, which says nothing about big ones.
            await off.ExecuteNonQueryAsync();
        }

        var plan = new StringBuilder();
        await using (var explain = new NpgsqlCommand("EXPLAIN (COSTS OFF) " + sql, connection))
        {
            explain.Parameters.Add(new NpgsqlParameter<string> { TypedValue = "user07" });
            explain.Parameters.Add(new NpgsqlParameter<long> { TypedValue = 20 });
            explain.Parameters.Add(new NpgsqlParameter<DateTimeOffset> { TypedValue = DateTimeOffset.UtcNow });
            explain.Parameters.Add(new NpgsqlParameter<int> { TypedValue = 1100 });
            await using var reader = await explain.ExecuteReaderAsync();
            while (await reader.ReadAsync())
            {
                plan.AppendLine(reader.GetString(0));
            }
        }

        output.WriteLine(plan.ToString());
        var text = plan.ToString();
        Assert.Contains("documents_by_version", text, StringComparison.Ordinal);
        Assert.Contains("tombstones_by_revision", text, StringComparison.Ordinal);
        Assert.Contains("events_by_revision", text, StringComparison.Ordinal);
        Assert.DoesNotContain("Seq Scan", text, StringComparison.Ordinal);
    }

    internal static async Task<List<StoredEvent>> ReadWholeStreamAsync(IStore store, string partition, string stream)
    {
        var events = new List<StoredEvent>();
        long? from = 1;
        while (from is { } version)
        {
            var page = await store.ReadStreamAsync(partition, stream, new ReadStreamOptions { FromVersion = version, Limit = 1000 });
            events.AddRange(page.Items);
            from = page.NextVersion;
        }

        return events;
    }

    private static string Describe(Change change) => change.Kind switch
    {
        ChangeKind.Put or ChangeKind.Delete => $"{change.Revision} {change.Kind} {change.Collection}/{change.Key}",
        ChangeKind.Append => $"{change.Revision} Append {change.Event!.Stream}#{change.Event.Version}",
        _ => string.Create(CultureInfo.InvariantCulture, $"{change.Revision} Sequence {change.SequenceName}={change.SequenceValue}"),
    };
}
