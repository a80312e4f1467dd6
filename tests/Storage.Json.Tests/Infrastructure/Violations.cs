using Xunit.Abstractions;

namespace Storage.Json.Tests.Infrastructure;

/// <summary>Asserts that a check found nothing, printing every violation and the first few in the message.</summary>
internal static class Violations
{
    /// <summary>Prints the steps a check went through, then asserts it found nothing.</summary>
    public static void AssertNone(ITestOutputHelper output, FaultCheckResult result)
    {
        output.WriteLine($"{result.Steps.Count} steps:");
        foreach (var step in result.Steps)
        {
            output.WriteLine($"  {step}");
        }

        AssertNone(output, result.Violations);
    }

    public static void AssertNone(ITestOutputHelper output, IReadOnlyCollection<string> violations, int? seed = null)
    {
        foreach (var violation in violations)
        {
            output.WriteLine(violation);
        }

        var replay = seed is { } s ? $" ({TestSettings.Replay(s)})" : string.Empty;
        Assert.True(violations.Count == 0, $"{violations.Count} violation(s){replay}:\n{string.Join("\n\n", violations.Take(10))}");
    }
}
