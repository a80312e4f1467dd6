using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;

namespace Storage.Hosting.Tests.Readme;

/// <summary>The README's "Choose a backend in appsettings" code, between the region markers word for word (<see cref="ReadmeSampleTests"/> checks both).</summary>
internal static class ReadmeSample
{
    public static async Task RunAsync(string[] args)
    {
        #region readme
        // using Microsoft.Extensions.DependencyInjection; using Microsoft.Extensions.Hosting; using Storage; using Storage.Hosting;
        var builder = Host.CreateApplicationBuilder(args);
        builder.AddStorage();                               // the "Storage" section: which backend, where, which indexes
        builder.Services.AddHealthChecks().AddStorage();    // Unhealthy when the backend is unreachable

        using var host = builder.Build();
        await host.StartAsync();                            // opens the store (asynchronously), after validating its settings
        var store = host.Services.GetRequiredService<IStore>();
        await store.PutAsync("alice", "users", "alice", """{"email":"alice@example.com"}""");
        await host.StopAsync();                             // the host disposes the store
        #endregion
    }
}
