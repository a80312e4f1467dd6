using System.Diagnostics;
using System.Text;

namespace Storage.Testing.Postgres;

/// <summary>
/// The locally installed PostgreSQL server programs (initdb, pg_ctl, pg_basebackup), found on PATH
/// or under <c>/usr/lib/postgresql/*/bin</c> (Debian's layout, newest version first). As root they
/// run as the <c>postgres</c> system user through <c>runuser</c>, since the server refuses to run as root.
/// </summary>
public sealed class PostgresBinaries
{
    private static readonly string[] s_required = ["initdb", "pg_ctl", "pg_basebackup", "postgres"];

    private PostgresBinaries(string directory, bool asPostgresUser)
    {
        Directory = directory;
        RunsAsPostgresUser = asPostgresUser;
    }

    /// <summary>The directory that holds the programs.</summary>
    public string Directory { get; }

    /// <summary>Whether commands run as the <c>postgres</c> system user (because this process is root).</summary>
    public bool RunsAsPostgresUser { get; }

    /// <summary>Finds the binaries, or explains why they cannot be used.</summary>
    /// <param name="binaries">The binaries, when found.</param>
    /// <param name="problem">Why not, otherwise.</param>
    /// <returns>Whether they were found and can be run.</returns>
    public static bool TryFind(out PostgresBinaries? binaries, out string problem)
    {
        binaries = null;
        var candidates = new List<string>();
        foreach (var entry in (Environment.GetEnvironmentVariable("PATH") ?? string.Empty).Split(':', StringSplitOptions.RemoveEmptyEntries))
        {
            var initdb = Path.Combine(entry, "initdb");
            if (File.Exists(initdb))
            {
                // Debian puts symlinks on PATH at most; the real directory holds every program.
                var resolved = new FileInfo(initdb).ResolveLinkTarget(returnFinalTarget: true)?.FullName ?? initdb;
                candidates.Add(Path.GetDirectoryName(resolved)!);
            }
        }

        if (System.IO.Directory.Exists("/usr/lib/postgresql"))
        {
            candidates.AddRange(System.IO.Directory.GetDirectories("/usr/lib/postgresql")
                .Select(d => (Dir: d, Version: int.TryParse(Path.GetFileName(d), out var v) ? v : 0))
                .OrderByDescending(d => d.Version)
                .Select(d => Path.Combine(d.Dir, "bin")));
        }

        var directory = candidates.FirstOrDefault(d => s_required.All(p => File.Exists(Path.Combine(d, p))));
        if (directory is null)
        {
            problem = "no PostgreSQL server binaries (initdb, pg_ctl, pg_basebackup, postgres) on PATH or under /usr/lib/postgresql/*/bin";
            return false;
        }

        var root = Environment.UserName == "root" || Environment.GetEnvironmentVariable("USER") == "root";
        if (root && !File.ReadAllLines("/etc/passwd").Any(l => l.StartsWith("postgres:", StringComparison.Ordinal)))
        {
            problem = "running as root, and there is no 'postgres' system user to run the server as (the postgresql package creates it)";
            return false;
        }

        binaries = new PostgresBinaries(directory, root);
        problem = string.Empty;
        return true;
    }

    /// <summary>Runs one of the programs (as the postgres user when root) and returns its output; throws with that output if it fails.</summary>
    /// <param name="program">The program's name, for example <c>pg_ctl</c>.</param>
    /// <param name="arguments">Its arguments.</param>
    /// <param name="timeout">How long it may take.</param>
    /// <returns>What it printed.</returns>
    public Task<string> RunAsync(string program, IEnumerable<string> arguments, TimeSpan timeout)
        => RunRawAsync(Path.Combine(Directory, program), arguments, timeout);

    /// <summary>Runs any command (as the postgres user when root), for example <c>mkdir</c>.</summary>
    /// <param name="path">The program.</param>
    /// <param name="arguments">Its arguments.</param>
    /// <param name="timeout">How long it may take.</param>
    /// <returns>What it printed.</returns>
    public async Task<string> RunRawAsync(string path, IEnumerable<string> arguments, TimeSpan timeout)
    {
        var start = new ProcessStartInfo
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = true,
            UseShellExecute = false,
        };

        if (RunsAsPostgresUser)
        {
            start.FileName = "runuser";
            start.ArgumentList.Add("-u");
            start.ArgumentList.Add("postgres");
            start.ArgumentList.Add("--");
            start.ArgumentList.Add(path);
        }
        else
        {
            start.FileName = path;
        }

        foreach (var argument in arguments)
        {
            start.ArgumentList.Add(argument);
        }

        using var process = Process.Start(start) ?? throw new InvalidOperationException("Could not start " + path);
        process.StandardInput.Close();
        var output = new StringBuilder();
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        using var cancel = new CancellationTokenSource(timeout);
        try
        {
            await process.WaitForExitAsync(cancel.Token);
        }
        catch (OperationCanceledException)
        {
            process.Kill(entireProcessTree: true);
            throw new TimeoutException($"{Path.GetFileName(path)} {string.Join(' ', arguments)} did not finish within {timeout.TotalSeconds:0} s.");
        }

        output.Append(await stdout).Append(await stderr);
        if (process.ExitCode != 0)
        {
            throw new InvalidOperationException($"{Path.GetFileName(path)} {string.Join(' ', arguments)} exited with {process.ExitCode}:\n{output}");
        }

        return output.ToString();
    }
}
