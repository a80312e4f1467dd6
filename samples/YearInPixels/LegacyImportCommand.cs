namespace YearInPixels;

/// <summary>The <c>import</c> command (step 4).</summary>
public static class LegacyImportCommand
{
    /// <summary>Runs the command.</summary>
    /// <param name="args">The arguments after <c>import</c>.</param>
    /// <param name="output">Where the report goes.</param>
    /// <param name="error">Where errors go.</param>
    /// <returns>The exit code.</returns>
    public static Task<int> RunAsync(string[] args, TextWriter output, TextWriter error)
    {
        ArgumentNullException.ThrowIfNull(args);
        ArgumentNullException.ThrowIfNull(error);
        error.WriteLine("import: not written yet.");
        return Task.FromResult(2);
    }
}
