using System.Diagnostics;
using System.Reflection;
using System.Runtime.InteropServices;

namespace Storage.Sqlite.Tests;

/// <summary>
/// A .NET program of this repository (the worker, the crash writer) running as a child process
/// with <c>dotnet &lt;dll&gt;</c>, its stdout collected line by line.
/// </summary>
internal sealed class ChildProcess : IDisposable
{
    private readonly Process _process;
    private readonly List<string> _lines = [];
    private readonly Lock _lock = new();
    private readonly System.Text.StringBuilder _errors = new();
    private TaskCompletionSource _lineArrived = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private bool _outputClosed;

    private ChildProcess(string program, IEnumerable<string> arguments)
    {
        var start = new ProcessStartInfo(DotnetHost)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = true,
            UseShellExecute = false,
        };
        start.ArgumentList.Add(ProgramPath(program));
        foreach (var argument in arguments)
        {
            start.ArgumentList.Add(argument);
        }

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

    /// <summary>Starts tests/Storage.Sqlite.Worker.</summary>
    public static ChildProcess Worker(params string[] arguments) => new("WorkerPath", arguments);

    /// <summary>Starts tests/Storage.CrashWriter.</summary>
    public static ChildProcess CrashWriter(params string[] arguments) => new("CrashWriterPath", arguments);

    public void WriteLine(string line)
    {
        _process.StandardInput.WriteLine(line);
        _process.StandardInput.Flush();
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

    /// <summary>SIGKILL: the process dies at once, wherever it is; then its output is read to the end.</summary>
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

        _process.WaitForExit();
    }

    public async Task<bool> WaitForExitAsync(TimeSpan timeout)
    {
        using var cancellation = new CancellationTokenSource(timeout);
        try
        {
            await _process.WaitForExitAsync(cancellation.Token);
            _process.WaitForExit();
            return true;
        }
        catch (OperationCanceledException)
        {
            return false;
        }
    }

    public void Dispose()
    {
        if (!_process.HasExited)
        {
            Kill();
        }

        _process.Dispose();
    }

    private static string ProgramPath(string key)
    {
        var path = typeof(ChildProcess).Assembly.GetCustomAttributes<AssemblyMetadataAttribute>().SingleOrDefault(a => a.Key == key)?.Value;
        return path is not null && File.Exists(path)
            ? path
            : throw new InvalidOperationException($"The child program ({key}) is not built at '{path}': build tests/Storage.Sqlite.Tests, which builds it first.");
    }

    /// <summary>The dotnet host that runs this test process.</summary>
    private static string DotnetHost
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

            var root = Path.GetFullPath(Path.Combine(RuntimeEnvironment.GetRuntimeDirectory(), "..", "..", ".."));
            var candidate = Path.Combine(root, OperatingSystem.IsWindows() ? "dotnet.exe" : "dotnet");
            return File.Exists(candidate) ? candidate : "dotnet";
        }
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
