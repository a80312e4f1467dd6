using Microsoft.Extensions.Logging;

namespace Storage.Postgres.Internal;

/// <summary>The store's log messages. They carry SQLSTATEs, counts and schema names — never values, keys or connection strings.</summary>
internal static partial class Log
{
    [LoggerMessage(1, LogLevel.Warning, "Transient PostgreSQL failure ({ErrorCode}) during {Operation}, attempt {Attempt}; retrying in {DelayMs} ms.")]
    public static partial void Retrying(ILogger logger, string errorCode, string operation, int attempt, long delayMs);

    [LoggerMessage(2, LogLevel.Error, "Giving up on {Operation} after {Attempts} attempts in {ElapsedMs} ms; the last failure was {ErrorCode}.")]
    public static partial void GaveUp(ILogger logger, string operation, int attempts, long elapsedMs, string errorCode);

    [LoggerMessage(3, LogLevel.Information, "A {Operation} commit whose outcome was lost with its connection was resolved through the commit log: {Outcome}.")]
    public static partial void CommitResolved(ILogger logger, string operation, string outcome);

    [LoggerMessage(4, LogLevel.Information, "Applied schema migration {Version} ({Description}) to schema {Schema}.")]
    public static partial void MigrationApplied(ILogger logger, int version, string description, string schema);

    [LoggerMessage(5, LogLevel.Warning, "The server runs with fsync = {Fsync} and synchronous_commit = {SynchronousCommit}: acknowledged writes may be lost if it crashes.")]
    public static partial void WeakDurability(ILogger logger, string fsync, string synchronousCommit);

    [LoggerMessage(6, LogLevel.Debug, "A unique index value was taken by another partition's writer while a group commit ran (race {Race}); the group is tried again.")]
    public static partial void UniqueValueRace(ILogger logger, int race);
}
