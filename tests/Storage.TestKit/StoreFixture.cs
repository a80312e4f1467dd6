namespace Storage.Conformance;

/// <summary>
/// Creates fresh, isolated stores of one backend for the conformance suites, and disposes them
/// when the test class is done. Genuine backend differences become virtual capability flags here
/// (<see cref="SupportsBulkImport"/>) — never <c>if (store is X)</c> in a suite.
/// </summary>
public abstract class StoreFixture : IAsyncLifetime
{
    private readonly Lock _lock = new();
    private readonly List<IStore> _stores = [];

    /// <summary>Whether the backend's stores implement <see cref="IBulkImport"/> (every backend of this library does).</summary>
    public virtual bool SupportsBulkImport => true;

    /// <summary>Whether two instances of one store may be open at once (<see cref="OpenAsync"/> of the same name while the first is open): not the JSON backend, whose directory has one owner.</summary>
    public virtual bool SupportsConcurrentInstances => true;

    /// <summary>
    /// The backend's import window: how many partitions, consecutive in input order, a bulk import may
    /// have committing at once, so that after a failing partition at most one less than this many of
    /// those that follow it are imported (1 for a backend that imports none after it).
    /// </summary>
    public abstract int ImportWindow { get; }

    /// <summary>Opens a new, empty store that no other test sees.</summary>
    /// <param name="time">The store's clock; <see cref="TimeProvider.System"/> when <see langword="null"/>.</param>
    /// <param name="tombstoneRetention">The change feed's tombstone retention; the default when <see langword="null"/>.</param>
    /// <param name="indexes">The secondary indexes to declare; none when <see langword="null"/>.</param>
    /// <returns>The store; the fixture disposes it.</returns>
    public Task<IStore> CreateStoreAsync(TimeProvider? time = null, TimeSpan? tombstoneRetention = null, IReadOnlyList<IndexDefinition>? indexes = null)
        => OpenAsync(NewStoreName(), time, tombstoneRetention, indexes);

    /// <summary>A name for a new store that no other test sees; <see cref="OpenAsync"/> creates it, then opens it again.</summary>
    /// <returns>The name (lowercase ASCII letters and digits).</returns>
    public static string NewStoreName() => "s" + Guid.NewGuid().ToString("N");

    /// <summary>
    /// Opens the store called <paramref name="name"/>: empty the first time, then with what earlier
    /// instances stored. Dispose the previous instance first (a backend may allow one at a time).
    /// </summary>
    /// <param name="name">A name from <see cref="NewStoreName"/>.</param>
    /// <param name="time">The store's clock; <see cref="TimeProvider.System"/> when <see langword="null"/>.</param>
    /// <param name="tombstoneRetention">The change feed's tombstone retention; the default when <see langword="null"/>.</param>
    /// <param name="indexes">The secondary indexes to declare; none when <see langword="null"/>.</param>
    /// <returns>The store; the fixture disposes it.</returns>
    public async Task<IStore> OpenAsync(string name, TimeProvider? time = null, TimeSpan? tombstoneRetention = null, IReadOnlyList<IndexDefinition>? indexes = null)
    {
        ArgumentException.ThrowIfNullOrEmpty(name);
        var settings = new StoreSettings(time ?? TimeProvider.System, tombstoneRetention ?? StoreLimits.DefaultTombstoneRetention, indexes ?? []);
        var store = await OpenStoreAsync(name, settings).ConfigureAwait(false);
        lock (_lock)
        {
            _stores.Add(store);
        }

        return store;
    }

    /// <summary>Opens the backend's store called <paramref name="name"/> (creating it the first time) with the settings every backend's options share.</summary>
    /// <param name="name">The store's name, from <see cref="NewStoreName"/>.</param>
    /// <param name="settings">The clock, the tombstone retention and the indexes.</param>
    /// <returns>The store.</returns>
    protected abstract Task<IStore> OpenStoreAsync(string name, StoreSettings settings);

    /// <inheritdoc/>
    public virtual Task InitializeAsync() => Task.CompletedTask;

    /// <inheritdoc/>
    public virtual async Task DisposeAsync()
    {
        IStore[] stores;
        lock (_lock)
        {
            stores = [.. _stores];
            _stores.Clear();
        }

        foreach (var store in stores)
        {
            await store.DisposeAsync().ConfigureAwait(false);
        }
    }
}

/// <summary>The options of a conformance store that every backend's options have.</summary>
/// <param name="Time">The store's clock.</param>
/// <param name="TombstoneRetention">How long the change feed keeps tombstones.</param>
/// <param name="Indexes">The declared secondary indexes.</param>
public sealed record StoreSettings(TimeProvider Time, TimeSpan TombstoneRetention, IReadOnlyList<IndexDefinition> Indexes);
