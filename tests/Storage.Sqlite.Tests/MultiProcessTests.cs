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
}
