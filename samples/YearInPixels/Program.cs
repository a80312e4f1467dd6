using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Storage.Hosting;
using YearInPixels;

if (args.Length > 0 && args[0] == "import")
{
    return await LegacyImportCommand.RunAsync(args[1..], Console.Out, Console.Error);
}

var app = PixelsApp.Build(args);
app.Lifetime.ApplicationStarted.Register(() =>
{
    var addresses = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()?.Addresses ?? [];
    var store = app.Configuration["Storage:Address"] is { } address ? StoreAddress.Parse(address).ToString() : "(Storage section)";
    foreach (var url in addresses)
    {
        Console.WriteLine($"Year in pixels: {url}  (store {store}, {app.Environment.EnvironmentName})");
    }
});
await app.RunAsync();
return 0;

/// <summary>The entry point (public for WebApplicationFactory).</summary>
public partial class Program;
