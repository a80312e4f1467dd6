namespace Storage.Tool;

/// <summary>
/// Two stores compared partition by partition (<see cref="ExportComparison.CompareAsync"/>: one partition of
/// each at a time, by digest, naming the items that differ), plus their revision floors.
/// </summary>
internal sealed class Comparison
{
    /// <summary>At most this many items are named per partition in a report; the count says how many there are.</summary>
    public const int ItemsShown = 20;

    /// <summary>Partitions only in the source that are kept to be named; the rest are only counted (a copy into a new store would otherwise hold one per partition).</summary>
    public const int MissingKept = 1_000;

    /// <summary>
    /// The partitions that differ: every one the destination holds (differently, or only it), and the first
    /// <see cref="MissingKept"/> only in the source.
    /// </summary>
    public List<PartitionDifference> Differences { get; } = [];

    public StoreCounts Source { get; private init; } = new();

    /// <summary>The source's store digest (<see cref="StoreDigest"/>); when the stores are equal, the destination's too.</summary>
    public string SourceDigest { get; private set; } = string.Empty;

    public long SourceFloor { get; private set; }

    public long DestinationFloor { get; private set; }

    /// <summary>The destination's floor is below the source's: a partition created there later could reuse a version the source handed out.</summary>
    public bool FloorBehind => DestinationFloor < SourceFloor;

    public bool Equal => DifferentPartitions == 0 && !FloorBehind;

    /// <summary>Partitions only in the source.</summary>
    public long Missing { get; private set; }

    /// <summary>Partitions in both, with different contents.</summary>
    public long Different { get; private set; }

    /// <summary>Partitions only in the destination.</summary>
    public long Extra { get; private set; }

    /// <summary>Partitions that differ in any way.</summary>
    public long DifferentPartitions => Missing + Different + Extra;

    /// <summary>Two stores found equal without a comparison of their partitions (their store digests and floors agree).</summary>
    public static Comparison Matching(StoreCounts source, string digest, long sourceFloor, long destinationFloor)
    {
        return new Comparison { Source = source, SourceFloor = sourceFloor, DestinationFloor = destinationFloor, SourceDigest = digest };
    }

    /// <summary>Compares <paramref name="source"/> with <paramref name="destination"/> (an absent destination is an empty store).</summary>
    public static async Task<Comparison> RunAsync(IStoreExport source, IStoreExport? destination, Progress progress, CancellationToken cancellationToken)
    {
        using var read = new CountedRead();
        var comparison = new Comparison
        {
            Source = read.Counts,
            SourceFloor = (await source.GetExportInfoAsync(cancellationToken)).RevisionFloor,
            DestinationFloor = destination is null ? 0 : (await destination.GetExportInfoAsync(cancellationToken)).RevisionFloor,
        };
        var other = destination?.ExportAsync(cancellationToken) ?? Empty();
        await progress.RunAsync(async () =>
        {
            await foreach (var difference in ExportComparison.CompareAsync(read.ReadAsync(progress.Counted(source.ExportAsync(cancellationToken))), other, cancellationToken))
            {
                if (!difference.InDestination)
                {
                    comparison.Missing++;
                    if (comparison.Missing > MissingKept)
                    {
                        continue;
                    }
                }
                else if (difference.InSource)
                {
                    comparison.Different++;
                }
                else
                {
                    comparison.Extra++;
                }

                comparison.Differences.Add(difference);
            }

            return true;
        });
        comparison.SourceDigest = read.Finish();
        return comparison;
    }

    /// <summary>Reports one partition that differs: a line naming it and its first items, and a <c>partition-mismatch</c> event.</summary>
    public static void Report(Output output, PartitionDifference difference, string sourceName, string destinationName)
    {
        var where = !difference.InDestination ? $"only in {sourceName}" : !difference.InSource ? $"only in {destinationName}" : "differs";
        var items = difference.Items.Take(ItemsShown).Select(Describe).ToList();
        output.Event("partition-mismatch",
        [
            new("partition", difference.Partition),
            new("inSource", difference.InSource),
            new("inDestination", difference.InDestination),
            new("itemCount", difference.Items.Count),
            new("items", items),
        ]);
        var more = difference.Items.Count > ItemsShown ? $" and {difference.Items.Count - ItemsShown} more" : string.Empty;
        output.Line(items.Count == 0
            ? $"  partition '{difference.Partition}': {where}"
            : $"  partition '{difference.Partition}': {where}: {string.Join(", ", items)}{more}");
    }

    /// <summary>Reports each difference: a readable line, or a <c>partition-mismatch</c> event.</summary>
    public void ReportMismatches(Output output, string sourceName, string destinationName)
    {
        foreach (var difference in Differences)
        {
            Report(output, difference, sourceName, destinationName);
        }

        if (Missing > MissingKept)
        {
            output.Line($"  and {Missing - MissingKept:N0} more partitions only in {sourceName}");
        }

        if (FloorBehind)
        {
            output.Event("floor-mismatch", [new("sourceFloor", SourceFloor), new("destinationFloor", DestinationFloor)]);
            output.Line($"  revision floor: {destinationName} {DestinationFloor} is below {sourceName} {SourceFloor}");
        }
    }

    /// <summary>An item as the report names it: <c>document orders/o-17</c>, <c>stream cart-1</c>, <c>partition Revision</c>.</summary>
    public static string Describe(ExportItem item) => item.Collection is null
        ? $"{item.Kind.ToString().ToLowerInvariant()} {item.Name}"
        : $"{item.Kind.ToString().ToLowerInvariant()} {item.Collection}/{item.Name}";

    private static async IAsyncEnumerable<PartitionExport> Empty()
    {
        await Task.CompletedTask;
        yield break;
    }
}
