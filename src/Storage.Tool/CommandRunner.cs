using System.CommandLine;

namespace Storage.Tool;

/// <summary>
/// Runs a command's work and turns its outcome into an exit code: the one place where an exception
/// becomes one line on stderr (with the stack trace only under <c>--verbose</c>).
/// </summary>
internal static class CommandRunner
{
    public static async Task<int> RunAsync(ParseResult parseResult, CancellationToken cancellationToken, Func<Output, Task<ExitCode>> work)
    {
        var output = new Output(parseResult.GetValue(CommonOptions.Json), Console.Out, Console.Error);
        try
        {
            return (int)await work(output);
        }
        catch (Exception error)
        {
            var (code, message) = Failures.Classify(error, cancellationToken.IsCancellationRequested);
            output.Event("error", [new("exitCode", (int)code), new("message", message)]);
            output.Error("storage: " + message);
            if (parseResult.GetValue(CommonOptions.Verbose))
            {
                output.Error(error.ToString());
            }

            return (int)code;
        }
    }
}
