using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;

namespace Storage.Hosting.Tests;

/// <summary>A generic host as an app builds it: an appsettings file, settings that override it (as environment variables would), <c>builder.AddStorage()</c>; its content root a fresh directory.</summary>
internal sealed class TestHost : IAsyncDisposable
{
    private TestHost(IHost host, string root)
    {
        Host = host;
        Root = root;
    }

    public IHost Host { get; }

    /// <summary>The content root: where relative paths of the configuration land.</summary>
    public string Root { get; }

    public IServiceProvider Services => Host.Services;

    public static TestHost Build(string? appsettings, IDictionary<string, string?>? settings = null, Action<HostApplicationBuilder>? configure = null, bool addStorage = true)
    {
        var root = Directory.CreateTempSubdirectory("storage-hosting-").FullName;
        var builder = Microsoft.Extensions.Hosting.Host.CreateApplicationBuilder(new HostApplicationBuilderSettings
        {
            ContentRootPath = root,
            DisableDefaults = true,
            EnvironmentName = "Test",
        });
        if (appsettings is not null)
        {
            builder.Configuration.AddJsonFile(Path.Combine(AppContext.BaseDirectory, "appsettings", appsettings + ".json"), optional: false);
        }

        builder.Configuration.AddInMemoryCollection(settings ?? new Dictionary<string, string?>());
        if (addStorage)
        {
            builder.AddStorage();
        }

        configure?.Invoke(builder);
        return new TestHost(builder.Build(), root);
    }

    public static async Task<TestHost> StartAsync(string? appsettings, IDictionary<string, string?>? settings = null, Action<HostApplicationBuilder>? configure = null)
    {
        var host = Build(appsettings, settings, configure);
        try
        {
            await host.Host.StartAsync();
            return host;
        }
        catch
        {
            await host.DisposeAsync();
            throw;
        }
    }

    /// <summary>Starts a host that must fail to start; returns the exception.</summary>
    public static async Task<Exception> StartFailsAsync(string? appsettings, IDictionary<string, string?>? settings = null, Action<HostApplicationBuilder>? configure = null)
    {
        await using var host = Build(appsettings, settings, configure);
        var failure = await Record.ExceptionAsync(() => host.Host.StartAsync());
        Assert.NotNull(failure);
        return failure;
    }

    public IStore Store => Services.GetRequiredService<IStore>();

    public async ValueTask DisposeAsync()
    {
        try
        {
            await Host.StopAsync();
        }
        finally
        {
            await ((IAsyncDisposable)Host).DisposeAsync();
            Directory.Delete(Root, recursive: true);
        }
    }
}
