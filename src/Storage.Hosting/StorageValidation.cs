using System.Globalization;
using Npgsql;

namespace Storage.Hosting;

/// <summary>Which store a <see cref="StorageOptions"/> names, once checked: the backend, its directory, file or connection string, and the PostgreSQL schema.</summary>
internal sealed record ResolvedStore(StoreBackend Backend, string? Target, string? Schema);

/// <summary>
/// Checks a <see cref="StorageOptions"/> the same way for <c>AddStorage</c> (at host start, naming
/// configuration keys) and <see cref="StoreFactory"/> (naming properties), collecting every problem
/// rather than stopping at the first.
/// </summary>
internal static class StorageValidation
{
    private static readonly TimeSpan s_maxBusyTimeout = TimeSpan.FromMinutes(10);

    /// <summary>Checks the options; returns the store they name, or <see langword="null"/> when no backend could be told.</summary>
    /// <param name="options">The options.</param>
    /// <param name="key">The name of a setting in messages: its full configuration key, or its property.</param>
    /// <param name="dataSourceRegistered">Whether an <see cref="NpgsqlDataSource"/> is registered for the store to use when no connection string is given.</param>
    /// <param name="errors">Where the problems go, each naming its key.</param>
    public static ResolvedStore? Resolve(StorageOptions options, Func<string, string> key, bool dataSourceRegistered, List<string> errors)
    {
        errors.AddRange(options.ConfigurationErrors);
        var backend = options.Backend;
        if (backend is { } named && !Enum.IsDefined(named))
        {
            errors.Add(HostingErrors.UnknownValue(key(nameof(StorageOptions.Backend)), named.ToString(), AllowedBackends));
            return null;
        }

        string? target;
        var schema = options.Schema;
        if (options.Address is not null)
        {
            if (!StoreAddress.TryParse(options.Address, out var address, out var error))
            {
                errors.Add(HostingErrors.InvalidAddress(key(nameof(StorageOptions.Address)), error));
                return null;
            }

            if (backend is { } configured && configured != address.Backend)
            {
                errors.Add(HostingErrors.AddressWithBackend(key(nameof(StorageOptions.Address)), address.Backend, key(nameof(StorageOptions.Backend)), configured));
            }

            foreach (var (name, value) in new[] { (nameof(StorageOptions.Path), options.Path), (nameof(StorageOptions.ConnectionString), options.ConnectionString) })
            {
                if (value is not null)
                {
                    errors.Add(HostingErrors.AddressAndTarget(key(nameof(StorageOptions.Address)), key(name)));
                }
            }

            if (address.Schema is not null && schema is not null)
            {
                errors.Add(HostingErrors.TwoSchemas(key(nameof(StorageOptions.Address)), key(nameof(StorageOptions.Schema))));
            }

            backend = address.Backend;
            // An empty target is memory:, or postgres:Schema=… alone (the server then comes from a data source).
            target = address.Target.Length == 0 ? null : address.Target;
            schema ??= address.Schema;
        }
        else if (backend is null)
        {
            errors.Add(HostingErrors.NoBackend(key(nameof(StorageOptions.Backend)), key(nameof(StorageOptions.Address))));
            return null;
        }
        else
        {
            target = backend == StoreBackend.Postgres ? options.ConnectionString : options.Path;
            if (options.ConnectionString is not null && backend != StoreBackend.Postgres)
            {
                errors.Add(HostingErrors.NotFor(key(nameof(StorageOptions.ConnectionString)), backend.Value));
            }

            if (options.Path is not null && backend is StoreBackend.Postgres or StoreBackend.Memory)
            {
                errors.Add(HostingErrors.NotFor(key(nameof(StorageOptions.Path)), backend.Value));
            }

            if (string.IsNullOrWhiteSpace(target) && backend is StoreBackend.Json or StoreBackend.Sqlite)
            {
                errors.Add(HostingErrors.MissingPath(key(nameof(StorageOptions.Path)), backend.Value));
            }
        }

        var store = backend.Value;
        if (store == StoreBackend.Postgres)
        {
            CheckServer(options, target, key, dataSourceRegistered, errors);
        }

        CheckNotFor(options.DataSource is not null && store != StoreBackend.Postgres, nameof(StorageOptions.DataSource));
        CheckNotFor(options.Schema is not null && store != StoreBackend.Postgres, nameof(StorageOptions.Schema));
        CheckNotFor(options.RetryBudget is not null && store != StoreBackend.Postgres, nameof(StorageOptions.RetryBudget));
        CheckNotFor(options.HashPartitions is not null && store != StoreBackend.Postgres, nameof(StorageOptions.HashPartitions));
        CheckNotFor(options.BusyTimeout is not null && store != StoreBackend.Sqlite, nameof(StorageOptions.BusyTimeout));
        CheckNotFor(options.Access is not null && store != StoreBackend.Json, nameof(StorageOptions.Access));
        if (options.Access == Storage.Json.JsonStoreAccess.Reader && options.ReadOnly)
        {
            // Setting the fence is a write, which a reader refuses: it would fail after the open.
            errors.Add(HostingErrors.ReaderReadOnly(key(nameof(StorageOptions.ReadOnly)), key(nameof(StorageOptions.Access))));
        }

        CheckRanges(options, key, errors);
        return new ResolvedStore(store, target, schema);

        void CheckNotFor(bool condition, string name)
        {
            if (condition)
            {
                errors.Add(HostingErrors.NotFor(key(name), store));
            }
        }
    }

