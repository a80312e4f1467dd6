using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Npgsql;
using Storage.Json;
using Storage.Memory;
using Storage.Postgres;
using Storage.Sqlite;
using Storage.Testing.Postgres;

namespace Storage.Hosting.Tests;

/// <summary>A host per backend, configured by its appsettings file alone, serving the contract through the injected <see cref="IStore"/>.</summary>
public sealed class HostedStoreTests
{
    [Theory]
    [InlineData("json", typeof(JsonStore))]
    [InlineData("sqlite", typeof(SqliteStore))]
    [InlineData("memory", typeof(MemoryStore))]
    public async Task A_host_configured_by_its_appsettings_serves_the_contract_through_the_injected_store(string backend, Type storeType)
    {
        await using var app = await TestHost.StartAsync(backend);

        Assert.IsType(storeType, app.Store);
        await Smoke.RunAsync(app.Store);
    }

    [Theory]
    [InlineData("00:01:00", true)]
    [InlineData(null, false)]
    public async Task With_a_purge_interval_the_host_purges_expired_documents_on_the_stores_clock(string? interval, bool purged)
    {
        var time = new Microsoft.Extensions.Time.Testing.FakeTimeProvider(new DateTimeOffset(2030, 1, 1, 0, 0, 0, TimeSpan.Zero));
        await using var app = await TestHost.StartAsync("memory", interval is null ? null : new Dictionary<string, string?> { ["Storage:PurgeInterval"] = interval }, b => b.Services.AddSingleton<TimeProvider>(time));
        await app.Store.PutAsync("p", "sessions", "s1", "{}", expiresAt: time.GetUtcNow().AddSeconds(30));
        await app.Store.PutAsync("p", "sessions", "s2", "{}");

        // Stored (exported) until a purge removes it, though invisible once expired.
        for (var minute = 0; minute < 50 && await StoredKeysAsync() is { Count: 2 }; minute++)
        {
            time.Advance(TimeSpan.FromMinutes(1));
            await Task.Delay(20);
        }

        Assert.Equal(purged ? ["s2"] : ["s1", "s2"], await StoredKeysAsync());
        Assert.Null(await app.Store.GetAsync("p", "sessions", "s1"));

        async Task<List<string>> StoredKeysAsync()
        {
            var keys = new List<string>();
            await foreach (var partition in ((IStoreExport)app.Store).ExportAsync())
            {
                keys.AddRange(partition.Documents.Select(d => d.Key));
            }

            return keys;
        }
    }

    [Fact]
    public async Task Relative_paths_are_taken_from_the_content_root()
    {
        await using (var app = await TestHost.StartAsync("json"))
        {
            Assert.Equal(Path.Combine(app.Root, "data"), ((JsonStore)app.Store).Directory);
        }

        await using (var app = await TestHost.StartAsync("sqlite"))
        {
            Assert.Equal(Path.Combine(app.Root, "db", "app.db"), ((SqliteStore)app.Store).Path);
        }
    }

    [Fact]
    public async Task A_host_configured_for_PostgreSQL_serves_the_contract_and_a_schema_from_configuration()
    {
        var server = await PostgresTestServer.GetAsync();
        var schema = PostgresTestServer.NewSchemaName("hosting");
        try
        {
            await using var app = await TestHost.StartAsync("postgres", new Dictionary<string, string?>
            {
                ["Storage:ConnectionString"] = server.ConnectionString,
                ["Storage:Schema"] = schema,
            });

            var store = Assert.IsType<PostgresStore>(app.Store);
            Assert.Equal(schema, store.Schema);
            await Smoke.RunAsync(store);
        }
        finally
        {
            await server.DropSchemaAsync(schema);
        }
    }

    [Fact]
    public async Task PostgreSQL_uses_the_data_source_registered_in_the_services_and_leaves_it_open()
    {
        var server = await PostgresTestServer.GetAsync();
        var schema = PostgresTestServer.NewSchemaName("hostingds");
        await using var dataSource = NpgsqlDataSource.Create(server.ConnectionString);
        try
        {
            await using (var app = await TestHost.StartAsync(null, new Dictionary<string, string?>
            {
                ["Storage:Address"] = "postgres:Schema=" + schema,
            }, builder => builder.Services.AddSingleton(dataSource)))
            {
                var store = Assert.IsType<PostgresStore>(app.Store);
                Assert.Equal(schema, store.Schema);
                await store.PutAsync("p", "docs", "a", "1");
            }

            // The host disposed the store, not the data source it was lent.
            await using var connection = await dataSource.OpenConnectionAsync();
            await using var command = new NpgsqlCommand($"SELECT count(*) FROM \"{schema}\".documents", connection);
            Assert.Equal(1L, await command.ExecuteScalarAsync());
        }
        finally
        {
            await server.DropSchemaAsync(schema);
        }
    }

