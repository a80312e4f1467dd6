using System.CommandLine;

namespace Storage.Tool.Commands;

/// <summary>
/// <c>storage inspect STORE</c>: what a store holds — backend, revision floor, index declarations,
/// partitions, documents per collection, tombstones, sequences, streams and events, and its store digest.
/// It reads every partition (one at a time).
/// </summary>
internal static class InspectCommand
{
    public static Command Create()
    {
        var store = new Argument<string>("STORE") { Description = "The store's address: json:DIR, sqlite:FILE, postgres:CONNECTION-STRING." };
        var command = new Command("inspect", "Show what a store holds. Reads every partition.")
        {
            store,
            CommonOptions.Json,
            CommonOptions.Indexes,
        };
        command.SetAction((parseResult, cancellationToken) => CommandRunner.RunAsync(parseResult, cancellationToken, output =>
            RunAsync(output, parseResult.GetValue(store)!, StoreOpener.ReadIndexes(parseResult.GetValue(CommonOptions.Indexes)), cancellationToken)));
        return command;
    }

    private static async Task<ExitCode> RunAsync(Output output, string address, IReadOnlyList<IndexDefinition>? indexes, CancellationToken cancellationToken)
    {
        var parsed = StoreOpener.Parse(address, "STORE");
        await using var store = await StoreOpener.OpenExistingAsync(address, "STORE", indexes, cancellationToken);
        var info = await store.GetExportInfoAsync(cancellationToken);
        output.Event("start", [new("command", "inspect"), new("store", parsed.ToString()), new("backend", parsed.Backend.ToString())]);
        output.Line($"Store:          {parsed} ({parsed.Backend})");
        output.Line("Reading every partition...");

        var counts = new StoreCounts();
        using var storeDigest = new StoreDigest();
        var now = DateTimeOffset.UtcNow;
        var progress = new Progress(output, "inspect", totalPartitions: null);
        await progress.RunAsync(async () =>
        {
            await foreach (var partition in progress.Counted(store.ExportAsync(cancellationToken)))
            {
                counts.Add(partition, now);
                storeDigest.Add(partition);
            }

            return true;
        });
        var digest = Convert.ToHexStringLower(storeDigest.Finish());

        output.Line($"Revision floor: {info.RevisionFloor}");
        output.Line($"Indexes:        {(info.Indexes.Count == 0 ? (parsed.Backend == Hosting.StoreBackend.Json ? "none (a JSON store keeps none: its app declares them at each open)" : "none") : string.Join(", ", info.Indexes.Select(i => $"{i.Collection}.{i.Name}")))}");
        output.Line($"Partitions:     {counts.Partitions:N0}");
        output.Line($"Documents:      {counts.Documents:N0} ({counts.ExpiredDocuments:N0} expired, not purged yet)");
        foreach (var (collection, count) in counts.Collections)
        {
            output.Line($"  {collection}: {count:N0}");
        }

        output.Line($"Tombstones:     {counts.Tombstones:N0}");
        output.Line($"Sequences:      {counts.Sequences:N0}");
        output.Line($"Streams:        {counts.Streams:N0} with {counts.Events:N0} events");
        output.Line($"Store digest:   {digest}");
        output.Line($"Read in {progress.Elapsed.TotalSeconds:N1} s.");
        output.Event("done",
        [
            new("command", "inspect"),
            new("backend", parsed.Backend.ToString()),
            new("revisionFloor", info.RevisionFloor),
            new("indexes", info.Indexes.Select(i => $"{i.Collection}.{i.Name}").ToList()),
            .. counts.Fields(),
            new("collections", counts.Collections),
            new("storeDigest", digest),
            new("exitCode", 0),
        ]);
        return ExitCode.Success;
    }
}
