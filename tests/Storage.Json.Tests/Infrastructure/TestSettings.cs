using System.Globalization;
using Xunit.Abstractions;

namespace Storage.Json.Tests.Infrastructure;

/// <summary>
/// The knobs of the randomized and soak tests, read from the environment (see README.md): a seed
/// to replay a failure and counts to run longer than CI does.
/// </summary>
internal static class TestSettings
{
    /// <summary>Replays a randomized test: the seed it printed when it failed.</summary>
    public const string SeedVariable = "STORAGE_TEST_SEED";

    /// <summary>How many random partition keys the file-name fuzz test encodes.</summary>
    public const string FuzzKeysVariable = "STORAGE_FUZZ_KEYS";

    /// <summary>How many byte flips and truncations the corruption test tries.</summary>
    public const string CorruptionMutationsVariable = "STORAGE_CORRUPTION_MUTATIONS";

    /// <summary>How many times the kill test kills the writer process.</summary>
    public const string CrashIterationsVariable = "STORAGE_CRASH_ITERATIONS";

    /// <summary>How many random workloads the randomized power-loss and I/O-error tests run.</summary>
    public const string FaultIterationsVariable = "STORAGE_FAULT_ITERATIONS";

    /// <summary>How many seeded random subsets of unsynced directory-entry changes each power loss of the store-life check keeps.</summary>
    public const string PowerLossSeedsVariable = "STORAGE_POWER_LOSS_SEEDS";

    /// <summary>A count from <paramref name="variable"/>, or <paramref name="ciDefault"/> when it is not set.</summary>
    public static int Count(string variable, int ciDefault)
    {
        var text = Environment.GetEnvironmentVariable(variable);
        if (string.IsNullOrWhiteSpace(text))
        {
            return ciDefault;
        }

        return int.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out var value) && value > 0
            ? value
            : throw new InvalidOperationException($"{variable}='{text}' is not a positive whole number.");
    }

    /// <summary>The seed of a randomized test: <see cref="SeedVariable"/> when set, else a fresh one; printed either way.</summary>
    public static int Seed(ITestOutputHelper output)
    {
        var text = Environment.GetEnvironmentVariable(SeedVariable);
        var seed = string.IsNullOrWhiteSpace(text)
            ? Random.Shared.Next()
            : int.Parse(text, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture);
        output.WriteLine($"Seed: {seed} (replay with {SeedVariable}={seed})");
        return seed;
    }

    /// <summary>The sentence a failure message ends with, so the seed is in the message as well as in the output.</summary>
    public static string Replay(int seed) => $"Replay with {SeedVariable}={seed}.";
}
