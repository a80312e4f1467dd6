using System.Globalization;
using Npgsql;
using Storage.Postgres.Internal;

namespace Storage.Postgres.Tests;

/// <summary>
/// The PostgreSQL bulk import against concurrent writers and other instances: partition locks taken in
/// order (no deadlock, no lost update), uniqueness decided by the database, failures that commit
/// exactly the partitions before the failing one, and lost answers to COMMIT resolved from the log.
/// </summary>
public sealed class ImportTests
{
    private const string Docs = "docs";

    private static IndexDefinition Email => new("users", "email", "email", IndexValueType.String, unique: true, IndexScope.Global);

    [Fact]
    public async Task Writers_on_the_imported_partitions_during_an_import_lose_no_update_and_never_deadlock()
    {
        await using var schema = await TestSchema.CreateAsync("impwriters");
        var logs = new ListLoggerFactory();
        var importer = await schema.OpenAsync(o => (o.ImportChunkDocuments, o.LoggerFactory) = (60, logs));
        var writer = await schema.OpenAsync(o => o.LoggerFactory = logs);
        const int Partitions = 40;
        var increments = new int[Partitions];
        var puts = new int[Partitions];
        using var done = new CancellationTokenSource();

        var writers = Enumerable.Range(0, 4).Select(w => Task.Run(async () =>
        {
            var random = new Random(w);
            for (var i = 0; !done.IsCancellationRequested || i < 20; i++)
            {
                var p = random.Next(Partitions);
                if (i % 2 == 0)
                {
                    await writer.IncrementSequenceAsync(Part(p), "n");
                    Interlocked.Increment(ref increments[p]);
                }
                else
                {
                    await writer.PutAsync(Part(p), Docs, $"w{w}-{i}", "1", WriteCondition.MustNotExist);
                    Interlocked.Increment(ref puts[p]);
                }
            }
        })).ToList();

        var result = await importer.ImportAsync(Stream(Enumerable.Range(0, Partitions).Select(p => Partition(p, 20))));
        await done.CancelAsync();
        await Task.WhenAll(writers);

        Assert.Equal(new ImportResult(Partitions, Partitions * 20), result);
        for (var p = 0; p < Partitions; p++)
        {
            // Every commit took exactly one revision: the import's, each increment's and each put's.
            Assert.Equal(1 + increments[p] + puts[p], await RevisionAsync(writer, Part(p)));
            Assert.Equal(increments[p], await writer.GetSequenceAsync(Part(p), "n"));
            var documents = await AllAsync(writer, Part(p));
            Assert.Equal(20 + puts[p], documents.Count);
            var imported = documents.Where(d => d.Key.StartsWith('k')).ToList();
            Assert.Single(imported.Select(d => d.Version).Distinct());
            Assert.Equal(documents.Count - imported.Count + 1, documents.Select(d => d.Version).Distinct().Count());
        }

        Assert.DoesNotContain(logs.Entries, e => e.Message.Contains(PostgresErrorCodes.DeadlockDetected, StringComparison.Ordinal));
    }

    [Fact]
    public async Task Two_instances_import_interleaved_disjoint_partitions_at_once()
    {
        await using var schema = await TestSchema.CreateAsync("imptwo");
        var logs = new ListLoggerFactory();
        var first = await schema.OpenAsync(o => (o.ImportChunkDocuments, o.LoggerFactory) = (30, logs));
        var second = await schema.OpenAsync(o => (o.ImportChunkDocuments, o.LoggerFactory) = (30, logs));

        var results = await Task.WhenAll(
            Task.Run(() => first.ImportAsync(Stream(Enumerable.Range(0, 100).Select(i => Partition(2 * i, 7)))).AsTask()),
            Task.Run(() => second.ImportAsync(Stream(Enumerable.Range(0, 100).Select(i => Partition((2 * i) + 1, 7)))).AsTask()));

        Assert.All(results, r => Assert.Equal(new ImportResult(100, 700), r));
        var partitions = await ListPartitionsAsync(first);
        Assert.Equal(Enumerable.Range(0, 200).Select(Part), partitions.Select(p => p.Partition));
        Assert.All(partitions, p => Assert.Equal(1, p.Revision));
        Assert.Equal(1400L, (await schema.QueryAsync($"SELECT count(*) FROM \"{schema.Name}\".documents"))[0]);
        Assert.DoesNotContain(logs.Entries, e => e.Message.Contains(PostgresErrorCodes.DeadlockDetected, StringComparison.Ordinal));
    }

