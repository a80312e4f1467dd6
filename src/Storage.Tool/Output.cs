using System.Text.Json;

namespace Storage.Tool;

/// <summary>
/// Where a command's results go: readable lines on stdout, or with <c>--json</c> one JSON object per line
/// (<c>{"event":"…", …}</c>) for scripts. Errors go to stderr either way.
/// </summary>
internal sealed class Output(bool json, TextWriter standardOutput, TextWriter standardError)
{
    private readonly Lock _lock = new();

    /// <summary>Whether results are JSON lines.</summary>
    public bool Json { get; } = json;

    /// <summary>Whether a live progress bar can be drawn: readable output to a terminal.</summary>
    public bool IsTerminal { get; } = !json && !Console.IsOutputRedirected;

    /// <summary>Writes a readable line (nothing in JSON mode).</summary>
    public void Line(string text = "")
    {
        if (!Json)
        {
            lock (_lock)
            {
                standardOutput.WriteLine(text);
            }
        }
    }

    /// <summary>Writes one event as a JSON line (nothing in readable mode).</summary>
    public void Event(string name, IEnumerable<KeyValuePair<string, object?>> fields)
    {
        if (!Json)
        {
            return;
        }

        var values = new Dictionary<string, object?> { ["event"] = name };
        foreach (var (key, value) in fields)
        {
            values[key] = value;
        }

        var line = JsonSerializer.Serialize(values);
        lock (_lock)
        {
            standardOutput.WriteLine(line);
        }
    }

    /// <summary>Writes a line to stderr (both modes): an error, a warning.</summary>
    public void Error(string text)
    {
        lock (_lock)
        {
            standardError.WriteLine(text);
        }
    }
}
