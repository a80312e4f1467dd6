using System.Globalization;
using System.Text.Json;
using Xunit.Abstractions;

namespace Storage.Sqlite.Tests;

/// <summary>Two OS processes writing one database file: SQLite's locks make their conditional writes atomic.</summary>
public sealed class MultiProcessTests(ITestOutputHelper output) : IDisposable
{
    private static readonly TimeSpan s_timeout = TimeSpan.FromSeconds(120);
    private readonly TestDatabase _db = new();

    public void Dispose() => _db.Dispose();

    [Fact]
    public async Task Two_processes_doing_conditional_increments_on_the_same_documents_lose_no_update()
    {
        const int PerProcess = 200;
        string[] keys = ["a", "b"];

        // Create the file first, so both processes race on writes rather than on creating the schema.
        await using (var store = _db.Open())
        {
        }

        using var first = TestPrograms.Worker(["increment", _db.Path, "shared", $"{PerProcess}", .. keys]);
        using var second = TestPrograms.Worker(["increment", _db.Path, "shared", $"{PerProcess}", .. keys]);
        Assert.NotNull(await first.WaitForLineAsync(s_timeout, "ready"));
        Assert.NotNull(await second.WaitForLineAsync(s_timeout, "ready"));
        first.WriteLine("go");
        second.WriteLine("go");

        Assert.True(await first.WaitForExitAsync(s_timeout), "the first worker did not finish");
        Assert.True(await second.WaitForExitAsync(s_timeout), "the second worker did not finish");
        output.WriteLine($"first: {string.Join(" | ", first.Lines)}; second: {string.Join(" | ", second.Lines)}");
        Assert.True(first.ExitCode == 0, $"the first worker failed: {first.StandardError}");
        Assert.True(second.ExitCode == 0, $"the second worker failed: {second.StandardError}");

        await using var check = _db.Open();
        long total = 0;
        foreach (var key in keys)
        {
            var document = await check.GetAsync("shared", "counters", key);
            total += JsonDocument.Parse(document!.Value).RootElement.GetProperty("n").GetInt64();
        }

        Assert.Equal(2 * PerProcess, total);
        Assert.Equal(2 * PerProcess, await check.GetSequenceAsync("shared", "hits"));

        // Both really competed: at least one side had to retry a conditional write the other had beaten.
        var conflicts = first.Lines.Concat(second.Lines).Where(l => l.StartsWith("done", StringComparison.Ordinal)).Sum(l => int.Parse(l.Split('=')[1], System.Globalization.CultureInfo.InvariantCulture));
        Assert.True(conflicts > 0, "the two processes never overlapped: the test proved nothing");
    }

    [Fact]
    public async Task Processes_racing_for_one_global_unique_value_in_different_partitions_exactly_one_wins_each_round()
    {
        var rounds = await RaceForUniqueValuesAsync(breakUniqueness: false);

        Assert.All(rounds, r => Assert.Single(r.Winners));

        // They really raced: in some rounds several processes found the value free before they put it.
        Assert.True(rounds.Any(r => r.SawFree > 1), "no two processes ever checked the value before one of them took it: the test proved nothing");
    }

    [Fact]
    public async Task Without_the_databases_unique_indexes_the_same_race_lets_several_processes_win_the_control()
    {
        var rounds = await RaceForUniqueValuesAsync(breakUniqueness: true);

        Assert.Contains(rounds, r => r.Winners.Count > 1);
    }

    [Fact]
    public async Task Processes_appending_to_one_stream_with_expected_versions_leave_every_event_once_and_no_gaps()
    {
        const int Processes = 4;
        const int PerProcess = 100;

        await using (var store = _db.Open())
        {
        }

        var workers = Enumerable.Range(0, Processes).Select(w => TestPrograms.Worker(["append", _db.Path, "shared", "audit", $"{PerProcess}", $"w{w}"])).ToList();
        try
        {
            foreach (var worker in workers)
            {
                Assert.NotNull(await worker.WaitForLineAsync(s_timeout, "ready"));
            }

            foreach (var worker in workers)
            {
                worker.WriteLine("go");
            }

            foreach (var worker in workers)
            {
                Assert.True(await worker.WaitForExitAsync(s_timeout), "a worker did not finish");
                Assert.True(worker.ExitCode == 0, $"a worker failed: {worker.StandardError}");
            }

            output.WriteLine(string.Join("; ", workers.Select(w => string.Join(" | ", w.Lines))));

            await using var check = _db.Open();
            var events = new List<StoredEvent>();
            for (long? from = 1; from is not null;)
            {
                var page = await check.ReadStreamAsync("shared", "audit", new ReadStreamOptions { FromVersion = from, Limit = StoreLimits.MaxPageSize });
                events.AddRange(page.Items);
                from = page.NextVersion;
            }

            // Exactly N×M events at versions 1..N×M, distinct ids, and each writer's events once each, in its order.
            Assert.Equal(Processes * PerProcess, events.Count);
            Assert.Equal(Enumerable.Range(1, Processes * PerProcess).Select(v => (long)v), events.Select(e => e.Version));
            Assert.Equal(events.Count, events.Select(e => e.Id).Distinct().Count());
            var written = events.Select(e => JsonDocument.Parse(e.Data).RootElement).Select(r => (Writer: r.GetProperty("writer").GetString()!, I: r.GetProperty("i").GetInt32())).ToList();
            foreach (var writer in Enumerable.Range(0, Processes).Select(w => $"w{w}"))
            {
                Assert.Equal(Enumerable.Range(0, PerProcess), written.Where(x => x.Writer == writer).Select(x => x.I));
            }

            // Each append was its own commit, and the change feed holds every event once, in version order.
            var revisions = events.Select(e => e.Revision).ToList();
            Assert.Equal(revisions.Order(), revisions);
            Assert.Equal(revisions.Count, revisions.Distinct().Count());
            var feed = new List<Change>();
            for (long after = 0; ;)
            {
                var page = await check.ReadChangesAsync("shared", after, StoreLimits.MaxPageSize);
                feed.AddRange(page.Items);
                after = page.LastRevision;
                if (!page.HasMore)
                {
                    break;
                }
            }

            Assert.Equal(events.Select(e => e.Id), feed.Select(c => c.Event!.Id));

            // They really competed: some appends lost a race and were re-sent.
            var conflicts = workers.SelectMany(w => w.Lines).Where(l => l.StartsWith("done", StringComparison.Ordinal)).Sum(l => int.Parse(l.Split('=')[1], System.Globalization.CultureInfo.InvariantCulture));
            Assert.True(conflicts > 0, "the processes never overlapped: the test proved nothing");
        }
        finally
        {
            foreach (var worker in workers)
            {
                worker.Dispose();
            }
        }
    }

