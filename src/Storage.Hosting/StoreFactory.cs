using Npgsql;
using Storage.Json;
using Storage.Memory;
using Storage.Postgres;
using Storage.Sqlite;

namespace Storage.Hosting;

/// <summary>
/// Opens a store of any backend from one description: an address string, or a
/// <see cref="StorageOptions"/>. The app names the backend in data (configuration, a command-line
/// argument); the code that opens it is the same for all four.
/// </summary>
/// <seealso href="../../docs/configuration.md"/>
public static class StoreFactory
{
    /// <summary>Opens the store an address names, with settings from code.</summary>
    /// <param name="address">The address: <c>json:./data</c>, <c>sqlite:./app.db</c>, <c>postgres:Host=…;Database=…[;Schema=…]</c> or <c>memory:</c>.</param>
    /// <param name="configure">Sets the rest (indexes, clock, durability, …); <see cref="StorageOptions.Address"/> is already set.</param>
    /// <param name="cancellationToken">Cancels the open.</param>
    /// <returns>The open store; dispose it.</returns>
    /// <exception cref="ArgumentException">The address or a setting is not valid; the message lists every problem.</exception>
    /// <remarks>Whatever the backend's own open throws, it throws (see <see cref="OpenAsync(StorageOptions, CancellationToken)"/>).</remarks>
    public static ValueTask<Store> OpenAsync(string address, Action<StorageOptions>? configure = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(address);
        var options = new StorageOptions { Address = address };
        configure?.Invoke(options);
        return OpenAsync(options, cancellationToken);
    }

    /// <summary>Opens the store the options describe.</summary>
    /// <param name="options">The store and its settings.</param>
    /// <returns>The open store; dispose it.</returns>
    /// <exception cref="ArgumentException">A setting is not valid; the message lists every problem, each naming its property.</exception>
    /// <remarks>The same as <see cref="OpenAsync(StorageOptions, CancellationToken)"/> without a cancellation token.</remarks>
    public static ValueTask<Store> OpenAsync(StorageOptions options) => OpenAsync(options, CancellationToken.None);

    /// <summary>Opens the store the options describe.</summary>
    /// <param name="options">The store and its settings.</param>
    /// <param name="cancellationToken">Cancels the open.</param>
    /// <returns>The open store (a <see cref="JsonStore"/>, <see cref="SqliteStore"/>, <see cref="PostgresStore"/> or <see cref="MemoryStore"/>); dispose it.</returns>
    /// <exception cref="ArgumentException">A setting is not valid; the message lists every problem, each naming its property.</exception>
    /// <remarks>
    /// Past validation, the backend's own open runs and throws what it documents
    /// (<see cref="StoreLockedException"/>, <see cref="StoreUnavailableException"/>,
    /// <see cref="IndexBuildException"/>, …).
    /// </remarks>
    public static ValueTask<Store> OpenAsync(StorageOptions options, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(options);
        var errors = new List<string>();
        var store = StorageValidation.Resolve(options, name => nameof(StorageOptions) + "." + name, dataSourceRegistered: false, errors);
        return errors.Count > 0 || store is null
            ? throw new ArgumentException(HostingErrors.InvalidOptions(errors), nameof(options))
            : OpenAsync(store, options, baseDirectory: null, registeredDataSource: null, cancellationToken);
    }

    /// <summary>Opens a checked store: each backend's options built from the shared ones.</summary>
    /// <param name="store">What validation resolved.</param>
    /// <param name="options">The settings.</param>
    /// <param name="baseDirectory">What a relative path is relative to; <see langword="null"/> for the current directory.</param>
    /// <param name="registeredDataSource">The data source from the services, used when the options give no server.</param>
    /// <param name="cancellationToken">Cancels the open.</param>
    internal static async ValueTask<Store> OpenAsync(ResolvedStore store, StorageOptions options, string? baseDirectory, NpgsqlDataSource? registeredDataSource, CancellationToken cancellationToken)
    {
        var opened = await OpenBackendAsync(store, options, baseDirectory, registeredDataSource, cancellationToken).ConfigureAwait(false);
        if (options.ReadOnly)
        {
            try
            {
                await opened.SetReadOnlyAsync(true, cancellationToken).ConfigureAwait(false);
            }
            catch
            {
                await opened.DisposeAsync().ConfigureAwait(false);
                throw;
            }
        }

        return opened;
    }

