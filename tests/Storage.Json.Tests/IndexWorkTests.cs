using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Time.Testing;
using Storage.Json.Indexes;
using Storage.Json.Tests.Infrastructure;

namespace Storage.Json.Tests;

/// <summary>
/// How a group commit moves the JSON backend's in-memory index entries: which entries of a written
/// document go, stay or come is the engine's decision (<see cref="IndexEntryChanges"/>, over the
/// group's net change); a kept entry stays in place with the document's new record — in the
/// partition's entries, the store-wide lists and the claims of global unique values — and entries of
/// documents a purge took go.
/// </summary>
public sealed class IndexWorkTests
{
    private const string Users = "users";
    private static readonly DateTimeOffset s_now = FaultChecks.Epoch;
    private static readonly IndexDefinition s_email = new(Users, "email", "email", IndexValueType.String, unique: true, IndexScope.Global);
    private static readonly IndexDefinition s_tags = new(Users, "tags", "tags", IndexValueType.String);
    private static readonly IndexCatalog s_catalog = new([s_email, s_tags]);

    [Fact]
    public void A_rewrite_keeps_the_entries_of_the_values_it_still_has_with_its_new_record_drops_the_lost_ones_and_adds_the_gained_ones()
    {
        using var indexes = JsonIndexes.Build(s_catalog, [], s_now, NullLogger.Instance, out _);
        var (first, created) = Commit(indexes, PartitionSnapshot.Empty("p", 0), indexes.EmptyPartition(), [[Put("a", """{"email":"a@x","tags":["red","blue"]}""")]]);
        Assert.Empty(created.Kept);
        Assert.Equal(["a@x", "blue", "red"], created.Added.Select(a => a.Entry.Value.AsString).Order(StringComparer.Ordinal));

        var later = s_now.AddHours(1);
        var (second, rewritten) = Commit(indexes, first, created.NewIndex, [[Put("a", """{"email":"a@x","tags":["blue","green"]}""", later)]]);
        var record = second.Find(Users, "a")!;

        Assert.Equal([(0, "a@x"), (1, "blue")], rewritten.Kept.Select(k => (k.Index, k.Entry.Value.AsString)).Order());
        Assert.All(rewritten.Kept, k => Assert.Same(record, k.Entry.Document));
        Assert.Equal([(1, "red")], rewritten.Dropped.Select(d => (d.Index, d.Entry.Value.AsString)));
        Assert.Equal([(1, "green")], rewritten.Added.Select(a => (a.Index, a.Entry.Value.AsString)));

        // Every entry of the document, in the partition's entries, names its new record (with the new expiry).
        Assert.All(rewritten.NewIndex.Tables.SelectMany(e => e), e => Assert.Same(record, e.Document));
        Assert.Equal([1, 2], rewritten.NewIndex.Tables.Select(t => t.Expiring));
        Assert.Equal(["a@x", "blue", "green"], rewritten.NewIndex.Tables.SelectMany(e => e).Select(e => e.Value.AsString).Order(StringComparer.Ordinal));
    }

    [Fact]
    public void An_entry_is_kept_only_while_its_document_was_live_and_a_purge_between_writers_leaves_nothing_of_what_it_took()
    {
        using var indexes = JsonIndexes.Build(s_catalog, [], s_now, NullLogger.Instance, out _);
        var (first, created) = Commit(indexes, PartitionSnapshot.Empty("p", 0), indexes.EmptyPartition(), [[Put("old", """{"email":"o@x","tags":["t"]}""", s_now.AddMinutes(1)), Put("gone", """{"tags":["t"]}""", s_now.AddMinutes(1))]]);

        // Two minutes on, both expired: "old" is put again with the same values (they go and come
        // again, the decision keeping nothing of an expired document) in the writer after a purge
        // that took it — its stored row unseen by the decision — and "gone" is purged for good.
        var (second, group) = Commit(indexes, first, created.NewIndex, [null, [Put("old", """{"email":"o@x","tags":["t"]}""")]], s_now.AddMinutes(2));
        var record = second.Find(Users, "old")!;

        Assert.Null(second.Find(Users, "gone"));
        Assert.Empty(group.Kept);
        Assert.Equal([("gone", "t"), ("old", "o@x"), ("old", "t")], group.Dropped.Select(d => (d.Entry.Document.Key, d.Entry.Value.AsString)).Order());
        Assert.Equal([("o@x", record), ("t", record)], group.Added.Select(a => (a.Entry.Value.AsString, a.Entry.Document)));
        Assert.Equal(["o@x", "t"], group.NewIndex.Tables.SelectMany(e => e).Select(e => e.Value.AsString));
        Assert.All(group.NewIndex.Tables.SelectMany(e => e), e => Assert.Same(record, e.Document));
    }

