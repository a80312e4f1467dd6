namespace Storage.Sqlite.Tests;

/// <summary>
/// The engine's decision of which index entries a partition's net change moves
/// (<see cref="IndexEntryChanges"/>), which SQLite applies with its unique index deciding races: what
/// goes, what is kept (and whose expiry moves), and the order the new entries come in — the claim
/// order that makes the first insert the database refuses the conflict the reference model reports.
/// </summary>
public sealed class IndexEntryChangesTests
{
    private static readonly DateTimeOffset s_now = DateTimeOffset.FromUnixTimeSeconds(1_000_000);
    private static readonly IndexDefinition s_email = new("users", "email", "email", IndexValueType.String, unique: true);
    private static readonly IndexDefinition s_tags = new("users", "tags", "tags", IndexValueType.String);
    private static readonly IndexCatalog s_catalog = new([s_email, s_tags]);

    [Fact]
    public void A_put_keeps_the_values_it_still_has_drops_the_lost_ones_and_adds_the_gained_ones()
    {
        var stored = Stored(("a", """{"email":"a@x","tags":["red","blue"]}""", null));
        var changes = Apply(stored, Put("a", """{"email":"a@x","tags":["blue","green"]}"""));

        Assert.Equal([(s_tags, "red")], changes.Deletes.Select(e => (e.Index, e.Value.AsString)));
        Assert.Equal([(s_tags, "green")], changes.Inserts.Select(e => (e.Index, e.Value.AsString)));
        Assert.Empty(changes.ExpiryMoves);
        Assert.True(changes.Wrote(new DocumentId("users", "a")));
        Assert.False(changes.Wrote(new DocumentId("users", "b")));
    }

    [Fact]
    public void Kept_entries_move_with_the_documents_expiry_or_go_and_come_again_for_a_backend_that_does_not_move_them()
    {
        var later = s_now.AddHours(1);
        var stored = Stored(("a", """{"email":"a@x"}""", null));

        var moved = Apply(stored, Put("a", """{"email":"a@x"}""", later));
        Assert.Empty(moved.Deletes);
        Assert.Empty(moved.Inserts);
        Assert.Equal([(new DocumentId("users", "a"), (DateTimeOffset?)later)], moved.ExpiryMoves);

        var replaced = Apply(stored, [Put("a", """{"email":"a@x"}""", later)], movesExpiry: false);
        Assert.Equal(["a@x"], replaced.Deletes.Select(e => e.Value.AsString));
        Assert.Equal([("a@x", (DateTimeOffset?)later)], replaced.Inserts.Select(e => (e.Value.AsString, e.ExpiresAt)));
        Assert.Empty(replaced.ExpiryMoves);
    }

    [Fact]
    public void An_expired_document_keeps_nothing_and_a_deleted_one_loses_everything()
    {
        var stored = Stored(("a", """{"email":"a@x","tags":["red"]}""", s_now.AddSeconds(-1)), ("b", """{"email":"b@x"}""", null));
        var changes = Apply(stored, Put("a", """{"email":"a@x","tags":["red"]}"""), WriteOperation.Delete("users", "b"));

        Assert.Equal([("a", "a@x"), ("a", "red"), ("b", "b@x")], changes.Deletes.Select(e => (e.Document.Key, e.Value.AsString)).Order());
        Assert.Equal([("a", "a@x"), ("a", "red")], changes.Inserts.Select(e => (e.Document.Key, e.Value.AsString)));
        Assert.Empty(changes.ExpiryMoves);
    }

    [Fact]
    public void A_unique_value_two_documents_of_the_change_want_is_not_kept_and_comes_again_in_batch_order()
    {
        // b keeps b@x, but a (earlier in the batch) claims it too: kept, a's insert would find b holding
        // it and fail at a, where the reference model fails at b (the second claim).
        var stored = Stored(("a", """{"email":"a@x"}""", null), ("b", """{"email":"b@x","tags":["t"]}""", null));
        var changes = Apply(stored, Put("a", """{"email":"b@x"}"""), Put("b", """{"email":"b@x","tags":["t"]}"""));

        Assert.Equal([("a", "a@x"), ("b", "b@x")], changes.Deletes.Select(e => (e.Document.Key, e.Value.AsString)).Order());
        Assert.Equal([("a", "b@x"), ("b", "b@x")], changes.Inserts.Select(e => (e.Document.Key, e.Value.AsString)));
    }

    [Fact]
    public void New_entries_come_in_claim_order_puts_in_batch_order_indexes_in_declaration_order_values_ascending()
    {
        var changes = Apply(Stored(), Put("z", """{"tags":["b","a"],"email":"z@x"}"""), Put("m", """{"email":"m@x","tags":["c"]}"""));

        Assert.Equal(
            [("z", "email", "z@x"), ("z", "tags", "a"), ("z", "tags", "b"), ("m", "email", "m@x"), ("m", "tags", "c")],
            changes.Inserts.Select(e => (e.Document.Key, e.Index.Name, e.Value.AsString)));
        Assert.Empty(changes.Deletes);
    }

