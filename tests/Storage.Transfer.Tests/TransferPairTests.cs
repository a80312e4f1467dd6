using System.Text;
using Microsoft.Extensions.Time.Testing;
using Storage.Conformance;
using Storage.Conformance.Reference;
using Storage.Hosting;
using Storage.Testing.Postgres;
using static Storage.Conformance.StoreAssert;

namespace Storage.Transfer.Tests;

/// <summary>
/// Lossless transfer between every ordered pair of backends (issue 18): a seeded random workload —
/// documents, batches, expiry, deletes, sequences, streams, indexes, partition deletes, purges — runs on
/// a source beside the reference model; its export is restored into a new store of every backend; the
/// copy's store digest and export equal the source's, its floor is the source's, every read answers as
/// the model; then the workload goes on against source and copy at once and they keep answering alike.
/// </summary>
public sealed class TransferPairTests(TransferStores stores) : IClassFixture<TransferStores>
{
    // Enough operations for every kind to occur (partition deletes and purges are rare); the larger
    // matrix is the benchmark's, opt-in.
    private const int WorkloadOperations = 500;
    private const int ContinuedOperations = 150;

    public static TheoryData<string> Backends => [.. TransferStores.Backends];

    [Theory]
    [MemberData(nameof(Backends))]
    public async Task A_store_moved_to_every_backend_is_equal_and_stays_equal(string sourceBackend)
    {
        var time = new FakeTimeProvider(TestData.Start);
        var source = await stores.OpenAsync(sourceBackend, time);
        var model = new ReferenceStore(time, DifferentialRun.TombstoneRetention, DifferentialRun.Indexes);
        var run = new DifferentialRun(18_100 + sourceBackend.Length, source, model, time);
        for (var i = 0; i < WorkloadOperations; i++)
        {
            await run.StepAsync();
        }

        var seed = 18_200;
        foreach (var destinationBackend in TransferStores.Backends)
        {
            var pair = $"{sourceBackend} → {destinationBackend}";
            var destination = await stores.OpenAsync(destinationBackend, time);
            var info = await ((IStoreExport)source).GetExportInfoAsync();
            var partitions = await CountAsync(((IStoreExport)source).ExportAsync());

            var result = await ((IStoreRestore)destination).RestoreAsync(info, ((IStoreExport)source).ExportAsync());

            Assert.True(partitions > 0, pair);
            Assert.True(result.Created == partitions, $"{pair}: {result}");
            Assert.Equal(info.RevisionFloor, (await ((IStoreExport)destination).GetExportInfoAsync()).RevisionFloor);
            var differences = await ToListAsync(ExportComparison.CompareAsync(((IStoreExport)source).ExportAsync(), ((IStoreExport)destination).ExportAsync()));
            Assert.True(differences.Count == 0, $"{pair}: {string.Join("; ", differences.Select(d => $"{d.Partition}: {string.Join(", ", d.Items)}"))}");
            Assert.Equal(await StoreDigest.ComputeAsync(((IStoreExport)source).ExportAsync()), await StoreDigest.ComputeAsync(((IStoreExport)destination).ExportAsync()));

            // The copy answers every read as the model while the source has not moved on; then both go on alike.
            if (seed == 18_200)
            {
                await new DifferentialRun(seed, destination, model, time).CompareAllAsync();
            }

            var both = new DifferentialRun(seed++, destination, source, time);
            await both.CompareAllAsync();
            for (var i = 0; i < ContinuedOperations; i++)
            {
                await both.StepAsync();
            }

            await both.CompareAllAsync();
            Assert.Equal(await StoreDigest.ComputeAsync(((IStoreExport)source).ExportAsync()), await StoreDigest.ComputeAsync(((IStoreExport)destination).ExportAsync()));
        }
    }

    [Theory]
    [MemberData(nameof(Backends))]
    public async Task A_broken_transfer_is_caught_by_the_digest_and_named_by_the_comparison(string destinationBackend)
    {
        var time = new FakeTimeProvider(TestData.Start);
        var source = await stores.OpenAsync("memory", time);
        await source.CommitAsync("p", [WriteOperation.Put("c", "a", """{"n":1}"""), WriteOperation.Put("c", "b", "2")]);
        await source.AppendAsync("p", "audit", [EventData.Create("made", "{}", id: TestData.Id(1)), EventData.Create("made", "{}", id: TestData.Id(2))]);
        await source.PutAsync("p", "c", "a", """{"n":2}""");
        var state = (await ((IStoreExport)source).ExportPartitionAsync("p"))!;
        var document = state.Documents[0];
        var stream = state.Streams[0];
        var breaks = new (string What, PartitionExport Broken, ExportItem Item)[]
        {
            ("a version off by one", With(state, documents: [Copy(document, version: document.Version - 1), .. state.Documents.Skip(1)]), new(ExportItemKind.Document, "c", "a")),
            ("a dropped event", With(state, streams: [new ExportedStream(stream.Stream, [stream.Events[0]])]), new(ExportItemKind.Stream, null, "audit")),
            ("a changed byte", With(state, documents: [Copy(document, value: Encoding.UTF8.GetBytes("""{"n":3}""")), .. state.Documents.Skip(1)]), new(ExportItemKind.Document, "c", "a")),
        };

        foreach (var (what, broken, item) in breaks)
        {
            var destination = await stores.OpenAsync(destinationBackend, time);
            Assert.Equal(RestoreOutcome.Created, await ((IStoreRestore)destination).RestorePartitionAsync(broken));

            var difference = Assert.Single(await ToListAsync(ExportComparison.CompareAsync(((IStoreExport)source).ExportAsync(), ((IStoreExport)destination).ExportAsync())));
            Assert.Equal([item], difference.Items);
            var sourceDigest = await StoreDigest.ComputeAsync(((IStoreExport)source).ExportAsync());
            var destinationDigest = await StoreDigest.ComputeAsync(((IStoreExport)destination).ExportAsync());
            Assert.False(sourceDigest.AsSpan().SequenceEqual(destinationDigest), $"The store digest did not see {what}.");

            // Restoring the right state over it repairs it.
            Assert.Equal(RestoreOutcome.Replaced, await ((IStoreRestore)destination).RestorePartitionAsync(state, RestoreMode.Replace));
            Assert.Empty(await ToListAsync(ExportComparison.CompareAsync(((IStoreExport)source).ExportAsync(), ((IStoreExport)destination).ExportAsync())));
        }
    }