    [Fact]
    public async Task A_kept_value_is_queried_and_claimed_through_its_documents_new_record_and_expiry()
    {
        var time = new FakeTimeProvider(s_now);
        await using var store = JsonStore.Open(new JsonStoreOptions { Directory = FaultChecks.DataDirectory, TimeProvider = time, Indexes = [s_email, s_tags] }, FaultChecks.NewFileSystem());
        await store.PutAsync("p", Users, "a", """{"email":"a@x","tags":["t"],"n":1}""");
        await store.PutAsync("p", Users, "a", """{"email":"a@x","tags":["t"],"n":2}""", expiresAt: s_now.AddMinutes(1));

        // The store-wide list and the partition's entries return the new record; the claim judges its expiry.
        var everywhere = await store.QueryAsync(new IndexQuery(Users, "tags") { Equal = "t" });
        var inPartition = await store.QueryAsync(new IndexQuery(Users, "tags") { Partition = "p", Equal = "t" });
        Assert.Equal(["""{"email":"a@x","tags":["t"],"n":2}"""], everywhere.Items.Concat(inPartition.Items).Select(m => m.Document.GetJsonText()).Distinct());
        await Assert.ThrowsAsync<UniqueConstraintException>(() => store.PutAsync("q", Users, "b", """{"email":"a@x"}""").AsTask());

        time.Advance(TimeSpan.FromMinutes(2));
        Assert.Equal(0, await store.CountAsync(new IndexQuery(Users, "tags") { Equal = "t" }));
        Assert.Equal(0, await store.CountAsync(new IndexQuery(Users, "tags") { Partition = "p", Equal = "t" }));
        await store.PutAsync("q", Users, "b", """{"email":"a@x"}""");
        Assert.Equal(["q"], (await store.QueryAsync(new IndexQuery(Users, "email") { Equal = "a@x" })).Items.Select(m => m.Document.Partition));
        Assert.Equal(await IndexState.ExpectedAsync(store, [s_email, s_tags]), await IndexState.QueryAsync(store, [s_email, s_tags]));
    }

    private static WriteOperation Put(string key, string json, DateTimeOffset? expiresAt = null) => WriteOperation.Put(Users, key, json, expiresAt: expiresAt);

    /// <summary>
    /// One group commit of partition "p" as the backend runs it: a writer per batch (a purge for
    /// <see langword="null"/>), the group's entries completed and published (durably).
    /// </summary>
    private static (PartitionSnapshot Next, IndexWork Work) Commit(JsonIndexes indexes, PartitionSnapshot current, InMemoryIndexes<DocumentRecord> index, WriteOperation[]?[] steps, DateTimeOffset? at = null)
    {
        var now = at ?? s_now;
        using var builder = new PartitionBuilder(current, 0, now);
        var work = indexes.Begin("p", index, now);
        foreach (var batch in steps)
        {
            if (batch is null)
            {
                builder.PurgeExpired(null);
                work.Purged();
                continue;
            }

            var reads = new PartitionReads();
            reads.AddBatch(batch);
            var writer = builder.Begin(reads, new UniqueValues("p", now, work.StoredHolders, work), out _);
            Assert.NotNull(writer.ApplyBatch(batch, s_catalog.ExtractAll(batch)));
            builder.Merge(writer);
            work.Merge(writer);
        }

        var next = builder.Build();
        work.Complete(next);
        indexes.Publish(work, [], durable: true, static () => { });
        work.Settle();
        return (next, work);
    }
}
