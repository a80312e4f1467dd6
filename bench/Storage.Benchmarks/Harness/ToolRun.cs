using System.Diagnostics;
using System.Globalization;
using System.Reflection;

namespace Storage.Benchmarks.Harness;

/// <summary>Runs the built storage tool (src/Storage.Tool) as a process, as a user runs it, and measures it.</summary>
internal static class ToolRun
{
    /// <summary>
    /// <c>storage migrate --from <paramref name="from"/> --to <paramref name="to"/> --execute</c>: its wall time
    /// (process start to exit) and its peak resident set (the kernel's high-water mark, VmHWM, read every 50 ms
    /// while it runs). A non-zero exit fails the benchmark with the tool's output.
    /// </summary>
    public static async Task<(double Seconds, long PeakResidentBytes, double CopySeconds)> MigrateAsync(string from, string to)
    {
        var tool = typeof(ToolRun).Assembly.GetCustomAttributes<AssemblyMetadataAttribute>().Single(a => a.Key == "ToolPath").Value!;
        var start = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var argument in new[] { tool, "migrate", "--from", from, "--to", to, "--execute", "--json" })
        {
            start.ArgumentList.Add(argument);
        }

        // For experiments with the runtime's settings: STORAGE_BENCH_TOOL_ENV="NAME=value;NAME=value" reaches the tool only.
        foreach (var setting in (Environment.GetEnvironmentVariable("STORAGE_BENCH_TOOL_ENV") ?? string.Empty).Split(';', StringSplitOptions.RemoveEmptyEntries))
        {
            var (name, value) = (setting[..setting.IndexOf('=', StringComparison.Ordinal)], setting[(setting.IndexOf('=', StringComparison.Ordinal) + 1)..]);
            start.Environment[name] = value;
        }

        var started = Stopwatch.GetTimestamp();
        using var process = Process.Start(start)!;
        var output = process.StandardOutput.ReadToEndAsync();
        var errors = process.StandardError.ReadToEndAsync();
        long peak = 0;
        while (!process.HasExited)
        {
            peak = Math.Max(peak, HighWaterMark(process.Id));
            await Task.WhenAny(process.WaitForExitAsync(), Task.Delay(50));
        }

        var seconds = Stopwatch.GetElapsedTime(started).TotalSeconds;
        if (process.ExitCode != 0)
        {
            throw new InvalidOperationException($"storage migrate exited {process.ExitCode}: {await errors}\n{await output}");
        }

        // The copy's own time, from the tool's "copied" event; the rest is start-up, the plan and the verification.
        var copied = (await output).Split('\n').Select(l => l.Trim()).Where(l => l.Contains("\"event\":\"copied\"", StringComparison.Ordinal))
            .Select(l => System.Text.Json.JsonDocument.Parse(l).RootElement.GetProperty("seconds").GetDouble()).SingleOrDefault();
        return (seconds, peak, copied);
    }

    private static long HighWaterMark(int pid)
    {
        try
        {
            foreach (var line in File.ReadLines($"/proc/{pid}/status"))
            {
                if (line.StartsWith("VmHWM:", StringComparison.Ordinal))
                {
                    return long.Parse(line["VmHWM:".Length..].Trim().Split(' ')[0], CultureInfo.InvariantCulture) * 1024;
                }
            }
        }
        catch (IOException)
        {
            // The process has just exited.
        }

        return 0;
    }
}
