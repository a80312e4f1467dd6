using Microsoft.Data.Sqlite;

namespace Storage.Sqlite.Internal;

/// <summary>
/// One open connection and its prepared statements. Used by one thread at a time: the store's
/// writer under the group-commit turn, or a reader rented from the pool.
/// </summary>
internal sealed class SqliteSession : IDisposable
{
    private readonly Dictionary<Statement, SqliteCommand> _commands = [];
    private readonly int _commandTimeoutSeconds;

    public SqliteSession(SqliteConnection connection, int commandTimeoutSeconds)
    {
        Connection = connection;
        _commandTimeoutSeconds = commandTimeoutSeconds;
    }

    public SqliteConnection Connection { get; }

    /// <summary>Whether the connection is outside any transaction (SQLite may roll one back by itself after an I/O error).</summary>
    public bool IsAutocommit => SQLitePCL.raw.sqlite3_get_autocommit(Connection.Handle) != 0;

    public int Execute(Statement statement, params object?[] values) => Bind(statement, values).ExecuteNonQuery();

    public object? Scalar(Statement statement, params object?[] values)
    {
        var result = Bind(statement, values).ExecuteScalar();
        return result is DBNull ? null : result;
    }

    public SqliteDataReader Query(Statement statement, params object?[] values) => Bind(statement, values).ExecuteReader();

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
            command.CommandTimeout = _commandTimeoutSeconds;
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
