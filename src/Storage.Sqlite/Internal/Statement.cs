using System.Text.RegularExpressions;

namespace Storage.Sqlite.Internal;

/// <summary>
/// One SQL statement of the backend: constant text with positional parameters. Every statement the
/// store runs is one of these (values are always bound, never spliced into the text), and each
/// connection prepares it once and keeps it (<see cref="SqliteSession"/>).
/// </summary>
/// <param name="sql">The text; its parameters are bound in the order they first appear in it.</param>
internal sealed partial class Statement(string sql)
{
    public string Sql { get; } = sql;

    /// <summary>The parameters, in the order of their first appearance in the text: the order values are bound in.</summary>
    public IReadOnlyList<string> ParameterNames { get; } = [.. ParameterPattern().Matches(sql).Select(m => m.Value).Distinct()];

    public override string ToString() => Sql;

    [GeneratedRegex("@[a-z_]+")]
    private static partial Regex ParameterPattern();
}