    [Fact]
    public void Entries_are_read_only_for_written_documents_of_indexed_collections_that_had_a_row()
    {
        var stored = Stored(("a", """{"email":"a@x"}""", null));
        var asked = new List<string>();
        Apply(stored, [Put("a", """{"email":"a@x"}"""), Put("new", """{"email":"n@x"}"""), WriteOperation.Put("other", "k", "{}")], asked: asked);

        Assert.Equal(["a"], asked);
    }

    [Fact]
    public void A_net_change_a_backend_gathered_over_several_writers_is_decided_at_its_time_in_its_order()
    {
        // JSON gathers a group commit's writers (with purges between them) into one net change:
        // each document's row before the first writer and after the last, in first-write order.
        var stored = Stored(("a", """{"email":"a@x","tags":["red"]}""", s_now.AddSeconds(1)));
        (DocumentId, DocumentRow?, DocumentRow?)[] net =
        [
            (new DocumentId("users", "z"), null, Row("z", """{"email":"z@x"}""")),
            (new DocumentId("users", "a"), stored[new DocumentId("users", "a")], Row("a", """{"email":"a@x","tags":["blue"]}""")),
        ];
        IEnumerable<(IndexDefinition, IndexValue)> Entries(DocumentId id, DocumentRow row)
            => s_catalog.ExtractAll([WriteOperation.Put(id.Collection, id.Key, row.Value)])[0]!.Values.SelectMany((values, j) => values.Select(value => (s_catalog.For(id.Collection)[j], value)));

        // While a is live its kept value stays (its expiry moves); once it expired, everything goes and comes again.
        var live = IndexEntryChanges.Of(net, s_now, s_catalog, Entries, movesExpiry: true);
        Assert.Equal([("a", "red")], live.Deletes.Select(e => (e.Document.Key, e.Value.AsString)));
        Assert.Equal([("z", "z@x"), ("a", "blue")], live.Inserts.Select(e => (e.Document.Key, e.Value.AsString)));
        Assert.Equal([new DocumentId("users", "a")], live.ExpiryMoves.Select(m => m.Document));

        var expired = IndexEntryChanges.Of(net, s_now.AddSeconds(2), s_catalog, Entries, movesExpiry: true);
        Assert.Equal([("a", "a@x"), ("a", "red")], expired.Deletes.Select(e => (e.Document.Key, e.Value.AsString)).Order());
        Assert.Equal([("z", "z@x"), ("a", "a@x"), ("a", "blue")], expired.Inserts.Select(e => (e.Document.Key, e.Value.AsString)));
        Assert.Empty(expired.ExpiryMoves);
    }

    private static DocumentRow Row(string key, string json)
        => new(2, s_now.AddDays(-1), null, s_now, System.Text.Encoding.UTF8.GetBytes(json), s_catalog.ExtractAll([Put(key, json)])[0]);

    private static WriteOperation Put(string key, string json, DateTimeOffset? expiresAt = null) => WriteOperation.Put("users", key, json, expiresAt: expiresAt);

    private static Dictionary<DocumentId, DocumentRow> Stored(params (string Key, string Json, DateTimeOffset? ExpiresAt)[] documents)
        => documents.ToDictionary(
            d => new DocumentId("users", d.Key),
            d => new DocumentRow(1, s_now.AddDays(-1), d.ExpiresAt, s_now.AddDays(-1), System.Text.Encoding.UTF8.GetBytes(d.Json)));

    private static IndexEntryChanges Apply(Dictionary<DocumentId, DocumentRow> stored, params WriteOperation[] batch) => Apply(stored, batch, movesExpiry: true);

    /// <summary>Applies one batch to a partition holding <paramref name="stored"/>, and decides its entry changes from the stored rows' values.</summary>
    private static IndexEntryChanges Apply(Dictionary<DocumentId, DocumentRow> stored, WriteOperation[] batch, bool movesExpiry = true, List<string>? asked = null)
    {
        var reads = new PartitionReads();
        foreach (var op in batch)
        {
            reads.Documents.Add(new DocumentId(op.Collection, op.Key));
        }

        var state = new PartitionState("p", reads) { Exists = true, Revision = 1 };
        foreach (var (id, row) in stored)
        {
            state.Documents[id] = row;
        }

        var writer = new PartitionWriter(state, s_now);
        Assert.True(writer.ApplyBatch(batch, s_catalog.ExtractAll(batch))!.Changed);
        return IndexEntryChanges.Of(writer, s_catalog, (id, row) =>
        {
            asked?.Add(id.Key);
            var indexes = s_catalog.For(id.Collection);
            var values = s_catalog.ExtractAll([WriteOperation.Put(id.Collection, id.Key, row.Value)])[0]!.Values;
            return indexes.SelectMany((index, j) => values[j].Select(value => (index, value)));
        }, movesExpiry);
    }
}
