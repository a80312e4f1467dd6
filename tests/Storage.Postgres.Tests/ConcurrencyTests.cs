using System.Globalization;

namespace Storage.Postgres.Tests;

/// <summary>Conditional writes across app instances, and group commit inside one.</summary>
public sealed class ConcurrencyTests
{
    [Fact]
    public async Task Two_app_instances_doing_conditional_increments_on_the_same_documents_lose_no_update()
    {
        await using var schema = await TestSchema.CreateAsync("instances");

        // Two stores with two data sources (two connection pools), as two app servers would have.
        var first = await schema.OpenAsync();
        var second = await schema.OpenAsync();
        string[] counters = ["c0", "c1", "c2"];
        foreach (var counter in counters)
        {
            await first.PutAsync("p", "counters", counter, "0");
        }

        const int TasksPerInstance = 4;
        const int IncrementsPerTask = 15;
        var conflicts = 0;
        var tasks = new List<Task>();
        foreach (var store in new[] { first, second })
        {
            for (var t = 0; t < TasksPerInstance; t++)
            {
                var seed = tasks.Count;
                tasks.Add(Task.Run(async () =>
                {
                    var random = new Random(seed);
                    for (var done = 0; done < IncrementsPerTask;)
                    {
                        var counter = counters[random.Next(counters.Length)];
                        var current = (await store.GetAsync("p", "counters", counter))!;
                        var next = long.Parse(current.GetJsonText(), CultureInfo.InvariantCulture) + 1;
                        try
                        {
                            await store.PutAsync("p", "counters", counter, next.ToString(CultureInfo.InvariantCulture), WriteCondition.MustMatchVersion(current.Version));
                            done++;
                        }
                        catch (VersionConflictException)
                        {
                            Interlocked.Increment(ref conflicts);
                        }
                    }
                }));
            }
        }

        await Task.WhenAll(tasks);

        long total = 0;
        foreach (var counter in counters)
        {
            total += long.Parse((await second.GetAsync("p", "counters", counter))!.GetJsonText(), CultureInfo.InvariantCulture);
        }

        Assert.Equal(2 * TasksPerInstance * IncrementsPerTask, total);
        Assert.True(conflicts > 0, "the instances never raced; the test proved nothing");
        var revision = Assert.Single((await first.ListPartitionsAsync()).Items).Revision;
        Assert.Equal(counters.Length + total, revision);
    }

    [Fact]
    public async Task Sequence_increments_from_two_app_instances_are_all_counted_and_never_repeat()
    {
        await using var schema = await TestSchema.CreateAsync("seqs");
        var stores = new[] { await schema.OpenAsync(), await schema.OpenAsync() };
        const int PerTask = 20;

        var ids = await Task.WhenAll(Enumerable.Range(0, 8).Select(t => Task.Run(async () =>
        {
            var mine = new List<long>();
            for (var i = 0; i < PerTask; i++)
            {
                mine.Add(await stores[t % 2].IncrementSequenceAsync("p", "ids"));
            }

            return mine;
        })));

        var all = ids.SelectMany(x => x).ToList();
        Assert.Equal(Enumerable.Range(1, 8 * PerTask).Select(i => (long)i), all.Order());
        Assert.Equal(8 * PerTask, await stores[0].GetSequenceAsync("p", "ids"));
    }

    [Fact]
    public async Task Concurrent_writers_of_one_partition_share_transactions_and_keep_their_own_results()
    {
        await using var schema = await TestSchema.CreateAsync("group");
        var store = await schema.OpenAsync();
        await store.PutAsync("p", "docs", "taken", "1");
        var before = store.GroupCommits;
        const int Writers = 60;

        // Every third writer asks for a document that exists not to exist: only it fails.
        var start = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var writers = Enumerable.Range(0, Writers).Select(async i =>
        {
            await start.Task;
            try
            {
                return i % 3 == 0
                    ? await store.PutAsync("p", "docs", "taken", "2", WriteCondition.MustNotExist)
                    : await store.PutAsync("p", "docs", $"k{i:D2}", "1", WriteCondition.MustNotExist);
            }
            catch (VersionConflictException e)
            {
                Assert.Equal(0, i % 3);
                Assert.Equal(1, e.ActualVersion);
                return -1;
            }
        }).ToList();
        start.SetResult();
        var results = await Task.WhenAll(writers);

        var versions = results.Take(Writers).ToList();
        Assert.Equal(Writers / 3, versions.Count(v => v == -1));
        var succeeded = versions.Where(v => v > 0).ToList();
        Assert.Equal(succeeded.Count, succeeded.Distinct().Count());
        Assert.Equal(Enumerable.Range(2, succeeded.Count).Select(v => (long)v), succeeded.Order());
        var transactions = store.GroupCommits - before;
        Assert.True(transactions < succeeded.Count, $"{succeeded.Count} writes took {transactions} transactions: no group commit");
        Assert.Equal("1", (await store.GetAsync("p", "docs", "taken"))!.GetJsonText());
    }
}
