using System.Diagnostics;
using Storage.CrashWriter;
using Storage.Json.Tests.Infrastructure;
using Xunit.Abstractions;

namespace Storage.Json.Tests;

/// <summary>
/// The order of the durability steps of one put, seen from outside: write the temp file, fsync it,
/// rename it over the partition file, fsync the directory — and only then acknowledge. Checked for
/// the real process under strace (what the kernel saw) and through the file layer.
/// </summary>
public sealed class SyscallOrderTests(ITestOutputHelper output)
{
    private static readonly string[] s_traced = ["open", "openat", "creat", "close", "write", "pwrite64", "writev", "pwritev", "pwritev2", "fsync", "fdatasync", "rename", "renameat", "renameat2", "dup", "dup2", "dup3", "fcntl"];

    [Fact]
    public async Task Under_strace_a_put_writes_and_fsyncs_the_temp_file_renames_it_and_fsyncs_the_directory_before_it_is_acknowledged()
    {
        var strace = FindOnPath("strace");
        Assert.True(strace is not null, "strace is not installed, so the syscall order cannot be checked: install it (apt-get install strace; .ci/run installs it).");
        using var temp = new TempDirectory();
        var data = Path.Combine(temp.Path, "data");
        var tracePath = Path.Combine(temp.Path, "strace.log");

        var start = new ProcessStartInfo(strace) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var argument in (string[])["-f", "-tt", "-e", "trace=" + string.Join(',', s_traced), "-o", tracePath, CrashWriterProcess.DotnetHost, .. CrashWriterProcess.Arguments(data, "single-put", seed: 1, run: "1")])
        {
            start.ArgumentList.Add(argument);
        }

        using var process = Process.Start(start)!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        Assert.True(process.WaitForExit(TimeSpan.FromMinutes(2)), "The traced writer did not finish in 2 minutes.");
        await process.WaitForExitAsync();
        Assert.True(process.ExitCode == 0, $"strace or the writer failed ({process.ExitCode}):\n{await stdout}\n{await stderr}");
        Assert.Contains($"{CrashLog.Ack} put", await stdout, StringComparison.Ordinal);

        var calls = StraceLog.Parse(await File.ReadAllLinesAsync(tracePath));
        var partitions = Path.Combine(data, "partitions");
        var final = Path.Combine(partitions, PartitionFileNames.Encode("strace"));
        var explanation = StraceLog.ExplainDurableWrite(calls, partitions, final);
        if (explanation is not null)
        {
            foreach (var call in calls.Where(c => c.Strings.Any(s => s.StartsWith(data, StringComparison.Ordinal) || s.StartsWith(CrashLog.Ack, StringComparison.Ordinal))))
            {
                output.WriteLine($"{call.Start}: {call.Text}");
            }
        }

