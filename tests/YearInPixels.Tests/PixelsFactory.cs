using System.Net.Http.Headers;
using System.Net.Http.Json;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Mvc.Testing;
using Microsoft.AspNetCore.TestHost;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Time.Testing;
using Storage;
using Storage.Testing.Postgres;

namespace YearInPixels.Tests;

/// <summary>Which backend an app under test runs on.</summary>
public enum Backend
{
    Json,
    Sqlite,
    Postgres,
}

/// <summary>
/// The app in-process on one backend, with a <see cref="FakeTimeProvider"/> as its clock (and its
/// store's): the in-memory test server, or Kestrel on a free loopback port (<see cref="StartKestrel"/>)
/// for the browser tests. Its store lives in a temporary directory or a new PostgreSQL schema.
/// </summary>
public sealed class PixelsFactory : WebApplicationFactory<Program>
{
    /// <summary>The tests' "now": the middle of 2026.</summary>
    public static readonly DateTimeOffset Start = new(2026, 6, 15, 12, 0, 0, TimeSpan.Zero);

    private readonly string? _directory;
    private readonly string? _schema;
    private readonly Dictionary<string, string?> _settings = [];

    private PixelsFactory(Backend backend, string address, string? directory, string? schema, string environment)
    {
        Backend = backend;
        Address = address;
        _directory = directory;
        _schema = schema;
        Environment = environment;
    }

    /// <summary>The backend.</summary>
    public Backend Backend { get; }

    /// <summary>The store address the app is configured with.</summary>
    public string Address { get; }

    /// <summary>The app's environment.</summary>
    public string Environment { get; }

    /// <summary>The app's clock.</summary>
    public FakeTimeProvider Time { get; } = new(Start);

    /// <summary>An app on a new, empty store of <paramref name="backend"/>.</summary>
    /// <param name="backend">The backend.</param>
    /// <param name="environment">The ASP.NET Core environment (dev sign-in needs Development).</param>
    /// <returns>The factory (the app starts on first use).</returns>
    public static async Task<PixelsFactory> CreateAsync(Backend backend, string environment = "Development")
    {
        switch (backend)
        {
            case Backend.Json:
            {
                var directory = NewDirectory();
                return new PixelsFactory(backend, "json:" + Path.Combine(directory, "data"), directory, null, environment);
            }

            case Backend.Sqlite:
            {
                var directory = NewDirectory();
                return new PixelsFactory(backend, "sqlite:" + Path.Combine(directory, "app.db"), directory, null, environment);
            }

            default:
            {
                var server = await PostgresTestServer.GetAsync();
                var schema = PostgresTestServer.NewSchemaName("pixels");
                return new PixelsFactory(backend, $"postgres:{server.ConnectionString};Schema={schema}", null, schema, environment);
            }
        }
    }

    /// <summary>An app on a store the caller owns (a cluster of its own, say), with more settings.</summary>
    /// <param name="backend">The backend.</param>
    /// <param name="address">The store address.</param>
    /// <param name="settings">More configuration (<c>Storage:RetryBudget</c>…).</param>
    /// <returns>The factory (the app starts on first use).</returns>
    public static PixelsFactory ForAddress(Backend backend, string address, IReadOnlyDictionary<string, string?> settings)
    {
        var factory = new PixelsFactory(backend, address, null, null, "Development");
        foreach (var (key, value) in settings)
        {
            factory._settings[key] = value;
        }

        return factory;
    }

    /// <summary>Serves the app with Kestrel on a free port of 127.0.0.1.</summary>
    /// <returns>The app's base address, e.g. <c>http://127.0.0.1:41234</c>.</returns>
    public Uri StartKestrel()
    {
        UseKestrel(o => o.Listen(System.Net.IPAddress.Loopback, 0));
        StartServer();
        var address = Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First();
        return new Uri(address);
    }

    /// <summary>The app's store.</summary>
    public IStore Store => Services.GetRequiredService<IStore>();

    /// <summary>A client signed in as <paramref name="name"/>.</summary>
    /// <param name="name">The dev identity.</param>
    /// <returns>The client (bearer header set) and the sign-in answer.</returns>
    public async Task<(HttpClient Client, SignedIn Session)> SignInAsync(string name)
    {
        var client = CreateClient();
        using var response = await client.PostAsJsonAsync("/api/dev/sign-in", new DevSignInInput(name));
        response.EnsureSuccessStatusCode();
        var signedIn = (await response.Content.ReadFromJsonAsync<SignedIn>())!;
        client.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", signedIn.Token);
        return (client, signedIn);
    }

    /// <inheritdoc/>
    protected override void ConfigureWebHost(IWebHostBuilder builder)
    {
        builder.UseEnvironment(Environment);
        builder.ConfigureAppConfiguration((_, configuration) => configuration.AddInMemoryCollection(new Dictionary<string, string?>(_settings)
        {
            ["Storage:Address"] = Address,
            ["Logging:LogLevel:Default"] = "Warning",
        }));
        builder.ConfigureTestServices(services => services.AddSingleton<TimeProvider>(Time));
    }

    /// <inheritdoc/>
    public override async ValueTask DisposeAsync()
    {
        await base.DisposeAsync();
        if (_schema is not null)
        {
            await (await PostgresTestServer.GetAsync()).DropSchemaAsync(_schema);
        }

        if (_directory is not null)
        {
            try
            {
                Directory.Delete(_directory, recursive: true);
            }
            catch (IOException)
            {
                // best effort: a temp directory
            }
        }
    }

    private static string NewDirectory()
    {
        var directory = Path.Combine(Path.GetTempPath(), "pixels-tests-" + Guid.NewGuid().ToString("N")[..12]);
        Directory.CreateDirectory(directory);
        return directory;
    }
}
