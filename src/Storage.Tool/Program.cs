using System.CommandLine;
using System.Runtime.InteropServices;
using Storage.Tool;
using Storage.Tool.Commands;

var root = new RootCommand("storage: inspect, migrate, verify, cut over, back up and restore Storage stores (json:, sqlite:, postgres: addresses). Manual: docs/upgrade-path.md.")
{
    InspectCommand.Create(),
    MigrateCommand.Create(),
    VerifyCommand.Create(),
    BackupCommand.Create(),
    RestoreCommand.Create(),
    CutoverCommand.Create(),
};
root.Options.Add(CommonOptions.Verbose);

var parsed = root.Parse(args);
if (parsed.Errors.Count > 0)
{
    foreach (var error in parsed.Errors)
    {
        Console.Error.WriteLine("storage: " + error.Message);
    }

    Console.Error.WriteLine("Run 'storage --help' for usage.");
    return (int)ExitCode.Usage;
}

// Ctrl+C and SIGTERM cancel the command's token: the command stops where it is, everything written is
// whole, and the exit code says "interrupted" (the same command resumes).
using var interrupt = new CancellationTokenSource();
Console.CancelKeyPress += (_, e) =>
{
    e.Cancel = true;
    interrupt.Cancel();
};
using var terminate = PosixSignalRegistration.Create(PosixSignal.SIGTERM, context =>
{
    context.Cancel = true;
    interrupt.Cancel();
});
return await parsed.InvokeAsync(new InvocationConfiguration { ProcessTerminationTimeout = null }, interrupt.Token);
