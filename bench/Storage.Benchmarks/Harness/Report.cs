using System.Globalization;
using System.Text;

namespace Storage.Benchmarks.Harness;

/// <summary>Writes the results as the markdown of docs/performance.md.</summary>
internal static class Report
{
    public static string Markdown(Results results, IEnumerable<string> header)
    {
        var text = new StringBuilder();
        foreach (var line in header)
        {
            text.Append("- ").AppendLine(line);
        }

        text.AppendLine();
        text.AppendLine("| Scenario | Backend | Storage | Raw baseline | Storage / raw | Storage B/op | Raw B/op | Storage CPU µs/op | Raw CPU µs/op | Target; notes |");
        text.AppendLine("|---|---|---:|---:|---:|---:|---:|---:|---:|---|");
        foreach (var row in results.Rows)
        {
            var raw = row.Raw is { Runs.Count: > 0 } r ? $"{Figure(r)} ({r.Subject})" : "—";
            var ratio = row.Ratio is { } value ? value.ToString("F2", CultureInfo.InvariantCulture) : "—";
            var remarks = string.Join("; ", row.Notes.Prepend(Target.For(row) is { } t ? $"{t.Text}: {t.Judge(results, row)}" : null).OfType<string>());
            text.AppendLine(CultureInfo.InvariantCulture, $"| {row.Title} | {row.Backend} | {Figure(row.Store)} {row.Unit} | {raw} | {ratio} | {Bytes(row.Store.BytesPerOp)} | {(row.Raw is { Runs.Count: > 0 } rr ? Bytes(rr.BytesPerOp) : "—")} | {Micros(row.Store)} | {(row.Raw is { Runs.Count: > 0 } rc ? Micros(rc) : "—")} | {remarks} |");
        }

        return text.ToString();
    }

    /// <summary>"12,345 ±3%": the median and half the range of the runs.</summary>
    public static string Figure(Series series)
        => $"{series.OpsPerSecond.ToString("N0", CultureInfo.InvariantCulture)} ±{series.Spread * 100:F0}%";

    /// <summary>CPU µs per operation to three significant digits (a change of 1 % shows).</summary>
    public static string Micros(Series series) => series.CpuMicrosecondsPerOp.ToString(
        series.CpuMicrosecondsPerOp switch
        {
            < 1 => "F3",
            < 10 => "F2",
            < 100 => "F1",
            _ => "F0",
        },
        CultureInfo.InvariantCulture);

    public static string Bytes(double value) => value switch
    {
        >= 10 * 1024 * 1024 => (value / 1024 / 1024).ToString("N0", CultureInfo.InvariantCulture) + " MiB",
        >= 10 * 1024 => (value / 1024).ToString("N0", CultureInfo.InvariantCulture) + " KiB",
        _ => value.ToString("N0", CultureInfo.InvariantCulture),
    };
}
