namespace Storage.Sqlite.Internal;

/// <summary>
/// One SQL statement of the backend: constant text with positional parameters. Every statement the
/// store runs is one of these (values are always bound, never spliced into the text), and each
/// connection prepares it once and keeps it (<see cref="SqliteSession"/>).
/// </summary>
internal sealed class Statement(string sql, params string[] parameterNames)
{
    public string Sql { get; } = sql;

    public IReadOnlyList<string> ParameterNames { get; } = parameterNames;

    public override string ToString() => Sql;
}
