namespace Storage.Conformance;

/// <summary>
/// Creates fresh, isolated stores of one backend for the conformance suites, and disposes them
/// when the test class is done. Genuine backend differences become virtual capability flags here
/// (none so far) — never <c>if (store is X)</c> in a suite.
/// </summary>
public abstract class StoreFixture : IAsyncLifetime
{
    private readonly Lock _lock = new();
    private readonly List<IStore> _stores = [];

    /// <summary>Opens a new, empty store that no other test sees.</summary>
    /// <param name="time">The store's clock; <see cref="TimeProvider.System"/> when <see langword="null"/>.</param>
    /// <param name="tombstoneRetention">The change feed's tombstone retention; the default when <see langword="null"/>.</param>
    /// <param name="indexes">The secondary indexes to declare; none when <see langword="null"/>.</param>
    /// <returns>The store; the fixture disposes it.</returns>
    public async Task<IStore> CreateStoreAsync(TimeProvider? time = null, TimeSpan? tombstoneRetention = null, IReadOnlyList<IndexDefinition>? indexes = null)
    {
        var settings = new StoreSettings(time ?? TimeProvider.System, tombstoneRetention ?? StoreLimits.DefaultTombstoneRetention, indexes ?? []);
        var store = await OpenStoreAsync(settings).ConfigureAwait(false);
        lock (_lock)
        {
            _stores.Add(store);
        }

        return store;
    }

    /// <summary>Opens a new, empty store of the backend with the settings every backend's options share.</summary>
    /// <param name="settings">The clock and the tombstone retention.</param>
    /// <returns>The store.</returns>
    protected abstract Task<IStore> OpenStoreAsync(StoreSettings settings);

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
