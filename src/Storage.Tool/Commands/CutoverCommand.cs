using System.CommandLine;
using Storage.Hosting;
using Storage.Json;

namespace Storage.Tool.Commands;

/// <summary>
/// <c>storage cutover --from A --to B</c>: moves a running app's store to another, over
/// <see cref="StoreFollower"/> and <see cref="StoreCutover"/>. A pass from the start brings every
/// partition of B up to date with A (copying what differs, comparing the rest); then the cut-over
/// catches up, sets A's read-only fence (the app's writes fail with <see cref="StoreReadOnlyException"/>
/// from then on), drains what was written before it, and verifies every partition that changed since the
/// first pass. Verified: exit 0, A stays fenced, the app switches to B. Not verified: the fence is lifted,
/// exit 1 with the partitions and items that differ. A JSON source its app owns is read beside it (as a
/// reader) and fenced through its directory.
/// </summary>
internal static class CutoverCommand
{
    public static Command Create()
    {
        var from = new Option<string>("--from") { Description = "The store the app writes (the source).", Required = true, HelpName = "ADDRESS" };
        var to = new Option<string>("--to") { Description = "The store the app moves to (created when it does not exist).", Required = true, HelpName = "ADDRESS" };
        var command = new Command("cutover", "Move a running app's store: copy, fence the source, drain, verify; the source stays read-only when verified.")
        {
            from, to, CommonOptions.Json, CommonOptions.Indexes,
        };
        command.SetAction((parseResult, cancellationToken) => CommandRunner.RunAsync(parseResult, cancellationToken, output =>
            RunAsync(output, parseResult.GetValue(from)!, parseResult.GetValue(to)!, StoreOpener.ReadIndexes(parseResult.GetValue(CommonOptions.Indexes)), cancellationToken)));
        return command;
    }

    private static async Task<ExitCode> RunAsync(Output output, string from, string to, IReadOnlyList<IndexDefinition>? indexes, CancellationToken cancellationToken)
    {
        var sourceAddress = StoreOpener.Parse(from, "--from");
        var destinationAddress = StoreOpener.Parse(to, "--to");
        StoreOpener.RefuseSameStore(sourceAddress, destinationAddress);

        await using var source = await StoreOpener.OpenToFollowAsync(from, "--from", indexes, cancellationToken);
        await using var destination = await StoreOpener.OpenOrCreateAsync(to, "--to", indexes, cancellationToken, whenCreated: (await source.GetExportInfoAsync(cancellationToken)).Indexes);
        output.Event("start", [new("command", "cutover"), new("from", sourceAddress.ToString()), new("to", destinationAddress.ToString())]);
        output.Line($"Cut over {sourceAddress} -> {destinationAddress}");

        var first = await StoreFollower.CatchUpAsync(source, destination, 0, cancellationToken);
        output.Line($"Brought up to date: {first.PartitionsCreated:N0} partitions copied, {first.PartitionsUpdated:N0} replaced, {first.PartitionsUnchanged:N0} already equal, {first.PartitionsDeleted:N0} deleted.");
        output.Event("caught-up", [new("created", first.PartitionsCreated), new("updated", first.PartitionsUpdated), new("unchanged", first.PartitionsUnchanged), new("deleted", first.PartitionsDeleted)]);

        var options = new CutoverOptions
        {
            // A JSON store is owned by its app's process: fenced through its directory, as another process does.
            SetSourceReadOnly = sourceAddress.Backend == StoreBackend.Json ? (readOnly, ct) => JsonStore.SetReadOnlyAsync(sourceAddress.Target, readOnly, ct) : null,
        };
        var result = await StoreCutover.RunAsync(source, destination, first.Position, options, cancellationToken);
        var window = result.WritesRefusedFor.TotalMilliseconds;
        if (!result.Succeeded)
        {
            output.Line($"Verification FAILED: {result.Differences.Count:N0} partitions differ; the source's fence was lifted (writes were refused for {window:N0} ms).");
            foreach (var difference in result.Differences)
            {
                Comparison.Report(output, difference, "source", "destination");
            }

            output.Event("done", [new("command", "cutover"), new("verified", false), new("writesRefusedMs", Math.Round(window)), new("exitCode", (int)ExitCode.Mismatch)]);
            return ExitCode.Mismatch;
        }

        output.Line($"Cut over: {result.PartitionsVerified:N0} partitions that changed meanwhile verified; writes were refused for {window:N0} ms.");
        output.Line($"The source stays read-only: point the app at {destinationAddress}.");
        output.Event("done", [new("command", "cutover"), new("verified", true), new("partitionsVerified", result.PartitionsVerified), new("writesRefusedMs", Math.Round(window)), new("exitCode", 0)]);
        return ExitCode.Success;
    }
}
