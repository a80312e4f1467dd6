using Microsoft.Data.Sqlite;
using Npgsql;

namespace Storage.Tool;

/// <summary>Which exit code and which one-line message an exception ends the tool with: the one place that decides.</summary>
internal static class Failures
{
    public static (ExitCode Code, string Message) Classify(Exception error, bool cancelled) => error switch
    {
        ToolException tool => (tool.Code, tool.Message),
        OperationCanceledException when cancelled => (ExitCode.Interrupted, "Interrupted. Everything written so far is whole; run the same command again to resume."),
        StoreLockedException locked => (ExitCode.Locked, $"The store at '{locked.Path}' is locked by another process (its app, or another run of this tool): {locked.Message}"),
        RestoreConflictException conflict => (ExitCode.Conflict, $"The destination holds different data in partition '{conflict.Partition}': {conflict.Message} Use --replace to overwrite it."),
        StoreUnavailableException or NpgsqlException or SqliteException or CorruptDataException or UnsupportedFormatException or IOException or UnauthorizedAccessException
            => (ExitCode.Unavailable, "The store cannot be opened: " + error.Message),
        FormatException or ArgumentException => (ExitCode.Usage, error.Message),
        _ => (ExitCode.Failed, $"Unexpected {error.GetType().Name}: {error.Message}"),
    };
}
