using Storage.Engine;

namespace Storage.Postgres.Tests;

/// <summary>
/// The engine's index synchronization plan, which PostgreSQL's open carries out (and SQLite's will):
/// what is kept, built (new or changed), dropped, and the generation the store opens with.
/// </summary>
public sealed class IndexSynchronizationTests
{
    private static IndexDefinition Email => new("users", "email", "email", IndexValueType.String, unique: true, IndexScope.Global);

    private static IndexDefinition Age => new("users", "age", "age", IndexValueType.Int64);

    private static StoredIndex Stored(long id, IndexDefinition index) => new(id, index.Collection, index.Name, IndexCatalog.Signature(index));

    [Fact]
    public void Declarations_stored_with_the_same_signature_are_kept_with_their_ids_and_change_nothing()
    {
        var catalog = new IndexCatalog([Email, Age]);

        var plan = IndexSynchronization.Plan(catalog, [Stored(7, Age), Stored(3, Email)], generation: 4);

        Assert.False(plan.HasChanges);
        Assert.Empty(plan.Builds);
        Assert.Empty(plan.Removals);
        Assert.Equal(4, plan.Generation);
        Assert.Equal(3, plan.Kept[catalog.All[0]]);
        Assert.Equal(7, plan.Kept[catalog.All[1]]);
    }

    [Fact]
    public void A_new_declaration_is_built_a_changed_one_replaces_its_stored_one_and_one_no_longer_declared_is_dropped()
    {
        var changedAge = new IndexDefinition("users", "age", "years", IndexValueType.Int64);
        var gone = new IndexDefinition("orders", "total", "total", IndexValueType.Int64);
        var catalog = new IndexCatalog([changedAge, Email]);

        var plan = IndexSynchronization.Plan(catalog, [Stored(1, gone), Stored(2, Age)], generation: 9);

        Assert.True(plan.HasChanges);
        Assert.Empty(plan.Kept);
        Assert.Collection(
            plan.Builds,
            b =>
            {
                Assert.Same(catalog.All[0], b.Index);
                Assert.Equal("changed", b.Reason);
                Assert.Equal(2, b.Replaces!.Value.Id);
            },
            b =>
            {
                Assert.Same(catalog.All[1], b.Index);
                Assert.Equal("new", b.Reason);
                Assert.Null(b.Replaces);
            });
        Assert.Equal([1L], plan.Drops.Select(d => d.Id));
        Assert.Equal([1L, 2L], plan.Removals.Select(d => d.Id));
        Assert.Equal(10, plan.Generation);
    }

    [Fact]
    public void Dropping_every_declaration_raises_the_generation()
    {
        var plan = IndexSynchronization.Plan(IndexCatalog.Empty, [Stored(5, Email)], generation: 0);

        Assert.Equal([5L], plan.Drops.Select(d => d.Id));
        Assert.Empty(plan.Builds);
        Assert.Equal(1, plan.Generation);
    }
}
