using Storage.Testing;

namespace Storage.Sqlite.Tests;

/// <summary>The repository's programs this project runs as child processes (built first, their paths stamped into this assembly).</summary>
internal static class TestPrograms
{
    /// <summary>Starts tests/Storage.Sqlite.Worker.</summary>
    public static ChildProcess Worker(params string[] arguments)
        => ChildProcess.Start([ChildProcess.ProgramPath(typeof(TestPrograms).Assembly, "WorkerPath"), .. arguments]);

    /// <summary>Starts tests/Storage.CrashWriter.</summary>
    public static ChildProcess CrashWriter(params string[] arguments)
        => ChildProcess.Start([ChildProcess.ProgramPath(typeof(TestPrograms).Assembly, "CrashWriterPath"), .. arguments]);
}
