using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using Npgsql;

namespace Storage.Testing.Postgres;

/// <summary>
/// A throwaway PostgreSQL cluster started from the local binaries: its own data directory under
/// <c>/tmp/storage-pg-*</c>, listening on 127.0.0.1 at a free port (and a unix socket inside its
/// directory), <c>fsync</c> on, trust authentication. Disposing it stops the server and deletes the
/// directory. Tests use it directly where they need to restart, stop, replicate or promote a server.
/// </summary>
public sealed class LocalPostgresCluster : IAsyncDisposable
{
    private const string DirectoryPrefix = "storage-pg-";
    private const string OwnerFile = "owner.pid";
    private static readonly TimeSpan s_timeout = TimeSpan.FromSeconds(90);

    private readonly PostgresBinaries _binaries;
    private int _disposed;

    private LocalPostgresCluster(PostgresBinaries binaries, string root, int port)
    {
        _binaries = binaries;
        Root = root;
        Port = port;
    }

    /// <summary>The cluster's own directory (data, socket, log).</summary>
    public string Root { get; }

    /// <summary>The data directory.</summary>
    public string DataDirectory => Path.Combine(Root, "data");

    /// <summary>The server log.</summary>
    public string LogFile => Path.Combine(Root, "server.log");

    /// <summary>The TCP port on 127.0.0.1.</summary>
    public int Port { get; }

    /// <summary>A connection string for the <c>postgres</c> superuser and database.</summary>
    public string ConnectionString => $"Host=127.0.0.1;Port={Port.ToString(CultureInfo.InvariantCulture)};Username=postgres;Database=postgres;Pooling=true;Timeout=10";

    /// <summary>Creates and starts a new cluster.</summary>
    /// <param name="binaries">The binaries; found when <see langword="null"/>.</param>
    /// <param name="settings">Extra server settings (<c>name=value</c>), given to the server with <c>-c</c>.</param>
    /// <returns>The running cluster.</returns>
    /// <exception cref="InvalidOperationException">The binaries are missing or the cluster did not start.</exception>
    public static async Task<LocalPostgresCluster> StartAsync(PostgresBinaries? binaries = null, IEnumerable<string>? settings = null)
    {
        binaries ??= PostgresBinaries.TryFind(out var found, out var problem) ? found! : throw new InvalidOperationException(problem);
        RemoveAbandonedClusters(binaries);
        var cluster = await CreateDirectoryAsync(binaries);
        try
        {
            await binaries.RunAsync("initdb", ["-D", cluster.DataDirectory, "-U", "postgres", "--auth=trust", "--encoding=UTF8", "--locale=C.UTF-8", "--no-sync"], s_timeout);
            var conf = new List<string>
            {
                "listen_addresses = '127.0.0.1'",
                $"port = {cluster.Port.ToString(CultureInfo.InvariantCulture)}",
                $"unix_socket_directories = '{cluster.Root}'",
                "fsync = on",
                "max_connections = 300",
                "max_wal_senders = 10",
                "wal_level = replica",
                "hot_standby = on",
                "wal_keep_size = '256MB'",
            };
            conf.AddRange(settings ?? []);
            await cluster.AppendConfigAsync(conf);
            await cluster.StartServerAsync();
            return cluster;
        }
        catch
        {
            await cluster.DisposeAsync();
            throw;
        }
    }