    private static PartitionExport With(PartitionExport p, StoredDocument[]? documents = null, ExportedStream[]? streams = null)
        => new(p.Partition, p.Revision, p.OldestResumable, documents ?? p.Documents, p.Tombstones, p.Sequences, streams ?? p.Streams);

    private static StoredDocument Copy(StoredDocument d, long? version = null, byte[]? value = null)
        => new(d.Partition, d.Collection, d.Key, value ?? d.Value, version ?? d.Version, d.CreatedAt, d.UpdatedAt, d.ExpiresAt);

    private static async Task<long> CountAsync<T>(IAsyncEnumerable<T> items)
    {
        long count = 0;
        await foreach (var _ in items)
        {
            count++;
        }

        return count;
    }
}

/// <summary>Opens new, empty stores of each backend by address (as an app and the upgrade tool do), and removes them afterwards.</summary>
public sealed class TransferStores : IAsyncLifetime
{
    private readonly string _root = Directory.CreateTempSubdirectory("storage-transfer-").FullName;
    private readonly List<Store> _stores = [];
    private readonly List<string> _schemas = [];
    private PostgresTestServer? _server;

    /// <summary>The backends every pair is made of: PostgreSQL in both layouts.</summary>
    public static IReadOnlyList<string> Backends { get; } = ["memory", "json", "sqlite", "postgres", "postgres-hash"];

    /// <summary>Opens a new store of <paramref name="backend"/> declaring the workload's indexes and tombstone retention.</summary>
    public async Task<Store> OpenAsync(string backend, TimeProvider time)
    {
        var location = await NewLocationAsync(backend);
        return await OpenAddressAsync(location.Address, options =>
        {
            options.TimeProvider = time;
            options.TombstoneRetention = DifferentialRun.TombstoneRetention;
            options.HashPartitions = backend == "postgres-hash" ? 4 : null;
            foreach (var index in DifferentialRun.Indexes)
            {
                options.Indexes.Add(index);
            }
        });
    }

    /// <summary>Where a new store of <paramref name="backend"/> lives: its address, and the path (a directory, a file, a connection string) and schema a child process opens it by; dropped with the fixture.</summary>
    public async Task<(string Address, string Path, string? Schema)> NewLocationAsync(string backend)
    {
        var name = "s" + Guid.NewGuid().ToString("N")[..12];
        switch (backend)
        {
            case "memory":
                return ("memory:", string.Empty, null);
            case "json":
                var directory = Path.Combine(_root, name);
                return ("json:" + directory, directory, null);
            case "sqlite":
                var file = Path.Combine(_root, name + ".db");
                return ("sqlite:" + file, file, null);
            default:
                _server ??= await PostgresTestServer.GetAsync();
                var schema = PostgresTestServer.NewSchemaName("transfer");
                lock (_schemas)
                {
                    _schemas.Add(schema);
                }

                return ("postgres:" + _server.ConnectionString + ";Schema=" + schema, _server.ConnectionString, schema);
        }
    }

    /// <summary>Opens a store by address; it is disposed with the fixture.</summary>
    public async Task<Store> OpenAddressAsync(string address, Action<StorageOptions>? configure = null)
    {
        var store = await StoreFactory.OpenAsync(address, configure);
        lock (_stores)
        {
            _stores.Add(store);
        }

        return store;
    }

    public Task InitializeAsync() => Task.CompletedTask;

    public async Task DisposeAsync()
    {
        foreach (var store in _stores)
        {
            await store.DisposeAsync();
        }

        if (_server is not null && Environment.GetEnvironmentVariable(PostgresTestServer.EnvironmentVariable) is not null)
        {
            foreach (var schema in _schemas)
            {
                await _server.DropSchemaAsync(schema);
            }
        }

        Directory.Delete(_root, recursive: true);
    }
}