    /// <summary>The backends, as a message lists them.</summary>
    public static string AllowedBackends => string.Join(", ", Enum.GetNames<StoreBackend>());

    private static void CheckServer(StorageOptions options, string? connectionString, Func<string, string> key, bool dataSourceRegistered, List<string> errors)
    {
        var connectionKey = key(options.Address is null ? nameof(StorageOptions.ConnectionString) : nameof(StorageOptions.Address));
        if (connectionString is null)
        {
            if (options.DataSource is null && !dataSourceRegistered)
            {
                errors.Add(HostingErrors.MissingServer(connectionKey));
            }

            return;
        }

        if (options.DataSource is not null)
        {
            errors.Add(HostingErrors.BothServers(connectionKey));
        }

        try
        {
            _ = new NpgsqlConnectionStringBuilder(connectionString);
        }
        catch (Exception e) when (e is ArgumentException or FormatException)
        {
            // Npgsql names the keyword it could not set (its message and ParamName), never a value: say only that.
            errors.Add(HostingErrors.InvalidConnectionString(connectionKey, e is ArgumentException { ParamName: { Length: > 0 } keyword }
                ? $"the keyword '{keyword}' is unknown or its value is not accepted"
                : "it cannot be read"));
        }
    }

    private static void CheckRanges(StorageOptions options, Func<string, string> key, List<string> errors)
    {
        if (!Enum.IsDefined(options.Durability))
        {
            errors.Add(HostingErrors.UnknownValue(key(nameof(StorageOptions.Durability)), options.Durability.ToString(), "Full, Relaxed"));
        }

        if (options.TombstoneRetention < TimeSpan.Zero)
        {
            errors.Add(HostingErrors.Negative(key(nameof(StorageOptions.TombstoneRetention)), options.TombstoneRetention));
        }

        if (options.BusyTimeout is { } busy && (busy < TimeSpan.FromMilliseconds(1) || busy > s_maxBusyTimeout))
        {
            errors.Add(busy < TimeSpan.Zero
                ? HostingErrors.Negative(key(nameof(StorageOptions.BusyTimeout)), busy)
                : HostingErrors.OutOfRange(key(nameof(StorageOptions.BusyTimeout)), Format(busy), "00:00:00.001 to 00:10:00"));
        }

        if (options.RetryBudget is { } budget && (budget < TimeSpan.Zero || budget > Postgres.PostgresStoreOptions.MaxRetryBudget))
        {
            errors.Add(budget < TimeSpan.Zero
                ? HostingErrors.Negative(key(nameof(StorageOptions.RetryBudget)), budget)
                : HostingErrors.OutOfRange(key(nameof(StorageOptions.RetryBudget)), Format(budget), "00:00:00 to " + Format(Postgres.PostgresStoreOptions.MaxRetryBudget)));
        }

        if (options.PurgeInterval is { } interval && (interval < TimeSpan.FromSeconds(1) || interval > TimeSpan.FromDays(1)))
        {
            errors.Add(interval < TimeSpan.Zero
                ? HostingErrors.Negative(key(nameof(StorageOptions.PurgeInterval)), interval)
                : HostingErrors.OutOfRange(key(nameof(StorageOptions.PurgeInterval)), Format(interval), "00:00:01 to 1.00:00:00"));
        }

        if (options.HashPartitions is { } partitions and (< 0 or 1 or > Postgres.PostgresStoreOptions.MaxHashPartitions))
        {
            errors.Add(HostingErrors.OutOfRange(key(nameof(StorageOptions.HashPartitions)), partitions.ToString(CultureInfo.InvariantCulture), "0 (plain tables) or 2 to " + Postgres.PostgresStoreOptions.MaxHashPartitions.ToString(CultureInfo.InvariantCulture)));
        }
    }

    private static string Format(TimeSpan value) => value.ToString("c", CultureInfo.InvariantCulture);
}
