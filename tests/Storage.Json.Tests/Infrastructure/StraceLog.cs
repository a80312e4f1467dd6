using System.Globalization;
using System.Text.RegularExpressions;
using Storage.CrashWriter;

namespace Storage.Json.Tests.Infrastructure;

/// <summary>One system call from an <c>strace -f -tt</c> log, with the log lines where it started and ended.</summary>
/// <param name="Name">The system call (openat, pwrite64, fsync, rename...).</param>
/// <param name="Arguments">Its arguments as strace printed them.</param>
/// <param name="Result">Its return value, or null if the process died in it.</param>
/// <param name="Start">The log line where it started.</param>
/// <param name="End">The log line where it returned (the same unless another thread's call came between).</param>
/// <param name="Text">The line(s) as printed, for messages.</param>
internal sealed partial record Syscall(string Name, string Arguments, long? Result, int Start, int End, string Text)
{
    /// <summary>The quoted strings among the arguments (paths, the start of written data), unescaped for quotes and backslashes.</summary>
    public IReadOnlyList<string> Strings => QuotedString().Matches(Arguments).Select(m => Regex.Unescape(m.Groups[1].Value)).ToList();

    /// <summary>The first argument as a file descriptor, or -1.</summary>
    public int Fd => int.TryParse(Arguments.Split(',')[0].Trim(), NumberStyles.None, CultureInfo.InvariantCulture, out var fd) ? fd : -1;

    [GeneratedRegex("\"((?:[^\"\\\\]|\\\\.)*)\"")]
    private static partial Regex QuotedString();
}

/// <summary>
/// Reads an <c>strace -f -tt -o</c> log: one call per line, or split over an
/// <c>&lt;unfinished ...&gt;</c> line and a <c>&lt;... name resumed&gt;</c> line when threads interleave.
/// </summary>
internal static partial class StraceLog
{
    public static IReadOnlyList<Syscall> Parse(IReadOnlyList<string> lines)
    {
        var calls = new List<Syscall>();
        var unfinished = new Dictionary<string, (string Text, int Start)>(StringComparer.Ordinal);
        for (var i = 0; i < lines.Count; i++)
        {
            var match = Line().Match(lines[i]);
            if (!match.Success)
            {
                continue;
            }

            var pid = match.Groups["pid"].Value;
            var rest = match.Groups["rest"].Value;
            if (rest.StartsWith("<...", StringComparison.Ordinal))
            {
                if (unfinished.Remove(pid, out var begun))
                {
                    var resumed = rest[(rest.IndexOf('>', StringComparison.Ordinal) + 1)..];
                    Add(begun.Text + resumed, begun.Start, i);
                }
            }
            else if (rest.EndsWith("<unfinished ...>", StringComparison.Ordinal))
            {
                unfinished[pid] = (rest[..^"<unfinished ...>".Length].TrimEnd(), i);
            }
            else
            {
                Add(rest, i, i);
            }
        }

        return calls;

        void Add(string text, int start, int end)
        {
            var call = Call().Match(text);
            if (call.Success)
            {
                long? result = long.TryParse(call.Groups["result"].Value, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var value) ? value : null;
                calls.Add(new Syscall(call.Groups["name"].Value, call.Groups["args"].Value, result, start, end, text));
            }
        }
    }

    /// <summary>
    /// Null when the calls show a durable replacement of <paramref name="final"/>: the temp file
    /// opened, written and fsynced, renamed over <paramref name="final"/>, the directory opened and
    /// fsynced, and only then an <c>ACK</c> line written to stdout. Otherwise what is missing or out of order.
    /// </summary>
    public static string? ExplainDurableWrite(IReadOnlyList<Syscall> calls, string partitions, string final)
    {
        var rename = calls.FirstOrDefault(c => c.Name.StartsWith("rename", StringComparison.Ordinal) && c.Result == 0 && c.Strings.Count == 2 && c.Strings[1] == final);
        if (rename is null)
        {
            return $"No successful rename to {final} in the trace.";
        }

        var temp = rename.Strings[0];
        if (Path.GetDirectoryName(temp) != partitions || !temp.EndsWith(PartitionFileNames.TempExtension, StringComparison.Ordinal))
        {
            return $"The partition file was renamed from {temp}, not from a temp file in {partitions}.";
        }

        var open = calls.LastOrDefault(c => c.Name is "open" or "openat" or "creat" && c.Strings.FirstOrDefault() == temp && c.Result >= 0 && c.End < rename.Start);
        if (open is null)
        {
            return $"The temp file {temp} was not opened before the rename.";
        }

        var fd = (int)open.Result!.Value;
        var closed = calls.FirstOrDefault(c => c.Name == "close" && c.Fd == fd && c.Start > open.End)?.Start ?? int.MaxValue;
        var writes = calls.Where(c => c.Name is "write" or "pwrite64" or "writev" or "pwritev" or "pwritev2" && c.Fd == fd && c.Start > open.End && c.End < closed && c.Result > 0).ToList();
        if (writes.Count == 0)
        {
            return $"Nothing was written to the temp file (fd {fd}).";
        }

        var fsync = calls.FirstOrDefault(c => c.Name is "fsync" or "fdatasync" && c.Fd == fd && c.Start > writes[^1].End && c.End < closed && c.Result == 0);
        if (fsync is null || fsync.End > rename.Start)
        {
            return $"The temp file (fd {fd}) was not fsynced after its last write and before the rename (line {rename.Start}).";
        }

        var directory = calls.FirstOrDefault(c => c.Name is "open" or "openat" && c.Strings.FirstOrDefault() == partitions && c.Arguments.Contains("O_DIRECTORY", StringComparison.Ordinal) && c.Start > rename.End && c.Result >= 0);
        var directoryFsync = directory is null ? null : calls.FirstOrDefault(c => c.Name == "fsync" && c.Fd == (int)directory.Result!.Value && c.Start > directory.End && c.Result == 0);
        if (directoryFsync is null)
        {
            return $"The directory {partitions} was not opened and fsynced after the rename (line {rename.End}).";
        }

        // .NET writes the console through a duplicate of fd 1: follow dup and fcntl(F_DUPFD).
        var stdout = new HashSet<int> { 1 };
        Syscall? ack = null;
        foreach (var call in calls)
        {
            if (call.Result is { } result && result >= 0 && stdout.Contains(call.Fd)
                && (call.Name is "dup" or "dup2" or "dup3" || (call.Name == "fcntl" && call.Arguments.Contains("F_DUPFD", StringComparison.Ordinal))))
            {
                stdout.Add((int)result);
            }
            else if (call.Name == "write" && stdout.Contains(call.Fd) && call.Strings.FirstOrDefault()?.StartsWith(CrashLog.Ack, StringComparison.Ordinal) == true)
            {
                ack = call;
                break;
            }
        }

        if (ack is null)
        {
            return "The ACK line was not written to stdout (fd 1 or a duplicate of it).";
        }

        return ack.Start > directoryFsync.End ? null : $"The put was acknowledged (line {ack.Start}) before the directory fsync completed (line {directoryFsync.End}).";
    }

    // "1234 12:34:56.789012 rest" (strace -f -tt)
    [GeneratedRegex(@"^(?<pid>\d+)\s+\d\d:\d\d:\d\d\.\d+\s+(?<rest>.*)$")]
    private static partial Regex Line();

    // "name(args) = result ..." — the result is the last " = " of the line.
    [GeneratedRegex(@"^(?<name>\w+)\((?<args>.*)\)\s+=\s+(?<result>-?\d+|\?)(?:\s.*)?$")]
    private static partial Regex Call();
}
