using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Storage.Testing.Postgres;

namespace Storage.Hosting.Tests;

public sealed class HealthCheckTests
{
    [Fact]
    public async Task There_is_one_check_per_store_unhealthy_before_the_host_starts_and_healthy_after()
    {
        await using var app = TestHost.Build("keyed", configure: builder =>
        {
            builder.AddKeyedStorage("orders");
            builder.AddKeyedStorage("audit");
            builder.Services.AddHealthChecks().AddStorage();
        });
        var health = app.Services.GetRequiredService<HealthCheckService>();

        var before = await health.CheckHealthAsync();
        Assert.Equal(["storage", "storage:audit", "storage:orders"], before.Entries.Keys.Order());
        Assert.All(before.Entries.Values, e => Assert.Equal(HealthStatus.Unhealthy, e.Status));

        await app.Host.StartAsync();
        var report = await health.CheckHealthAsync();

        Assert.All(report.Entries.Values, e => Assert.Equal(HealthStatus.Healthy, e.Status));
    }

    [Fact]
    public async Task A_check_above_its_latency_threshold_is_degraded()
    {
        await using var app = TestHost.Build("memory", configure: builder =>
            builder.Services.AddHealthChecks().AddStorage("", o => o.DegradedAfter = TimeSpan.Zero));
        await app.Host.StartAsync();

        var report = await app.Services.GetRequiredService<HealthCheckService>().CheckHealthAsync();

        Assert.Equal(HealthStatus.Degraded, report.Entries["storage"].Status);
    }

    [Fact]
    public void A_check_of_a_store_that_is_not_registered_is_refused()
    {
        var services = new ServiceCollection();
        services.AddStorage(o => o.Address = "memory:");

        var failure = Assert.Throws<InvalidOperationException>(() => services.AddHealthChecks().AddStorage("orders"));
        Assert.Contains("AddKeyedStorage(\"orders\"", failure.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_PostgreSQL_store_goes_unhealthy_when_its_server_stops_and_healthy_when_it_is_back()
    {
        await using var cluster = await LocalPostgresCluster.StartAsync();
        await using var app = TestHost.Build(null, new Dictionary<string, string?>
        {
            ["Storage:Backend"] = "Postgres",
            ["Storage:ConnectionString"] = cluster.ConnectionString,
            ["Storage:RetryBudget"] = "00:00:01",
        }, builder => builder.Services.AddHealthChecks().AddStorage(configure: o => o.Timeout = TimeSpan.FromSeconds(3)));
        await app.Host.StartAsync();
        var health = app.Services.GetRequiredService<HealthCheckService>();
        Assert.Equal(HealthStatus.Healthy, (await health.CheckHealthAsync()).Status);

        await cluster.StopAsync("immediate");
        var down = await health.CheckHealthAsync();
        Assert.Equal(HealthStatus.Unhealthy, down.Status);
        Assert.DoesNotContain("Password", down.Entries["storage"].Description ?? string.Empty, StringComparison.OrdinalIgnoreCase);

        await cluster.StartServerAsync();
        var back = await PollAsync(health, HealthStatus.Healthy, TimeSpan.FromSeconds(20));
        Assert.Equal(HealthStatus.Healthy, back);
    }

    private static async Task<HealthStatus> PollAsync(HealthCheckService health, HealthStatus wanted, TimeSpan within)
    {
        var deadline = DateTime.UtcNow + within;
        HealthStatus status;
        do
        {
            status = (await health.CheckHealthAsync()).Status;
            if (status == wanted)
            {
                return status;
            }

            await Task.Delay(200);
        }
        while (DateTime.UtcNow < deadline);
        return status;
    }
}
