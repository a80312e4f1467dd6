using System.Diagnostics;
using System.Reflection;
using System.Runtime.InteropServices;

namespace Storage.Json.Tests.Infrastructure;

/// <summary>
/// The crash writer (tests/Storage.CrashWriter) running as a child process, its stdout collected
/// line by line. The test project builds it first (a project reference that is not referenced) and
/// knows where its build put it (stamped into this assembly from the writer project's own target path).
/// </summary>
internal sealed class CrashWriterProcess : IDisposable
{
    private readonly Process _process;
    private readonly List<string> _lines = [];
    private readonly Lock _lock = new();
    private readonly System.Text.StringBuilder _errors = new();
    private TaskCompletionSource _lineArrived = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private bool _outputClosed;

    private CrashWriterProcess(ProcessStartInfo start)
    {
        start.RedirectStandardOutput = true;
        start.RedirectStandardError = true;
        start.RedirectStandardInput = true;
        start.UseShellExecute = false;
        _process = new Process { StartInfo = start };
        _process.OutputDataReceived += (_, e) => OnLine(e.Data);
        _process.ErrorDataReceived += (_, e) =>
        {
            lock (_lock)
            {
                _errors.AppendLine(e.Data);
            }
        };
        _process.Start();
        _process.BeginOutputReadLine();
        _process.BeginErrorReadLine();
    }

    /// <summary>The built Storage.CrashWriter.dll.</summary>
    public static string DllPath
    {
        get
        {
            var path = typeof(CrashWriterProcess).Assembly.GetCustomAttributes<AssemblyMetadataAttribute>().SingleOrDefault(a => a.Key == "CrashWriterPath")?.Value;
            return path is not null && File.Exists(path)
                ? path
                : throw new InvalidOperationException($"The crash writer is not built at '{path}': build tests/Storage.Json.Tests (it builds tests/Storage.CrashWriter first).");
        }
    }

    /// <summary>The dotnet host that runs this test process, to run the writer with.</summary>
    public static string DotnetHost
    {
        get
        {
            if (Environment.ProcessPath is { } self && Path.GetFileNameWithoutExtension(self) == "dotnet")
            {
                return self;
            }

            if (Environment.GetEnvironmentVariable("DOTNET_HOST_PATH") is { Length: > 0 } hostPath && File.Exists(hostPath))
            {
                return hostPath;
            }

            // <root>/shared/Microsoft.NETCore.App/<version>/ -> <root>/dotnet
            var root = Path.GetFullPath(Path.Combine(RuntimeEnvironment.GetRuntimeDirectory(), "..", "..", ".."));
            var candidate = Path.Combine(root, OperatingSystem.IsWindows() ? "dotnet.exe" : "dotnet");
            return File.Exists(candidate) ? candidate : "dotnet";
        }
    }

    /// <summary>The writer's command line after the host: the dll and its arguments.</summary>
    public static IReadOnlyList<string> Arguments(string directory, string mode, int seed, string run, DurabilityMode durability = DurabilityMode.Full)
        => [DllPath, "--backend", "json", "--path", directory, "--mode", mode, "--seed", seed.ToString(System.Globalization.CultureInfo.InvariantCulture), "--run", run,
            "--durability", durability == DurabilityMode.Full ? "full" : "relaxed"];

    /// <summary>The lines printed so far (all of them once <see cref="WaitForExit"/> has returned).</summary>
    public IReadOnlyList<string> Lines
    {
        get
        {
            lock (_lock)
            {
                return [.. _lines];
            }
        }
    }

    public string StandardError
    {
        get
        {
            lock (_lock)
            {
                return _errors.ToString();
            }
        }
    }

    public bool HasExited => _process.HasExited;

    public int ExitCode => _process.ExitCode;

    public static CrashWriterProcess Start(string directory, string mode = "loop", int seed = 0, string run = "1", DurabilityMode durability = DurabilityMode.Full, IReadOnlyDictionary<string, string>? environment = null)
    {
        var start = new ProcessStartInfo(DotnetHost);
        foreach (var argument in Arguments(directory, mode, seed, run, durability))
        {
            start.ArgumentList.Add(argument);
        }

        foreach (var (name, value) in environment ?? new Dictionary<string, string>())
        {
            start.Environment[name] = value;
        }

        return new CrashWriterProcess(start);
    }

    /// <summary>Waits for a line that starts with one of <paramref name="prefixes"/>; <see langword="null"/> if the output ends or the time runs out first.</summary>
    public async Task<string?> WaitForLineAsync(TimeSpan timeout, params string[] prefixes)
    {
        using var cancellation = new CancellationTokenSource(timeout);
        var seen = 0;
        while (true)
        {
            Task arrived;
            lock (_lock)
            {
                for (; seen < _lines.Count; seen++)
                {
                    if (prefixes.Any(p => _lines[seen].StartsWith(p, StringComparison.Ordinal)))
                    {
                        return _lines[seen];
                    }
                }

                if (_outputClosed)
                {
                    return null;
                }

                arrived = _lineArrived.Task;
            }

            try
            {
                await arrived.WaitAsync(cancellation.Token);
            }
            catch (OperationCanceledException)
            {
                return null;
            }
        }
    }

    /// <summary>SIGKILL: the process dies at once, wherever it is; the page cache stays.</summary>
    public void Kill()
    {
        try
        {
            _process.Kill(entireProcessTree: false);
        }
        catch (InvalidOperationException)
        {
            // It had already exited.
        }

        WaitForExit();
    }

    /// <summary>Waits for the process to end and its output to be read to the end.</summary>
    public bool WaitForExit(TimeSpan? timeout = null)
    {
        if (timeout is { } limit && !_process.WaitForExit(limit))
        {
            return false;
        }

        _process.WaitForExit();
        return true;
    }

    /// <summary>Closes the writer's stdin (a hold-lock writer then releases the store and exits).</summary>
    public void CloseInput() => _process.StandardInput.Close();

    public void Dispose()
    {
        if (!_process.HasExited)
        {
            Kill();
        }

        _process.Dispose();
    }

    private void OnLine(string? line)
    {
        lock (_lock)
        {
            if (line is null)
            {
                _outputClosed = true;
            }
            else
            {
                _lines.Add(line);
            }

            _lineArrived.TrySetResult();
            _lineArrived = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        }
    }
}
