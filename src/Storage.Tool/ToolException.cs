namespace Storage.Tool;

/// <summary>A failure the tool reports as one line on stderr with its exit code.</summary>
internal sealed class ToolException(ExitCode code, string message, Exception? innerException = null) : Exception(message, innerException)
{
    /// <summary>The exit code the failure ends the process with.</summary>
    public ExitCode Code { get; } = code;
}
