using Storage.Json;
using Storage.Sqlite.Internal;
using Xunit.Abstractions;

namespace Storage.Sqlite.Tests;

/// <summary>Concurrent writers of one store share transactions, and each keeps its own outcome.</summary>
public sealed class GroupCommitTests(ITestOutputHelper output) : IDisposable
{
    private readonly TestDatabase _db = new();

    public void Dispose() => _db.Dispose();

    [Fact]
    public async Task Sixteen_concurrent_conditional_writers_get_the_outcomes_of_a_sequential_replay()
    {
        var seed = Random.Shared.Next();
        output.WriteLine($"seed {seed}");
        await using var store = _db.Open();
        var applied = new List<PendingWrite>();
        var groups = new List<int>();
        store.GroupCommitted = group =>
        {
            lock (applied)
            {
                applied.AddRange(group);
                groups.Add(group.Count);
            }
        };

        // Each writer keeps its own (often stale) idea of the versions and writes overlapping keys.
        var outcomes = new Dictionary<IReadOnlyList<WriteOperation>, string>(ReferenceEqualityComparer.Instance);
        string[] keys = ["a", "b", "c", "d"];
        // Operations run synchronously on the caller's thread (Microsoft.Data.Sqlite is synchronous), so
        // concurrent writers are concurrent threads, as in a server: one dedicated thread per writer.
        using var start = new Barrier(16);
        var writers = Enumerable.Range(0, 16).Select(w => Task.Factory.StartNew(
            () =>
            {
                var random = new Random(seed + w);
                var known = new Dictionary<string, long>();
                start.SignalAndWait();
                for (var i = 0; i < 25; i++)
                {
                    var partition = random.Next(4) == 0 ? "other" : "shared";
                    var batch = keys.OrderBy(_ => random.Next()).Take(random.Next(1, 3)).Select(key =>
                    {
                        var condition = random.Next(3) switch
                        {
                            0 => WriteCondition.MustNotExist,
                            1 when known.TryGetValue(key, out var v) => WriteCondition.MustMatchVersion(v),
                            _ => WriteCondition.None,
                        };
                        return random.Next(5) == 0 ? WriteOperation.Delete("c", key, condition) : WriteOperation.Put("c", key, $"{{\"w\":{w},\"i\":{i}}}", condition);
                    }).ToList();

                    string outcome;
                    try
                    {
                        var result = store.CommitAsync(partition, batch).AsTask().GetAwaiter().GetResult();
                        outcome = Describe(result);
                        foreach (var (op, o) in batch.Zip(result.Outcomes))
                        {
                            if (o.Version is { } v)
                            {
                                known[op.Key] = v;
                            }
                        }
                    }
                    catch (VersionConflictException e)
                    {
                        outcome = Describe(e);
                        if (e.ActualVersion is { } actual)
                        {
                            known[e.Key!] = actual;
                        }
                    }

                    lock (outcomes)
                    {
                        outcomes.Add(batch, outcome);
                    }
                }
            },
            CancellationToken.None,
            TaskCreationOptions.LongRunning,
            TaskScheduler.Default)).ToList();
        await Task.WhenAll(writers);

        // Replay the batches one at a time, in the order the group commits applied them, on the reference backend.
        Assert.Equal(16 * 25, applied.Count);
        await using var reference = JsonStore.Open(new JsonStoreOptions { Directory = Path.Combine(_db.Directory, "replay"), TimeProvider = _db.Clock, Durability = DurabilityMode.Relaxed });
        foreach (var request in applied)
        {
            var batch = request;
            Assert.NotNull(batch.Operations);
            string expected;
            try
            {
                expected = Describe(await reference.CommitAsync(batch.Partition, batch.Operations));
            }
            catch (VersionConflictException e)
            {
                expected = Describe(e);
            }

            Assert.Equal(expected, outcomes[batch.Operations]);
        }

        foreach (var partition in new[] { "shared", "other" })
        {
            Assert.Equal(await Snapshot(reference, partition), await Snapshot(store, partition));
        }

        output.WriteLine($"{applied.Count} batches in {groups.Count} transactions, largest group {groups.Max()}");
        Assert.True(groups.Count < applied.Count, "no two writers ever shared a transaction");
    }

    [Fact]
    public async Task A_failed_condition_in_a_group_does_not_roll_back_the_others()
    {
        await using var store = _db.Open();
        var v = await store.PutAsync("p", "c", "k", "0");
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
        var tasks = Enumerable.Range(0, 8).Select(i => store.CommitAsync("p", [WriteOperation.Put("c", "k", $"{i + 1}", WriteCondition.MustMatchVersion(v)), WriteOperation.Put("c", $"x{i}", "1")]).AsTask()).ToList();
        var increments = Enumerable.Range(0, 4).Select(_ => store.IncrementSequenceAsync("p", "ids").AsTask()).ToList();
        await turn.ReleaseWhenQueuedAsync(12);

        var results = await Task.WhenAll(tasks.Select(async t =>
        {
            try
            {
                return (await t).Revision;
            }
            catch (VersionConflictException)
            {
                return -1;
            }
        }));

        Assert.Equal(1, results.Count(r => r > 0));
        Assert.Equal(7, results.Count(r => r == -1));
        Assert.Equal([1L, 2, 3, 4], (await Task.WhenAll(increments)).Order());
        Assert.Contains(12, groups);
        var winner = Array.FindIndex(results, r => r > 0);
        Assert.Equal($"{winner + 1}", (await store.GetAsync("p", "c", "k"))!.GetJsonText());
        Assert.Equal([$"x{winner}"], (await store.ListAsync("p", "c", new ListOptions { Prefix = "x" })).Items.Select(d => d.Key));
        Assert.Equal(v + 1 + 4, (await store.ListPartitionsAsync()).Items.Single().Revision);
    }

