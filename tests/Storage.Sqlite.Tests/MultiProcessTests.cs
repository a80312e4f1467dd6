using System.Text.Json;
using Xunit.Abstractions;

namespace Storage.Sqlite.Tests;

/// <summary>Two OS processes writing one database file: SQLite's locks make their conditional writes atomic.</summary>
[Trait("Backend", "Sqlite")]
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
}
