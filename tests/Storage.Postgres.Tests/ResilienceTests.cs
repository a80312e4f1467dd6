using System.Diagnostics;
using System.Globalization;
using Npgsql;
using Storage.Postgres.Internal;
using Storage.Testing.Postgres;
using Xunit.Abstractions;

namespace Storage.Postgres.Tests;

/// <summary>Transient failures are retried within the budget; commits of unknown outcome are resolved, never applied twice.</summary>
public sealed class ResilienceTests(ITestOutputHelper output)
{
    [Theory]
    [InlineData("40001", true)]
    [InlineData("40P01", true)]
    [InlineData("57P01", true)]
    [InlineData("57P02", true)]
    [InlineData("57P03", true)]
    [InlineData("08006", true)]
    [InlineData("08007", true)]
    [InlineData("08001", true)]
    [InlineData("25006", true)]
    [InlineData("23505", false)]
    [InlineData("42P01", false)]
    [InlineData("42501", false)]
    [InlineData("22021", false)]
    public void Failures_are_classified_by_sqlstate(string sqlState, bool transient)
    {
        // The same text for all: only the code may decide.
        var error = new PostgresException("connection lost: server closed the connection unexpectedly", "ERROR", "ERROR", sqlState);

        Assert.Equal(transient, PostgresErrors.IsTransient(error));
    }

    [Fact]
    public void Lost_connections_are_transient_and_other_driver_errors_are_not()
    {
        Assert.True(PostgresErrors.IsTransient(new NpgsqlException("Exception while reading from stream", new EndOfStreamException())));
        Assert.True(PostgresErrors.IsTransient(new NpgsqlException("Failed to connect", new System.Net.Sockets.SocketException(111))));
        Assert.False(PostgresErrors.IsTransient(new NpgsqlException("The operation is not valid")));
        Assert.False(PostgresErrors.IsTransient(new InvalidOperationException("lost connection")));
    }

    [Fact]
    public async Task A_commit_whose_answer_was_lost_is_looked_up_in_the_commit_log_and_not_applied_again()
    {
        await using var schema = await TestSchema.CreateAsync("lostanswer");
        var logs = new ListLoggerFactory();
        var store = await schema.OpenAsync(o => o.LoggerFactory = logs);
        await store.PutAsync("p", "docs", "a", "1");
        var faults = 0;
        store.FaultInjector = (stage, _) => stage == CommitStage.AfterCommit && Interlocked.Increment(ref faults) <= 2
            ? throw new NpgsqlException("simulated: the connection broke before the answer to COMMIT arrived", new IOException("connection reset"))
            : ValueTask.CompletedTask;

        // A conditional put would conflict with itself if it were applied a second time.
        var version = await store.PutAsync("p", "docs", "a", "2", WriteCondition.MustMatchVersion(1));
        var counter = await store.IncrementSequenceAsync("p", "n", 5);

        Assert.Equal(2, version);
        Assert.Equal(2, faults);
        Assert.Equal(5, counter);
        Assert.Equal(5, await store.GetSequenceAsync("p", "n"));
        Assert.Equal([new PartitionInfo("p", 3)], (await store.ListPartitionsAsync()).Items);
        Assert.Equal(2, logs.Count(3));
        Assert.All(logs.Entries.Where(e => e.Event.Id == 3), e => Assert.Contains("it had committed", e.Message, StringComparison.Ordinal));
    }

