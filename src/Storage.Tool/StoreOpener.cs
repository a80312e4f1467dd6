using Npgsql;
using Storage.Hosting;
using Storage.Json;

namespace Storage.Tool;

/// <summary>
/// Opens the stores a command names by address (the configuration's syntax, <see cref="StoreAddress"/>),
/// with the index declarations of an index file, and says plainly when there is no store to open.
/// </summary>
internal static class StoreOpener
{
    // The JSON backend's manifest: a directory without it holds no store.
    private const string JsonManifest = "storage.json";

    /// <summary>Reads an address, or fails with a usage error naming the option.</summary>
    public static StoreAddress Parse(string? address, string what)
    {
        return StoreAddress.TryParse(address, out var parsed, out var error)
            ? parsed
            : throw new ToolException(ExitCode.Usage, $"{what}: {error}");
    }

    /// <summary>Refuses a command whose source and destination are one store: the same address, or the same JSON directory or SQLite file by another path.</summary>
    public static void RefuseSameStore(StoreAddress source, StoreAddress destination)
    {
        var sameFiles = source.Backend == destination.Backend && source.Backend is StoreBackend.Json or StoreBackend.Sqlite
            && string.Equals(Path.GetFullPath(source.Target).TrimEnd(Path.DirectorySeparatorChar), Path.GetFullPath(destination.Target).TrimEnd(Path.DirectorySeparatorChar), StringComparison.Ordinal);
        if (source == destination || sameFiles)
        {
            throw new ToolException(ExitCode.Usage, "--from and --to name the same store.");
        }
    }

    /// <summary>
    /// Reads the index declarations of <paramref name="path"/>; <see langword="null"/> without a file: each store
    /// is then opened with the declarations it keeps (<see cref="StoreOptions.KeepStoredIndexes"/>), so the
    /// tool never drops an app's indexes.
    /// </summary>
    public static IReadOnlyList<IndexDefinition>? ReadIndexes(string? path)
    {
        if (path is null)
        {
            return null;
        }

        if (!File.Exists(path))
        {
            throw new ToolException(ExitCode.Usage, $"--indexes: there is no file '{path}'.");
        }

        try
        {
            return IndexConfiguration.ReadFile(Path.GetFullPath(path));
        }
        catch (FormatException e)
        {
            throw new ToolException(ExitCode.Usage, $"--indexes: {e.Message}", e);
        }
    }

    /// <summary>
    /// Opens a store that must exist (a source): a missing JSON directory, SQLite file or PostgreSQL schema
    /// is refused rather than created empty. A JSON store is opened as its owner, so a running app (or
    /// another run) holding its lock is reported as <see cref="ExitCode.Locked"/>. The tool only reads such
    /// a store (a source; <c>--replace</c> never writes into the source).
    /// </summary>
    public static async Task<Store> OpenExistingAsync(string address, string what, IReadOnlyList<IndexDefinition>? indexes, CancellationToken cancellationToken)
    {
        var parsed = Parse(address, what);
        if (!await NamingAsync(parsed, what, () => ExistsAsync(parsed, cancellationToken)))
        {
            throw new ToolException(ExitCode.Unavailable, $"{what}: there is no store at {parsed} ({Missing(parsed)}).");
        }

        // A JSON store keeps its index entries in memory only, built at open from every partition: a store
        // the tool only reads needs none, and opening it without them changes nothing on disk.
        return await NamingAsync(parsed, what, () => OpenAsync(address, parsed.Backend == StoreBackend.Json ? [] : indexes, reader: false, cancellationToken));
    }

    /// <summary>
    /// Opens a store to follow while its app writes it (a cut-over's source): it must exist; a JSON store,
    /// which its app's process owns, is opened as a reader beside it (no lock, nothing written).
    /// </summary>
    public static async Task<Store> OpenToFollowAsync(string address, string what, IReadOnlyList<IndexDefinition>? indexes, CancellationToken cancellationToken)
    {
        var parsed = Parse(address, what);
        if (!await NamingAsync(parsed, what, () => ExistsAsync(parsed, cancellationToken)))
        {
            throw new ToolException(ExitCode.Unavailable, $"{what}: there is no store at {parsed} ({Missing(parsed)}).");
        }

        return await NamingAsync(parsed, what, () => OpenAsync(address, parsed.Backend == StoreBackend.Json ? [] : indexes, reader: parsed.Backend == StoreBackend.Json, cancellationToken));
    }