        Assert.True(explanation is null, explanation);
    }

    [Fact]
    public async Task Through_the_file_layer_a_put_creates_writes_fsyncs_closes_and_renames_the_temp_file_then_fsyncs_the_directory()
    {
        var fs = FaultChecks.NewFileSystem();
        await using var store = FaultChecks.Open(fs);
        var mark = fs.Calls.Count;

        await store.PutAsync(FaultScenarios.Alice, FaultScenarios.Notes, "k", """{"v":1}""");

        var steps = fs.CallsSince(mark).Where(c => c.Operation is not (FileSystemOperation.ReadAllBytes or FileSystemOperation.FileExists)).ToList();
        var final = $"{FaultChecks.DataDirectory}/partitions/{PartitionFileNames.Encode(FaultScenarios.Alice)}";
        var temp = steps.FirstOrDefault()?.Path ?? string.Empty;

        // Then the cursor's record is appended to the journal (the fault layer names a handle by the path it was created at: the journal's rewrite at open).
        var journal = steps.LastOrDefault()?.Path ?? string.Empty;
        Assert.StartsWith($"{FaultChecks.DataDirectory}/{ChangeJournal.FileName}.", journal);
        Assert.StartsWith(final + ".", temp);
        Assert.EndsWith(PartitionFileNames.TempExtension, temp);
        Assert.Equal(
            [
                (FileSystemOperation.CreateNew, temp, null),
                (FileSystemOperation.Write, temp, null),
                (FileSystemOperation.Sync, temp, null),
                (FileSystemOperation.Close, temp, null),
                (FileSystemOperation.Rename, temp, final),
                (FileSystemOperation.SyncDirectory, $"{FaultChecks.DataDirectory}/partitions", (string?)null),
                (FileSystemOperation.Write, journal, null),
            ],
            steps.Select(c => (c.Operation, c.Path, c.Destination)));
    }

    [Fact]
    public async Task Through_the_file_layer_a_relaxed_put_still_fsyncs_the_temp_file_before_the_rename_and_skips_only_the_directory_fsync()
    {
        // A rename can become durable before the file's data (ext4, XFS): without this fsync a power loss leaves an empty partition file.
        var fs = FaultChecks.NewFileSystem();
        await using var store = FaultChecks.Open(fs, DurabilityMode.Relaxed);
        var mark = fs.Calls.Count;

        await store.PutAsync(FaultScenarios.Alice, FaultScenarios.Notes, "k", """{"v":1}""");

        var steps = fs.CallsSince(mark).Where(c => c.Operation is not (FileSystemOperation.ReadAllBytes or FileSystemOperation.FileExists)).ToList();
        var final = $"{FaultChecks.DataDirectory}/partitions/{PartitionFileNames.Encode(FaultScenarios.Alice)}";
        var temp = steps.FirstOrDefault()?.Path ?? string.Empty;
        var journal = steps.LastOrDefault()?.Path ?? string.Empty;
        Assert.Equal(
            [
                (FileSystemOperation.CreateNew, temp, null),
                (FileSystemOperation.Write, temp, null),
                (FileSystemOperation.Sync, temp, null),
                (FileSystemOperation.Close, temp, null),
                (FileSystemOperation.Rename, temp, (string?)final),
                (FileSystemOperation.Write, journal, null),
            ],
            steps.Select(c => (c.Operation, c.Path, c.Destination)));
    }

    [Fact]
    public void The_strace_check_accepts_the_durable_order_also_when_threads_interleave()
    {
        Assert.Null(StraceLog.ExplainDurableWrite(StraceLog.Parse(s_goodTrace), TracedPartitions, TracedFinal));
    }

    [Theory]
    [InlineData("fsync(61", "was not fsynced after its last write")]
    [InlineData("pwrite64(61", "Nothing was written to the temp file")]
    [InlineData("fsync(62)", "was not opened and fsynced after the rename")]
    [InlineData("rename(", "No successful rename")]
    [InlineData("write(33", "The ACK line was not written")]
    public void The_strace_check_rejects_a_trace_that_lacks_a_step(string dropped, string expected)
    {
        var trace = s_goodTrace.Where(line => !line.Contains(dropped, StringComparison.Ordinal)).ToList();

        Assert.Contains(expected, StraceLog.ExplainDurableWrite(StraceLog.Parse(trace), TracedPartitions, TracedFinal), StringComparison.Ordinal);
    }

    [Fact]
    public void The_strace_check_rejects_an_acknowledgement_before_the_directory_fsync()
    {
        var ack = s_goodTrace.Single(line => line.Contains("write(33", StringComparison.Ordinal));
        var trace = s_goodTrace.Where(line => line != ack).ToList();
        trace.Insert(trace.FindIndex(line => line.Contains("rename(", StringComparison.Ordinal)), ack);

        Assert.Contains("acknowledged", StraceLog.ExplainDurableWrite(StraceLog.Parse(trace), TracedPartitions, TracedFinal), StringComparison.Ordinal);
    }

    [Fact]
    public void The_strace_check_rejects_a_rename_before_the_temp_file_fsync()
    {
        var trace = s_goodTrace.Where(line => !line.Contains("fsync(61", StringComparison.Ordinal) && !line.Contains("fsync resumed", StringComparison.Ordinal)).ToList();
        trace.Insert(trace.FindIndex(line => line.Contains("rename(", StringComparison.Ordinal)) + 1, "18668 05:18:10.656100 fsync(61) = 0");

        Assert.Contains("was not fsynced", StraceLog.ExplainDurableWrite(StraceLog.Parse(trace), TracedPartitions, TracedFinal), StringComparison.Ordinal);
    }

    private const string TracedPartitions = "/tmp/t/data/partitions";
    private const string TracedFinal = "/tmp/t/data/partitions/p-strace.json";

    // Modelled on a real trace of the single-put writer, with another thread interleaving a call.
    private static readonly string[] s_goodTrace =
    [
        """18668 05:18:10.311830 fcntl(1, F_DUPFD_CLOEXEC, 0) = 33""",
        """18668 05:18:10.557485 openat(AT_FDCWD, "/tmp/t/data/partitions/p-strace.json", O_RDONLY|O_CLOEXEC) = -1 ENOENT (No such file or directory)""",
        """18668 05:18:10.648574 openat(AT_FDCWD, "/tmp/t/data/partitions/p-strace.json.5a7ed0277f927f2c.tmp", O_WRONLY|O_CREAT|O_EXCL|O_CLOEXEC, 0666) = 61""",
        """18668 05:18:10.648971 pwrite64(61, "{\n  \"format\": 1,\n  \"checksum\": \""..., 399, 0) = 399""",
        """18668 05:18:10.649053 fsync(61 <unfinished ...>""",
        """18671 05:18:10.649100 openat(AT_FDCWD, "/tmp/clr-debug-pipe", O_RDONLY) = 13""",
        """18668 05:18:10.650000 <... fsync resumed>) = 0""",
        """18668 05:18:10.655911 close(61)         = 0""",
        """18668 05:18:10.656070 rename("/tmp/t/data/partitions/p-strace.json.5a7ed0277f927f2c.tmp", "/tmp/t/data/partitions/p-strace.json") = 0""",
        """18668 05:18:10.656179 openat(AT_FDCWD, "/tmp/t/data/partitions", O_RDONLY|O_CLOEXEC|O_DIRECTORY) = 62""",
        """18668 05:18:10.656231 fsync(62)         = 0""",
        """18668 05:18:10.657043 close(62)         = 0""",
        """18668 05:18:10.660342 write(33, "ACK put r1.1 strace docs 1 k=6f1"..., 52) = 52""",
        """18668 05:18:10.664173 +++ exited with 0 +++""",
    ];

    private static string? FindOnPath(string program)
        => (Environment.GetEnvironmentVariable("PATH") ?? string.Empty).Split(Path.PathSeparator, StringSplitOptions.RemoveEmptyEntries)
            .Select(directory => Path.Combine(directory, program))
            .FirstOrDefault(File.Exists);
}