    [Fact]
    public async Task A_commit_with_appends_whose_answer_was_lost_returns_its_first_result_and_appends_nothing_twice()
    {
        await using var schema = await TestSchema.CreateAsync("lostappend");
        var logs = new ListLoggerFactory();
        var store = await schema.OpenAsync(o => o.LoggerFactory = logs);
        var other = await schema.OpenAsync();
        var first = EventData.Create("Opened", "1");
        await store.CommitAsync("p", [WriteOperation.Put("docs", "a", "1"), WriteOperation.Append("log", [first])]);
        var faults = 0;
        var interloper = EventData.Create("Noted", "\"by another app instance\"");
        store.FaultInjector = async (stage, _) =>
        {
            if (stage == CommitStage.AfterCommit && Interlocked.Increment(ref faults) == 1)
            {
                // Another instance appends before the retry: the retry's events are no longer the last
                // ones, so only the commit log can tell that they were stored.
                await other.CommitAsync("p", [WriteOperation.Append("log", [interloper])]);
                throw new NpgsqlException("simulated: the connection broke before the answer to COMMIT arrived", new IOException("connection reset"));
            }
        };
        var events = new[] { EventData.Create("Changed", "2"), EventData.Create("Changed", "3") };

        var result = await store.CommitAsync("p", [WriteOperation.Put("docs", "a", "2", WriteCondition.MustMatchVersion(1)), WriteOperation.Append("log", events)]);

        Assert.Equal(2, result.Revision);
        Assert.Equal([new OperationOutcome(true, 2), new OperationOutcome(true, 3)], result.Outcomes);
        var stored = await StreamAndFeedTests.ReadWholeStreamAsync(store, "p", "log");
        Assert.Equal([first.Id, events[0].Id, events[1].Id, interloper.Id], stored.Select(e => e.Id));
        Assert.Equal([1L, 2, 2, 3], stored.Select(e => e.Revision));
        Assert.Equal(1, logs.Count(3));
        Assert.Contains("it had committed", logs.Entries.Single(e => e.Event.Id == 3).Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_transaction_whose_session_is_killed_before_its_writes_is_retried_and_applied_exactly_once()
    {
        await using var schema = await TestSchema.CreateAsync("cutoff");
        var logs = new ListLoggerFactory();
        var store = await schema.OpenAsync(o => o.LoggerFactory = logs);
        var killed = 0;
        store.FaultInjector = async (stage, connection) =>
        {
            if (stage == CommitStage.BeforeWrite && Interlocked.Increment(ref killed) == 1)
            {
                // The server ends the transaction's session between its read and its write round trip.
                await schema.QueryAsync("SELECT pg_terminate_backend($1, 5000)", connection.ProcessID);
            }
        };

        var result = await store.CommitAsync("p", [WriteOperation.Put("docs", "a", "1", WriteCondition.MustNotExist), WriteOperation.Put("docs", "b", "2")]);

        Assert.Equal(1, result.Revision);
        Assert.Equal(2, killed);
        Assert.Equal("1", (await store.GetAsync("p", "docs", "a"))!.GetJsonText());
        Assert.Equal([new PartitionInfo("p", 1)], (await store.ListPartitionsAsync()).Items);
        Assert.Contains(logs.Entries, e => e.Event.Id == 1 && e.Message.Contains("57P01", StringComparison.Ordinal));
    }

    [Fact]
    public async Task A_partition_delete_whose_answer_was_lost_still_reports_that_it_deleted()
    {
        await using var schema = await TestSchema.CreateAsync("lostdelete");
        var store = await schema.OpenAsync();
        await store.PutAsync("p", "docs", "a", "1");
        await store.PutAsync("p", "docs", "a", "2");
        var faults = 0;
        store.FaultInjector = (stage, _) => stage == CommitStage.AfterCommit && Interlocked.Increment(ref faults) == 1
            ? throw new NpgsqlException("simulated: lost answer", new IOException("connection reset"))
            : ValueTask.CompletedTask;

        Assert.True(await store.DeletePartitionAsync("p"));

        store.FaultInjector = null;
        Assert.Empty((await store.ListPartitionsAsync()).Items);
        Assert.Equal(3, await store.PutAsync("q", "docs", "a", "1"));

        // The log entry of the delete keeps no trace of the key.
        Assert.Empty(await schema.QueryAsync($"SELECT 1 FROM \"{schema.Name}\".commit_log WHERE partition = 'p'"));
    }

    [Fact]
    public async Task The_commit_log_is_pruned_of_entries_older_than_an_hour_as_the_partition_is_written()
    {
        await using var schema = await TestSchema.CreateAsync("prune");
        var store = await schema.OpenAsync();
        await schema.QueryAsync(
            $"INSERT INTO \"{schema.Name}\".commit_log (partition, operation_id, revision, committed_at) SELECT 'p', gen_random_uuid(), 0, now() - interval '2 hours' FROM generate_series(1, 5)");

        // Groups of several writes take several revisions at once; pruning must not depend on hitting one exact revision.
        for (var round = 0; round < 6; round++)
        {
            await Task.WhenAll(Enumerable.Range(0, 5).Select(i => store.PutAsync("p", "docs", $"k{round}-{i}", "1").AsTask()));
        }

        var old = await schema.QueryAsync($"SELECT count(*) FROM \"{schema.Name}\".commit_log WHERE committed_at < now() - interval '1 hour'");
        var recent = await schema.QueryAsync($"SELECT count(*) FROM \"{schema.Name}\".commit_log WHERE partition = 'p'");
        Assert.Equal(0L, old[0]);
        Assert.True((long)recent[0]! > 0);
    }

    [Fact]
    public async Task Past_the_retry_budget_a_down_server_raises_StoreUnavailable_and_the_store_works_again_once_it_is_back()
    {
        await using var cluster = await LocalPostgresCluster.StartAsync();
        var store = await PostgresStore.OpenAsync(new PostgresStoreOptions
        {
            ConnectionString = cluster.ConnectionString,
            Schema = "resilience",
            RetryBudget = TimeSpan.FromSeconds(1),
        });
        await using var _ = store;
        await store.PutAsync("p", "docs", "a", "1");

        await cluster.StopAsync("immediate");
        var clock = Stopwatch.StartNew();
        var write = await Assert.ThrowsAsync<StoreUnavailableException>(async () => await store.PutAsync("p", "docs", "a", "2"));
        var read = await Assert.ThrowsAsync<StoreUnavailableException>(async () => await store.GetAsync("p", "docs", "a"));
        clock.Stop();

        Assert.True(write.IsTransient);
        Assert.IsAssignableFrom<NpgsqlException>(write.InnerException);
        Assert.IsAssignableFrom<NpgsqlException>(read.InnerException);
        Assert.Contains("retry budget", write.Message, StringComparison.Ordinal);
        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(15), $"two operations with a 1 s budget took {clock.Elapsed}");

        await cluster.StartServerAsync();
        Assert.Equal(2, await store.PutAsync("p", "docs", "b", "3"));
        Assert.Equal("1", (await store.GetAsync("p", "docs", "a"))!.GetJsonText());
    }

    [Fact]
    public async Task Server_crashes_and_restarts_under_eight_writers_lose_no_acknowledged_write_or_append_and_apply_none_twice()
    {
        const int Writers = 8;
        const int Restarts = 20;
        await using var cluster = await LocalPostgresCluster.StartAsync();
        var logs = new ListLoggerFactory();
        var store = await PostgresStore.OpenAsync(new PostgresStoreOptions
        {
            ConnectionString = cluster.ConnectionString + ";Timeout=5;Command Timeout=20",
            Schema = "restarts",
            RetryBudget = TimeSpan.FromSeconds(60),
            LoggerFactory = logs,
        });
        await using var _ = store;
        await store.PutAsync("shared", "counters", "c0", "0");
        await store.PutAsync("shared", "counters", "c1", "0");

        var acknowledgedIncrements = new long[2];
        var acknowledgedSequence = new long[Writers];
        var acknowledgedDocuments = new List<string>[Writers];
        var acknowledgedOwnEvents = new List<Guid>[Writers];
        var acknowledgedSharedEvents = new System.Collections.Concurrent.ConcurrentBag<Guid>();
        var failures = new System.Collections.Concurrent.ConcurrentQueue<string>();
        using var stop = new CancellationTokenSource();
        var clock = Stopwatch.StartNew();

        var writers = Enumerable.Range(0, Writers).Select(w => Task.Run(async () =>
        {
            acknowledgedDocuments[w] = [];
            acknowledgedOwnEvents[w] = [];
            var partition = $"w{w}";
            for (var i = 0; !stop.IsCancellationRequested; i++)
            {
                try
                {
                    switch (i % 4)
                    {
                        case 0:
                            // A new document that must not exist: applied twice, it would conflict with itself.
                            var key = $"d{i:D5}";
                            await store.PutAsync(partition, "docs", key, $"{i}", WriteCondition.MustNotExist);
                            acknowledgedDocuments[w].Add(key);
                            break;
                        case 1:
                            await store.IncrementSequenceAsync(partition, "ids");
                            acknowledgedSequence[w]++;
                            break;
                        case 3 when i % 8 == 3:
                            // An append that expects the stream's exact version: applied twice, it would conflict with itself.
                            var own = EventData.Create("Step", $"{i}");
                            await store.CommitAsync(partition, [WriteOperation.Append("log", [own], ExpectedStreamVersion.Exactly(acknowledgedOwnEvents[w].Count))]);
                            acknowledgedOwnEvents[w].Add(own.Id);
                            break;
                        case 3:
                            // An append to a stream every writer appends to, expecting nothing: applied twice, its event would be there twice.
                            var shared = EventData.Create("Step", $"{i}");
                            await store.CommitAsync("shared", [WriteOperation.Append("audit", [shared])]);
                            acknowledgedSharedEvents.Add(shared.Id);
                            break;
                        default:
                            // Read, add one, write back if unchanged: a write applied twice would conflict and count again.
                            var counter = w % 2;
                            while (true)
                            {
                                var current = (await store.GetAsync("shared", "counters", $"c{counter}"))!;
                                var next = long.Parse(current.GetJsonText(), CultureInfo.InvariantCulture) + 1;
                                try
                                {
                                    await store.PutAsync("shared", "counters", $"c{counter}", next.ToString(CultureInfo.InvariantCulture), WriteCondition.MustMatchVersion(current.Version));
                                    Interlocked.Increment(ref acknowledgedIncrements[counter]);
                                    break;
                                }
                                catch (VersionConflictException)
                                {
                                }
                            }

                            break;
                    }
                }
                catch (Exception e)
                {
                    failures.Enqueue($"writer {w}, step {i}: {e.GetType().Name}: {e.Message}");
                }
            }
        })).ToList();

        for (var restart = 0; restart < Restarts; restart++)
        {
            await Task.Delay(Random.Shared.Next(100, 300));
            await cluster.RestartAsync("immediate");
        }

        await Task.Delay(300);
        await stop.CancelAsync();
        await Task.WhenAll(writers);
        clock.Stop();

        var retries = logs.Count(1);
        var resolved = logs.Entries.Where(e => e.Event.Id == 3).ToList();
        output.WriteLine($"{Restarts} restarts in {clock.Elapsed.TotalSeconds:0.0} s; {acknowledgedDocuments.Sum(d => d.Count)} documents, {acknowledgedSequence.Sum()} increments, {acknowledgedIncrements.Sum()} counter updates, {acknowledgedOwnEvents.Sum(e => e.Count) + acknowledgedSharedEvents.Count} appends acknowledged; {retries} retries; {resolved.Count} commits of unknown outcome resolved ({resolved.Count(e => e.Message.Contains("it had committed", StringComparison.Ordinal))} had committed).");
        Assert.True(failures.IsEmpty, string.Join('\n', failures.Take(10)) + "\n" + cluster.TailLog());
        Assert.True(retries > 0, "no operation was ever retried: the restarts did not hit the writers");

        // The same store instance: every acknowledged write is there exactly once.
        for (var counter = 0; counter < 2; counter++)
        {
            Assert.Equal(acknowledgedIncrements[counter].ToString(CultureInfo.InvariantCulture), (await store.GetAsync("shared", "counters", $"c{counter}"))!.GetJsonText());
        }

        for (var w = 0; w < Writers; w++)
        {
            var stored = new List<string>();
            string? token = null;
            do
            {
                var page = await store.ListAsync($"w{w}", "docs", new ListOptions { Limit = 1000, ContinuationToken = token });
                stored.AddRange(page.Items.Select(d => d.Key));
                token = page.ContinuationToken;
            }
            while (token is not null);

            Assert.Equal(acknowledgedDocuments[w], stored);
            Assert.Equal(acknowledgedSequence[w], await store.GetSequenceAsync($"w{w}", "ids"));
            var events = await StreamAndFeedTests.ReadWholeStreamAsync(store, $"w{w}", "log");
            Assert.Equal(acknowledgedOwnEvents[w], events.Select(e => e.Id));
            Assert.Equal(Enumerable.Range(1, events.Count).Select(v => (long)v), events.Select(e => e.Version));

            // Each acknowledged write took exactly one revision.
            var revision = (await store.ListPartitionsAsync(new PartitionListOptions { Limit = 1000 })).Items.Single(p => p.Partition == $"w{w}").Revision;
            Assert.Equal(acknowledgedDocuments[w].Count + acknowledgedSequence[w] + acknowledgedOwnEvents[w].Count, revision);
        }

        // The shared stream holds every acknowledged event exactly once, without gaps.
        var audit = await StreamAndFeedTests.ReadWholeStreamAsync(store, "shared", "audit");
        Assert.Equal(acknowledgedSharedEvents.Order(), audit.Select(e => e.Id).Order());
        Assert.Equal(Enumerable.Range(1, audit.Count).Select(v => (long)v), audit.Select(e => e.Version));

        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(150), $"the test took {clock.Elapsed}");
    }
}
