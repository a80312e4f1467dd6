using Storage.Internal;
using static Storage.Conformance.StoreAssert;
using static Storage.Conformance.TestData;

namespace Storage.Conformance;

/// <summary>Batches commit all or nothing, report one outcome per operation, and are checked against their limits.</summary>
/// <typeparam name="TFixture">The backend's fixture.</typeparam>
public abstract class BatchTests<TFixture>(TFixture fixture) : StoreTestBase<TFixture>(fixture)
    where TFixture : StoreFixture
{
    [Fact]
    public async Task Batch_applies_every_operation_and_reports_each_outcome()
    {
        var store = await CreateStoreAsync();
        await store.PutAsync("p", Collection, "a", "1");
        await store.PutAsync("p", Collection, "b", "1");

        var result = await store.CommitAsync("p",
        [
            WriteOperation.Put(Collection, "a", "2", WriteCondition.MustMatchVersion(1)),
            WriteOperation.Delete(Collection, "b", WriteCondition.MustMatchVersion(2)),
            WriteOperation.Put(Collection, "c", "2", WriteCondition.MustNotExist),
            WriteOperation.Delete(Collection, "d"),
            WriteOperation.Put(OtherCollection, "a", "2"),
        ]);

        Assert.Equal(3, result.Revision);
        Assert.True(result.Changed);
        Assert.Equal([new(true, 3), new(true, null), new(false, 3), new(false, null), new(false, 3)], result.Outcomes);
        Assert.Equal(["a", "c"], await ListKeysAsync(store, "p", Collection));
        Assert.Equal(["a"], await ListKeysAsync(store, "p", OtherCollection));
    }

    [Fact]
    public async Task Batch_whose_third_operation_fails_its_condition_writes_nothing()
    {
        var store = await CreateStoreAsync();
        await store.PutAsync("p", Collection, "a", "1");
        await store.PutAsync("p", Collection, "b", "1");
        await store.PutAsync("p", Collection, "c", "1");
        var before = await ListAllAsync(store, "p", Collection);

        await ConflictAsync(
            async () => await store.CommitAsync("p",
            [
                WriteOperation.Put(Collection, "a", "2", WriteCondition.MustMatchVersion(1)),
                WriteOperation.Delete(Collection, "b"),
                WriteOperation.Put(Collection, "c", "2", WriteCondition.MustMatchVersion(1)),
                WriteOperation.Put(Collection, "d", "2"),
                WriteOperation.Put(OtherCollection, "e", "2"),
            ]),
            "p",
            Collection,
            "c",
            WriteCondition.MustMatchVersion(1),
            actualVersion: 3,
            operationIndex: 2);

        foreach (var document in before)
        {
            await UnchangedAsync(store, document);
        }

        Assert.Null(await store.GetAsync("p", Collection, "d"));
        Assert.Null(await store.GetAsync("p", OtherCollection, "e"));
        Assert.Equal(["a", "b", "c"], await ListKeysAsync(store, "p", Collection));
        Assert.Empty(await ListAllAsync(store, "p", OtherCollection));
        Assert.Equal(3, await RevisionAsync(store, "p"));
        Assert.Equal(4, await store.PutAsync("p", Collection, "z", "1"));
    }

    [Fact]
    public async Task Failing_batch_in_a_new_partition_creates_nothing()
    {
        var store = await CreateStoreAsync();

        await ConflictAsync(
            async () => await store.CommitAsync("p", [WriteOperation.Put(Collection, "a", "1"), WriteOperation.Put(Collection, "b", "1", WriteCondition.MustMatchVersion(1))]),
            "p",
            Collection,
            "b",
            WriteCondition.MustMatchVersion(1),
            actualVersion: null,
            operationIndex: 1);

        await EmptyAsync(store);
        Assert.Null(await store.GetAsync("p", Collection, "a"));
    }

    [Fact]
    public async Task Batch_with_several_failing_conditions_reports_the_first()
    {
        var store = await CreateStoreAsync();
        await store.PutAsync("p", Collection, "a", "1");
        await store.PutAsync("p", Collection, "b", "1");

        await ConflictAsync(
            async () => await store.CommitAsync("p",
            [
                WriteOperation.Put(Collection, "x", "2"),
                WriteOperation.Put(Collection, "b", "2", WriteCondition.MustNotExist),
                WriteOperation.Put(Collection, "a", "2", WriteCondition.MustNotExist),
            ]),
            "p",
            Collection,
            "b",
            WriteCondition.MustNotExist,
            actualVersion: 2,
            operationIndex: 1);

        Assert.Equal(2, await RevisionAsync(store, "p"));
    }

    [Fact]
    public async Task Empty_batch_is_rejected()
    {
        var store = await CreateStoreAsync();

        var e = await ThrowsArgumentAsync(async () => await store.CommitAsync("p", []));

        Assert.StartsWith(ErrorMessages.EmptyBatch, e.Message, StringComparison.Ordinal);
        await EmptyAsync(store);
    }

    [Fact]
    public async Task Batch_holding_a_null_operation_is_rejected()
    {
        var store = await CreateStoreAsync();

        var e = await ThrowsArgumentAsync(async () => await store.CommitAsync("p", [WriteOperation.Put(Collection, "a", "1"), null!]));

        Assert.StartsWith(ErrorMessages.NullOperation(1), e.Message, StringComparison.Ordinal);
        await EmptyAsync(store);
    }

    [Fact]
    public async Task Batch_of_exactly_MaxBatchOperations_is_accepted()
    {
        var store = await CreateStoreAsync();
        var operations = Enumerable.Range(0, StoreLimits.MaxBatchOperations).Select(i => WriteOperation.Put(Collection, $"k{i:D4}", $"{i}")).ToList();

        var result = await store.CommitAsync("p", operations);

        Assert.Equal(1, result.Revision);
        Assert.Equal(StoreLimits.MaxBatchOperations, result.Outcomes.Count);
        Assert.All(result.Outcomes, o => Assert.Equal(new(false, 1), o));
        var listed = await ListAllAsync(store, "p", Collection, new ListOptions { Limit = StoreLimits.MaxPageSize });
        Assert.Equal(operations.Select(o => o.Key), listed.Select(d => d.Key));
        Assert.Equal(operations.Select(o => o.Value.ToArray()), listed.Select(d => d.Value.ToArray()));
    }

    [Fact]
    public async Task Batch_one_past_MaxBatchOperations_is_rejected()
    {
        var store = await CreateStoreAsync();
        var operations = Enumerable.Range(0, StoreLimits.MaxBatchOperations + 1).Select(i => WriteOperation.Put(Collection, $"k{i:D4}", "1")).ToList();

        var e = await ThrowsArgumentAsync(async () => await store.CommitAsync("p", operations));

        Assert.StartsWith(ErrorMessages.BatchTooLarge(StoreLimits.MaxBatchOperations + 1), e.Message, StringComparison.Ordinal);
        await EmptyAsync(store);
    }

    [Theory]
    [InlineData(WriteOperationKind.Put, WriteOperationKind.Put)]
    [InlineData(WriteOperationKind.Put, WriteOperationKind.Delete)]
    [InlineData(WriteOperationKind.Delete, WriteOperationKind.Put)]
    [InlineData(WriteOperationKind.Delete, WriteOperationKind.Delete)]
    public async Task Batch_touching_a_document_twice_is_rejected(WriteOperationKind first, WriteOperationKind second)
    {
        var store = await CreateStoreAsync();
        await store.PutAsync("p", Collection, "k", "1");
        var before = await store.GetAsync("p", Collection, "k");

        var e = await ThrowsArgumentAsync(async () => await store.CommitAsync("p", [Operation(first, "k"), Operation(OperationKindOther(first), "j"), Operation(second, "k")]));

        Assert.StartsWith(ErrorMessages.DuplicateInBatch(Collection, "k", 0, 2), e.Message, StringComparison.Ordinal);
        await UnchangedAsync(store, before!);
        Assert.Null(await store.GetAsync("p", Collection, "j"));
        Assert.Equal(1, await RevisionAsync(store, "p"));

        static WriteOperation Operation(WriteOperationKind kind, string key)
            => kind == WriteOperationKind.Put ? WriteOperation.Put(Collection, key, "2") : WriteOperation.Delete(Collection, key);

        static WriteOperationKind OperationKindOther(WriteOperationKind kind)
            => kind == WriteOperationKind.Put ? WriteOperationKind.Delete : WriteOperationKind.Put;
    }

    [Fact]
    public async Task Batch_may_touch_one_key_in_different_collections_and_spellings()
    {
        var store = await CreateStoreAsync();

        var result = await store.CommitAsync("p",
        [
            WriteOperation.Put(Collection, "k", "1"),
            WriteOperation.Put(OtherCollection, "k", "2"),
            WriteOperation.Put(Collection, "K", "3"),
            WriteOperation.Put(Collection, "caf\u00e9", "4"),
            WriteOperation.Put(Collection, "cafe\u0301", "5"),
        ]);

        Assert.Equal(5, result.Outcomes.Count);
        Assert.Equal(["K", "cafe\u0301", "caf\u00e9", "k"], await ListKeysAsync(store, "p", Collection));
        Document(await store.GetAsync("p", OtherCollection, "k"), "p", OtherCollection, "k", "2", 1);
    }

    [Fact]
    public async Task Batch_of_exactly_MaxBatchBytes_is_accepted()
    {
        var store = await CreateStoreAsync();
        var count = StoreLimits.MaxBatchBytes / StoreLimits.MaxValueBytes;
        var value = JsonStringOfSize(StoreLimits.MaxValueBytes);
        var operations = Enumerable.Range(0, count).Select(i => WriteOperation.Put(Collection, $"k{i}", value.AsMemory())).ToList();
        Assert.Equal(StoreLimits.MaxBatchBytes, operations.Sum(o => o.Value.Length));

        var result = await store.CommitAsync("p", operations);

        Assert.Equal(1, result.Revision);
        for (var i = 0; i < count; i++)
        {
            var document = await store.GetAsync("p", Collection, $"k{i}");
            Assert.Equal(value, document!.Value.ToArray());
        }
    }

    [Fact]
    public async Task Batch_one_byte_past_MaxBatchBytes_is_rejected()
    {
        var store = await CreateStoreAsync();
        var count = StoreLimits.MaxBatchBytes / StoreLimits.MaxValueBytes;
        var value = JsonStringOfSize(StoreLimits.MaxValueBytes);
        List<WriteOperation> operations = [.. Enumerable.Range(0, count).Select(i => WriteOperation.Put(Collection, $"k{i}", value.AsMemory())), WriteOperation.Put(Collection, "one-more", "1")];

        var e = await ThrowsArgumentAsync(async () => await store.CommitAsync("p", operations));

        Assert.StartsWith(ErrorMessages.BatchTooManyBytes(StoreLimits.MaxBatchBytes + 1L), e.Message, StringComparison.Ordinal);
        await EmptyAsync(store);
    }

    [Fact]
    public async Task Commit_with_a_cancelled_token_throws_and_writes_nothing()
    {
        var store = await CreateStoreAsync();
        await store.PutAsync("p", Collection, "k", "1");
        var before = await store.GetAsync("p", Collection, "k");

        await Assert.ThrowsAnyAsync<OperationCanceledException>(async () => await store.CommitAsync("p", [WriteOperation.Put(Collection, "k", "2")], new CancellationToken(canceled: true)));
        await Assert.ThrowsAnyAsync<OperationCanceledException>(async () => await store.IncrementSequenceAsync("p", "seq", 1, new CancellationToken(canceled: true)));
        await Assert.ThrowsAnyAsync<OperationCanceledException>(async () => await store.DeletePartitionAsync("p", new CancellationToken(canceled: true)));

        await UnchangedAsync(store, before!);
        Assert.Equal(0, await store.GetSequenceAsync("p", "seq"));
        Assert.Equal(1, await RevisionAsync(store, "p"));
    }
}
