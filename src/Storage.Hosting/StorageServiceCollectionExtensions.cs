using System.Diagnostics.Metrics;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace Storage.Hosting;

/// <summary>
/// Registers stores in a host: <see cref="IStore"/> as a singleton that opens while the host starts
/// (an <see cref="IHostedService"/>) and is disposed with the host, options read from configuration
/// and code and validated at start.
/// </summary>
/// <remarks>
/// Resolving <see cref="IStore"/> before the host has started throws <see cref="InvalidOperationException"/>
/// saying so; a store that failed to open makes the host's start fail. Every open is asynchronous:
/// nothing blocks on it. A relative <see cref="StorageOptions.Path"/> is taken from the host's content root.
/// </remarks>
/// <seealso href="../../docs/configuration.md"/>
public static class StorageServiceCollectionExtensions
{
    /// <summary>Registers the default store, read from a configuration section (the <c>Storage</c> section, usually).</summary>
    /// <param name="services">The services.</param>
    /// <param name="configuration">The section; its path prefixes every key that messages name.</param>
    /// <returns><paramref name="services"/>.</returns>
    /// <exception cref="InvalidOperationException">A default store is already registered.</exception>
    public static IServiceCollection AddStorage(this IServiceCollection services, IConfiguration configuration)
        => services.AddStorage(configuration, _ => { });

    /// <summary>Registers the default store, read from a configuration section (the <c>Storage</c> section, usually) and adjusted in code.</summary>
    /// <param name="services">The services.</param>
    /// <param name="configuration">The section; its path prefixes every key that messages name.</param>
    /// <param name="configure">Runs after the section is read: declare indexes, set the clock, ….</param>
    /// <returns><paramref name="services"/>.</returns>
    /// <exception cref="InvalidOperationException">A default store is already registered.</exception>
    public static IServiceCollection AddStorage(this IServiceCollection services, IConfiguration configuration, Action<StorageOptions> configure)
    {
        ArgumentNullException.ThrowIfNull(configuration);
        return Register(services, Options.DefaultName, PathOf(configuration, StorageConfiguration.DefaultSection), configuration, configure);
    }

    /// <summary>Registers the default store, described in code alone.</summary>
    /// <param name="services">The services.</param>
    /// <param name="configure">Describes the store.</param>
    /// <returns><paramref name="services"/>.</returns>
    /// <exception cref="InvalidOperationException">A default store is already registered.</exception>
    public static IServiceCollection AddStorage(this IServiceCollection services, Action<StorageOptions> configure)
    {
        ArgumentNullException.ThrowIfNull(configure);
        return Register(services, Options.DefaultName, StorageConfiguration.DefaultSection, configuration: null, configure);
    }

    /// <summary>Registers a store under a name (a keyed <see cref="IStore"/>: <c>[FromKeyedServices("orders")] IStore</c>), read from a configuration section.</summary>
    /// <param name="services">The services.</param>
    /// <param name="name">The store's name, the service key.</param>
    /// <param name="configuration">The section (<c>Storage:Stores:&lt;name&gt;</c>, usually).</param>
    /// <returns><paramref name="services"/>.</returns>
    /// <exception cref="InvalidOperationException">A store of this name is already registered.</exception>
    public static IServiceCollection AddKeyedStorage(this IServiceCollection services, string name, IConfiguration configuration)
        => services.AddKeyedStorage(name, configuration, _ => { });

    /// <summary>Registers a store under a name (a keyed <see cref="IStore"/>: <c>[FromKeyedServices("orders")] IStore</c>), read from a configuration section and adjusted in code.</summary>
    /// <param name="services">The services.</param>
    /// <param name="name">The store's name, the service key.</param>
    /// <param name="configuration">The section (<c>Storage:Stores:&lt;name&gt;</c>, usually).</param>
    /// <param name="configure">Runs after the section is read.</param>
    /// <returns><paramref name="services"/>.</returns>
    /// <exception cref="InvalidOperationException">A store of this name is already registered.</exception>
    public static IServiceCollection AddKeyedStorage(this IServiceCollection services, string name, IConfiguration configuration, Action<StorageOptions> configure)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(name);
        ArgumentNullException.ThrowIfNull(configuration);
        return Register(services, name, PathOf(configuration, KeyedSection(name)), configuration, configure);
    }

    /// <summary>Registers a store under a name, described in code alone.</summary>
    /// <param name="services">The services.</param>
    /// <param name="name">The store's name, the service key.</param>
    /// <param name="configure">Describes the store.</param>
    /// <returns><paramref name="services"/>.</returns>
    /// <exception cref="InvalidOperationException">A store of this name is already registered.</exception>
    public static IServiceCollection AddKeyedStorage(this IServiceCollection services, string name, Action<StorageOptions> configure)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(name);
        ArgumentNullException.ThrowIfNull(configure);
        return Register(services, name, KeyedSection(name), configuration: null, configure);
    }

    internal static string KeyedSection(string name) => StorageConfiguration.DefaultSection + ":" + StorageConfiguration.StoresKey + ":" + name;

    private static string PathOf(IConfiguration configuration, string fallback) => configuration is IConfigurationSection section ? section.Path : fallback;

    private static IServiceCollection Register(IServiceCollection services, string name, string path, IConfiguration? configuration, Action<StorageOptions>? configure)
    {
        ArgumentNullException.ThrowIfNull(services);
        if (services.Any(d => d.ServiceType == typeof(StoreRegistration) && d.ImplementationInstance is StoreRegistration r && r.Name == name))
        {
            throw new InvalidOperationException(HostingErrors.DuplicateRegistration(name));
        }

        var registration = new StoreRegistration(name, path);
        services.AddSingleton(registration);
        services.AddKeyedSingleton(name, (_, _) => new StoreHolder(registration));
        var options = services.AddOptions<StorageOptions>(name).Configure<IServiceProvider>((o, provider) =>
        {
            o.TimeProvider = provider.GetService<TimeProvider>() ?? o.TimeProvider;
            o.LoggerFactory = provider.GetService<ILoggerFactory>();
            o.MeterFactory = provider.GetService<IMeterFactory>();
        });
        if (configuration is not null)
        {
            options.Configure(o => StorageConfiguration.Read(configuration, path, o, allowStores: name.Length == 0));
        }

        if (configure is not null)
        {
            options.Configure(configure);
        }

        options.ValidateOnStart();
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IValidateOptions<StorageOptions>, StorageOptionsValidator>());
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IHostedService, StorageOpener>());
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IHostedService, StoragePurger>());
        if (name.Length == 0)
        {
            services.AddSingleton<IStore>(provider => provider.GetRequiredKeyedService<StoreHolder>(name).Store);
        }
        else
        {
            services.AddKeyedSingleton<IStore>(name, (provider, _) => provider.GetRequiredKeyedService<StoreHolder>(name).Store);
        }

        return services;
    }
}