    /// <summary>Creates a streaming replica of this cluster (<c>pg_basebackup -R</c>) and starts it on its own port.</summary>
    /// <returns>The running standby.</returns>
    public async Task<LocalPostgresCluster> CreateStandbyAsync()
    {
        var standby = await CreateDirectoryAsync(_binaries);
        try
        {
            await _binaries.RunAsync(
                "pg_basebackup",
                ["-h", "127.0.0.1", "-p", Port.ToString(CultureInfo.InvariantCulture), "-U", "postgres", "-D", standby.DataDirectory, "-R", "-X", "stream", "-c", "fast", "--no-sync"],
                s_timeout);

            // The copy carries the primary's settings (and -R added primary_conninfo and standby.signal): a standby needs its own port and socket.
            await standby.AppendConfigAsync(
            [
                $"port = {standby.Port.ToString(CultureInfo.InvariantCulture)}",
                $"unix_socket_directories = '{standby.Root}'",
            ]);
            await standby.StartServerAsync();
            return standby;
        }
        catch
        {
            await standby.DisposeAsync();
            throw;
        }
    }

    /// <summary>Restarts the server. <c>immediate</c> is a crash: no checkpoint, every connection cut, recovery from the WAL on start.</summary>
    /// <param name="mode"><c>smart</c>, <c>fast</c> or <c>immediate</c>.</param>
    /// <returns>A task that completes when the server accepts connections again.</returns>
    public Task RestartAsync(string mode = "immediate")
        => _binaries.RunAsync("pg_ctl", ["restart", "-D", DataDirectory, "-l", LogFile, "-m", mode, "-w", "-t", "60"], s_timeout);

    /// <summary>Stops the server.</summary>
    /// <param name="mode"><c>smart</c>, <c>fast</c> or <c>immediate</c>.</param>
    /// <returns>A task that completes when the server is down.</returns>
    public Task StopAsync(string mode = "fast")
        => _binaries.RunAsync("pg_ctl", ["stop", "-D", DataDirectory, "-m", mode, "-w", "-t", "60"], s_timeout);

    /// <summary>Starts the server again after <see cref="StopAsync"/>.</summary>
    /// <returns>A task that completes when it accepts connections.</returns>
    public Task StartServerAsync()
        => _binaries.RunAsync("pg_ctl", ["start", "-D", DataDirectory, "-l", LogFile, "-w", "-t", "60"], s_timeout);

    /// <summary>Promotes a standby to primary and waits until it accepts writes.</summary>
    /// <returns>A task that completes when the promotion is done.</returns>
    public Task PromoteAsync() => _binaries.RunAsync("pg_ctl", ["promote", "-D", DataDirectory, "-w", "-t", "60"], s_timeout);

    /// <summary>Runs one SQL statement on the <c>postgres</c> database.</summary>
    /// <param name="sql">The statement.</param>
    /// <returns>The first column of the first row, if any.</returns>
    public async Task<object?> ExecuteAsync(string sql)
    {
        await using var connection = new NpgsqlConnection(ConnectionString + ";Pooling=false");
        await connection.OpenAsync();
        await using var command = new NpgsqlCommand(sql, connection);
        return await command.ExecuteScalarAsync();
    }

    /// <summary>The end of the server log, for test failure messages.</summary>
    /// <param name="lines">How many lines.</param>
    /// <returns>The lines.</returns>
    public string TailLog(int lines = 40)
    {
        try
        {
            return string.Join('\n', File.ReadLines(LogFile).TakeLast(lines));
        }
        catch (IOException e)
        {
            return "(no log: " + e.Message + ")";
        }
    }

