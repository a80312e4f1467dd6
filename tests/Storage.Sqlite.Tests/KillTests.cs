using System.Diagnostics;
using System.Globalization;
using Storage.CrashWriter;
using Xunit.Abstractions;

namespace Storage.Sqlite.Tests;

/// <summary>
/// kill -9 of a real writer process (tests/Storage.CrashWriter --backend sqlite --streams on) at random
/// moments: after each kill the database passes <c>PRAGMA integrity_check</c>, the store opens, every
/// acknowledged write is there with its version and value, every acknowledged event is in its stream
/// without gaps and in the change feed, and no batch (documents and events) is half applied.
/// (kill -9 keeps the page cache, so this proves process-crash safety; power-loss safety rests on
/// synchronous=FULL, which the pragma tests check on every connection.)
/// </summary>
public sealed class KillTests(ITestOutputHelper output)
{
    private const string IterationsVariable = "STORAGE_CRASH_ITERATIONS";
    private static readonly TimeSpan s_openTimeout = TimeSpan.FromSeconds(60);

    [Fact]
    public async Task Killing_the_writer_at_random_moments_never_loses_an_acknowledged_write_nor_damages_the_database()
    {
        var seed = Environment.GetEnvironmentVariable("STORAGE_TEST_SEED") is { Length: > 0 } s ? int.Parse(s, CultureInfo.InvariantCulture) : Random.Shared.Next();
        output.WriteLine($"Seed: {seed} (replay with STORAGE_TEST_SEED={seed})");
        var iterations = Environment.GetEnvironmentVariable(IterationsVariable) is { Length: > 0 } n ? int.Parse(n, CultureInfo.InvariantCulture) : 200;
        const int Lanes = 2;
        var clock = Stopwatch.StartNew();

        var results = await Task.WhenAll(Enumerable.Range(0, Lanes).Select(lane => Task.Run(() => RunLaneAsync(seed, lane, Lanes, iterations))));

        var acknowledged = results.Sum(r => r.Acknowledged);
        var appends = results.Sum(r => r.Appends);
        output.WriteLine($"{iterations} kills in {Lanes} lanes, {acknowledged} acknowledged writes checked ({appends} of them appends), {clock.Elapsed.TotalSeconds:F1} s.");
        var violations = results.SelectMany(r => r.Violations).ToList();
        Assert.True(violations.Count == 0, $"Seed {seed}:\n{string.Join('\n', violations.Take(20))}");
        Assert.True(acknowledged > iterations, $"Only {acknowledged} acknowledged writes in {iterations} runs: the writer hardly wrote before being killed. Seed {seed}.");
        Assert.True(appends > iterations / 10, $"Only {appends} acknowledged appends in {iterations} runs. Seed {seed}.");
    }

    private static async Task<(int Acknowledged, int Appends, List<string> Violations)> RunLaneAsync(int seed, int lane, int lanes, int iterations)
    {
        var random = new Random(HashCode.Combine(seed, lane));
        var violations = new List<string>();
        var acknowledged = 0;
        var appends = 0;
        TestDatabase? database = null;
        CrashModel? model = null;
        try
        {
            for (var iteration = lane; iteration < iterations && violations.Count == 0; iteration += lanes)
            {
                // Each database lives for a few kills in a row, so recovery after recovery is tested too.
                var fresh = model is null || random.Next(4) == 0;
                if (fresh)
                {
                    database?.Dispose();
                    database = new TestDatabase();
                    model = new CrashModel(streams: true);
                }

                // Mostly killed while writing; one run in eight killed from its start, possibly while
                // opening or migrating. One in four relaxed (synchronous=NORMAL): it must survive kill -9 all the same.
                var fromStart = random.Next(8) == 0;
                var delay = TimeSpan.FromMilliseconds(random.Next(0, 201));
                var durability = random.Next(4) == 0 ? "relaxed" : "full";
                using var writer = TestPrograms.CrashWriter(
                    "--backend", "sqlite", "--path", database!.Path, "--seed", random.Next().ToString(CultureInfo.InvariantCulture),
                    "--run", iteration.ToString(CultureInfo.InvariantCulture), "--durability", durability, "--streams", "on");
                if (!fromStart && await writer.WaitForLineAsync(s_openTimeout, CrashLog.Open, CrashLog.Error) is not { } opened)
                {
                    violations.Add($"kill {iteration}: the writer never opened the store: {string.Join('\n', writer.Lines)}\n{writer.StandardError}");
                    break;
                }

                await Task.Delay(delay);
                var exitedByItself = writer.HasExited;
                writer.Kill();
                var lines = writer.Lines;
                acknowledged += lines.Count(l => l.StartsWith(CrashLog.Ack, StringComparison.Ordinal));
                appends += lines.Count(l => l.StartsWith(CrashLog.Ack + " append", StringComparison.Ordinal));
                var label = $"kill {iteration} ({(fresh ? "fresh" : "reused")} database {database.Path}, {durability}, {(fromStart ? "from start" : "after open")} + {delay.TotalMilliseconds} ms, {lines.Count} lines)";
                if (exitedByItself)
                {
                    violations.Add($"{label}: the writer exited by itself with {writer.ExitCode}: {string.Join('\n', lines.TakeLast(3))}\n{writer.StandardError}");
                }

                // Opening with the integrity check runs PRAGMA integrity_check over the whole file first.
                var path = database.Path;
                violations.AddRange((await model!.VerifyAsync(lines, () => SqliteStore.Open(new SqliteStoreOptions { Path = path, CheckIntegrityOnOpen = true }))).Select(v => $"{label}: {v}"));
                if (violations.Count > 0)
                {
                    violations.Add($"{label}: writer output ends with:\n{string.Join('\n', lines.TakeLast(5))}");
                }
            }
        }
        finally
        {
            database?.Dispose();
        }

        return (acknowledged, appends, violations);
    }
}