    /// <summary>
    /// Sets or clears the read-only fence of the store an address names, from outside the process that
    /// has it open (the upgrade tool's cut-over): once setting returns, no write commits in any
    /// process. A JSON store's fence is set without opening it (<see cref="JsonStore.SetReadOnlyAsync(string, bool, CancellationToken)"/>);
    /// a SQLite or PostgreSQL store is opened with the index declarations it keeps (<see cref="StoreOptions.KeepStoredIndexes"/>:
    /// its app's indexes stay as they are), fenced and disposed.
    /// </summary>
    /// <param name="address">The address: <c>json:./data</c>, <c>sqlite:./app.db</c> or <c>postgres:Host=…;Database=…[;Schema=…]</c>.</param>
    /// <param name="readOnly">Whether to set (<see langword="true"/>) or clear the fence.</param>
    /// <param name="cancellationToken">Cancels before the fence is changed.</param>
    /// <returns>A task that completes when the fence is in place (or gone).</returns>
    /// <exception cref="ArgumentException">The address is not valid, or is <c>memory:</c> (a memory store has no other process).</exception>
    /// <exception cref="StorageException">The fence could not be written (or the store opened).</exception>
    /// <seealso href="../../docs/contract.md#the-read-only-fence"/>
    public static async ValueTask SetReadOnlyAsync(string address, bool readOnly, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(address);

        // The store belongs to an app: opened with the index declarations it keeps, so they stay as they are.
        var options = new StorageOptions { Address = address, KeepStoredIndexes = true };
        var errors = new List<string>();
        var store = StorageValidation.Resolve(options, name => nameof(StorageOptions) + "." + name, dataSourceRegistered: false, errors);
        if (errors.Count > 0 || store is null)
        {
            throw new ArgumentException(HostingErrors.InvalidOptions(errors), nameof(address));
        }

        switch (store.Backend)
        {
            case StoreBackend.Json:
                await JsonStore.SetReadOnlyAsync(FullPath(store.Target!, null), readOnly, cancellationToken).ConfigureAwait(false);
                break;
            case StoreBackend.Memory:
                throw new ArgumentException(HostingErrors.MemoryFence, nameof(address));
            default:
                var opened = await OpenBackendAsync(store, options, baseDirectory: null, registeredDataSource: null, cancellationToken).ConfigureAwait(false);
                await using (opened.ConfigureAwait(false))
                {
                    await opened.SetReadOnlyAsync(readOnly, cancellationToken).ConfigureAwait(false);
                }

                break;
        }
    }

    private static async ValueTask<Store> OpenBackendAsync(ResolvedStore store, StorageOptions options, string? baseDirectory, NpgsqlDataSource? registeredDataSource, CancellationToken cancellationToken)
    {
        switch (store.Backend)
        {
            case StoreBackend.Json:
                return await JsonStore.OpenAsync(Shared(options, new JsonStoreOptions
                {
                    Path = FullPath(store.Target!, baseDirectory),
                    Durability = options.Durability,
                    LoggerFactory = options.LoggerFactory,
                    Access = options.Access ?? JsonStoreAccess.Owner,
                }), cancellationToken).ConfigureAwait(false);
            case StoreBackend.Sqlite:
                var sqlite = Shared(options, new SqliteStoreOptions
                {
                    Path = FullPath(store.Target!, baseDirectory),
                    Durability = options.Durability,
                    LoggerFactory = options.LoggerFactory,
                });
                sqlite.BusyTimeout = options.BusyTimeout ?? sqlite.BusyTimeout;
                return await SqliteStore.OpenAsync(sqlite, cancellationToken).ConfigureAwait(false);
            case StoreBackend.Postgres:
                var postgres = Shared(options, new PostgresStoreOptions
                {
                    ConnectionString = store.Target,
                    DataSource = store.Target is null ? options.DataSource ?? registeredDataSource : null,
                    Durability = options.Durability,
                    LoggerFactory = options.LoggerFactory,
                });
                postgres.Schema = store.Schema ?? postgres.Schema;
                postgres.RetryBudget = options.RetryBudget ?? postgres.RetryBudget;
                postgres.HashPartitions = options.HashPartitions ?? postgres.HashPartitions;
                return await PostgresStore.OpenAsync(postgres, cancellationToken).ConfigureAwait(false);
            default:
                return await MemoryStore.OpenAsync(Shared(options, new MemoryStoreOptions()), cancellationToken).ConfigureAwait(false);
        }
    }

    /// <summary>Copies what every backend shares onto a backend's options.</summary>
    private static T Shared<T>(StorageOptions options, T backend)
        where T : StoreOptions
    {
        backend.TimeProvider = options.TimeProvider;
        backend.TombstoneRetention = options.TombstoneRetention;
        backend.Indexes = [.. options.Indexes];
        backend.KeepStoredIndexes = options.KeepStoredIndexes;
        backend.MeterFactory = options.MeterFactory;
        backend.TracePartitionKeys = options.TracePartitionKeys;
        return backend;
    }

    private static string FullPath(string path, string? baseDirectory)
        => baseDirectory is null ? System.IO.Path.GetFullPath(path) : System.IO.Path.GetFullPath(path, baseDirectory);
}
