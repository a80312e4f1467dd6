using System.CommandLine;

namespace Storage.Tool.Commands;

/// <summary>
/// <c>storage restore FILE --to STORE</c>: verifies the whole archive (every entry's digest) before it opens
/// the destination, then restores it (<see cref="StoreArchive.RestoreAsync"/>): nothing is written from a damaged archive. Idempotent like
/// migrate: a partition already equal is left as it is; a different one is refused unless <c>--replace</c>.
/// </summary>
internal static class RestoreCommand
{
    public static Command Create()
    {
        var file = new Argument<string>("FILE") { Description = "The archive file (written by storage backup)." };
        var to = new Option<string>("--to") { Description = "The store to restore into (created when it does not exist).", Required = true, HelpName = "ADDRESS" };
        var replace = new Option<bool>("--replace") { Description = "Overwrite partitions that hold different data." };
        var command = new Command("restore", "Restore an archive into a store (any backend).")
        {
            file, to, replace, CommonOptions.Json, CommonOptions.Indexes,
        };
        command.SetAction((parseResult, cancellationToken) => CommandRunner.RunAsync(parseResult, cancellationToken, output =>
            RunAsync(output, parseResult.GetValue(file)!, parseResult.GetValue(to)!, parseResult.GetValue(replace), StoreOpener.ReadIndexes(parseResult.GetValue(CommonOptions.Indexes)), cancellationToken)));
        return command;
    }

    private static async Task<ExitCode> RunAsync(Output output, string file, string address, bool replace, IReadOnlyList<IndexDefinition>? indexes, CancellationToken cancellationToken)
    {
        var parsed = StoreOpener.Parse(address, "--to");
        if (!File.Exists(file))
        {
            throw new ToolException(ExitCode.Usage, $"FILE: there is no archive '{file}'.");
        }

        await using var archive = new FileStream(file, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 16, useAsync: true);

        // Verified before the destination is opened, so a damaged archive does not even create an empty store.
        ArchiveSummary summary;
        try
        {
            summary = await StoreArchive.VerifyAsync(archive, cancellationToken);
        }
        catch (CorruptDataException e)
        {
            throw new ToolException(ExitCode.Unavailable, $"FILE: the archive '{file}' is damaged ({e.Message}); nothing was restored.", e);
        }

        archive.Position = 0;
        await using var store = await StoreOpener.OpenOrCreateAsync(address, "--to", indexes, cancellationToken, whenCreated: summary.Info.Indexes);
        output.Event("start", [new("command", "restore"), new("file", file), new("to", parsed.ToString()), new("replace", replace)]);
        output.Line($"Restore {file} into {parsed} (the archive is verified whole before anything is written)");

        var progress = new Progress(output, "restore", totalPartitions: null);
        var result = await progress.RunAsync(async () => await StoreArchive.RestoreAsync(archive, store, replace ? RestoreMode.Replace : RestoreMode.FailIfDifferent, cancellationToken));
        output.Line($"Restored in {progress.Elapsed.TotalSeconds:N1} s: {result.Created:N0} partitions created, {result.Replaced:N0} replaced, {result.Unchanged:N0} already equal; {result.Documents:N0} documents and {result.Events:N0} events written.");
        output.Event("done",
        [
            new("command", "restore"), new("created", result.Created), new("replaced", result.Replaced), new("unchanged", result.Unchanged),
            new("documents", result.Documents), new("events", result.Events), new("exitCode", 0),
        ]);
        return ExitCode.Success;
    }
}
