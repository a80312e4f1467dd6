using System.CommandLine;

namespace Storage.Tool;

/// <summary>The options several commands share.</summary>
internal static class CommonOptions
{
    /// <summary><c>--json</c>: one JSON object per line on stdout, for scripts.</summary>
    public static Option<bool> Json { get; } = new("--json") { Description = "Write one JSON object per line (events: start, progress, partition-mismatch, done) instead of text." };

    /// <summary><c>--indexes FILE</c>: the app's index declarations.</summary>
    public static Option<string?> Indexes { get; } = new("--indexes")
    {
        Description = "An index file ({\"Indexes\": [...]}, the configuration's shape) with the app's complete index declarations: SQLite and PostgreSQL stores are opened with exactly these (others are dropped). Without it each store keeps the declarations it holds, and a new destination gets the source's.",
        HelpName = "FILE",
    };

    /// <summary><c>--verbose</c>: stack traces with errors.</summary>
    public static Option<bool> Verbose { get; } = new("--verbose") { Description = "Print the stack trace with an error.", Recursive = true };
}
