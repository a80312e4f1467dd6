using System.CommandLine;
using Storage.Hosting;

namespace Storage.Tool.Commands;

/// <summary>
/// <c>storage migrate --from A --to B</c>: a dry run by default (the plan: what the source holds, and per
/// partition whether the destination lacks it, holds it equal, or holds something else — nothing
/// written); <c>--execute</c> raises the destination's revision floor and restores every partition
/// (<see cref="IStoreRestore.RestoreAsync"/>, idempotent: an equal partition is left as it is), then
/// compares the two stores partition by partition. The destination is the checkpoint: a run stopped
/// anywhere is resumed by running the same command again.
/// </summary>
internal static class MigrateCommand
{
    private const int PartitionsListed = 20;

    public static Command Create()
    {
        var from = new Option<string>("--from") { Description = "The source store's address.", Required = true, HelpName = "ADDRESS" };
        var to = new Option<string>("--to") { Description = "The destination store's address (created when it does not exist).", Required = true, HelpName = "ADDRESS" };
        var execute = new Option<bool>("--execute") { Description = "Write: copy, then verify. Without it the command only prints the plan and writes nothing." };
        var replace = new Option<bool>("--replace") { Description = "Overwrite destination partitions that hold different data, and delete those the source does not have." };
        var archive = new Option<bool>("--archive") { Description = "After a verified migration from a json: store, move its directory to _legacy/{UTC timestamp}/ beside it." };
        var follow = new Option<bool>("--follow") { Description = "After the copy, keep the destination up to date while the app writes the source (a json: source is read beside its app), until Ctrl+C; then run 'storage cutover'." };
        var command = new Command("migrate", "Copy a store's exact state into another store (dry run unless --execute), then verify it.")
        {
            from, to, execute, replace, archive, follow, CommonOptions.Json, CommonOptions.Indexes,
        };
        command.SetAction((parseResult, cancellationToken) => CommandRunner.RunAsync(parseResult, cancellationToken, output =>
            RunAsync(output, new Request(
                parseResult.GetValue(from)!,
                parseResult.GetValue(to)!,
                parseResult.GetValue(execute),
                parseResult.GetValue(replace),
                parseResult.GetValue(archive),
                parseResult.GetValue(follow),
                StoreOpener.ReadIndexes(parseResult.GetValue(CommonOptions.Indexes))), cancellationToken)));
        return command;
    }

