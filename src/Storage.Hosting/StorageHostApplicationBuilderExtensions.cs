using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.Hosting;

namespace Storage.Hosting;

/// <summary>
/// Registers stores in an app built with <see cref="IHostApplicationBuilder"/>
/// (<c>Host.CreateApplicationBuilder</c>, <c>WebApplication.CreateBuilder</c>): the default store from
/// the <c>Storage</c> section, named stores from <c>Storage:Stores:&lt;name&gt;</c>. See
/// <see cref="StorageServiceCollectionExtensions"/> for what is registered.
/// </summary>
/// <seealso href="../../docs/configuration.md"/>
public static class StorageHostApplicationBuilderExtensions
{
    /// <summary>Registers the default store from the host's <c>Storage</c> configuration section.</summary>
    /// <param name="builder">The host builder.</param>
    /// <returns><paramref name="builder"/>.</returns>
    /// <exception cref="InvalidOperationException">A default store is already registered.</exception>
    public static IHostApplicationBuilder AddStorage(this IHostApplicationBuilder builder) => builder.AddStorage(_ => { });

    /// <summary>Registers the default store from the host's <c>Storage</c> configuration section, adjusted in code.</summary>
    /// <param name="builder">The host builder.</param>
    /// <param name="configure">Runs after the section is read.</param>
    /// <returns><paramref name="builder"/>.</returns>
    /// <exception cref="InvalidOperationException">A default store is already registered.</exception>
    public static IHostApplicationBuilder AddStorage(this IHostApplicationBuilder builder, Action<StorageOptions> configure)
    {
        ArgumentNullException.ThrowIfNull(builder);
        builder.Services.AddStorage(builder.Configuration.GetSection(StorageConfiguration.DefaultSection), configure);
        return builder;
    }

    /// <summary>Registers a named store from the host's <c>Storage:Stores:&lt;name&gt;</c> configuration section.</summary>
    /// <param name="builder">The host builder.</param>
    /// <param name="name">The store's name, the service key.</param>
    /// <returns><paramref name="builder"/>.</returns>
    /// <exception cref="InvalidOperationException">A store of this name is already registered.</exception>
    public static IHostApplicationBuilder AddKeyedStorage(this IHostApplicationBuilder builder, string name) => builder.AddKeyedStorage(name, _ => { });

    /// <summary>Registers a named store from the host's <c>Storage:Stores:&lt;name&gt;</c> configuration section, adjusted in code.</summary>
    /// <param name="builder">The host builder.</param>
    /// <param name="name">The store's name, the service key.</param>
    /// <param name="configure">Runs after the section is read.</param>
    /// <returns><paramref name="builder"/>.</returns>
    /// <exception cref="InvalidOperationException">A store of this name is already registered.</exception>
    public static IHostApplicationBuilder AddKeyedStorage(this IHostApplicationBuilder builder, string name, Action<StorageOptions> configure)
    {
        ArgumentNullException.ThrowIfNull(builder);
        ArgumentException.ThrowIfNullOrWhiteSpace(name);
        builder.Services.AddKeyedStorage(name, builder.Configuration.GetSection(StorageServiceCollectionExtensions.KeyedSection(name)), configure);
        return builder;
    }
}
