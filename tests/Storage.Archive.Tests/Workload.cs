using Microsoft.Extensions.Time.Testing;
using Storage.Conformance;
using Storage.Conformance.Reference;
using Storage.Memory;

namespace Storage.Archive.Tests;

/// <summary>
/// The seeded random workload of the conformance suite (<see cref="DifferentialRun"/>, as ExportTests runs it)
/// on an in-memory store, run once for the assembly, and its archive: documents expired and live,
/// tombstones, sequences, streams, raised oldest resumable revisions and a revision floor.
/// </summary>
internal static class Workload
{
    private const int Seed = 20_005;
    private const int Operations = 1_500;

    private static readonly Lazy<Task<(MemoryStore Store, byte[] Archive)>> s_run = new(RunAsync);

    public static Task<(MemoryStore Store, byte[] Archive)> GetAsync() => s_run.Value;

    /// <summary>An empty in-memory store with the workload's index declarations: a restore's destination.</summary>
    public static MemoryStore CreateDestination() => MemoryStore.Create(new MemoryStoreOptions
    {
        TimeProvider = new FakeTimeProvider(TestData.Start),
        TombstoneRetention = DifferentialRun.TombstoneRetention,
        Indexes = DifferentialRun.Indexes,
    });

    public static async Task<List<T>> ToListAsync<T>(IAsyncEnumerable<T> items)
    {
        var list = new List<T>();
        await foreach (var item in items)
        {
            list.Add(item);
        }

        return list;
    }

    private static async Task<(MemoryStore Store, byte[] Archive)> RunAsync()
    {
        var time = new FakeTimeProvider(TestData.Start);
        var store = MemoryStore.Create(new MemoryStoreOptions
        {
            TimeProvider = time,
            TombstoneRetention = DifferentialRun.TombstoneRetention,
            Indexes = DifferentialRun.Indexes,
        });
        var model = new ReferenceStore(time, DifferentialRun.TombstoneRetention, DifferentialRun.Indexes);
        var run = new DifferentialRun(Seed, store, model, time);
        for (var i = 0; i < Operations; i++)
        {
            await run.StepAsync();
        }

        using var archive = new MemoryStream();
        await StoreArchive.WriteAsync(store, archive);
        return (store, archive.ToArray());
    }
}