    private static async Task<ExitCode> RunAsync(Output output, Request request, CancellationToken cancellationToken)
    {
        var sourceAddress = StoreOpener.Parse(request.From, "--from");
        var destinationAddress = StoreOpener.Parse(request.To, "--to");
        if (request.Archive && !request.Execute)
        {
            throw new ToolException(ExitCode.Usage, "--archive moves the source only after a verified migration: add --execute.");
        }

        if (request.Archive && sourceAddress.Backend != StoreBackend.Json)
        {
            throw new ToolException(ExitCode.Usage, $"--archive moves a json: source's directory; the source is {sourceAddress}.");
        }

        if (request.Follow && (!request.Execute || request.Archive))
        {
            throw new ToolException(ExitCode.Usage, request.Archive ? "--follow keeps the source in use: it cannot be combined with --archive." : "--follow follows a copy: add --execute.");
        }

        StoreOpener.RefuseSameStore(sourceAddress, destinationAddress);

        // Following, the app goes on writing the source: a json: one is read beside its app, not locked.
        var source = request.Follow
            ? await StoreOpener.OpenToFollowAsync(request.From, "--from", request.Indexes, cancellationToken)
            : await StoreOpener.OpenExistingAsync(request.From, "--from", request.Indexes, cancellationToken);
        try
        {
            await using var destination = request.Execute
                ? await StoreOpener.OpenOrCreateAsync(request.To, "--to", request.Indexes, cancellationToken, whenCreated: (await source.GetExportInfoAsync(cancellationToken)).Indexes)
                : await StoreOpener.OpenToReadIfExistsAsync(request.To, "--to", request.Indexes, cancellationToken);
            output.Event("start",
            [
                new("command", "migrate"), new("from", sourceAddress.ToString()), new("to", destinationAddress.ToString()),
                new("execute", request.Execute), new("replace", request.Replace),
            ]);
            output.Line($"Migrate {sourceAddress} -> {destinationAddress}{(request.Execute ? string.Empty : " (dry run: nothing is written)")}");

            // Where the source's store-wide cursor stands before anything is read: a change after it means the
            // source was written during the run, and the copy is then checked against the source itself. Only a
            // verified copy needs it (a dry run verifies nothing; following ends with the cut-over's verification).
            var sourceFrom = request.Execute && !request.Follow ? await SourceWatch.PositionAsync(source, cancellationToken) : 0;
            Comparison? plan = null;
            if (!request.Execute || !await IsEmptyAsync(destination, cancellationToken))
            {
                plan = await Comparison.RunAsync(source, destination, new Progress(output, "plan", totalPartitions: null), cancellationToken);
                PrintPlan(output, plan, destination is null);
                var refused = plan.Different + plan.Extra > 0 && !request.Replace;
                if (!request.Execute)
                {
                    output.Line(refused
                        ? "Dry run: nothing written. --execute would be refused: the destination holds different data (--replace overwrites it)."
                        : "Dry run: nothing written. Run the same command with --execute to copy.");
                    output.Event("done", [new("command", "migrate"), new("execute", false), new("exitCode", (int)(refused ? ExitCode.Conflict : ExitCode.Success))]);
                    return refused ? ExitCode.Conflict : ExitCode.Success;
                }

                if (refused)
                {
                    var named = string.Join(", ", plan.Differences.Where(d => d.InDestination).Take(PartitionsListed).Select(d => $"'{d.Partition}'"));
                    throw new ToolException(ExitCode.Conflict, $"The destination holds different data ({plan.Different} partitions differ, {plan.Extra} only in the destination: {named}); nothing was written. Use --replace to overwrite it.");
                }
            }
            else
            {
                // Nothing to compare with and nothing to refuse: the copy itself counts the source.
                output.Line(destination is null ? "Destination: does not exist yet (created now)" : "Destination: empty");
                output.Line("Plan, per partition: every one is new (the copy counts them as it goes)");
                output.Event("plan", [new("destinationExists", destination is not null), new("destinationEmpty", true)]);
            }

            var copied = await CopyAsync(output, source, destination!, plan, request.Replace, cancellationToken);
            if (request.Follow)
            {
                // The app goes on writing: the copy cannot equal a source that moves. Following brings every
                // partition up to date, and the cut-over verifies them with the source fenced.
                return await FollowAsync(output, source, destination!, cancellationToken);
            }

            var check = await VerifyAsync(output, source, destination!, copied, sourceFrom, cancellationToken);
            if (!check.Equal)
            {
                output.Line($"Verification FAILED: {check.DifferentPartitions:N0} partitions differ.");
                check.ReportMismatches(output, "source", "destination");
                output.Event("done", [new("command", "migrate"), new("execute", true), new("verified", false), new("exitCode", (int)ExitCode.Mismatch)]);
                return ExitCode.Mismatch;
            }

            output.Line($"Verified: {check.Source.Partitions:N0} partitions equal; store digest {check.SourceDigest}.");
            string? archivedTo = null;
            if (request.Archive)
            {
                await source.DisposeAsync();
                archivedTo = LegacyArchive.Move(sourceAddress.Target, DateTimeOffset.UtcNow);
                output.Line($"Archived the source directory to {archivedTo}.");
            }

            output.Event("done",
            [
                new("command", "migrate"), new("execute", true), new("verified", true),
                new("created", copied.Created), new("replaced", copied.Replaced), new("unchanged", copied.Unchanged), new("deleted", copied.Deleted),
                new("storeDigest", check.SourceDigest), new("archivedTo", archivedTo), new("exitCode", 0),
            ]);
            return ExitCode.Success;
        }
        finally
        {
            await source.DisposeAsync();
        }
    }

