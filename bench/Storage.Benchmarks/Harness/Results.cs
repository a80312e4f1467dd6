namespace Storage.Benchmarks.Harness;

/// <summary>The runs of one subject; figures are medians over the runs.</summary>
internal sealed class Series(string subject)
{
    public string Subject { get; } = subject;

    public List<Run> Runs { get; } = [];

    public double OpsPerSecond => Median(Runs.Select(r => r.OpsPerSecond));

    public double BytesPerOp => Median(Runs.Select(r => r.BytesPerOp));

    public double CpuMicrosecondsPerOp => Median(Runs.Select(r => r.CpuMicrosecondsPerOp));

    // Memory figures are the worst run, not the median: a bound is about the worst case, and a run
    // can read low when the previous run's store is still being collected while it measures.
    public long? PeakWorkingSetGrowth => Runs.Max(r => r.PeakWorkingSetGrowth);

    public long? RetainedHeap => Runs.Max(r => r.RetainedHeap);

    /// <summary>Half the range of the runs, relative to the median: how much to trust the figure.</summary>
    public double Spread => Runs.Count < 2 ? 0 : (Runs.Max(r => r.OpsPerSecond) - Runs.Min(r => r.OpsPerSecond)) / 2 / OpsPerSecond;

    public static double Median(IEnumerable<double> values)
    {
        var sorted = values.Order().ToArray();
        if (sorted.Length == 0)
        {
            return double.NaN;
        }

        var middle = sorted.Length / 2;
        return sorted.Length % 2 == 1 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2;
    }
}

/// <summary>One line of the table: a scenario on a backend, the store and its raw baseline.</summary>
internal sealed class Row(string scenarioId, string title, string unit, string backend, Series store, Series? raw)
{
    public string ScenarioId { get; } = scenarioId;

    public string Title { get; } = title;

    public string Unit { get; } = unit;

    public string Backend { get; } = backend;

    public Series Store { get; } = store;

    public Series? Raw { get; } = raw;

    public List<string> Notes { get; } = [];

    public double? Ratio => Raw is { Runs.Count: > 0 } raw ? Store.OpsPerSecond / raw.OpsPerSecond : null;
}

/// <summary>Every row of a run.</summary>
internal sealed class Results
{
    public List<Row> Rows { get; } = [];

    public Row? Find(string scenarioId, string backend)
        => Rows.FirstOrDefault(r => r.ScenarioId == scenarioId && r.Backend == backend);
}
