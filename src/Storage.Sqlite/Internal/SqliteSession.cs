using Microsoft.Data.Sqlite;

namespace Storage.Sqlite.Internal;

/// <summary>
/// One open connection and its prepared statements. Used by one thread at a time: the store's
/// writer under the group-commit turn, or a reader rented from the pool.
/// </summary>
internal sealed class SqliteSession(SqliteConnection connection, int commandTimeoutSeconds) : IDisposable
{
    private readonly Dictionary<Statement, SqliteCommand> _commands = [];

    public SqliteConnection Connection { get; } = connection;

    public int Execute(Statement statement, params object?[] values) => Bind(statement, values).ExecuteNonQuery();

    public object? Scalar(Statement statement, params object?[] values)
    {
        var result = Bind(statement, values).ExecuteScalar();
        return result is DBNull ? null : result;
    }

    public SqliteDataReader Query(Statement statement, params object?[] values) => Bind(statement, values).ExecuteReader();

    /// <summary>Runs SQL that is not one of the store's prepared statements, once (pragmas with values, migrations).</summary>
    public void Run(string sql)
    {
        using var command = Connection.CreateCommand();
        command.CommandText = sql;
        command.CommandTimeout = commandTimeoutSeconds;
        command.ExecuteNonQuery();
    }

    /// <summary>Runs <paramref name="body"/> in a transaction begun with <paramref name="begin"/> and commits it, or rolls it back on any exception.</summary>
    public T InTransaction<T>(Statement begin, Func<T> body) => InTransaction(begin, body, static body => body());

    /// <summary>
    /// Runs <paramref name="body"/> over <paramref name="state"/> in a transaction begun with
    /// <paramref name="begin"/> and commits it, or rolls it back on any exception. The state lets a
    /// caller on the write path pass a static lambda: no delegate is allocated per transaction.
    /// </summary>
    public T InTransaction<TState, T>(Statement begin, TState state, Func<TState, T> body)
    {
        Execute(begin);
        try
        {
            var result = body(state);
            Execute(Sql.Commit);
            return result;
        }
        catch
        {
            // SQLite may have rolled the transaction back by itself (it does after some I/O errors).
            if (SQLitePCL.raw.sqlite3_get_autocommit(Connection.Handle) == 0)
            {
                try
                {
                    Execute(Sql.Rollback);
                }
                catch (SqliteException)
                {
                    // The connection is unusable or the transaction is gone; the original error is what counts.
                }
            }

            throw;
        }
    }

    public void Dispose()
    {
        foreach (var command in _commands.Values)
        {
            command.Dispose();
        }

        _commands.Clear();
        Connection.Dispose();
    }

    private SqliteCommand Bind(Statement statement, object?[] values)
    {
        if (!_commands.TryGetValue(statement, out var command))
        {
            command = Connection.CreateCommand();
            command.CommandText = statement.Sql;
            command.CommandTimeout = commandTimeoutSeconds;
            foreach (var name in statement.ParameterNames)
            {
                command.Parameters.Add(new SqliteParameter { ParameterName = name });
            }

            command.Prepare();
            _commands.Add(statement, command);
        }

        if (values.Length != statement.ParameterNames.Count)
        {
            throw new InvalidOperationException($"Statement needs {statement.ParameterNames.Count} values, got {values.Length}: {statement.Sql}");
        }

        for (var i = 0; i < values.Length; i++)
        {
            command.Parameters[i].Value = values[i] ?? DBNull.Value;
        }

        return command;
    }
}
