using System.Globalization;
using static Storage.Conformance.StoreAssert;
using static Storage.Conformance.TestData;

namespace Storage.Conformance;

/// <summary>Conditional writes are atomic check-and-set under concurrent callers in one process.</summary>
/// <typeparam name="TFixture">The backend's fixture.</typeparam>
public abstract class ConcurrencyTests<TFixture>(TFixture fixture) : StoreTestBase<TFixture>(fixture)
    where TFixture : StoreFixture
{
    private const int Tasks = 8;
    private const int IncrementsPerTask = 50;

    [Fact]
    public async Task Conditional_increments_from_many_tasks_lose_no_update()
    {
        var store = await CreateStoreAsync();
        await store.PutAsync("p", Collection, "counter", "0");
        var conflicts = 0;

        await RunTogetherAsync(Tasks, async _ =>
        {
            for (var done = 0; done < IncrementsPerTask;)
            {
                var current = await store.GetAsync("p", Collection, "counter");
                var next = long.Parse(current!.GetJsonText(), CultureInfo.InvariantCulture) + 1;
                try
                {
                    await store.PutAsync("p", Collection, "counter", next.ToString(CultureInfo.InvariantCulture), WriteCondition.MustMatchVersion(current.Version));
                    done++;
                }
                catch (VersionConflictException e)
                {
                    Assert.NotEqual(current.Version, e.ActualVersion);
                    Interlocked.Increment(ref conflicts);
                }
            }
        });

        const int Total = Tasks * IncrementsPerTask;
        Document(await store.GetAsync("p", Collection, "counter"), "p", Collection, "counter", $"{Total}", Total + 1);
        Assert.Equal(Total + 1, await RevisionAsync(store, "p"));
    }

    [Fact]
    public async Task Concurrent_puts_to_different_partitions_all_succeed()
    {
        var store = await CreateStoreAsync();
        const int PutsPerTask = 25;

        await RunTogetherAsync(Tasks, async task =>
        {
            for (var i = 0; i < PutsPerTask; i++)
            {
                Assert.Equal(i + 1, await store.PutAsync($"p{task}", Collection, $"k{i:D2}", $"{i}"));
            }
        });

        Assert.Equal(Enumerable.Range(0, Tasks).Select(t => new PartitionInfo($"p{t}", PutsPerTask)), await ListAllPartitionsAsync(store));
        for (var task = 0; task < Tasks; task++)
        {
            var documents = await ListAllAsync(store, $"p{task}", Collection);
            Assert.Equal(Enumerable.Range(0, PutsPerTask).Select(i => $"k{i:D2}"), documents.Select(d => d.Key));
            Assert.Equal(Enumerable.Range(1, PutsPerTask).Select(i => (long)i), documents.Select(d => d.Version));
        }
    }

    [Fact]
    public async Task Concurrent_puts_to_one_partition_take_distinct_revisions()
    {
        var store = await CreateStoreAsync();
        const int PutsPerTask = 25;
        var versions = new long[Tasks * PutsPerTask];

        await RunTogetherAsync(Tasks, async task =>
        {
            for (var i = 0; i < PutsPerTask; i++)
            {
                versions[(task * PutsPerTask) + i] = await store.PutAsync("p", Collection, $"t{task}-{i:D2}", $"{i}");
            }
        });

        Assert.Equal(Enumerable.Range(1, versions.Length).Select(v => (long)v), versions.Order());
        Assert.Equal(versions.Length, (await ListAllAsync(store, "p", Collection)).Count);
        Assert.Equal(versions.Length, await RevisionAsync(store, "p"));
    }

    [Fact]
    public async Task Concurrent_must_not_exist_puts_on_one_key_have_exactly_one_winner()
    {
        var store = await CreateStoreAsync();
        const int Rounds = 5;
        const int Contenders = 16;

        for (var round = 0; round < Rounds; round++)
        {
            var key = $"k{round}";
            var winners = new int[Contenders];
            var losers = new VersionConflictException?[Contenders];

            await RunTogetherAsync(Contenders, async task =>
            {
                try
                {
                    await store.PutAsync("p", Collection, key, $"{task}", WriteCondition.MustNotExist);
                    winners[task] = 1;
                }
                catch (VersionConflictException e)
                {
                    losers[task] = e;
                }
            });

            var winner = Assert.Single(Enumerable.Range(0, Contenders), t => winners[t] == 1);
            var stored = Document(await store.GetAsync("p", Collection, key), "p", Collection, key, $"{winner}", round + 1);
            Assert.All(Enumerable.Range(0, Contenders).Where(t => t != winner), t =>
            {
                Assert.NotNull(losers[t]);
                Assert.Equal(stored.Version, losers[t]!.ActualVersion);
                Assert.Null(losers[t]!.ExpectedVersion);
            });
        }

        Assert.Equal(Rounds, await RevisionAsync(store, "p"));
    }

    [Fact]
    public async Task Concurrent_sequence_increments_hand_out_distinct_values()
    {
        var store = await CreateStoreAsync();
        var values = new long[Tasks * IncrementsPerTask];

        await RunTogetherAsync(Tasks, async task =>
        {
            for (var i = 0; i < IncrementsPerTask; i++)
            {
                values[(task * IncrementsPerTask) + i] = await store.IncrementSequenceAsync("p", "seq");
            }
        });

        Assert.Equal(Enumerable.Range(1, values.Length).Select(v => (long)v), values.Order());
        Assert.Equal(values.Length, await store.GetSequenceAsync("p", "seq"));
    }

    // Starts every task on the thread pool at once (behind one gate) and waits for all of them.
    private static async Task RunTogetherAsync(int count, Func<int, Task> work)
    {
        var gate = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var tasks = Enumerable.Range(0, count).Select(i => Task.Run(async () =>
        {
            await gate.Task;
            await work(i);
        })).ToList();
        gate.SetResult();
        await Task.WhenAll(tasks);
    }
}
