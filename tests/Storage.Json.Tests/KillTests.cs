using System.Diagnostics;
using Storage.CrashWriter;
using Storage.Json.Tests.Infrastructure;
using Xunit.Abstractions;

namespace Storage.Json.Tests;

/// <summary>
/// kill -9 of a real writer process at random moments: after each kill the store opens, every
/// acknowledged write is there with its version and value, and no batch is half applied.
/// (kill -9 keeps the page cache, so this proves process-crash safety; power loss is the fault
/// layer's job.)
/// </summary>
public sealed class KillTests(ITestOutputHelper output)
{
    private static readonly TimeSpan s_openTimeout = TimeSpan.FromSeconds(60);

    [Fact]
    public async Task Killing_the_writer_at_random_moments_never_loses_an_acknowledged_write_nor_half_applies_a_batch()
    {
        var seed = TestSettings.Seed(output);
        var iterations = TestSettings.Count(TestSettings.CrashIterationsVariable, 200);
        var lanes = Math.Clamp(Environment.ProcessorCount, 2, 4);
        var clock = Stopwatch.StartNew();

        // Lanes run side by side, each with its own directories; each lane alternates a fresh directory and a reused one.
        var results = await Task.WhenAll(Enumerable.Range(0, lanes).Select(lane => Task.Run(() => RunLaneAsync(seed, lane, lanes, iterations))));

        var acknowledged = results.Sum(r => r.Acknowledged);
        output.WriteLine($"{iterations} kills in {lanes} lanes, {acknowledged} acknowledged writes checked, {clock.Elapsed.TotalSeconds:F1} s.");
        var violations = results.SelectMany(r => r.Violations).ToList();
        Violations.AssertNone(output, violations, seed);
        // A floor on how much was tested, not on the store: one acknowledged write per two kills on
        // average (relaxed writers fsync every file now, so a loaded machine acknowledges fewer).
        Assert.True(acknowledged > iterations / 2, $"Only {acknowledged} acknowledged writes in {iterations} runs: the writer hardly wrote before being killed, so little was tested. {TestSettings.Replay(seed)}");
    }

    private static async Task<LaneResult> RunLaneAsync(int seed, int lane, int lanes, int iterations)
    {
        var random = new Random(HashCode.Combine(seed, lane));
        var violations = new List<string>();
        var acknowledged = 0;
        TempDirectory? directory = null;
        CrashModel? model = null;
        try
        {
            for (var iteration = lane; iteration < iterations && violations.Count == 0; iteration += lanes)
            {
                var fresh = model is null || (iteration / lanes) % 2 == 0;
                if (fresh)
                {
                    directory?.Dispose();
                    directory = new TempDirectory();
                    model = new CrashModel();
                }

                // Mostly killed while writing; one run in eight killed from its start, possibly while
                // opening. One in four relaxed: it skips the directory fsyncs, but must survive kill -9 all the same.
                var fromStart = random.Next(8) == 0;
                var delay = TimeSpan.FromMilliseconds(random.Next(0, 301));
                var durability = random.Next(4) == 0 ? DurabilityMode.Relaxed : DurabilityMode.Full;
                using var writer = CrashWriterProcess.Start(directory!.Path, seed: random.Next(), run: iteration.ToString(System.Globalization.CultureInfo.InvariantCulture), durability: durability);
                if (!fromStart && await writer.WaitForLineAsync(s_openTimeout, CrashLog.Open, CrashLog.Error, CrashLog.Locked) is not { } opened)
                {
                    violations.Add($"kill {iteration}: the writer never opened the store: {string.Join('\n', writer.Lines)}\n{writer.StandardError}");
                    break;
                }

                await Task.Delay(delay);
                var exitedByItself = writer.HasExited;
                writer.Kill();
                var lines = writer.Lines;
                acknowledged += lines.Count(l => l.StartsWith(CrashLog.Ack, StringComparison.Ordinal));

                var label = $"kill {iteration} ({(fresh ? "fresh" : "reused")} directory {directory.Path}, {durability}, {(fromStart ? "from start" : "after open")} + {delay.TotalMilliseconds} ms, {lines.Count} lines)";
                if (exitedByItself)
                {
                    violations.Add($"{label}: the writer exited by itself with {writer.ExitCode}: {string.Join('\n', lines.TakeLast(3))}\n{writer.StandardError}");
                }

                var path = directory.Path;
                violations.AddRange((await model!.VerifyAsync(lines, () => JsonStore.Open(new JsonStoreOptions { Directory = path }))).Select(v => $"{label}: {v}"));
                if (violations.Count > 0)
                {
                    directory.Keep();
                    violations.Add($"{label}: writer output ends with:\n{string.Join('\n', lines.TakeLast(5))}");
                }
            }
        }
        finally
        {
            directory?.Dispose();
        }

        return new LaneResult(acknowledged, violations);
    }

    private sealed record LaneResult(int Acknowledged, IReadOnlyList<string> Violations);
}
