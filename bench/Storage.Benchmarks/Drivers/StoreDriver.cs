using Storage.Benchmarks.Harness;
using Storage.Benchmarks.Scenarios;

namespace Storage.Benchmarks.Drivers;

/// <summary>Every scenario through the <see cref="IStore"/> contract: the same code for every backend.</summary>
internal sealed class StoreDriver(IStore store) : IDriver
{
    public string Name => "Storage";

    /// <summary>The store driven.</summary>
    public IStore Store => store;

    public bool SupportsReads => true;

    public async ValueTask SeedAsync(string partition, IReadOnlyList<Doc> docs)
    {
        foreach (var batch in Batches(docs))
        {
            await PutBatchAsync(partition, batch);
        }
    }

    public async ValueTask SeedIndexedAsync(string partition, IReadOnlyList<IndexedDoc> docs)
        => await store.CommitAsync(partition, [.. docs.Select(doc => WriteOperation.Put(Data.IndexedCollection, doc.Key, doc.Value))]);

    public async ValueTask<bool> FindByEmailAsync(string email)
    {
        var page = await store.QueryAsync(new IndexQuery(Data.IndexedCollection, Data.EmailIndex.Name) { Equal = email, Limit = 1 });
        return page.Items is [{ Document.Value.Length: > 0 }];
    }

    public async ValueTask<bool> GetAsync(string partition, string key)
        => await store.GetAsync(partition, Data.Collection, key) is { } document && document.Value.Length > 0;

    public async ValueTask<long> GetVersionAsync(string partition, string key)
        => await store.GetAsync(partition, Data.Collection, key) is { } document ? document.Version : 0;

    public async ValueTask<int> ListAsync(string partition, string prefix, int limit)
        => (await store.ListAsync(partition, Data.Collection, new ListOptions { Prefix = prefix, Limit = limit })).Items.Count;

    public async ValueTask<PutOutcome> PutAsync(string partition, string key, byte[] value, long expectedVersion)
    {
        try
        {
            return new(true, await store.PutAsync(partition, Data.Collection, key, value, WriteCondition.MustMatchVersion(expectedVersion)));
        }
        catch (VersionConflictException conflict)
        {
            return new(false, conflict.ActualVersion ?? 0);
        }
    }

    public async ValueTask PutBatchAsync(string partition, IReadOnlyList<Doc> docs)
    {
        var operations = new WriteOperation[docs.Count];
        for (var i = 0; i < docs.Count; i++)
        {
            operations[i] = WriteOperation.Put(Data.Collection, docs[i].Key, docs[i].Value);
        }

        await store.CommitAsync(partition, operations);
    }

    public async ValueTask<bool> AppendAsync(string partition, string stream, byte[] data, long expectedVersion)
    {
        var expected = expectedVersion == 0 ? ExpectedStreamVersion.NoStream : ExpectedStreamVersion.Exactly(expectedVersion);
        try
        {
            await store.CommitAsync(partition, [WriteOperation.Append(stream, [EventData.Create(Data.EventType, data, id: Guid.CreateVersion7())], expected)]);
            return true;
        }
        catch (VersionConflictException)
        {
            return false;
        }
    }

    /// <summary>
    /// Through <see cref="IBulkImport"/> when the store offers it (every backend here does: one streamed
    /// import of the partitions, generated as they are read); otherwise <see cref="IStore.CommitAsync"/>
    /// batches (at most <see cref="StoreLimits.MaxBatchOperations"/> operations and
    /// <see cref="StoreLimits.MaxBatchBytes"/>), partition by partition, from several concurrent callers
    /// so that group commit can share transactions and syncs between them.
    /// </summary>
    /// <summary>Exports every partition (<see cref="IStoreExport.ExportAsync"/>) and computes the store digest over them.</summary>
    /// <returns>How many documents were exported.</returns>
    public async ValueTask<long> ExportAsync()
    {
        long documents = 0;
        using var digest = new StoreDigest();
        await foreach (var partition in ((IStoreExport)store).ExportAsync())
        {
            digest.Add(partition);
            documents += partition.Documents.Count;
        }

        digest.Finish();
        return documents;
    }

    /// <summary>Writes the whole store into a portable archive file (<see cref="StoreArchive.WriteAsync"/>).</summary>
    /// <returns>How many documents were archived, the partitions' encodings' length and the archive's (compressed) length in bytes.</returns>
    public async ValueTask<(long Documents, long EncodedBytes, long Bytes)> ArchiveAsync(string path)
    {
        await using var file = new FileStream(path, FileMode.Create, FileAccess.Write, FileShare.None, 81_920, FileOptions.Asynchronous);
        var written = await StoreArchive.WriteAsync((IStoreExport)store, file);
        return (written.Documents, written.EncodedBytes, written.ArchiveBytes);
    }

    /// <summary>Restores a portable archive file into this store (<see cref="StoreArchive.RestoreAsync"/>: a verifying pass, then the restore).</summary>
    /// <returns>How many documents were restored.</returns>
    public async ValueTask<long> RestoreArchiveAsync(string path)
    {
        await using var file = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 81_920, FileOptions.Asynchronous);
        return (await StoreArchive.RestoreAsync(file, (IStoreRestore)store)).Documents;
    }

    /// <summary>Restores another store's whole export into this one (<see cref="IStoreRestore.RestoreAsync"/>): the upgrade path's move.</summary>
    /// <param name="source">The store to copy.</param>
    /// <returns>How many documents were restored.</returns>
    public async ValueTask<long> RestoreFromAsync(StoreDriver source)
    {
        var export = (IStoreExport)source.Store;
        var result = await ((IStoreRestore)store).RestoreAsync(await export.GetExportInfoAsync(), export.ExportAsync());
        return result.Documents;
    }

    public async ValueTask<long> BulkLoadAsync(IEnumerable<PartitionDocs> source, int writers)
    {
        if (store is IBulkImport import)
        {
            return (await import.ImportAsync(Imported(source))).Documents;
        }

        using var partitions = new Callers.SharedEnumerator<PartitionDocs>(source);
        var written = await Callers.RunAsync(writers, async _ =>
        {
            long done = 0;
            while (partitions.TryTake(out var partition))
            {
                foreach (var batch in Batches(partition.Docs))
                {
                    await PutBatchAsync(partition.Partition, batch);
                    done += batch.Count;
                }
            }

            return done;
        });
        return written.Sum();
    }

    public ValueTask DisposeAsync() => store.DisposeAsync();

    private static async IAsyncEnumerable<ImportedPartition> Imported(IEnumerable<PartitionDocs> source)
    {
        foreach (var partition in source)
        {
            var puts = new WriteOperation[partition.Docs.Count];
            for (var i = 0; i < puts.Length; i++)
            {
                puts[i] = WriteOperation.Put(Data.Collection, partition.Docs[i].Key, partition.Docs[i].Value);
            }

            yield return new ImportedPartition(partition.Partition, puts);
        }

        await Task.CompletedTask;
    }

    private static IEnumerable<IReadOnlyList<Doc>> Batches(IReadOnlyList<Doc> docs)
    {
        var batch = new List<Doc>();
        long bytes = 0;
        foreach (var doc in docs)
        {
            if (batch.Count == StoreLimits.MaxBatchOperations || bytes + doc.Value.Length > StoreLimits.MaxBatchBytes)
            {
                yield return batch;
                batch = [];
                bytes = 0;
            }

            batch.Add(doc);
            bytes += doc.Value.Length;
        }

        if (batch.Count > 0)
        {
            yield return batch;
        }
    }
}
