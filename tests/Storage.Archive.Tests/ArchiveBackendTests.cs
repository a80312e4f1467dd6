using Microsoft.Extensions.Time.Testing;
using Storage.Conformance;
using Storage.Json;
using Storage.Sqlite;
using static Storage.Archive.Tests.Workload;

namespace Storage.Archive.Tests;

/// <summary>The archive is the same for every backend: the workload's archive restored into a JSON and a SQLite store, and written again from them, byte for byte the same partitions.</summary>
public sealed class ArchiveBackendTests : IDisposable
{
    private readonly string _directory = Directory.CreateTempSubdirectory("storage-archive-").FullName;

    public static TheoryData<string> Backends => ["json", "sqlite"];

    [Theory]
    [MemberData(nameof(Backends))]
    public async Task An_archive_restores_into_another_backend_and_is_written_again_the_same(string backend)
    {
        var (source, bytes) = await GetAsync();
        var time = new FakeTimeProvider(TestData.Start);
        await using Store destination = backend == "json"
            ? JsonStore.Open(new JsonStoreOptions { Directory = Path.Combine(_directory, "json"), TimeProvider = time, TombstoneRetention = DifferentialRun.TombstoneRetention, Indexes = DifferentialRun.Indexes })
            : SqliteStore.Open(new SqliteStoreOptions { Path = Path.Combine(_directory, "storage.db"), TimeProvider = time, TombstoneRetention = DifferentialRun.TombstoneRetention, Indexes = DifferentialRun.Indexes });

        var restored = await StoreArchive.RestoreAsync(new MemoryStream(bytes), destination);
        var rerun = await StoreArchive.RestoreAsync(new MemoryStream(bytes), destination);

        var partitions = (await ToListAsync(source.ExportAsync())).Count;
        Assert.Equal((partitions, 0L), (restored.Created, restored.Unchanged));
        Assert.Equal((0L, partitions), (rerun.Created, rerun.Unchanged));
        Assert.Empty(await ToListAsync(ExportComparison.CompareAsync(source.ExportAsync(), destination.ExportAsync())));
        Assert.Equal((await source.GetExportInfoAsync()).RevisionFloor, (await destination.GetExportInfoAsync()).RevisionFloor);

        using var again = new MemoryStream();
        var written = await StoreArchive.WriteAsync(destination, again);
        var original = ArchivePayload.Parse(bytes);
        var copy = ArchivePayload.Parse(again.ToArray());
        Assert.Equal(await StoreDigest.ComputeAsync(source.ExportAsync()), written.StoreDigest.ToArray());
        Assert.Equal(original.Entries.Count, copy.Entries.Count);
        for (var i = 0; i < original.Entries.Count; i++)
        {
            Assert.Equal(original.Bytes[original.Entries[i].Whole], copy.Bytes[copy.Entries[i].Whole]);
        }
    }

    public void Dispose() => Directory.Delete(_directory, recursive: true);
}