    /// <summary>Stops the server (immediately: the data is thrown away) and deletes its directory.</summary>
    /// <returns>A task that completes when both are done.</returns>
    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            return;
        }

        try
        {
            if (File.Exists(Path.Combine(DataDirectory, "postmaster.pid")))
            {
                await StopAsync("immediate");
            }
        }
        catch (Exception e) when (e is InvalidOperationException or TimeoutException)
        {
            // Already stopped; the directory goes anyway.
        }

        TryDeleteDirectory(Root);
    }

    /// <summary>Synchronous cleanup for process exit, where nothing may be awaited.</summary>
    /// <summary>
    /// Cleanup for process exit, where the test host may be killed at any moment and child processes
    /// can no longer be waited for: a detached shell (its own session, so it outlives the host)
    /// sends the postmaster SIGQUIT (immediate shutdown), waits for it to go, and deletes the directory.
    /// </summary>
    internal void DisposeAtExit()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            return;
        }

        var postmaster = 0;
        try
        {
            var pidFile = Path.Combine(DataDirectory, "postmaster.pid");
            if (File.Exists(pidFile))
            {
                _ = int.TryParse(File.ReadLines(pidFile).First(), out postmaster);
            }
        }
        catch (IOException)
        {
            // Not running.
        }

        var script = postmaster > 0
            ? $"kill -QUIT {postmaster} 2>/dev/null; for i in $(seq 200); do kill -0 {postmaster} 2>/dev/null || break; sleep 0.05; done; rm -rf '{Root}'"
            : $"rm -rf '{Root}'";
        var start = new ProcessStartInfo("setsid") { UseShellExecute = false };
        foreach (var argument in new[] { "-f", "/bin/sh", "-c", script })
        {
            start.ArgumentList.Add(argument);
        }

        try
        {
            Process.Start(start)?.Dispose();
        }
        catch (System.ComponentModel.Win32Exception)
        {
            // No setsid: the next run removes the cluster as abandoned.
        }
    }

    private static async Task<LocalPostgresCluster> CreateDirectoryAsync(PostgresBinaries binaries)
    {
        var root = Path.Combine(Path.GetTempPath(), DirectoryPrefix + Convert.ToHexStringLower(System.Security.Cryptography.RandomNumberGenerator.GetBytes(6)));

        // Made by the user the server runs as, so that it owns its directory (and /tmp lets it in).
        await binaries.RunRawAsync("/bin/mkdir", ["-m", "700", root], s_timeout);
        await File.WriteAllTextAsync(Path.Combine(root, OwnerFile), Environment.ProcessId.ToString(CultureInfo.InvariantCulture));
        return new LocalPostgresCluster(binaries, root, FreePort());
    }

    private async Task AppendConfigAsync(IEnumerable<string> lines)
    {
        // Written by this process (root may write anywhere; otherwise it is our own directory).
        await File.AppendAllLinesAsync(Path.Combine(DataDirectory, "postgresql.conf"), ["", "# storage tests", .. lines]);
    }

    private static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }

    /// <summary>Removes clusters left by test processes that died without cleaning up (their owner process is gone).</summary>
    private static void RemoveAbandonedClusters(PostgresBinaries binaries)
    {
        foreach (var directory in Directory.GetDirectories(Path.GetTempPath(), DirectoryPrefix + "*"))
        {
            var ownerFile = Path.Combine(directory, OwnerFile);
            if (File.Exists(ownerFile))
            {
                if (!int.TryParse(File.ReadAllText(ownerFile), out var owner) || IsAlive(owner))
                {
                    continue;
                }
            }
            else if (Directory.GetLastWriteTimeUtc(directory) > DateTime.UtcNow.AddMinutes(-10)
                || File.Exists(Path.Combine(directory, "data", "postmaster.pid")))
            {
                // Without an owner file: being created right now, or not ours to judge.
                continue;
            }

            try
            {
                var data = Path.Combine(directory, "data");
                if (File.Exists(Path.Combine(data, "postmaster.pid")))
                {
                    binaries.RunAsync("pg_ctl", ["stop", "-D", data, "-m", "immediate", "-w", "-t", "30"], s_timeout).Wait();
                }
            }
            catch (AggregateException)
            {
                // Not running any more.
            }

            TryDeleteDirectory(directory);
        }
    }

    private static bool IsAlive(int pid)
    {
        try
        {
            using var process = Process.GetProcessById(pid);
            return !process.HasExited;
        }
        catch (ArgumentException)
        {
            return false;
        }
    }

    private static void TryDeleteDirectory(string directory)
    {
        try
        {
            Directory.Delete(directory, recursive: true);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            // Left for the next run's cleanup.
        }
    }

}
