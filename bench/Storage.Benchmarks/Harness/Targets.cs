using System.Globalization;

namespace Storage.Benchmarks.Harness;

/// <summary>
/// The targets of the benchmark issue, checked against the figures of the same run. A target names
/// the row it judges and computes the figure that row must reach, from any rows it needs.
/// </summary>
internal sealed record Target(string ScenarioId, string Backend, string Text, Func<Results, double?> Required)
{
    public static IReadOnlyList<Target> All { get; } =
    [
        new("read-hot", "JSON", "≥ 1,000,000/s", _ => 1_000_000),
        new("read-hot", "SQLite", "≥ 0.8 × raw", r => 0.8 * RawOf(r, "read-hot", "SQLite")),
        new("read-hot", "PostgreSQL", "≥ 0.8 × raw", r => 0.8 * RawOf(r, "read-hot", "PostgreSQL")),
        new("put-1", "JSON", "≥ 0.8 × raw", r => 0.8 * RawOf(r, "put-1", "JSON")),
        new("put-1", "SQLite", "≥ 0.8 × raw", r => 0.8 * RawOf(r, "put-1", "SQLite")),
        new("put-1", "PostgreSQL", "≥ 0.8 × raw", r => 0.8 * RawOf(r, "put-1", "PostgreSQL")),

        // "Raw one-commit-per-write": the better of one raw writer and 16 raw writers, so the store
        // is not flattered by SQLite's busy-wait back-off between contending connections.
        new("put-16-distinct", "SQLite", "≥ 4 × raw one-commit-per-write (best of 1 and 16 raw writers)", r => 4 * Math.Max(RawOf(r, "put-1", "SQLite"), RawOf(r, "put-16-distinct", "SQLite"))),
        new("put-16-distinct", "PostgreSQL", "≥ 2 × raw 8-connection autocommit", r => 2 * RawOf(r, "put-16-distinct", "PostgreSQL")),
        new("put-16-distinct", "JSON", "≥ 4 × its own one-at-a-time rate", r => r.Find("put-1", "JSON") is { } single ? 4 * single.Store.OpsPerSecond : null),
        new("bulk", "SQLite", "≥ 0.5 × raw batched inserts (memory: see the note)", r => 0.5 * RawOf(r, "bulk", "SQLite")),
        new("bulk", "PostgreSQL", "≥ 0.5 × raw binary COPY (memory: see the note)", r => 0.5 * RawOf(r, "bulk", "PostgreSQL")),
    ];

    public static Target? For(Row row) => All.FirstOrDefault(t => t.ScenarioId == row.ScenarioId && t.Backend == row.Backend);

    /// <summary>"met", "missed" or "n/a", with the figure required.</summary>
    public string Judge(Results results, Row row)
    {
        var required = Required(results);
        if (required is not { } value || double.IsNaN(value))
        {
            return "n/a";
        }

        var verdict = row.Store.OpsPerSecond >= value ? "**met**" : "**missed**";
        return $"{verdict} (needs {value.ToString("N0", CultureInfo.InvariantCulture)})";
    }

    private static double RawOf(Results results, string scenarioId, string backend)
        => results.Find(scenarioId, backend)?.Raw?.OpsPerSecond ?? double.NaN;
}
