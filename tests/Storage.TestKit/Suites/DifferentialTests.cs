using System.Globalization;
using Microsoft.Extensions.Time.Testing;
using Storage.Conformance.Reference;
using Xunit.Abstractions;
using Xunit.Sdk;

namespace Storage.Conformance;

/// <summary>
/// The backend and the reference model run one seeded random sequence of operations on one fake
/// clock; every result and every exception must agree. Replays from the seed it prints:
/// <c>STORAGE_DIFFERENTIAL_SEED=&lt;seed&gt; STORAGE_DIFFERENTIAL_OPS=&lt;count&gt; dotnet test …</c>.
/// </summary>
/// <typeparam name="TFixture">The backend's fixture.</typeparam>
public abstract class DifferentialTests<TFixture>(TFixture fixture, ITestOutputHelper output) : StoreTestBase<TFixture>(fixture)
    where TFixture : StoreFixture
{
    private const int DefaultOperations = 20_000;
    private const int CompareAllEvery = 1_000;

    [Fact]
    public async Task Random_operations_give_the_same_results_as_the_reference_model()
    {
        var seed = ReadSetting("STORAGE_DIFFERENTIAL_SEED") ?? Random.Shared.Next();
        var operations = ReadSetting("STORAGE_DIFFERENTIAL_OPS") ?? DefaultOperations;
        output.WriteLine($"Seed {seed}, {operations} operations. Replay: STORAGE_DIFFERENTIAL_SEED={seed} STORAGE_DIFFERENTIAL_OPS={operations}");
        var time = new FakeTimeProvider(TestData.Start);
        var backend = await CreateStoreAsync(time, DifferentialRun.TombstoneRetention, DifferentialRun.Indexes);
        await using var model = new ReferenceStore(time, DifferentialRun.TombstoneRetention, DifferentialRun.Indexes);
        var run = new DifferentialRun(seed, backend, model, time);

        for (var i = 0; i < operations; i++)
        {
            await StepAsync(run, seed, i, () => run.StepAsync());
            if ((i + 1) % CompareAllEvery == 0 || i == operations - 1)
            {
                await StepAsync(run, seed, i, () => run.CompareAllAsync());
            }
        }

        foreach (var (what, count) in run.Coverage.OrderBy(c => c.Key, StringComparer.Ordinal))
        {
            output.WriteLine($"{what}: {count}");
        }

        // A run long enough to mean something must have met the interesting cases.
        if (operations >= 10_000)
        {
            foreach (var expected in new[] { "commit", "commit that changed nothing", "conflict", "VersionConflictException", "ArgumentException", "OverflowException", "purged something", "write between pages", "append", "append retry recognized", "stream conflict", "batch with appends", "change page with more", "tombstone dropped", "feed truncated", "follower starts over", "query found something", "query page with more", "write between query pages", "UniqueConstraintException" })
            {
                Assert.True(run.Coverage.GetValueOrDefault(expected) > 0, $"Seed {seed}: the run never met '{expected}'.");
            }
        }
    }

    private async Task StepAsync(DifferentialRun run, int seed, int index, Func<Task> step)
    {
        try
        {
            await step();
        }
        catch (Exception e)
        {
            var message = $"""
                Differential mismatch at operation #{index} (seed {seed}).
                Replay: STORAGE_DIFFERENTIAL_SEED={seed} STORAGE_DIFFERENTIAL_OPS={index + 1}
                Operation: {run.Current}
                Before it:
                  {string.Join("\n  ", run.Recent)}
                {e.GetType().Name}: {e.Message}
                """;
            output.WriteLine(message);
            throw new XunitException(message + "\n" + e.StackTrace);
        }
    }

    private static int? ReadSetting(string name)
        => int.TryParse(Environment.GetEnvironmentVariable(name), NumberStyles.Integer, CultureInfo.InvariantCulture, out var value) ? value : null;
}
