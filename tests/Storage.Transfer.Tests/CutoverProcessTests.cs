using Storage.Conformance;
using Storage.Json;
using Storage.Testing;
using Xunit.Abstractions;

namespace Storage.Transfer.Tests;

/// <summary>
/// A cut-over beside a running app in another process (issue 19's live case, at the library level): the
/// app — the crash writer's cutover-app mode — writes puts and appends to its store; this process follows
/// it and cuts over (<see cref="StoreCutover"/>), fencing the source from outside the app (a JSON store
/// through its directory, since the app owns it); the app, refused, is told the cut-over is done and goes
/// on with the destination. Every write the app acknowledged is in the destination, once.
/// </summary>
public sealed class CutoverProcessTests(TransferStores stores, ITestOutputHelper output) : IClassFixture<TransferStores>
{
    private const int Operations = 700;
    private static readonly TimeSpan s_timeout = TimeSpan.FromSeconds(90);

    public static TheoryData<string, string> Pairs => new()
    {
        { "json", "sqlite" },
        { "sqlite", "postgres" },
        { "postgres", "json" },
    };

    [Theory]
    [MemberData(nameof(Pairs))]
    public async Task An_app_in_another_process_is_cut_over_while_it_writes_and_loses_no_acknowledged_write(string sourceBackend, string destinationBackend)
    {
        var (sourceAddress, sourcePath, sourceSchema) = await stores.NewLocationAsync(sourceBackend);
        var (destinationAddress, destinationPath, destinationSchema) = await stores.NewLocationAsync(destinationBackend);
        string[] arguments =
        [
            ChildProcess.ProgramPath(typeof(CutoverProcessTests).Assembly, "CrashWriterPath"),
            "--backend", sourceBackend, "--path", sourcePath, "--mode", "cutover-app", "--seed", "1904",
            "--operations", Operations.ToString(System.Globalization.CultureInfo.InvariantCulture),
            "--to-backend", destinationBackend, "--to-path", destinationPath,
            .. sourceSchema is null ? Array.Empty<string>() : ["--schema", sourceSchema],
            .. destinationSchema is null ? Array.Empty<string>() : ["--to-schema", destinationSchema],
        ];
        using var app = ChildProcess.Start(arguments);
        Assert.True(await app.WaitForLineAsync(s_timeout, "OPEN") is not null, app.StandardError);

        // The app owns a JSON store: this process reads it beside the app and fences it through its directory.
        var source = await stores.OpenAddressAsync(sourceAddress, sourceBackend == "json" ? o => o.Access = JsonStoreAccess.Reader : null);
        var destination = await stores.OpenAddressAsync(destinationAddress);
        var position = 0L;
        while (Acknowledged(app) < 150)
        {
            Assert.False(app.HasExited, app.StandardError);
            position = (await StoreFollower.CatchUpAsync(source, destination, position)).Position;
            await Task.Delay(20);
        }

        var result = await StoreCutover.RunAsync(source, destination, position, new CutoverOptions
        {
            SetSourceReadOnly = sourceBackend == "json" ? (readOnly, ct) => JsonStore.SetReadOnlyAsync(sourcePath, readOnly, ct) : null,
        });

        Assert.True(result.Succeeded, string.Join("; ", result.Differences.Select(d => d.Partition)));
        output.WriteLine($"{sourceBackend} → {destinationBackend}: writes refused for {result.WritesRefusedFor.TotalMilliseconds:F0} ms; {result.PartitionsVerified} partitions verified; {Acknowledged(app)} writes acknowledged before");
        Assert.True(await app.WaitForLineAsync(s_timeout, "REFUSED") is not null, app.StandardError);
        var before = Acknowledged(app);
        Assert.True(before < Operations, "The app finished before the cut-over.");

        // A JSON store has one owner: the follower lets go of the destination before the app takes it.
        await destination.DisposeAsync();
        app.WriteLine("SWITCH");
        Assert.True(await app.WaitForLineAsync(s_timeout, "DONE") is not null, $"{app.StandardError} {string.Join(" | ", app.Lines.TakeLast(5))}");
        Assert.True(app.WaitForExit(s_timeout));
        Assert.Equal(0, app.ExitCode);

        var copy = await stores.OpenAddressAsync(destinationAddress);
        await CutoverAppLog.AssertEveryAcknowledgedWriteOnceAsync(app.Lines, copy, Operations);
        Assert.True(Operations - before > 50, "Too few writes went to the destination.");
    }

    private static int Acknowledged(ChildProcess app) => app.Lines.Count(l => l.StartsWith("ACK ", StringComparison.Ordinal));
}