    [Fact]
    public async Task An_import_and_a_writer_racing_for_a_unique_value_leave_exactly_one_holder()
    {
        await using var schema = await TestSchema.CreateAsync("imprace");
        var importer = await schema.OpenAsync(o => o.Indexes = [Email]);
        var writer = await schema.OpenAsync(o => o.Indexes = [Email]);
        for (var round = 0; round < 20; round++)
        {
            var email = $"{{\"email\":\"r{round}@x\"}}";
            var gate = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            var import = Task.Run(async () =>
            {
                await gate.Task;
                return await TryAsync(() => importer.ImportAsync(Stream(
                [
                    new ImportedPartition($"i{round}", [.. Enumerable.Range(0, 50).Select(k => WriteOperation.Put("users", $"f{k}", $"{{\"email\":\"r{round}-{k}@x\"}}"))]),
                    new ImportedPartition($"j{round}", [WriteOperation.Put("users", "u", email)]),
                ])).AsTask());
            });
            var write = Task.Run(async () =>
            {
                await gate.Task;
                return await TryAsync(() => writer.PutAsync($"w{round}", "users", "u", email).AsTask());
            });
            gate.SetResult();
            var outcomes = await Task.WhenAll(import, write);

            var lost = Assert.Single(outcomes, o => o is not null)!;
            Assert.Equal(IndexValue.Of($"r{round}@x"), lost.Value);
            var holders = (await writer.QueryAsync(new IndexQuery("users", "email") { Equal = $"r{round}@x" })).Items;
            Assert.Equal(lost.Partition == $"j{round}" ? $"w{round}" : $"j{round}", Assert.Single(holders).Document.Partition);

            // The import's first partition, before the failing one, is there either way.
            Assert.Equal(50, await writer.CountAsync(new IndexQuery("users", "email") { Prefix = $"r{round}-" }));
        }

        static async Task<UniqueConstraintException?> TryAsync(Func<Task> call)
        {
            try
            {
                await call();
                return null;
            }
            catch (UniqueConstraintException e)
            {
                return e;
            }
        }
    }

    [Fact]
    public async Task A_chunk_failing_mid_way_commits_exactly_the_partitions_before_it_and_leaves_no_placeholder()
    {
        await using var schema = await TestSchema.CreateAsync("impfail");
        var store = await schema.OpenAsync(o => o.ImportChunkDocuments = 1000);
        await store.PutAsync(Part(17), Docs, "k02", "0");
        var commits = store.GroupCommits;

        var e = await Assert.ThrowsAsync<VersionConflictException>(() => store.ImportAsync(Stream(Enumerable.Range(0, 30).Select(p => Partition(p, 5)))).AsTask());

        Assert.Equal((Part(17), "k02", 2, 1L), (e.Partition, e.Key, e.OperationIndex, e.ActualVersion));
        var partitions = await ListPartitionsAsync(store);
        Assert.Equal(Enumerable.Range(0, 18).Select(Part), partitions.Select(p => p.Partition));
        for (var p = 0; p < 17; p++)
        {
            Assert.Equal(5, (await AllAsync(store, Part(p))).Count);
        }

        Assert.Equal(["k02"], (await AllAsync(store, Part(17))).Select(d => d.Key));
        Assert.Equal(commits, store.GroupCommits);

        // The placeholder rows that locked partitions 18 to 29 went with the rolled-back attempt; nothing holds a lock.
        Assert.Equal(18L, (await schema.QueryAsync($"SELECT count(*) FROM \"{schema.Name}\".partitions"))[0]);
        Assert.Equal(0L, (await schema.QueryAsync("SELECT count(*) FROM pg_locks l JOIN pg_class c ON c.oid = l.relation JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = $1", schema.Name))[0]);
        Assert.Equal(1, await store.PutAsync(Part(29), Docs, "k00", "1", WriteCondition.MustNotExist));
    }

    [Fact]
    public async Task A_lost_answer_to_an_import_commit_is_resolved_from_the_log_not_applied_again()
    {
        await using var schema = await TestSchema.CreateAsync("implost");
        var logs = new ListLoggerFactory();
        var store = await schema.OpenAsync(o => (o.ImportChunkDocuments, o.LoggerFactory) = (10, logs));
        var faults = 0;
        store.FaultInjector = (stage, _) => stage == CommitStage.AfterCommit && Interlocked.Increment(ref faults) % 2 == 1
            ? throw new NpgsqlException("simulated: the connection broke before the answer to COMMIT arrived", new IOException("connection reset"))
            : ValueTask.CompletedTask;

        // Applied a second time, every put would conflict with itself (must not exist).
        var result = await store.ImportAsync(Stream(Enumerable.Range(0, 6).Select(p => Partition(p, 5))));

        Assert.Equal(new ImportResult(6, 30), result);
        Assert.Equal(3, faults);
        var partitions = await ListPartitionsAsync(store);
        Assert.Equal(Enumerable.Range(0, 6).Select(Part), partitions.Select(p => p.Partition));
        Assert.All(partitions, p => Assert.Equal(1, p.Revision));
        Assert.Contains(logs.Entries, e => e.Message.Contains("it had committed", StringComparison.Ordinal));
    }

    private static string Part(int p) => "p" + p.ToString("D4", CultureInfo.InvariantCulture);

    private static ImportedPartition Partition(int p, int documents)
        => new(Part(p), [.. Enumerable.Range(0, documents).Select(k => WriteOperation.Put(Docs, "k" + k.ToString("D2", CultureInfo.InvariantCulture), $"{{\"p\":{p}}}"))]);

    private static async IAsyncEnumerable<ImportedPartition> Stream(IEnumerable<ImportedPartition> partitions)
    {
        foreach (var partition in partitions)
        {
            await Task.Yield();
            yield return partition;
        }
    }

    private static async Task<List<PartitionInfo>> ListPartitionsAsync(IStore store)
        => [.. (await store.ListPartitionsAsync(new PartitionListOptions { Limit = 1000 })).Items];

    private static async Task<long?> RevisionAsync(IStore store, string partition)
        => (await ListPartitionsAsync(store)).SingleOrDefault(p => p.Partition == partition)?.Revision;

    private static async Task<List<StoredDocument>> AllAsync(IStore store, string partition)
        => [.. (await store.ListAsync(partition, Docs, new ListOptions { Limit = 1000 })).Items];
}