    /// <summary>
    /// Four worker processes race, round after round, to put one new value of a global unique index,
    /// each in its own partition; returns each round's winners (checked against the store) and how
    /// many workers saw the value free before putting it. With <paramref name="breakUniqueness"/> the
    /// database's unique indexes are dropped first (the control: the race test must see it).
    /// </summary>
    private async Task<List<(List<string> Winners, int SawFree)>> RaceForUniqueValuesAsync(bool breakUniqueness)
    {
        const int Processes = 4;
        const int Rounds = 8;
        IndexDefinition email = new("users", "email", "email", IndexValueType.String, unique: true, IndexScope.Global);
        await using (var store = _db.Open(o => o.Indexes = [email]))
        {
        }

        if (breakUniqueness)
        {
            using var connection = _db.Connect();
            TestDatabase.Execute(connection, "DROP INDEX index_entries_unique_in_store; DROP INDEX index_entries_unique_in_partition");
        }

        var names = Enumerable.Range(0, Processes).Select(w => $"w{w}").ToList();
        var workers = names.Select(name => TestPrograms.Worker(["unique", _db.Path, $"{Rounds}", name])).ToList();
        var rounds = new List<(List<string> Winners, int SawFree)>();
        try
        {
            foreach (var worker in workers)
            {
                Assert.NotNull(await worker.WaitForLineAsync(s_timeout, "ready"));
            }

            for (var round = 0; round < Rounds; round++)
            {
                foreach (var worker in workers)
                {
                    worker.WriteLine("go");
                }

                var winners = new List<string>();
                var sawFree = 0;
                for (var w = 0; w < Processes; w++)
                {
                    var line = await workers[w].WaitForLineAsync(s_timeout, $"won {round} ", $"lost {round} ");
                    Assert.True(line is not null, $"worker {names[w]} gave no result in round {round}: {workers[w].StandardError}");
                    if (line.StartsWith("won", StringComparison.Ordinal))
                    {
                        winners.Add(names[w]);
                    }

                    sawFree += line.EndsWith("free=1", StringComparison.Ordinal) ? 1 : 0;
                }

                rounds.Add((winners, sawFree));
            }

            foreach (var worker in workers)
            {
                Assert.True(await worker.WaitForExitAsync(s_timeout), "a worker did not finish");
                Assert.True(worker.ExitCode == 0, $"a worker failed: {worker.StandardError}");
            }
        }
        finally
        {
            foreach (var worker in workers)
            {
                worker.Dispose();
            }
        }

        output.WriteLine(string.Join("\n", rounds.Select((r, i) => $"round {i}: won by {string.Join(",", r.Winners)}, {r.SawFree} saw it free")));

        // What the workers reported is what the store holds: each round's document only in its winners' partitions.
        await using var check = _db.Open(o => o.Indexes = [email]);
        for (var round = 0; round < Rounds; round++)
        {
            var holders = new List<string>();
            foreach (var name in names)
            {
                if (await check.GetAsync(name, "users", $"r{round}") is not null)
                {
                    holders.Add(name);
                }
            }

            Assert.Equal(rounds[round].Winners, holders);
            if (!breakUniqueness)
            {
                var match = Assert.Single((await check.QueryAsync(new IndexQuery("users", "email") { Equal = string.Create(CultureInfo.InvariantCulture, $"race-{round}@example.com") })).Items);
                Assert.Equal(rounds[round].Winners.Single(), match.Document.Partition);
            }
        }

        return rounds;
    }
}
