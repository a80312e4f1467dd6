namespace Storage.Tool;

/// <summary>
/// The storage tool's exit codes, one for each outcome a script branches on (documented in
/// docs/upgrade-path.md, "The storage tool").
/// </summary>
internal enum ExitCode
{
    /// <summary>Done: the command did what it was asked (a verified migration, equal stores, a plan printed).</summary>
    Success = 0,

    /// <summary>The two stores differ (verify, or migrate's verification after copying): the report names partitions and items.</summary>
    Mismatch = 1,

    /// <summary>A bad command line: an unknown option, a bad store address, an unreadable index file, options that do not go together.</summary>
    Usage = 2,

    /// <summary>A store cannot be opened or reached: no store at the address, a server that does not answer, damaged files.</summary>
    Unavailable = 3,

    /// <summary>A JSON store is locked by another process (its app, or another run of the tool).</summary>
    Locked = 4,

    /// <summary>The destination holds different data (migrate or restore without <c>--replace</c>); nothing was written.</summary>
    Conflict = 5,

    /// <summary>Interrupted (Ctrl+C, SIGTERM): what is written is whole; run the same command again to resume.</summary>
    Interrupted = 6,

    /// <summary>An unexpected failure (a defect of the tool or the library): the message, and with <c>--verbose</c> the stack trace, say where.</summary>
    Failed = 10,
}
