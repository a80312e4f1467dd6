using System.Data.Common;

namespace Storage.Hosting;

/// <summary>
/// One string that names a store: <c>json:./data</c> (a directory), <c>sqlite:./app.db</c> (a
/// database file), <c>postgres:Host=db;Database=app</c> (an Npgsql connection string, optionally
/// with <c>Schema=orders</c> for the schema that holds the store's tables) or <c>memory:</c>.
/// The scheme is case-insensitive; everything after the first ':' is the target, taken as written.
/// </summary>
/// <remarks>
/// <see cref="ToString"/> writes the address back with any password replaced by <c>***</c>, so an
/// address can be logged or shown in a message.
/// </remarks>
/// <seealso href="../../docs/configuration.md#store-addresses"/>
public sealed record StoreAddress
{
    private StoreAddress(StoreBackend backend, string target, string? schema)
    {
        Backend = backend;
        Target = target;
        Schema = schema;
    }

    /// <summary>The backend the scheme names.</summary>
    public StoreBackend Backend { get; }

    /// <summary>
    /// What follows the scheme: the directory (JSON), the file (SQLite), the connection string without
    /// its <c>Schema</c> keyword (PostgreSQL; empty for <c>postgres:Schema=orders</c> alone, whose
    /// server comes from a data source), or the empty string (memory).
    /// </summary>
    public string Target { get; }

    /// <summary>The PostgreSQL schema the address names with its <c>Schema</c> keyword, or <see langword="null"/> for the default.</summary>
    public string? Schema { get; }

    /// <summary>Reads an address.</summary>
    /// <param name="address">The address: <c>json:&lt;directory&gt;</c>, <c>sqlite:&lt;file&gt;</c>, <c>postgres:&lt;connection string&gt;</c> or <c>memory:</c>.</param>
    /// <returns>The address.</returns>
    /// <exception cref="FormatException">The address is empty, has no scheme or an unknown one, names nothing after a scheme that needs a target, or has a target after <c>memory:</c>; the message says which, and never repeats a connection string.</exception>
    public static StoreAddress Parse(string address)
    {
        ArgumentNullException.ThrowIfNull(address);
        return TryParse(address, out var parsed, out var error) ? parsed : throw new FormatException(error);
    }

    /// <summary>Reads an address without throwing.</summary>
    /// <param name="address">The address.</param>
    /// <param name="parsed">The address, when it is valid.</param>
    /// <param name="error">Why it is not, when it is not (the same message <see cref="Parse"/> throws).</param>
    /// <returns>Whether the address is valid.</returns>
    public static bool TryParse(string? address, [System.Diagnostics.CodeAnalysis.NotNullWhen(true)] out StoreAddress? parsed, [System.Diagnostics.CodeAnalysis.NotNullWhen(false)] out string? error)
    {
        parsed = null;
        if (string.IsNullOrWhiteSpace(address))
        {
            error = HostingErrors.EmptyAddress;
            return false;
        }

        // A scheme is a word: what comes before a colon that follows '=' or ';' (a bare connection
        // string whose password holds a colon) is no scheme, and is never echoed.
        var colon = address.IndexOf(':', StringComparison.Ordinal);
        if (colon <= 0 || address[..colon].Trim() is not { Length: > 0 } scheme || !scheme.All(char.IsAsciiLetterOrDigit))
        {
            error = HostingErrors.NoScheme;
            return false;
        }

        var target = address[(colon + 1)..].Trim();
        if (!TryParseScheme(scheme, out var backend))
        {
            error = HostingErrors.UnknownScheme(scheme);
            return false;
        }

        if (backend == StoreBackend.Memory)
        {
            if (target.Length > 0)
            {
                error = HostingErrors.MemoryTarget;
                return false;
            }

            parsed = new StoreAddress(backend, string.Empty, null);
            error = null;
            return true;
        }

        if (target.Length == 0)
        {
            error = HostingErrors.EmptyTarget(backend);
            return false;
        }

        string? schema = null;
        if (backend == StoreBackend.Postgres && !TrySplitSchema(ref target, out schema, out error))
        {
            return false;
        }

        parsed = new StoreAddress(backend, target, schema);
        error = null;
        return true;
    }

    /// <summary>The address as written, with the password of a connection string replaced by <c>***</c>.</summary>
    /// <returns>The address, safe to log.</returns>
    public override string ToString()
    {
        var scheme = SchemeOf(Backend);
        if (Backend != StoreBackend.Postgres)
        {
            return scheme + ":" + Target;
        }

        var redacted = ConnectionStrings.Redact(Target);
        return Schema is null ? scheme + ":" + redacted : scheme + ":" + redacted + ";Schema=" + Schema;
    }

    /// <summary>The scheme that names a backend in an address.</summary>
    /// <param name="backend">The backend.</param>
    /// <returns><c>json</c>, <c>sqlite</c>, <c>postgres</c> or <c>memory</c>.</returns>
    public static string SchemeOf(StoreBackend backend) => backend switch
    {
        StoreBackend.Json => "json",
        StoreBackend.Sqlite => "sqlite",
        StoreBackend.Postgres => "postgres",
        StoreBackend.Memory => "memory",
        _ => throw new ArgumentOutOfRangeException(nameof(backend), backend, null),
    };

    /// <summary>A backend by its scheme or enum name, case-insensitively.</summary>
    internal static bool TryParseScheme(string scheme, out StoreBackend backend)
    {
        foreach (var candidate in Enum.GetValues<StoreBackend>())
        {
            if (string.Equals(SchemeOf(candidate), scheme.Trim(), StringComparison.OrdinalIgnoreCase))
            {
                backend = candidate;
                return true;
            }
        }

        backend = default;
        return false;
    }

    /// <summary>Takes the <c>Schema</c> keyword out of a PostgreSQL target: Npgsql has no such keyword, the store has.</summary>
    private static bool TrySplitSchema(ref string target, out string? schema, [System.Diagnostics.CodeAnalysis.NotNullWhen(false)] out string? error)
    {
        schema = null;
        error = null;
        DbConnectionStringBuilder builder;
        try
        {
            builder = new DbConnectionStringBuilder { ConnectionString = target };
        }
        catch (ArgumentException)
        {
            // The builder's message may quote part of the string; ours names neither.
            error = HostingErrors.AddressConnectionString;
            return false;
        }

        if (builder.TryGetValue("Schema", out var value))
        {
            schema = Convert.ToString(value, System.Globalization.CultureInfo.InvariantCulture);
            builder.Remove("Schema");
            target = builder.ConnectionString;
            if (string.IsNullOrWhiteSpace(schema))
            {
                error = HostingErrors.EmptyAddressSchema;
                return false;
            }
        }

        return true;
    }
}
