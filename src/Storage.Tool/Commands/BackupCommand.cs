using System.CommandLine;
using System.Runtime.CompilerServices;

namespace Storage.Tool.Commands;

/// <summary>
/// <c>storage backup STORE --out FILE</c>: the whole store in one portable archive
/// (<see cref="StoreArchive.WriteAsync"/>, docs/archive-format.md), written to a temporary file beside
/// <c>FILE</c> and renamed into place once complete, so <c>FILE</c> is never a partial archive.
/// </summary>
internal static class BackupCommand
{
    public static Command Create()
    {
        var store = new Argument<string>("STORE") { Description = "The store's address." };
        var file = new Option<string>("--out") { Description = "The archive file to write (replaced if it exists).", Required = true, HelpName = "FILE" };
        var command = new Command("backup", "Write a whole store into one archive file that restores into any backend.")
        {
            store, file, CommonOptions.Json, CommonOptions.Indexes,
        };
        command.SetAction((parseResult, cancellationToken) => CommandRunner.RunAsync(parseResult, cancellationToken, output =>
            RunAsync(output, parseResult.GetValue(store)!, parseResult.GetValue(file)!, StoreOpener.ReadIndexes(parseResult.GetValue(CommonOptions.Indexes)), cancellationToken)));
        return command;
    }

    private static async Task<ExitCode> RunAsync(Output output, string address, string file, IReadOnlyList<IndexDefinition>? indexes, CancellationToken cancellationToken)
    {
        var parsed = StoreOpener.Parse(address, "STORE");
        await using var store = await StoreOpener.OpenExistingAsync(address, "STORE", indexes, cancellationToken);
        output.Event("start", [new("command", "backup"), new("store", parsed.ToString()), new("out", file)]);
        output.Line($"Back up {parsed} to {file}");

        var progress = new Progress(output, "backup", totalPartitions: null);
        var temporary = file + ".partial";
        ArchiveSummary summary;
        try
        {
            await using (var stream = new FileStream(temporary, FileMode.Create, FileAccess.Write, FileShare.None, 1 << 16, useAsync: true))
            {
                summary = await progress.RunAsync(async () => await StoreArchive.WriteAsync(new CountedExport(store, progress), stream, cancellationToken));
                await stream.FlushAsync(cancellationToken);
                stream.Flush(flushToDisk: true);
            }

            File.Move(temporary, file, overwrite: true);
        }
        catch
        {
            File.Delete(temporary);
            throw;
        }

        var digest = Convert.ToHexStringLower(summary.StoreDigest.Span);
        output.Line($"Wrote {summary.Partitions:N0} partitions, {summary.Documents:N0} documents, {summary.Events:N0} events: {summary.ArchiveBytes:N0} bytes in {progress.Elapsed.TotalSeconds:N1} s; store digest {digest}.");
        output.Event("done",
        [
            new("command", "backup"), new("partitions", summary.Partitions), new("documents", summary.Documents), new("events", summary.Events),
            new("archiveBytes", summary.ArchiveBytes), new("storeDigest", digest), new("exitCode", 0),
        ]);
        return ExitCode.Success;
    }

    /// <summary>The store's export, each partition counted by the progress as the archive takes it.</summary>
    private sealed class CountedExport(IStoreExport inner, Progress progress) : IStoreExport
    {
        public ValueTask<StoreExportInfo> GetExportInfoAsync(CancellationToken cancellationToken = default) => inner.GetExportInfoAsync(cancellationToken);

        public async IAsyncEnumerable<PartitionExport> ExportAsync([EnumeratorCancellation] CancellationToken cancellationToken = default)
        {
            await foreach (var partition in progress.Counted(inner.ExportAsync(cancellationToken)))
            {
                yield return partition;
            }
        }

        public ValueTask<PartitionExport?> ExportPartitionAsync(string partition, CancellationToken cancellationToken = default) => inner.ExportPartitionAsync(partition, cancellationToken);

        public ValueTask<PartitionInfo?> GetPartitionAsync(string partition, CancellationToken cancellationToken = default) => inner.GetPartitionAsync(partition, cancellationToken);

        public ValueTask<PartitionChangePage> ReadChangedPartitionsAsync(long afterPosition, int limit = StoreLimits.DefaultPageSize, CancellationToken cancellationToken = default) =>
            inner.ReadChangedPartitionsAsync(afterPosition, limit, cancellationToken);
    }
}
