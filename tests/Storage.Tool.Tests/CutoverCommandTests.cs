using Storage.Conformance;
using Storage.Testing;

namespace Storage.Tool.Tests;

/// <summary>
/// <c>storage migrate --follow</c> and <c>storage cutover</c> beside a running app (issue 19's live test):
/// the app — the crash writer's cutover-app mode, a process of its own — writes acknowledged puts and
/// appends to its store while the tool, a third process, copies the store and follows it (stopped with
/// Ctrl+C), then cuts over: it fences the store (a JSON store through its directory, since the app
/// owns it), drains and verifies; the app, refused, is told the cut-over is done and writes on to the
/// destination. Not one acknowledged write is missing there, none is there twice, and the tool reports how
/// long writes were refused.
/// </summary>
public sealed class CutoverCommandTests(ToolFixture fixture) : IClassFixture<ToolFixture>
{
    private const int Operations = 1500;
    private static readonly TimeSpan s_timeout = TimeSpan.FromSeconds(120);

    public static TheoryData<string, string> Pairs => new()
    {
        { "json", "sqlite" },
        { "sqlite", "postgres" },
    };

    [Theory]
    [MemberData(nameof(Pairs))]
    public async Task A_running_app_is_cut_over_and_loses_no_acknowledged_write(string sourceBackend, string destinationBackend)
    {
        var source = await fixture.NewAddressAsync(sourceBackend);
        var destination = await fixture.NewAddressAsync(destinationBackend);
        var (destinationPath, destinationSchema) = PathOf(destination);
        string[] arguments =
        [
            ChildProcess.ProgramPath(typeof(CutoverCommandTests).Assembly, "CrashWriterPath"),
            "--backend", sourceBackend, "--path", PathOf(source).Path, "--mode", "cutover-app", "--seed", "1905",
            "--operations", Operations.ToString(System.Globalization.CultureInfo.InvariantCulture),
            "--to-backend", destinationBackend, "--to-path", destinationPath,
            .. destinationSchema is null ? Array.Empty<string>() : ["--to-schema", destinationSchema],
        ];
        using var app = ChildProcess.Start(arguments);
        Assert.True(await app.WaitForLineAsync(s_timeout, "OPEN") is not null, app.StandardError);
        while (Acknowledged(app) < 100)
        {
            Assert.False(app.HasExited, app.StandardError);
            await Task.Delay(20);
        }

        // First the copy, followed while the app writes; Ctrl+C stops following (exit 0), as the manual says.
        using (var follow = ToolFixture.Start("migrate", "--from", source, "--to", destination, "--execute", "--follow"))
        {
            Assert.True(await follow.WaitForLineAsync(s_timeout, "Following") is not null, $"{string.Join('\n', follow.Lines)} {follow.StandardError}");
            var deadline = DateTime.UtcNow + s_timeout;
            while (follow.Lines.Count(l => l.StartsWith("Pass ", StringComparison.Ordinal)) < 3)
            {
                Assert.False(follow.HasExited, $"{string.Join('\n', follow.Lines)} {follow.StandardError}");
                Assert.True(DateTime.UtcNow < deadline, "The follower reported fewer than 3 passes with changes.");
                await Task.Delay(50);
            }

            // SIGTERM, which the tool handles as Ctrl+C (a test run in the background inherits SIGINT ignored).
            using (var signal = System.Diagnostics.Process.Start("kill", ["-s", "TERM", follow.Id.ToString(System.Globalization.CultureInfo.InvariantCulture)]))
            {
                await signal.WaitForExitAsync();
            }

            Assert.True(await follow.WaitForExitAsync(s_timeout));
            Assert.True(follow.ExitCode == 0, $"exit {follow.ExitCode}: {string.Join('\n', follow.Lines)} {follow.StandardError}");
            Assert.Contains(follow.Lines, l => l.StartsWith("Stopped following", StringComparison.Ordinal));
        }

        var run = await ToolFixture.RunAsync("cutover", "--from", source, "--to", destination);

        Assert.True(run.ExitCode == 0, $"exit {run.ExitCode}: {string.Join('\n', run.Lines)} {run.StandardError}");
        Assert.Contains(run.Lines, l => l.StartsWith("Cut over: ", StringComparison.Ordinal) && l.Contains("writes were refused for", StringComparison.Ordinal));
        Assert.True(await app.WaitForLineAsync(s_timeout, "REFUSED") is not null, app.StandardError);
        var before = Acknowledged(app);
        Assert.True(before < Operations, "The app finished before the cut-over.");
        app.WriteLine("SWITCH");
        Assert.True(await app.WaitForLineAsync(s_timeout, "DONE") is not null, $"{app.StandardError} {string.Join(" | ", app.Lines.TakeLast(5))}");
        Assert.True(app.WaitForExit(s_timeout));

        await using var copy = await ToolFixture.OpenAsync(destination);
        await CutoverAppLog.AssertEveryAcknowledgedWriteOnceAsync(app.Lines, copy, Operations);
        Assert.True(Operations - before > 50, "Too few writes went to the destination.");

        // The source stays fenced, so nothing can write to it behind the destination.
        await using var fenced = await ToolFixture.OpenAsync(source);
        Assert.True(await fenced.IsReadOnlyAsync());
    }

    private static int Acknowledged(ChildProcess app) => app.Lines.Count(l => l.StartsWith("ACK ", StringComparison.Ordinal));

    /// <summary>The path (directory, file or connection string) and schema the crash writer opens an address by.</summary>
    private static (string Path, string? Schema) PathOf(string address)
    {
        var colon = address.IndexOf(':', StringComparison.Ordinal);
        var target = address[(colon + 1)..];
        if (!address.StartsWith("postgres:", StringComparison.Ordinal))
        {
            return (target, null);
        }

        var at = target.LastIndexOf(";Schema=", StringComparison.Ordinal);
        return (target[..at], target[(at + ";Schema=".Length)..]);
    }
}
