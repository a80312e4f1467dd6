using System.Globalization;
using Storage.Testing;

namespace Storage.Json.Tests.Infrastructure;

/// <summary>
/// The crash writer (tests/Storage.CrashWriter) as a child process. The test project builds it first
/// (a project reference that is not referenced) and stamps its path into this assembly.
/// </summary>
internal static class CrashWriterProcess
{
    /// <summary>The built Storage.CrashWriter.dll.</summary>
    public static string DllPath => ChildProcess.ProgramPath(typeof(CrashWriterProcess).Assembly, "CrashWriterPath");

    /// <summary>The dotnet host to run the writer with.</summary>
    public static string DotnetHost => ChildProcess.DotnetHost;

    /// <summary>The writer's command line after the host: the dll and its arguments.</summary>
    public static IReadOnlyList<string> Arguments(string directory, string mode, int seed, string run, DurabilityMode durability = DurabilityMode.Full)
        => [DllPath, "--backend", "json", "--path", directory, "--mode", mode, "--seed", seed.ToString(CultureInfo.InvariantCulture), "--run", run,
            "--durability", durability == DurabilityMode.Full ? "full" : "relaxed"];

    public static ChildProcess Start(string directory, string mode = "loop", int seed = 0, string run = "1", DurabilityMode durability = DurabilityMode.Full, IReadOnlyDictionary<string, string>? environment = null)
        => ChildProcess.Start(Arguments(directory, mode, seed, run, durability), environment);
}
