using Storage.Json.Tests.Infrastructure;

namespace Storage.Json.Tests;

/// <summary>
/// The JSON backend's export reads a partition that is not in its cache from its file without caching
/// it, so exporting a whole store holds one partition at a time; a damaged file is refused, naming it.
/// </summary>
public sealed class ExportReadTests
{
    [Fact]
    public async Task Exporting_a_reopened_store_reads_each_file_without_caching_it()
    {
        using var temp = new TempDirectory();
        var options = new JsonStoreOptions { Directory = temp.Path };
        string[] partitions = ["alice", "bob", "long/" + new string('h', 220)];
        await using (var writer = JsonStore.Open(options))
        {
            foreach (var partition in partitions)
            {
                await writer.PutAsync(partition, "notes", "k", """{"n":1}""");
                await writer.AppendAsync(partition, "audit", [EventData.Create("created", "{}")]);
            }
        }

        await using var store = JsonStore.Open(options);
        var exported = new List<PartitionExport>();
        await foreach (var partition in store.ExportAsync())
        {
            exported.Add(partition);
        }

        Assert.Equal(partitions.Order(StorageKeyComparer.Instance), exported.Select(p => p.Partition));
        Assert.All(exported, p => Assert.Single(Assert.Single(p.Streams).Events));
        Assert.All(partitions, p => Assert.Null(store.CachedSnapshot(p)));

        // A read caches the partition (what the export must not do), and the export then uses that state.
        await store.GetAsync("alice", "notes", "k");
        Assert.NotNull(store.CachedSnapshot("alice"));
        Assert.Equal(ExportDigest.Compute(exported[0]), ExportDigest.Compute((await store.ExportPartitionAsync("alice"))!));
    }

    [Fact]
    public async Task Exporting_a_damaged_partition_file_is_refused_naming_the_file()
    {
        using var temp = new TempDirectory();
        var options = new JsonStoreOptions { Directory = temp.Path };
        await using (var writer = JsonStore.Open(options))
        {
            await writer.PutAsync("alice", "notes", "k", """{"n":1}""");
        }

        var path = Path.Combine(temp.Path, "partitions", PartitionFileNames.Encode("alice"));
        var bytes = await File.ReadAllBytesAsync(path);
        await File.WriteAllBytesAsync(path, bytes[..(bytes.Length / 2)]);

        await using var store = JsonStore.Open(options);
        var error = await Assert.ThrowsAsync<CorruptDataException>(() => store.ExportPartitionAsync("alice").AsTask());
        Assert.Contains(PartitionFileNames.Encode("alice"), error.Message, StringComparison.Ordinal);
        Assert.Null(store.CachedSnapshot("alice"));
    }
}
