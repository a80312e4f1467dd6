using static Storage.Conformance.StoreAssert;
using static Storage.Conformance.TestData;

namespace Storage.Conformance;

/// <summary>Puts and deletes with no condition, must-not-exist and must-match-version: every success and every failure.</summary>
/// <typeparam name="TFixture">The backend's fixture.</typeparam>
public abstract class ConditionTests<TFixture>(TFixture fixture) : StoreTestBase<TFixture>(fixture)
    where TFixture : StoreFixture
{
    [Fact]
    public async Task Put_without_condition_creates_a_missing_document()
    {
        var store = await CreateStoreAsync();

        var result = await store.CommitAsync("p", [WriteOperation.Put(Collection, "k", "1")]);

        Assert.Equal([new(false, 1)], result.Outcomes);
        Document(await store.GetAsync("p", Collection, "k"), "p", Collection, "k", "1", 1);
    }

    [Fact]
    public async Task Put_without_condition_replaces_an_existing_document()
    {
        var store = await CreateStoreAsync();
        await store.PutAsync("p", Collection, "k", "1");

        var result = await store.CommitAsync("p", [WriteOperation.Put(Collection, "k", "2", WriteCondition.None)]);

        Assert.Equal([new(true, 2)], result.Outcomes);
        Document(await store.GetAsync("p", Collection, "k"), "p", Collection, "k", "2", 2);
    }

    [Fact]
    public async Task Put_that_must_not_exist_creates_a_missing_document()
    {
        var store = await CreateStoreAsync();
        await store.PutAsync("p", Collection, "other", "0");

        var result = await store.CommitAsync("p", [WriteOperation.Put(Collection, "k", "1", WriteCondition.MustNotExist)]);

        Assert.Equal([new(false, 2)], result.Outcomes);
        Document(await store.GetAsync("p", Collection, "k"), "p", Collection, "k", "1", 2);
    }

    [Fact]
    public async Task Put_that_must_not_exist_over_an_existing_document_throws_conflict_and_keeps_value()
    {
        var store = await CreateStoreAsync();
        await store.PutAsync("p", Collection, "k", "1");
        await store.PutAsync("p", Collection, "k", "2");
        var before = await store.GetAsync("p", Collection, "k");

        await ConflictAsync(async () => await store.PutAsync("p", Collection, "k", "3", WriteCondition.MustNotExist), "p", Collection, "k", WriteCondition.MustNotExist, actualVersion: 2);

        await UnchangedAsync(store, before!);
        Assert.Equal(2, await RevisionAsync(store, "p"));
    }

    [Fact]
    public async Task Put_with_current_version_replaces_the_document()
    {
        var store = await CreateStoreAsync();
        var version = await store.PutAsync("p", Collection, "k", "1");

        var result = await store.CommitAsync("p", [WriteOperation.Put(Collection, "k", "2", WriteCondition.MustMatchVersion(version))]);

        Assert.Equal([new(true, 2)], result.Outcomes);
        Document(await store.GetAsync("p", Collection, "k"), "p", Collection, "k", "2", 2);
    }

    [Fact]
    public async Task Put_with_stale_version_throws_conflict_and_keeps_value()
    {
        var store = await CreateStoreAsync();
        var stale = await store.PutAsync("p", Collection, "k", "1");
        var current = await store.PutAsync("p", Collection, "k", "2");
        var before = await store.GetAsync("p", Collection, "k");

        var e = await ConflictAsync(async () => await store.PutAsync("p", Collection, "k", "3", WriteCondition.MustMatchVersion(stale)), "p", Collection, "k", WriteCondition.MustMatchVersion(stale), current);

        Assert.Equal(stale, e.ExpectedVersion);
        await UnchangedAsync(store, before!);
        Assert.Equal(2, await RevisionAsync(store, "p"));
    }

    [Fact]
    public async Task Put_with_a_version_never_given_throws_conflict_and_keeps_value()
    {
        var store = await CreateStoreAsync();
        await store.PutAsync("p", Collection, "k", "1");
        var before = await store.GetAsync("p", Collection, "k");

        await ConflictAsync(async () => await store.PutAsync("p", Collection, "k", "2", WriteCondition.MustMatchVersion(2)), "p", Collection, "k", WriteCondition.MustMatchVersion(2), 1);
        await ConflictAsync(async () => await store.PutAsync("p", Collection, "k", "2", WriteCondition.MustMatchVersion(long.MaxValue)), "p", Collection, "k", WriteCondition.MustMatchVersion(long.MaxValue), 1);

        await UnchangedAsync(store, before!);
    }

    [Fact]
    public async Task Put_with_a_version_of_a_missing_document_throws_conflict_with_no_actual_version()
    {
        var store = await CreateStoreAsync();
        var version = await store.PutAsync("p", Collection, "other", "1");

        var e = await ConflictAsync(async () => await store.PutAsync("p", Collection, "k", "2", WriteCondition.MustMatchVersion(version)), "p", Collection, "k", WriteCondition.MustMatchVersion(version), actualVersion: null);

        Assert.Null(e.ActualVersion);
        Assert.Null(await store.GetAsync("p", Collection, "k"));
        Assert.Equal(1, await RevisionAsync(store, "p"));
    }

    [Fact]
    public async Task Put_with_a_version_in_an_empty_partition_throws_conflict_and_creates_nothing()
    {
        var store = await CreateStoreAsync();

        await ConflictAsync(async () => await store.PutAsync("p", Collection, "k", "1", WriteCondition.MustMatchVersion(1)), "p", Collection, "k", WriteCondition.MustMatchVersion(1), actualVersion: null);

        await EmptyAsync(store);
    }

    [Fact]
    public async Task Delete_without_condition_removes_the_document_and_takes_a_revision()
    {
        var store = await CreateStoreAsync();
        await store.PutAsync("p", Collection, "k", "1");

        var result = await store.CommitAsync("p", [WriteOperation.Delete(Collection, "k")]);

        Assert.Equal(2, result.Revision);
        Assert.True(result.Changed);
        Assert.Equal([new(true, null)], result.Outcomes);
        Assert.Null(await store.GetAsync("p", Collection, "k"));
        Assert.Empty(await ListAllAsync(store, "p", Collection));
    }

    [Fact]
    public async Task Delete_of_a_missing_document_returns_false_and_takes_no_revision()
    {
        var store = await CreateStoreAsync();
        await store.PutAsync("p", Collection, "k", "1");

        Assert.False(await store.DeleteAsync("p", Collection, "missing"));
        Assert.False(await store.DeleteAsync("p", OtherCollection, "k"));
        var result = await store.CommitAsync("p", [WriteOperation.Delete(Collection, "missing")]);

        Assert.False(result.Changed);
        Assert.Equal(1, result.Revision);
        Assert.Equal([new(false, null)], result.Outcomes);
        Assert.Equal(1, await RevisionAsync(store, "p"));
        Document(await store.GetAsync("p", Collection, "k"), "p", Collection, "k", "1", 1);
    }

    [Fact]
    public async Task Delete_that_must_not_exist_of_a_missing_document_succeeds_and_changes_nothing()
    {
        var store = await CreateStoreAsync();
        await store.PutAsync("p", Collection, "other", "1");

        var result = await store.CommitAsync("p", [WriteOperation.Delete(Collection, "k", WriteCondition.MustNotExist)]);

        Assert.False(result.Changed);
        Assert.Equal(1, result.Revision);
        Assert.Equal([new(false, null)], result.Outcomes);
    }

    [Fact]
    public async Task Delete_that_must_not_exist_of_an_existing_document_throws_conflict_and_keeps_it()
    {
        var store = await CreateStoreAsync();
        await store.PutAsync("p", Collection, "k", "1");
        var before = await store.GetAsync("p", Collection, "k");

        await ConflictAsync(async () => await store.DeleteAsync("p", Collection, "k", WriteCondition.MustNotExist), "p", Collection, "k", WriteCondition.MustNotExist, 1);

        await UnchangedAsync(store, before!);
    }

    [Fact]
    public async Task Delete_with_current_version_removes_the_document()
    {
        var store = await CreateStoreAsync();
        await store.PutAsync("p", Collection, "k", "1");
        var version = await store.PutAsync("p", Collection, "k", "2");

        Assert.True(await store.DeleteAsync("p", Collection, "k", WriteCondition.MustMatchVersion(version)));

        Assert.Null(await store.GetAsync("p", Collection, "k"));
        Assert.Equal(3, await RevisionAsync(store, "p"));
    }

    [Fact]
    public async Task Delete_with_stale_version_throws_conflict_and_keeps_value()
    {
        var store = await CreateStoreAsync();
        var stale = await store.PutAsync("p", Collection, "k", "1");
        var current = await store.PutAsync("p", Collection, "k", "2");
        var before = await store.GetAsync("p", Collection, "k");

        await ConflictAsync(async () => await store.DeleteAsync("p", Collection, "k", WriteCondition.MustMatchVersion(stale)), "p", Collection, "k", WriteCondition.MustMatchVersion(stale), current);

        await UnchangedAsync(store, before!);
        Assert.Equal(2, await RevisionAsync(store, "p"));
    }

    [Fact]
    public async Task Delete_with_a_version_of_a_missing_document_throws_conflict_with_no_actual_version()
    {
        var store = await CreateStoreAsync();
        var version = await store.PutAsync("p", Collection, "k", "1");
        await store.DeleteAsync("p", Collection, "k");

        await ConflictAsync(async () => await store.DeleteAsync("p", Collection, "k", WriteCondition.MustMatchVersion(version)), "p", Collection, "k", WriteCondition.MustMatchVersion(version), actualVersion: null);

        Assert.Equal(2, await RevisionAsync(store, "p"));
    }

    [Fact]
    public async Task Conditions_see_only_their_own_collection()
    {
        var store = await CreateStoreAsync();
        await store.PutAsync("p", OtherCollection, "k", "1");
        await store.PutAsync("q", Collection, "k", "1");

        var result = await store.CommitAsync("p", [WriteOperation.Put(Collection, "k", "2", WriteCondition.MustNotExist)]);

        Assert.Equal([new(false, 2)], result.Outcomes);
        await ConflictAsync(async () => await store.PutAsync("p", Collection, "k", "3", WriteCondition.MustMatchVersion(1)), "p", Collection, "k", WriteCondition.MustMatchVersion(1), 2);
    }

    [Fact]
    public void Version_condition_below_1_is_rejected()
    {
        Assert.Throws<ArgumentOutOfRangeException>(() => WriteCondition.MustMatchVersion(0));
        Assert.Throws<ArgumentOutOfRangeException>(() => WriteCondition.MustMatchVersion(-1));
        Assert.Throws<ArgumentOutOfRangeException>(() => WriteCondition.MustMatchVersion(long.MinValue));
    }

    [Fact]
    public async Task Conflict_is_a_storage_exception_that_is_not_transient()
    {
        var store = await CreateStoreAsync();
        await store.PutAsync("p", Collection, "k", "1");

        var e = await Assert.ThrowsAnyAsync<StorageException>(async () => await store.PutAsync("p", Collection, "k", "2", WriteCondition.MustNotExist));

        Assert.IsType<VersionConflictException>(e);
        Assert.False(e.IsTransient);
    }
}