    [Fact]
    public async Task Appends_in_one_group_see_the_requests_before_them_like_document_conditions()
    {
        await using var store = _db.Open();
        var groups = new List<int>();
        store.GroupCommitted = group =>
        {
            lock (groups)
            {
                groups.Add(group.Count);
            }
        };

        static IReadOnlyList<EventData> Events(string label, int count) => Enumerable.Range(0, count).Select(i => EventData.Create("E", $$"""{"by":"{{label}}","i":{{i}}}""")).ToList();

        // Hold the writer's turn so that every request below queues up and lands in one group, in this order.
        var turn = await WriterTurn.HoldAsync(store);
        var creators = Enumerable.Range(0, 8).Select(i => WriteOperation.Append("s", Events($"creator{i}", 2), ExpectedStreamVersion.NoStream)).ToList();
        var creating = creators.Select(op => store.CommitAsync("p", [op]).AsTask()).ToList();
        var anyAppends = Enumerable.Range(0, 4).Select(i => store.CommitAsync("p", [WriteOperation.Append("s", Events($"any{i}", 1))]).AsTask()).ToList();
        var retry = store.CommitAsync("p", [creators[0]]).AsTask();
        var exact = store.CommitAsync("p", [WriteOperation.Append("s", Events("exact", 1), ExpectedStreamVersion.Exactly(6)), WriteOperation.Put("c", "after-exact", "1")]).AsTask();
        var stale = store.CommitAsync("p", [WriteOperation.Put("c", "k", "1"), WriteOperation.Append("s", Events("stale", 1), ExpectedStreamVersion.Exactly(2))]).AsTask();
        await turn.ReleaseWhenQueuedAsync(15);

        // The first creator wins; the seven after it see its two events, as document conditions see earlier puts.
        Assert.Equal(new OperationOutcome(false, 2), (await creating[0]).Outcomes.Single());
        foreach (var loser in creating.Skip(1))
        {
            var e = await Assert.ThrowsAsync<VersionConflictException>(() => loser);
            Assert.Equal(("s", 2L, 0), (e.Stream, e.ActualVersion, e.OperationIndex));
        }

        Assert.Equal([3L, 4, 5, 6], (await Task.WhenAll(anyAppends)).Select(r => r.Outcomes.Single().Version!.Value));

        // The winner's retry is recognized (its ids are at versions 1-2) and writes nothing.
        var retried = await retry;
        Assert.False(retried.Changed);
        Assert.Equal(new OperationOutcome(true, 2), retried.Outcomes.Single());

        // An exact expectation sees the group's appends too; a stale one fails its whole batch.
        var exactResult = await exact;
        Assert.Equal(new OperationOutcome(true, 7), exactResult.Outcomes[0]);
        var conflict = await Assert.ThrowsAsync<VersionConflictException>(() => stale);
        Assert.Equal((1, 7L), (conflict.OperationIndex, conflict.ActualVersion));
        Assert.Null(await store.GetAsync("p", "c", "k"));
        Assert.NotNull(await store.GetAsync("p", "c", "after-exact"));
        Assert.Contains(15, groups);

        var stream = await store.ReadStreamAsync("p", "s");
        Assert.Equal(Enumerable.Range(1, 7).Select(v => (long)v), stream.Items.Select(e => e.Version));
        Assert.Equal(["creator0", "creator0", "any0", "any1", "any2", "any3", "exact"], stream.Items.Select(e => System.Text.Json.JsonDocument.Parse(e.Data).RootElement.GetProperty("by").GetString()));

        // One revision per changing request: the creator, four appends and the exact one; the feed shows each at its revision.
        var feed = await store.ReadChangesAsync("p", 0);
        Assert.Equal(6, feed.LastRevision);
        Assert.Equal([1L, 1, 2, 3, 4, 5, 6, 6], feed.Items.Select(c => c.Revision));
    }

    private static string Describe(CommitResult r) => $"rev={r.Revision} changed={r.Changed} [{string.Join(", ", r.Outcomes)}]";

    private static string Describe(VersionConflictException e) => $"conflict op={e.OperationIndex} {e.Key} expected={e.ExpectedVersion} actual={e.ActualVersion}";

    private static async Task<string> Snapshot(IStore store, string partition)
    {
        var page = await store.ListAsync(partition, "c", new ListOptions { Limit = 1000 });
        return string.Join("; ", page.Items.Select(d => $"{d.Key}=v{d.Version}:{d.GetJsonText()}"));
    }
}