    /// <summary>
    /// Opens a store to write into (a destination), creating it when it does not exist. Without an index file, a
    /// store that exists keeps its declarations, and a new one is created with <paramref name="whenCreated"/>
    /// (the source's: a copy of a SQLite or PostgreSQL store gets its indexes).
    /// </summary>
    public static async Task<Store> OpenOrCreateAsync(string address, string what, IReadOnlyList<IndexDefinition>? indexes, CancellationToken cancellationToken, IReadOnlyList<IndexDefinition>? whenCreated = null)
    {
        var parsed = Parse(address, what);
        if (parsed.Backend == StoreBackend.Memory)
        {
            throw new ToolException(ExitCode.Usage, $"{what}: memory: holds nothing after the tool ends; give a json:, sqlite: or postgres: address.");
        }

        if (indexes is null && whenCreated is { Count: > 0 } && !await NamingAsync(parsed, what, () => ExistsAsync(parsed, cancellationToken)))
        {
            indexes = whenCreated;
        }

        return await NamingAsync(parsed, what, () => OpenAsync(address, indexes, reader: false, cancellationToken));
    }

    /// <summary>
    /// Opens a store only to read it, writing nothing (a dry run's destination): <see langword="null"/>
    /// when there is no store at the address (nothing is created); a JSON store is opened as a reader (no
    /// lock taken, nothing written; index declarations are not needed to read).
    /// </summary>
    public static async Task<Store?> OpenToReadIfExistsAsync(string address, string what, IReadOnlyList<IndexDefinition>? indexes, CancellationToken cancellationToken)
    {
        var parsed = Parse(address, what);
        if (!await NamingAsync(parsed, what, () => ExistsAsync(parsed, cancellationToken)))
        {
            return null;
        }

        return await NamingAsync(parsed, what, () => OpenAsync(address, parsed.Backend == StoreBackend.Json ? [] : indexes, reader: parsed.Backend == StoreBackend.Json, cancellationToken));
    }

    /// <summary>A failure to reach or open a store, named by the option and the address (its password masked).</summary>
    private static async Task<T> NamingAsync<T>(StoreAddress address, string what, Func<Task<T>> open)
    {
        try
        {
            return await open();
        }
        catch (Exception e) when (e is not ToolException and not OperationCanceledException)
        {
            var (code, message) = Failures.Classify(e, cancelled: false);
            throw new ToolException(code, $"{what} ({address}): {message}", e);
        }
    }

    private static async Task<Store> OpenAsync(string address, IReadOnlyList<IndexDefinition>? indexes, bool reader, CancellationToken cancellationToken)
    {
        return await StoreFactory.OpenAsync(address, options =>
        {
            foreach (var index in indexes ?? [])
            {
                options.Indexes.Add(index);
            }

            options.KeepStoredIndexes = indexes is null;

            if (reader)
            {
                options.Access = JsonStoreAccess.Reader;
            }
        }, cancellationToken);
    }

    private static async Task<bool> ExistsAsync(StoreAddress address, CancellationToken cancellationToken)
    {
        switch (address.Backend)
        {
            case StoreBackend.Json:
                return File.Exists(Path.Combine(address.Target, JsonManifest));
            case StoreBackend.Sqlite:
                return File.Exists(address.Target);
            case StoreBackend.Postgres:
                if (address.Target.Length == 0)
                {
                    throw new ToolException(ExitCode.Usage, $"{address}: the tool has no data source to take the server from; give the connection string (postgres:Host=…;Database=…).");
                }

                // Asked of the catalog, so a missing store is not created by opening it.
                await using (var dataSource = NpgsqlDataSource.Create(address.Target))
                await using (var command = dataSource.CreateCommand("SELECT EXISTS (SELECT 1 FROM information_schema.tables WHERE table_schema = $1)"))
                {
                    command.Parameters.AddWithValue(address.Schema ?? "storage");
                    return (bool)(await command.ExecuteScalarAsync(cancellationToken))!;
                }

            default:
                // memory: a new, empty store of this process.
                return address.Backend == StoreBackend.Memory;
        }
    }

    private static string Missing(StoreAddress address) => address.Backend switch
    {
        StoreBackend.Json => $"no {JsonManifest} in the directory",
        StoreBackend.Sqlite => "no such file",
        _ => $"no tables in schema '{address.Schema ?? "storage"}'",
    };
}