    /// <summary>
    /// Follows the source until Ctrl+C: a pass from the start (every partition compared, what changed during
    /// the copy brought up to date), then a pass a second through the source's store-wide cursor, each
    /// reported with what it copied and how far behind the copy was (the pass's duration).
    /// </summary>
    private static async Task<ExitCode> FollowAsync(Output output, Store source, Store destination, CancellationToken cancellationToken)
    {
        output.Line("Following the source (Ctrl+C stops; then run 'storage cutover' with the same addresses).");
        long position = 0, passes = 0;
        try
        {
            while (true)
            {
                var started = System.Diagnostics.Stopwatch.GetTimestamp();
                var pass = await StoreFollower.CatchUpAsync(source, destination, position, cancellationToken);
                var lag = System.Diagnostics.Stopwatch.GetElapsedTime(started);
                var changed = pass.PartitionsCreated + pass.PartitionsUpdated + pass.PartitionsDeleted;
                passes++;
                if (changed > 0 || position == 0)
                {
                    output.Line($"Pass {passes:N0}: {pass.PartitionsCreated:N0} partitions created, {pass.PartitionsUpdated:N0} updated, {pass.PartitionsDeleted:N0} deleted; caught up in {lag.TotalMilliseconds:N0} ms (position {pass.Position}).");
                }

                output.Event("follow",
                [
                    new("pass", passes), new("created", pass.PartitionsCreated), new("updated", pass.PartitionsUpdated),
                    new("deleted", pass.PartitionsDeleted), new("position", pass.Position), new("lagMs", Math.Round(lag.TotalMilliseconds)),
                ]);
                position = pass.Position;
                await Task.Delay(TimeSpan.FromSeconds(1), cancellationToken);
            }
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            // Stopping is how following ends: every pass that ended left the copy whole.
            output.Line($"Stopped following after {passes:N0} passes. Run 'storage cutover' to move the app.");
            output.Event("done", [new("command", "migrate"), new("execute", true), new("verified", true), new("followed", passes), new("exitCode", 0)]);
            return ExitCode.Success;
        }
    }

    private static void PrintPlan(Output output, Comparison plan, bool destinationAbsent)
    {
        var equal = plan.Source.Partitions - plan.Missing - plan.Different;
        output.Line($"Source:      {plan.Source}; revision floor {plan.SourceFloor}");
        output.Line(destinationAbsent ? "Destination: does not exist yet (created by --execute)" : $"Destination: revision floor {plan.DestinationFloor}");
        output.Line("Plan, per partition:");
        output.Line($"  new (to copy):                 {plan.Missing:N0}");
        output.Line($"  already equal (left as is):    {equal:N0}");
        output.Line($"  different (conflict):          {plan.Different:N0}");
        output.Line($"  only in the destination:       {plan.Extra:N0}");
        output.Line(plan.FloorBehind ? $"  revision floor: raised from {plan.DestinationFloor} to {plan.SourceFloor}" : "  revision floor: already at or above the source's");
        var conflicts = plan.Differences.Where(d => d.InDestination).Take(PartitionsListed).ToList();
        if (conflicts.Count > 0)
        {
            output.Line("Partitions the destination holds differently:");
            foreach (var difference in conflicts)
            {
                var items = difference.Items.Take(Comparison.ItemsShown).Select(Comparison.Describe);
                output.Line(difference.InSource
                    ? $"  '{difference.Partition}': {string.Join(", ", items)}{(difference.Items.Count > Comparison.ItemsShown ? $" and {difference.Items.Count - Comparison.ItemsShown} more" : string.Empty)}"
                    : $"  '{difference.Partition}': not in the source (--replace deletes it)");
            }
        }

        output.Event("plan",
        [
            .. plan.Source.Fields(),
            new("sourceFloor", plan.SourceFloor),
            new("destinationExists", !destinationAbsent),
            new("destinationFloor", plan.DestinationFloor),
            new("new", plan.Missing),
            new("equal", equal),
            new("different", plan.Different),
            new("onlyInDestination", plan.Extra),
            new("conflicts", plan.Differences.Where(d => d.InDestination).Take(PartitionsListed).Select(d => d.Partition).ToList()),
        ]);
    }

