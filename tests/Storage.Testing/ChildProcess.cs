using System.Diagnostics;
using System.Reflection;
using System.Runtime.InteropServices;
using System.Text;

namespace Storage.Testing;

/// <summary>
/// A .NET program of this repository (the crash writer, a worker) running as a child process with
/// <c>dotnet &lt;dll&gt;</c>, its stdout collected line by line and its stderr kept for messages.
/// </summary>
public sealed class ChildProcess : IDisposable
{
    private readonly Process _process;
    private readonly List<string> _lines = [];
    private readonly Lock _lock = new();
    private readonly StringBuilder _errors = new();
    private TaskCompletionSource _lineArrived = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private bool _outputClosed;

    private ChildProcess(ProcessStartInfo start)
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

    /// <summary>The dotnet host that runs this test process, to run child programs with.</summary>
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

    /// <summary>The lines printed so far (all of them once the process has exited and been waited for).</summary>
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

    /// <summary>What the process wrote to stderr so far.</summary>
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

    /// <summary>The process id (to send it a signal).</summary>
    public int Id => _process.Id;

    /// <summary>Whether the process has exited.</summary>
    public bool HasExited => _process.HasExited;

    /// <summary>The exit code, once exited.</summary>
    public int ExitCode => _process.ExitCode;

    /// <summary>
    /// The path of a program built alongside a test project, stamped into the test assembly as
    /// <c>[AssemblyMetadata(key, path)]</c> by the project file.
    /// </summary>
    /// <param name="testAssembly">The test assembly that carries the stamp.</param>
    /// <param name="key">The metadata key.</param>
    /// <returns>The path of the built dll.</returns>
    public static string ProgramPath(Assembly testAssembly, string key)
    {
        var path = testAssembly.GetCustomAttributes<AssemblyMetadataAttribute>().SingleOrDefault(a => a.Key == key)?.Value;
        return path is not null && File.Exists(path)
            ? path
            : throw new InvalidOperationException($"The child program ({key}) is not built at '{path}': build the test project, which builds it first.");
    }

    /// <summary>Starts <c>dotnet</c> with <paramref name="hostArguments"/> (the dll first, then its arguments).</summary>
    /// <param name="hostArguments">The dll and its arguments.</param>
    /// <param name="environment">Extra environment variables.</param>
    /// <returns>The running process.</returns>
    public static ChildProcess Start(IEnumerable<string> hostArguments, IReadOnlyDictionary<string, string>? environment = null)
    {
        var start = new ProcessStartInfo(DotnetHost);
        foreach (var argument in hostArguments)
        {
            start.ArgumentList.Add(argument);
        }

        foreach (var (name, value) in environment ?? new Dictionary<string, string>())
        {
            start.Environment[name] = value;
        }

        return new ChildProcess(start);
    }

    /// <summary>Writes a line to the process's stdin.</summary>
    /// <param name="line">The line.</param>
    public void WriteLine(string line)
    {
        _process.StandardInput.WriteLine(line);
        _process.StandardInput.Flush();
    }

    /// <summary>Closes the process's stdin.</summary>
    public void CloseInput() => _process.StandardInput.Close();

    /// <summary>Waits for a line that starts with one of <paramref name="prefixes"/>; <see langword="null"/> if the output ends or the time runs out first.</summary>
    /// <param name="timeout">How long to wait.</param>
    /// <param name="prefixes">The prefixes.</param>
    /// <returns>The line, or <see langword="null"/>.</returns>
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
                await arrived.WaitAsync(cancellation.Token).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                return null;
            }
        }
    }

    /// <summary>SIGKILL: the process dies at once, wherever it is (the page cache stays); then its output is read to the end.</summary>
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
    /// <param name="timeout">How long to wait, or <see langword="null"/> for as long as it takes.</param>
    /// <returns><see langword="false"/> when the time ran out.</returns>
    public bool WaitForExit(TimeSpan? timeout = null)
    {
        if (timeout is { } limit && !_process.WaitForExit(limit))
        {
            return false;
        }

        _process.WaitForExit();
        return true;
    }

    /// <summary>Waits asynchronously for the process to end and its output to be read to the end.</summary>
    /// <param name="timeout">How long to wait.</param>
    /// <returns><see langword="false"/> when the time ran out.</returns>
    public async Task<bool> WaitForExitAsync(TimeSpan timeout)
    {
        using var cancellation = new CancellationTokenSource(timeout);
        try
        {
            await _process.WaitForExitAsync(cancellation.Token).ConfigureAwait(false);
            _process.WaitForExit();
            return true;
        }
        catch (OperationCanceledException)
        {
            return false;
        }
    }

    /// <summary>Kills the process if it still runs.</summary>
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
