using System.Data.Common;

namespace Storage.Hosting;

/// <summary>Connection strings in messages: never with their password.</summary>
internal static class ConnectionStrings
{
    private static readonly string[] s_secrets = ["Password", "Pwd"];

    /// <summary>The connection string with the value of every password keyword replaced by <c>***</c>; one that cannot be read is replaced whole.</summary>
    public static string Redact(string connectionString)
    {
        try
        {
            var builder = new DbConnectionStringBuilder { ConnectionString = connectionString };
            foreach (var secret in s_secrets)
            {
                if (builder.ContainsKey(secret))
                {
                    builder[secret] = "***";
                }
            }

            return builder.ConnectionString;
        }
        catch (ArgumentException)
        {
            return "***";
        }
    }
}
