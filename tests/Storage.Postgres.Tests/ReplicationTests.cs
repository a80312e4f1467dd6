using System.Diagnostics;
using System.Globalization;
using Npgsql;
using Storage.Testing.Postgres;
using Xunit.Abstractions;

namespace Storage.Postgres.Tests;

/// <summary>A primary and a streaming replica started by the tests (<c>pg_basebackup -R</c>), shared by the tests that leave them as they are.</summary>
public sealed class PrimaryAndStandby : IAsyncLifetime
{
    public LocalPostgresCluster Primary { get; private set; } = null!;

    public LocalPostgresCluster Standby { get; private set; } = null!;

    /// <summary>Both hosts, the standby first: the store must find the primary itself.</summary>
    public string MultiHostConnectionString => MultiHost(Primary, Standby);

    public static string MultiHost(LocalPostgresCluster primary, LocalPostgresCluster standby) => string.Create(
        CultureInfo.InvariantCulture,
        $"Host=127.0.0.1:{standby.Port},127.0.0.1:{primary.Port};Username=postgres;Database=postgres;Timeout=3;Host Recheck Seconds=1");

    public async Task InitializeAsync()
    {
        Primary = await LocalPostgresCluster.StartAsync();
        Standby = await Primary.CreateStandbyAsync();
    }

    public async Task DisposeAsync()
    {
        if (Standby is not null)
        {
            await Standby.DisposeAsync();
        }

        if (Primary is not null)
        {
            await Primary.DisposeAsync();
        }
    }
}

/// <summary>Multi-host connection strings, reads from replicas, and failover to a promoted standby.</summary>
public sealed class ReplicationTests(PrimaryAndStandby servers, ITestOutputHelper output) : IClassFixture<PrimaryAndStandby>
{
    [Fact]
    public async Task A_multi_host_connection_string_sends_writes_to_the_primary_and_they_reach_the_replica()
    {
        await using var store = await PostgresStore.OpenAsync(new PostgresStoreOptions { ConnectionString = servers.MultiHostConnectionString, Schema = "multihost" });

        await store.PutAsync("p", "docs", "a", """{"b":1,"a":2}""");

        Assert.Equal(1L, await servers.Primary.ExecuteAsync("SELECT count(*) FROM multihost.documents"));
        await WaitForAsync(async () => await servers.Standby.ExecuteAsync("SELECT count(*) FROM pg_tables WHERE schemaname = 'multihost' AND tablename = 'documents'") is 1L
            && await servers.Standby.ExecuteAsync("SELECT value FROM multihost.documents") is """{"b":1,"a":2}""");
        Assert.Equal(false, await QueryOnAsync(store.ReadDataSource, "SELECT pg_is_in_recovery()"));
    }

    [Fact]
    public async Task Reads_that_may_be_stale_go_to_a_standby_when_asked_and_catch_up()
    {
        await using var store = await PostgresStore.OpenAsync(new PostgresStoreOptions
        {
            ConnectionString = servers.MultiHostConnectionString,
            Schema = "replicareads",
            ReadFromReplicas = true,
        });

        Assert.Equal(true, await QueryOnAsync(store.ReadDataSource, "SELECT pg_is_in_recovery()"));
        var version = await store.PutAsync("p", "docs", "a", "1");

        // The standby replays the write a moment later: the read eventually sees it.
        await WaitForAsync(async () => (await store.GetAsync("p", "docs", "a"))?.Version == version);

        // Conditional writes are checked on the primary, whatever a stale read said.
        await Assert.ThrowsAsync<VersionConflictException>(async () => await store.PutAsync("p", "docs", "a", "2", WriteCondition.MustNotExist));
    }

    [Fact]
    public async Task After_the_standby_is_promoted_the_same_store_carries_on_writing_to_it()
    {
        // A pair of its own: this test ends with the old primary gone.
        await using var primary = await LocalPostgresCluster.StartAsync();
        await using var standby = await primary.CreateStandbyAsync();

        // Synchronous replication: an acknowledged commit is on the standby too, so failover loses none.
        await primary.ExecuteAsync("ALTER SYSTEM SET synchronous_standby_names = '*'");
        await primary.ExecuteAsync("SELECT pg_reload_conf()");
        await WaitForAsync(async () => await primary.ExecuteAsync("SELECT count(*) FROM pg_stat_replication WHERE sync_state = 'sync'") is 1L);

        var logs = new ListLoggerFactory();
        await using var store = await PostgresStore.OpenAsync(new PostgresStoreOptions
        {
            ConnectionString = PrimaryAndStandby.MultiHost(primary, standby),
            Schema = "failover",
            RetryBudget = TimeSpan.FromSeconds(60),
            LoggerFactory = logs,
        });
        for (var i = 0; i < 20; i++)
        {
            await store.PutAsync("p", "docs", $"before{i:D2}", $"{i}");
        }

        var clock = Stopwatch.StartNew();
        await primary.StopAsync("immediate");
        var writing = Task.Run(async () =>
        {
            for (var i = 0; i < 20; i++)
            {
                await store.PutAsync("p", "docs", $"after{i:D2}", $"{i}");
            }
        });
        await Task.Delay(500);
        await standby.PromoteAsync();
        await writing;
        clock.Stop();
        output.WriteLine($"writes resumed on the promoted standby within {clock.Elapsed.TotalSeconds:0.0} s, after {logs.Count(1)} retries");

        var page = await store.ListAsync("p", "docs");
        Assert.Equal(40, page.Items.Count);
        Assert.Equal(Enumerable.Range(1, 40).Select(v => (long)v), page.Items.Select(d => d.Version).Order());
        Assert.Equal(false, await standby.ExecuteAsync("SELECT pg_is_in_recovery()"));
        Assert.True(logs.Count(1) > 0, "the store never noticed the failover");
        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(60), $"failover took {clock.Elapsed}");
    }

    private static async Task<object?> QueryOnAsync(NpgsqlDataSource dataSource, string sql)
    {
        await using var connection = await dataSource.OpenConnectionAsync();
        await using var command = new NpgsqlCommand(sql, connection);
        return await command.ExecuteScalarAsync();
    }

    private static async Task WaitForAsync(Func<Task<bool>> condition)
    {
        var clock = Stopwatch.StartNew();
        while (true)
        {
            try
            {
                if (await condition())
                {
                    return;
                }
            }
            catch (PostgresException e) when (e.SqlState is PostgresErrorCodes.UndefinedTable or PostgresErrorCodes.InvalidSchemaName)
            {
                // Not replicated yet.
            }

            Assert.True(clock.Elapsed < TimeSpan.FromSeconds(20), "the condition did not hold within 20 s");
            await Task.Delay(50);
        }
    }
}
