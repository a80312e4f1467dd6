using System.CommandLine;

namespace Storage.Tool.Commands;

/// <summary>
/// <c>storage verify A B</c>: compares two stores partition by partition (digests; the items of each
/// partition that differs) and their revision floors (B's may be higher, not lower). Exit 0 when equal,
/// 1 with a report naming partitions and items when not. Writes nothing.
/// </summary>
internal static class VerifyCommand
{
    public static Command Create()
    {
        var first = new Argument<string>("A") { Description = "The first store's address (the source)." };
        var second = new Argument<string>("B") { Description = "The second store's address (the copy)." };
        var command = new Command("verify", "Compare two stores: exit 0 when equal, 1 with a report of what differs.")
        {
            first, second, CommonOptions.Json, CommonOptions.Indexes,
        };
        command.SetAction((parseResult, cancellationToken) => CommandRunner.RunAsync(parseResult, cancellationToken, output =>
            RunAsync(output, parseResult.GetValue(first)!, parseResult.GetValue(second)!, StoreOpener.ReadIndexes(parseResult.GetValue(CommonOptions.Indexes)), cancellationToken)));
        return command;
    }

    private static async Task<ExitCode> RunAsync(Output output, string a, string b, IReadOnlyList<IndexDefinition>? indexes, CancellationToken cancellationToken)
    {
        var left = StoreOpener.Parse(a, "A");
        var right = StoreOpener.Parse(b, "B");
        await using var source = await StoreOpener.OpenExistingAsync(a, "A", indexes, cancellationToken);
        await using var copy = await StoreOpener.OpenExistingAsync(b, "B", indexes, cancellationToken);
        output.Event("start", [new("command", "verify"), new("a", left.ToString()), new("b", right.ToString())]);
        output.Line($"Verify {left} against {right}");

        var comparison = await Comparison.RunAsync(source, copy, new Progress(output, "verify", totalPartitions: null), cancellationToken);
        if (comparison.Equal)
        {
            output.Line($"Equal: {comparison.Source}; store digest {comparison.SourceDigest}.");
            output.Event("done", [new("command", "verify"), new("equal", true), .. comparison.Source.Fields(), new("storeDigest", comparison.SourceDigest), new("exitCode", 0)]);
            return ExitCode.Success;
        }

        output.Line($"DIFFERENT: {comparison.DifferentPartitions:N0} partitions differ ({comparison.Missing} only in A, {comparison.Extra} only in B, {comparison.Different} in both){(comparison.FloorBehind ? "; B's revision floor is below A's" : string.Empty)}:");
        comparison.ReportMismatches(output, "A", "B");
        output.Event("done",
        [
            new("command", "verify"), new("equal", false), new("differentPartitions", comparison.DifferentPartitions),
            new("floorBehind", comparison.FloorBehind), new("exitCode", (int)ExitCode.Mismatch),
        ]);
        return ExitCode.Mismatch;
    }
}
