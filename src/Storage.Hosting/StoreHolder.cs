using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Options;
using Npgsql;

namespace Storage.Hosting;

/// <summary>A store registered by <c>AddStorage</c> or <c>AddKeyedStorage</c>: its name ("" for the default store) and the configuration path its messages name.</summary>
internal sealed record StoreRegistration(string Name, string ConfigurationPath)
{
    /// <summary>How messages name the store.</summary>
    public string Display => HostingErrors.StoreName(Name, ConfigurationPath);
}

/// <summary>
/// Holds one registered store: empty until <see cref="StorageOpener"/> opens it while the host
/// starts, then the store until the container disposes this holder (and with it the store).
/// </summary>
internal sealed class StoreHolder(StoreRegistration registration) : IAsyncDisposable
{
    private Store? _store;
    private Exception? _failure;

    /// <summary>The registration.</summary>
    public StoreRegistration Registration => registration;

    /// <summary>The open store, or <see langword="null"/> before the host has started or when the open failed.</summary>
    public Store? Current => Volatile.Read(ref _store);

    /// <summary>The open store.</summary>
    /// <exception cref="InvalidOperationException">The host has not started yet, or the open failed (the failure is the inner exception).</exception>
    public Store Store => Current ?? throw (Volatile.Read(ref _failure) is { } failure
        ? new InvalidOperationException(HostingErrors.OpenFailed(registration.Display), failure)
        : new InvalidOperationException(HostingErrors.NotOpenYet(registration.Display)));

    /// <summary>Opens the store from its validated options, once.</summary>
    public async Task OpenAsync(IServiceProvider services, CancellationToken cancellationToken)
    {
        if (Current is not null)
        {
            return;
        }

        // Get runs the validators again (cached after the first time): these options passed ValidateOnStart.
        var options = services.GetRequiredService<IOptionsMonitor<StorageOptions>>().Get(registration.Name);
        var errors = new List<string>();
        var dataSource = DataSource(services);
        var store = StorageValidation.Resolve(options, name => StorageConfiguration.KeyOf(registration.ConfigurationPath, name), dataSource is not null, errors);
        if (store is null || errors.Count > 0)
        {
            throw new OptionsValidationException(registration.Name, typeof(StorageOptions), errors);
        }

        try
        {
            var contentRoot = services.GetService<IHostEnvironment>()?.ContentRootPath;
            Volatile.Write(ref _store, await StoreFactory.OpenAsync(store, options, contentRoot, dataSource, cancellationToken).ConfigureAwait(false));
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            Volatile.Write(ref _failure, e);
            throw new InvalidOperationException(HostingErrors.CannotOpen(registration.Display, e.Message), e);
        }
    }

    /// <summary>The <see cref="NpgsqlDataSource"/> the services offer this store: keyed by its name, else the unkeyed one.</summary>
    public NpgsqlDataSource? DataSource(IServiceProvider services)
        => (registration.Name.Length > 0 ? services.GetKeyedService<NpgsqlDataSource>(registration.Name) : null) ?? services.GetService<NpgsqlDataSource>();

    /// <inheritdoc/>
    public ValueTask DisposeAsync() => Interlocked.Exchange(ref _store, null) is { } store ? store.DisposeAsync() : ValueTask.CompletedTask;
}

/// <summary>Opens every registered store while the host starts, before any hosted service's <c>StartAsync</c> runs.</summary>
internal sealed class StorageOpener(IServiceProvider services, IEnumerable<StoreRegistration> registrations) : IHostedLifecycleService
{
    /// <inheritdoc/>
    public async Task StartingAsync(CancellationToken cancellationToken)
    {
        foreach (var registration in registrations)
        {
            await services.GetRequiredKeyedService<StoreHolder>(registration.Name).OpenAsync(services, cancellationToken).ConfigureAwait(false);
        }
    }

    /// <inheritdoc/>
    public Task StartAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    /// <inheritdoc/>
    public Task StartedAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    /// <inheritdoc/>
    public Task StoppingAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    /// <inheritdoc/>
    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    /// <inheritdoc/>
    /// <remarks>The stores stay open until the container disposes them, after every hosted service has stopped.</remarks>
    public Task StoppedAsync(CancellationToken cancellationToken) => Task.CompletedTask;
}

/// <summary>Validates each registered store's options at start, naming full configuration keys.</summary>
internal sealed class StorageOptionsValidator(IEnumerable<StoreRegistration> registrations, IServiceProvider services) : IValidateOptions<StorageOptions>
{
    /// <inheritdoc/>
    public ValidateOptionsResult Validate(string? name, StorageOptions options)
    {
        var registration = registrations.FirstOrDefault(r => r.Name == (name ?? Options.DefaultName));
        if (registration is null)
        {
            return ValidateOptionsResult.Skip;
        }

        var errors = new List<string>();
        // Whether a data source is registered, without building it: a JSON store need not create one.
        var registered = services.GetService<IServiceProviderIsKeyedService>() is { } isService
            && (registration.Name.Length > 0 && isService.IsKeyedService(typeof(NpgsqlDataSource), registration.Name) || isService.IsService(typeof(NpgsqlDataSource)));
        StorageValidation.Resolve(options, key => StorageConfiguration.KeyOf(registration.ConfigurationPath, key), registered, errors);
        return errors.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(errors);
    }
}