    [Fact]
    public async Task Keyed_stores_come_from_their_own_sections_and_are_disposed_with_the_host()
    {
        IStore orders, audit, main;
        await using (var app = await TestHost.StartAsync("keyed", configure: builder =>
        {
            builder.AddKeyedStorage("orders");
            builder.AddKeyedStorage("audit", o => o.Indexes.Add(new IndexDefinition("entries", "by-user", "user", IndexValueType.String)));
        }))
        {
            main = app.Store;
            orders = app.Services.GetRequiredKeyedService<IStore>("orders");
            audit = app.Services.GetRequiredKeyedService<IStore>("audit");
            Assert.IsType<MemoryStore>(main);
            Assert.Equal(Path.Combine(app.Root, "orders.db"), Assert.IsType<SqliteStore>(orders).Path);
            Assert.Equal(Path.Combine(app.Root, "audit"), Assert.IsType<JsonStore>(audit).Directory);

            await orders.PutAsync("p", "orders", "1", """{"total":3}""");
            Assert.Null(await main.GetAsync("p", "orders", "1"));
            await audit.PutAsync("p", "entries", "1", """{"user":"ann"}""");
            var page = await audit.QueryAsync(new IndexQuery("entries", "by-user") { Equal = "ann" });
            Assert.Single(page.Items);
        }

        foreach (var store in new[] { main, orders, audit })
        {
            await Assert.ThrowsAsync<ObjectDisposedException>(async () => await store.GetAsync("p", "orders", "1"));
        }
    }

    [Fact]
    public async Task Resolving_the_store_before_the_host_starts_says_so_and_works_after()
    {
        await using var app = TestHost.Build("memory");

        var early = Assert.Throws<InvalidOperationException>(() => app.Store);
        Assert.Contains("not open yet", early.Message, StringComparison.Ordinal);
        Assert.Contains("IHost.StartAsync", early.Message, StringComparison.Ordinal);

        await app.Host.StartAsync();
        await app.Store.PutAsync("p", "docs", "a", "1");
    }

    [Fact]
    public async Task A_store_that_failed_to_open_says_so_when_resolved()
    {
        await using var app = TestHost.Build(null, new Dictionary<string, string?> { ["Storage:Address"] = "json:data" });
        Directory.CreateDirectory(Path.Combine(app.Root, "data"));
        await using (await StoreFactory.OpenAsync("json:" + Path.Combine(app.Root, "data")))
        {
            var start = await Assert.ThrowsAsync<InvalidOperationException>(() => app.Host.StartAsync());
            Assert.IsType<StoreLockedException>(start.InnerException);
        }

        var late = Assert.Throws<InvalidOperationException>(() => app.Store);
        Assert.Equal("The store configured at 'Storage' failed to open when the host started; see the inner exception.", late.Message);
        Assert.IsType<StoreLockedException>(late.InnerException);
    }

    [Fact]
    public async Task A_hosted_service_registered_before_AddStorage_finds_the_store_open_in_its_StartAsync()
    {
        var seen = new UsesStoreAtStart();
        await using var app = TestHost.Build("memory", addStorage: false, configure: builder =>
        {
            builder.Services.AddHostedService(sp => seen.With(sp));
            builder.AddStorage();
        });

        await app.Host.StartAsync();

        Assert.Equal(1, seen.Version);
    }

    [Fact]
    public async Task Indexes_and_a_clock_declared_in_code_join_the_configuration()
    {
        var clock = new FixedClock(new DateTimeOffset(2030, 1, 2, 3, 4, 5, TimeSpan.Zero));
        await using var app = await TestHost.StartAsync(null, new Dictionary<string, string?> { ["Storage:Backend"] = "memory" }, builder =>
        {
            builder.Services.AddSingleton<TimeProvider>(clock);
            builder.Services.AddKeyedStorage("coded", o =>
            {
                o.Backend = StoreBackend.Memory;
                o.Indexes.Add(new IndexDefinition("users", "by-email", "email", IndexValueType.String, unique: true));
            });
        });

        var store = app.Services.GetRequiredKeyedService<IStore>("coded");
        await store.PutAsync("p", "users", "a", """{"email":"a@x"}""");
        await Assert.ThrowsAsync<UniqueConstraintException>(async () => await store.PutAsync("p", "users", "b", """{"email":"a@x"}"""));
        Assert.Equal(clock.GetUtcNow(), (await store.GetAsync("p", "users", "a"))!.UpdatedAt);
    }

    private sealed class UsesStoreAtStart : IHostedService
    {
        private IServiceProvider? _services;

        public long Version { get; private set; }

        public UsesStoreAtStart With(IServiceProvider services)
        {
            _services = services;
            return this;
        }

        public async Task StartAsync(CancellationToken cancellationToken)
            => Version = await _services!.GetRequiredService<IStore>().PutAsync("p", "docs", "a", "1", cancellationToken: cancellationToken);

        public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;
    }

    private sealed class FixedClock(DateTimeOffset now) : TimeProvider
    {
        public override DateTimeOffset GetUtcNow() => now;
    }
}
