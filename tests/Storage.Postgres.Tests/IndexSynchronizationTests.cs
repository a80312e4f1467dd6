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

    [Fact]
    public void The_stored_catalog_adopts_every_stored_declaration_from_its_signature_keeping_its_id_and_changes_nothing()
    {
        var piped = new IndexDefinition("users", "odd", "a|b.c|d", IndexValueType.String, unique: true, IndexScope.Partition);

        var plan = IndexSynchronization.Plan(IndexCatalog.Stored, [Stored(7, Age), Stored(3, Email), Stored(5, piped)], generation: 4);

        Assert.False(plan.HasChanges);
        Assert.Equal(4, plan.Generation);
        Assert.Equal([Age, Email, piped], plan.Catalog.All);
        Assert.Equal([7L, 3L, 5L], plan.Catalog.All.Select(i => plan.Kept[i]));
        Assert.Same(plan.Catalog.All[2], plan.Catalog.Get("users", "odd"));
    }

    [Fact]
    public void A_signature_gives_back_its_declaration_and_a_text_that_is_not_one_is_refused()
    {
        var declarations = new[]
        {
            Email, Age,
            new IndexDefinition("c", "n", "x.y", IndexValueType.Int64, unique: true, IndexScope.Global),
            new IndexDefinition("c", "n", "|.||", IndexValueType.String),
        };
        foreach (var index in declarations)
        {
            Assert.Equal(index, IndexCatalog.FromSignature(IndexCatalog.Signature(index)));
        }

        foreach (var text in new[] { "", "v1", "v2|users|email|email|String|unique|Global", "v1|users|email|email|String|unique", "v1|users|email|email|Text|unique|Global", "v1|users|email|email|String|maybe|Global", "v1|users|em ail|email|String|unique|Global" })
        {
            Assert.Throws<FormatException>(() => IndexCatalog.FromSignature(text));
        }
    }
}
