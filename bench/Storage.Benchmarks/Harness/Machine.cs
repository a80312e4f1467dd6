using System.Globalization;
using System.Runtime;
using System.Runtime.InteropServices;

namespace Storage.Benchmarks.Harness;

/// <summary>What the figures were measured on: they mean nothing without it.</summary>
internal static class Machine
{
    /// <summary>The 1-, 5- and 15-minute load averages (Linux), e.g. "0.42 0.80 1.10".</summary>
    public static string LoadAverage()
        => File.Exists("/proc/loadavg") ? string.Join(' ', File.ReadAllText("/proc/loadavg").Split(' ').Take(3)) : "unknown";

    /// <summary>The 1-minute load average, or 0 where unknown.</summary>
    public static double Load1()
        => double.TryParse(LoadAverage().Split(' ')[0], NumberStyles.Float, CultureInfo.InvariantCulture, out var load) ? load : 0;

    public static IEnumerable<string> Describe(string dataDirectory)
    {
        yield return $"CPU: {CpuModel()}, {Environment.ProcessorCount} logical cores; memory {MemoryGiB()}";
        yield return $"OS: {RuntimeInformation.OSDescription}; {RuntimeInformation.FrameworkDescription}, {(GCSettings.IsServerGC ? "server" : "workstation")} GC";
        yield return $"Data directory: {dataDirectory} ({FileSystemOf(dataDirectory)})";
    }

    private static string CpuModel()
        => File.Exists("/proc/cpuinfo")
            ? File.ReadLines("/proc/cpuinfo").FirstOrDefault(l => l.StartsWith("model name", StringComparison.Ordinal))?.Split(':', 2)[1].Trim() ?? "unknown"
            : RuntimeInformation.ProcessArchitecture.ToString();

    private static string MemoryGiB()
        => File.Exists("/proc/meminfo") && File.ReadLines("/proc/meminfo").FirstOrDefault(l => l.StartsWith("MemTotal:", StringComparison.Ordinal)) is { } line
            ? (long.Parse(line.Split(' ', StringSplitOptions.RemoveEmptyEntries)[1], CultureInfo.InvariantCulture) / 1024.0 / 1024.0).ToString("F0", CultureInfo.InvariantCulture) + " GiB"
            : "unknown";

    // The mount with the longest path that contains the directory: its device and filesystem type.
    private static string FileSystemOf(string path)
    {
        if (!File.Exists("/proc/mounts"))
        {
            return "unknown filesystem";
        }

        var full = Path.GetFullPath(path);
        var best = File.ReadLines("/proc/mounts")
            .Select(l => l.Split(' '))
            .Where(f => f.Length > 2 && (full == f[1] || full.StartsWith(f[1].TrimEnd('/') + "/", StringComparison.Ordinal)))
            .MaxBy(f => f[1].Length);
        return best is null ? "unknown filesystem" : $"{best[2]} on {best[0]}";
    }
}
