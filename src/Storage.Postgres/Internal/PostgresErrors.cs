using System.Globalization;
using Npgsql;

namespace Storage.Postgres.Internal;

/// <summary>
/// How the store reads PostgreSQL's errors — always by SQLSTATE or exception type, never by message
/// text — and the backend's own messages, in one place.
/// </summary>
internal static class PostgresErrors
{
    private static string F(string format, params object?[] args) => string.Format(CultureInfo.InvariantCulture, format, args);

    /// <summary>
    /// Whether trying again may succeed: the connection was lost or refused, the server is shutting
    /// down, starting up or failing over, or the transaction lost a serialization race or a deadlock.
    /// </summary>
    public static bool IsTransient(Exception exception) => exception switch
    {
        PostgresException e => IsTransientSqlState(e.SqlState) || e.IsTransient,
        NpgsqlException e => e.IsTransient,
        _ => false,
    };

    /// <summary>Whether a SQLSTATE means the operation may succeed if tried again.</summary>
    public static bool IsTransientSqlState(string sqlState) =>
        sqlState.StartsWith("08", StringComparison.Ordinal) // connection exception, incl. 08007 transaction resolution unknown
        || sqlState is PostgresErrorCodes.SerializationFailure // 40001
            or PostgresErrorCodes.DeadlockDetected // 40P01
            or PostgresErrorCodes.AdminShutdown // 57P01
            or PostgresErrorCodes.CrashShutdown // 57P02
            or PostgresErrorCodes.CannotConnectNow // 57P03
            or PostgresErrorCodes.IdleSessionTimeout // 57P05
            or PostgresErrorCodes.TooManyConnections // 53300
            or PostgresErrorCodes.ReadOnlySqlTransaction; // 25006: the host became a standby (failover)

    /// <summary>
    /// Whether the failure means the connection (or the server behind it) is gone, so the pool's other
    /// idle connections to it are probably dead too.
    /// </summary>
    public static bool IsConnectionLoss(Exception exception) => exception switch
    {
        PostgresException e => e.SqlState.StartsWith("08", StringComparison.Ordinal)
            || e.SqlState is PostgresErrorCodes.AdminShutdown or PostgresErrorCodes.CrashShutdown or PostgresErrorCodes.CannotConnectNow or PostgresErrorCodes.ReadOnlySqlTransaction,
        NpgsqlException e => e.IsTransient,
        _ => false,
    };

    /// <summary>A short, secret-free name for a failure: its SQLSTATE, or the type of the I/O error behind it.</summary>
    public static string Code(Exception exception) => exception switch
    {
        PostgresException e => e.SqlState,
        { InnerException: { } inner } when exception is NpgsqlException => exception.GetType().Name + "/" + inner.GetType().Name,
        _ => exception.GetType().Name,
    };

    /// <summary>Wraps a failure that is neither transient nor a known condition.</summary>
    public static StorageException Unexpected(string operation, string server, Exception exception) => new(
        exception is PostgresException pe
            ? F("PostgreSQL at {0} rejected {1}: {2} ({3}).", server, operation, pe.MessageText, pe.SqlState)
            : F("{0} failed on PostgreSQL at {1} ({2}).", operation, server, Code(exception)),
        exception);

    public static string Unavailable(string operation, string server, int attempts, TimeSpan elapsed, Exception last) => F(
        "PostgreSQL at {0} could not complete {1}: {2} attempts over {3:0.0} s (the retry budget) ended in transient failures, the last one {4}. A write that raised this may or may not have been applied.",
        server,
        operation,
        attempts,
        elapsed.TotalSeconds,
        Code(last));

    public static string NoServer => "Give PostgresStoreOptions.ConnectionString or PostgresStoreOptions.DataSource (one of them, not both).";

    public static string BothServers => "PostgresStoreOptions.ConnectionString and PostgresStoreOptions.DataSource are both set; give one of them.";

    public static string Multiplexing => "The connection string or data source enables Multiplexing, which the store does not support: its writes need one connection from BEGIN to COMMIT. Turn Multiplexing off.";

    public static string InvalidConnectionString => "PostgresStoreOptions.ConnectionString is not a valid Npgsql connection string.";

    public static string InvalidSchema(string schema) => F(
        "PostgresStoreOptions.Schema '{0}' is not valid: use 1 to 63 ASCII letters, digits or '_', starting with a letter or '_' and not with 'pg_'.",
        schema.Length > 80 ? schema[..80] + "…" : schema);

    public static string InvalidRetryBudget(TimeSpan budget) => F(
        "PostgresStoreOptions.RetryBudget is {0}; it must lie between zero and {1}.", budget, PostgresStoreOptions.MaxRetryBudget);

    public static string InvalidHashPartitions(int count) => F(
        "PostgresStoreOptions.HashPartitions is {0}; use 0 for a plain table or 2 to {1}.", count, PostgresStoreOptions.MaxHashPartitions);

    public static string InvalidDurability(DurabilityMode mode) => F("PostgresStoreOptions.Durability is {0}; it must be Full or Relaxed.", mode);

    public static string WrongEncoding(string server, string encoding) => F(
        "The database at {0} has encoding {1}; Storage needs a UTF8 database (CREATE DATABASE ... ENCODING 'UTF8').", server, encoding);

    public static string ForeignSchemaReason(string tables) => F(
        "the schema holds tables ({0}) but no storage_migrations table: it is not a Storage schema. Use a schema of its own for the store", tables);
}