    /// <summary>
    /// Restores every source partition into the destination (equal ones are left as they are), computing the
    /// source's store digest and counts as the partitions pass, so the verification need not read it again.
    /// </summary>
    private static async Task<Copied> CopyAsync(Output output, Store source, Store destination, Comparison? plan, bool replace, CancellationToken cancellationToken)
    {
        if (plan is not null && plan.Missing + (replace ? plan.Different + plan.Extra : 0) == 0 && !plan.FloorBehind)
        {
            output.Line($"Nothing to copy: all {plan.Source.Partitions:N0} partitions are already equal.");
            return new Copied(0, 0, plan.Source.Partitions, 0, plan.Source, plan.SourceDigest, plan.SourceFloor);
        }

        var progress = new Progress(output, "copy", plan?.Source.Partitions);
        var info = await source.GetExportInfoAsync(cancellationToken);
        using var read = new CountedRead();
        var counts = read.Counts;
        var result = await progress.RunAsync(async () => await destination.RestoreAsync(
            info, read.ReadAsync(progress.Counted(source.ExportAsync(cancellationToken))), replace ? RestoreMode.Replace : RestoreMode.FailIfDifferent, cancellationToken));
        long deleted = 0;
        if (replace && plan is not null)
        {
            foreach (var extra in plan.Differences.Where(d => !d.InSource))
            {
                deleted += await destination.DeletePartitionAsync(extra.Partition, cancellationToken) ? 1 : 0;
            }
        }

        output.Line($"Copied in {progress.Elapsed.TotalSeconds:N1} s: {result.Created:N0} partitions created, {result.Replaced:N0} replaced, {result.Unchanged:N0} already equal, {deleted:N0} deleted; {result.Documents:N0} documents and {result.Events:N0} events written.");
        if (plan is null)
        {
            output.Line($"Source:      {counts}; revision floor {info.RevisionFloor}");
        }

        output.Event("copied",
        [
            new("created", result.Created), new("replaced", result.Replaced), new("unchanged", result.Unchanged), new("deleted", deleted),
            new("documents", result.Documents), new("events", result.Events), new("seconds", Math.Round(progress.Elapsed.TotalSeconds, 3)),
            .. plan is null ? counts.Fields().Select(f => new KeyValuePair<string, object?>("source" + char.ToUpperInvariant(f.Key[0]) + f.Key[1..], f.Value)) : [],
        ]);
        return new Copied(result.Created, result.Replaced, result.Unchanged, deleted, counts, read.Finish(), info.RevisionFloor);
    }

    /// <summary>
    /// Checks the copy. When the source's cursor has not moved since the run began, the source is as the copy
    /// read it: one read of the destination, its store digest against the one the copy computed, and the
    /// floors, prove the two equal. Otherwise — or when the digests differ — both stores are compared
    /// partition by partition, which names every difference.
    /// </summary>
    private static async Task<Comparison> VerifyAsync(Output output, Store source, Store destination, Copied copied, long sourceFrom, CancellationToken cancellationToken)
    {
        if (!await SourceWatch.ChangedSinceAsync(source, sourceFrom, cancellationToken))
        {
            var progress = new Progress(output, "verify", copied.Source.Partitions);
            var destinationDigest = await progress.RunAsync(async () => Convert.ToHexStringLower(await StoreDigest.ComputeAsync(progress.Counted(destination.ExportAsync(cancellationToken)), cancellationToken)));
            var floor = (await destination.GetExportInfoAsync(cancellationToken)).RevisionFloor;
            if (destinationDigest == copied.SourceDigest && floor >= copied.SourceFloor)
            {
                return Comparison.Matching(copied.Source, copied.SourceDigest, copied.SourceFloor, floor);
            }
        }
        else
        {
            output.Line("The source changed during the copy: comparing both stores partition by partition.");
        }

        return await Comparison.RunAsync(source, destination, new Progress(output, "verify", copied.Source.Partitions), cancellationToken);
    }

    /// <summary>Whether <paramref name="store"/> holds no partition (absent counts as empty).</summary>
    private static async Task<bool> IsEmptyAsync(Store? store, CancellationToken cancellationToken)
    {
        if (store is null)
        {
            return true;
        }

        await using var partitions = store.ExportAsync(cancellationToken).GetAsyncEnumerator(cancellationToken);
        return !await partitions.MoveNextAsync();
    }

    private sealed record Request(string From, string To, bool Execute, bool Replace, bool Archive, bool Follow, IReadOnlyList<IndexDefinition>? Indexes);

    private sealed record Copied(long Created, long Replaced, long Unchanged, long Deleted, StoreCounts Source, string SourceDigest, long SourceFloor);
}
