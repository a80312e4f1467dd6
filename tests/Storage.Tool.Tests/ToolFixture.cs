using System.Text.Json;
using Microsoft.Extensions.Time.Testing;
using Storage.Conformance;
using Storage.Conformance.Reference;
using Storage.Hosting;
using Storage.Testing;
using Storage.Testing.Postgres;

namespace Storage.Tool.Tests;

/// <summary>
/// What the tool's tests share: new store addresses of each backend (dropped with the fixture), a source
/// seeded with a realistic workload, the index file declaring its indexes, and the built tool run as a
/// process.
/// </summary>
public sealed class ToolFixture : IAsyncLifetime
{
    private readonly List<string> _schemas = [];
    private PostgresTestServer? _server;

    /// <summary>A directory for this fixture's files, deleted at the end.</summary>
    public string Root { get; } = Directory.CreateTempSubdirectory("storage-tool-").FullName;

    /// <summary>The index file of the workload's indexes (<see cref="DifferentialRun.Indexes"/>), in the configuration's shape.</summary>
    public string IndexFile => Path.Combine(Root, "indexes.json");

    /// <summary>A new, empty location of <paramref name="backend"/> (json, sqlite, postgres): nothing is created there.</summary>
    public async Task<string> NewAddressAsync(string backend)
    {
        var name = backend + "-" + Guid.NewGuid().ToString("N")[..10];
        switch (backend)
        {
            case "json":
                return "json:" + Path.Combine(Root, name);
            case "sqlite":
                return "sqlite:" + Path.Combine(Root, name + ".db");
            default:
                _server ??= await PostgresTestServer.GetAsync();
                var schema = PostgresTestServer.NewSchemaName("tool");
                lock (_schemas)
                {
                    _schemas.Add(schema);
                }

                return "postgres:" + _server.ConnectionString + ";Schema=" + schema;
        }
    }

    /// <summary>Opens a store in this process (with the workload's indexes); dispose it before the tool opens a JSON store.</summary>
    public static async Task<Store> OpenAsync(string address, TimeProvider? time = null, DurabilityMode durability = DurabilityMode.Full) =>
        await StoreFactory.OpenAsync(address, options =>
        {
            options.Durability = durability;
            options.TimeProvider = time ?? TimeProvider.System;
            options.TombstoneRetention = DifferentialRun.TombstoneRetention;
            foreach (var index in DifferentialRun.Indexes)
            {
                options.Indexes.Add(index);
            }
        });

    /// <summary>
    /// A source at a new address of <paramref name="backend"/>: the kit's seeded random workload (documents in
    /// two collections, batches, expiry, deletes and their tombstones, sequences, streams with events,
    /// partition deletes, purges) in its four partitions, then <paramref name="bulkPartitions"/> more
    /// partitions, each with orders (one of them expiring, and <paramref name="extraOrders"/> more), a deleted
    /// order, a sequence and a stream.
    /// Returns the address and the number of partitions.
    /// </summary>
    public async Task<(string Address, long Partitions)> SeedAsync(string backend, int seed, int bulkPartitions = 40, int extraOrders = 0)
    {
        var address = await NewAddressAsync(backend);
        var time = new FakeTimeProvider(TestData.Start);
        // Seeding needs no fsync per commit: the store is closed (and flushed) before the tool opens it.
        await using var store = await OpenAsync(address, time, DurabilityMode.Relaxed);
        var model = new ReferenceStore(time, DifferentialRun.TombstoneRetention, DifferentialRun.Indexes);
        var run = new DifferentialRun(seed, store, model, time);
        for (var i = 0; i < 300; i++)
        {
            await run.StepAsync();
        }

        for (var p = 0; p < bulkPartitions; p++)
        {
            var partition = $"customer-{p:D5}";
            await store.CommitAsync(partition,
            [
                WriteOperation.Put("orders", "o-1", $$"""{"total":{{p}},"lines":[1,2,3]}"""),
                WriteOperation.Put("orders", "o-2", $$"""{"total":{{p + 1}}}"""),
                WriteOperation.Put("orders", "o-3", """{"total":0}""", expiresAt: time.GetUtcNow().AddMinutes(p % 3 == 0 ? -1 : 60)),
                WriteOperation.Put("profiles", "me", $$"""{"name":"customer {{p}}"}"""),
                WriteOperation.Append("cart", [EventData.Create("added", $$"""{"item":{{p}}}"""), EventData.Create("removed", """{"item":1}""", """{"by":"ui"}""")]),
                .. Enumerable.Range(0, extraOrders).Select(i => WriteOperation.Put("orders", $"x-{i:D3}", $$"""{"total":{{i}}}""")),
            ]);
            await store.DeleteAsync(partition, "orders", "o-2");
            await store.IncrementSequenceAsync(partition, "order-number", p + 1);
            time.Advance(TimeSpan.FromMilliseconds(7));
        }

        var partitions = 0L;
        await foreach (var _ in ((IStoreExport)store).ExportAsync())
        {
            partitions++;
        }

        return (address, partitions);
    }

    /// <summary>The store digest of the store at <paramref name="address"/>, read in this process (and closed again).</summary>
    public static async Task<string> DigestAsync(string address)
    {
        await using var store = await OpenAsync(address);
        return Convert.ToHexStringLower(await StoreDigest.ComputeAsync(((IStoreExport)store).ExportAsync()));
    }

    /// <summary>Runs the built tool with <paramref name="arguments"/> to its end.</summary>
    public static async Task<ToolRun> RunAsync(params string[] arguments)
    {
        using var process = Start(arguments);
        Assert.True(await process.WaitForExitAsync(TimeSpan.FromMinutes(3)), $"storage {string.Join(' ', arguments)} did not end: {string.Join('\n', process.Lines)}");
        return new ToolRun(process.ExitCode, process.Lines, process.StandardError);
    }

    /// <summary>Starts the built tool with <paramref name="arguments"/>.</summary>
    public static ChildProcess Start(params string[] arguments) =>
        ChildProcess.Start([ChildProcess.ProgramPath(typeof(ToolFixture).Assembly, "ToolPath"), .. arguments]);

    public Task InitializeAsync()
    {
        File.WriteAllText(IndexFile, JsonSerializer.Serialize(new
        {
            Indexes = DifferentialRun.Indexes.Select(i => new
            {
                i.Collection, i.Name, i.Path, Type = i.ValueType.ToString(), i.Unique, Scope = i.Scope.ToString(),
            }),
        }));
        return Task.CompletedTask;
    }

    public async Task DisposeAsync()
    {
        if (_server is not null && Environment.GetEnvironmentVariable(PostgresTestServer.EnvironmentVariable) is not null)
        {
            foreach (var schema in _schemas)
            {
                await _server.DropSchemaAsync(schema);
            }
        }

        Directory.Delete(Root, recursive: true);
    }
}

/// <summary>One finished run of the tool: its exit code, its stdout lines and its stderr.</summary>
public sealed record ToolRun(int ExitCode, IReadOnlyList<string> Lines, string StandardError)
{
    /// <summary>The JSON events of a <c>--json</c> run.</summary>
    public IReadOnlyList<JsonElement> Events => [.. Lines.Where(l => l.StartsWith('{')).Select(l => JsonDocument.Parse(l).RootElement)];

    /// <summary>The one event named <paramref name="name"/>.</summary>
    public JsonElement Event(string name) => Events.Single(e => e.GetProperty("event").GetString() == name);

    /// <summary>Everything the run printed, for assertion messages.</summary>
    public override string ToString() => $"exit {ExitCode}\n{string.Join('\n', Lines)}\n{StandardError}";
}
