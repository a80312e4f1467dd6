using System.Text;
using Storage.Sqlite.Internal;

namespace Storage.Sqlite.Tests;

/// <summary>
/// SQLite has no page checksums: bytes damaged inside a row read back as data and pass
/// <c>integrity_check</c>. Every document and event row carries a checksum, and every read that
/// returns a row checks it.
/// </summary>
public sealed class ChecksumTests : IDisposable
{
    private const string Partition = "tenant-7";
    private const string Collection = "orders";
    private const string Key = "order-42";
    private const string Stream = "ledger";

    private static readonly IndexDefinition s_total = new(Collection, "total", "total", IndexValueType.Int64);

    private readonly TestDatabase _db = new();

    public void Dispose() => _db.Dispose();

    /// <summary>Damage done with a raw UPDATE on a connection of the test's own, and the key the row has afterwards.</summary>
    public static TheoryData<string, string> DocumentDamage => new()
    {
        // {"total":5,"note":"?"} with the last character replaced by a byte that is not UTF-8.
        { $"UPDATE documents SET value = CAST(X'7B22746F74616C223A352C226E6F7465223AFF7D' AS TEXT) WHERE key = '{Key}'", Key },
        { $"UPDATE documents SET value = replace(value, '5', '6') WHERE key = '{Key}'", Key },
        { $"UPDATE documents SET version = version + 1 WHERE key = '{Key}'", Key },
        { $"UPDATE documents SET updated_at = updated_at + 1000 WHERE key = '{Key}'", Key },
        { $"UPDATE documents SET key = 'order-43' WHERE key = '{Key}'", "order-43" },
    };

    public static TheoryData<string> EventDamage => new()
    {
        "UPDATE events SET data = CAST(X'7B226E223AFF7D' AS TEXT) WHERE version = 2",
        "UPDATE events SET data = replace(data, '2', '3') WHERE version = 2",
        "UPDATE events SET metadata = '{\"by\":\"mallory\"}' WHERE version = 2",
        "UPDATE events SET type = 'Refunded' WHERE version = 2",
        "UPDATE events SET event_id = '00000000-0000-0000-0000-000000000000' WHERE version = 2",
    };

    [Theory]
    [MemberData(nameof(DocumentDamage))]
    public async Task A_damaged_document_raises_CorruptDataException_naming_it_on_every_read_path(string damage, string storedKey)
    {
        await WriteSample();
        Damage(damage);

        await using var store = _db.Open(o => o.Indexes = [s_total]);
        await AssertDocumentCorrupt(store, storedKey, queryReachesIt: string.Equals(storedKey, Key, StringComparison.Ordinal));

        // The other document of the partition still reads.
        Assert.Equal("""{"total":1}""", (await store.GetAsync(Partition, Collection, "order-1"))!.GetJsonText());
    }

    [Fact]
    public async Task A_byte_flipped_inside_the_file_is_found_on_every_read_path_though_integrity_check_passes()
    {
        await WriteSample();

        // No connection is open, the WAL is checkpointed into the file: flip one byte of the stored value.
        var bytes = File.ReadAllBytes(_db.Path);
        var at = bytes.AsSpan().IndexOf("MARKER-MARKER"u8);
        Assert.True(at >= 0, "the value's bytes are not in the file");
        Assert.Equal(-1, bytes.AsSpan(at + 1).IndexOf("MARKER-MARKER"u8));
        bytes[at + 3] ^= 0x01;
        File.WriteAllBytes(_db.Path, bytes);

        await using var store = _db.Open(o => o.Indexes = [s_total]);
        await store.CheckIntegrityAsync();
        await AssertDocumentCorrupt(store, Key, queryReachesIt: true);
    }

    [Theory]
    [MemberData(nameof(EventDamage))]
    public async Task A_damaged_event_raises_CorruptDataException_naming_its_stream_and_version_on_every_read_path(string damage)
    {
        await WriteSample();
        Damage(damage);

        await using var store = _db.Open();
        await AssertCorrupt(async () => await store.ReadStreamAsync(Partition, Stream), "events", Partition, Stream, "version 2");
        await AssertCorrupt(async () => await store.ReadChangesAsync(Partition, 0, StoreLimits.MaxPageSize), "events", Partition, Stream, "version 2");

        // The undamaged event before it still reads.
        Assert.Equal("""{"n":1}""", Encoding.UTF8.GetString((await store.ReadStreamAsync(Partition, Stream, new ReadStreamOptions { Limit = 1 })).Items[0].Data.Span));
    }

    [Fact]
    public async Task An_index_built_at_open_over_a_damaged_document_fails_the_open_and_changes_nothing()
    {
        await WriteSample(indexed: false);
        Damage($"UPDATE documents SET value = replace(value, '5', '6') WHERE key = '{Key}'");

        var e = Assert.Throws<CorruptDataException>(() => _db.Open(o => o.Indexes = [s_total]));

        AssertNames(e, "documents", Partition, Collection, Key);
        using var connection = _db.Connect();
        Assert.Equal(0L, TestDatabase.Scalar(connection, "SELECT count(*) FROM indexes"));
    }

    [Fact]
    public async Task A_format_3_database_is_upgraded_with_checksums_for_its_rows_which_then_read_and_catch_damage()
    {
        // A file as format 3 wrote it: the schema of migrations 1 to 3, rows without checksums.
        await using (var store = SqliteStore.Open(_db.Options(), Schema.Migrations.Take(3).ToList()))
        {
        }

        var t = _db.Clock.GetUtcNow().ToUnixTimeMilliseconds();
        using (var connection = _db.Connect())
        {
            Assert.Equal(3L, TestDatabase.Scalar(connection, "SELECT value FROM storage_meta WHERE key = 'format_version'"));
            TestDatabase.Execute(connection, $$"""
                INSERT INTO partitions (partition, revision, oldest_resumable) VALUES ('{{Partition}}', 3, 1);
                INSERT INTO documents VALUES
                    ('{{Partition}}', '{{Collection}}', 'order-1', '{"total":1}', 1, {{t}}, {{t}}, NULL),
                    ('{{Partition}}', '{{Collection}}', '{{Key}}', '{"total":5}', 2, {{t - 5}}, {{t}}, {{t + 60_000}});
                INSERT INTO streams VALUES ('{{Partition}}', '{{Stream}}', 2);
                INSERT INTO events VALUES
                    ('{{Partition}}', '{{Stream}}', 1, 3, '11111111-1111-1111-1111-111111111111', 'Paid', '{"n":1}', NULL, {{t}}),
                    ('{{Partition}}', '{{Stream}}', 2, 3, '22222222-2222-2222-2222-222222222222', 'Paid', '{"n":2}', '{"by":"alice"}', {{t}});
                """);
        }

        await using (var store = _db.Open(o => o.Indexes = [s_total]))
        {
            var document = (await store.GetAsync(Partition, Collection, Key))!;
            Assert.Equal(("""{"total":5}""", 2L, t + 60_000), (document.GetJsonText(), document.Version, document.ExpiresAt!.Value.ToUnixTimeMilliseconds()));
            Assert.Equal(["order-1", Key], (await store.ListAsync(Partition, Collection)).Items.Select(d => d.Key));
            Assert.Equal([Key], (await store.QueryAsync(new IndexQuery(Collection, "total") { From = IndexValue.Of(5) })).Items.Select(m => m.Document.Key));
            var events = (await store.ReadStreamAsync(Partition, Stream)).Items;
            Assert.Equal(["""{"by":"alice"}"""], events.Where(e => !e.Metadata.IsEmpty).Select(e => Encoding.UTF8.GetString(e.Metadata.Span)));
            Assert.Equal(4, (await store.ReadChangesAsync(Partition, 0)).Items.Count);
        }

        using (var connection = _db.Connect())
        {
            Assert.Equal(5L, TestDatabase.Scalar(connection, "SELECT value FROM storage_meta WHERE key = 'format_version'"));
            Assert.Equal(
                RowChecksum.Document(Partition, Collection, Key, 2, t - 5, t, t + 60_000, """{"total":5}"""u8),
                TestDatabase.Scalar(connection, $"SELECT checksum FROM documents WHERE key = '{Key}'"));
            Assert.Equal(
                RowChecksum.Event(Partition, Stream, 1, 3, "11111111-1111-1111-1111-111111111111", "Paid", t, """{"n":1}"""u8, default, hasMetadata: false),
                TestDatabase.Scalar(connection, "SELECT checksum FROM events WHERE version = 1"));
            Assert.Equal("ok", TestDatabase.Scalar(connection, "PRAGMA integrity_check"));
        }

        Damage($"UPDATE documents SET value = replace(value, '5', '6') WHERE key = '{Key}'");
        Damage("UPDATE events SET data = replace(data, '2', '3') WHERE version = 2");
        await using (var store = _db.Open())
        {
            await AssertCorrupt(async () => await store.GetAsync(Partition, Collection, Key), "documents", Partition, Collection, Key);
            await AssertCorrupt(async () => await store.ReadStreamAsync(Partition, Stream), "events", Partition, Stream, "version 2");
        }
    }

    /// <summary>Two documents and a stream of two events in one partition; the store is closed afterwards (the WAL checkpointed into the file).</summary>
    private async Task WriteSample(bool indexed = true)
    {
        await using var store = _db.Open(o => o.Indexes = indexed ? [s_total] : []);
        await store.PutAsync(Partition, Collection, "order-1", """{"total":1}""");
        await store.PutAsync(Partition, Collection, Key, """{"total":5,"note":"MARKER-MARKER"}""", expiresAt: _db.Clock.GetUtcNow().AddHours(1));
        await store.CommitAsync(Partition, [WriteOperation.Append(Stream, [EventData.Create("Paid", """{"n":1}"""), EventData.Create("Paid", """{"n":2}""", """{"by":"alice"}""")])]);
    }

    private void Damage(string sql)
    {
        using var connection = _db.Connect();
        TestDatabase.Execute(connection, sql);
    }

    private static async Task AssertDocumentCorrupt(SqliteStore store, string storedKey, bool queryReachesIt)
    {
        string[] names = ["documents", Partition, Collection, storedKey];
        await AssertCorrupt(async () => await store.GetAsync(Partition, Collection, storedKey), names);
        await AssertCorrupt(async () => await store.ListAsync(Partition, Collection), names);
        await AssertCorrupt(async () => await store.ListAsync(Partition, Collection, new ListOptions { Descending = true }), names);
        await AssertCorrupt(async () => await store.ReadChangesAsync(Partition, 0, StoreLimits.MaxPageSize), names);
        if (queryReachesIt)
        {
            await AssertCorrupt(async () => await store.QueryAsync(new IndexQuery(Collection, "total")), names);
            await AssertCorrupt(async () => await store.QueryAsync(new IndexQuery(Collection, "total") { Partition = Partition }), names);
        }
    }

    private static async Task AssertCorrupt(Func<Task> read, params string[] names)
        => AssertNames(await Assert.ThrowsAsync<CorruptDataException>(read), names);

    private static void AssertNames(CorruptDataException e, params string[] names)
    {
        foreach (var name in names)
        {
            Assert.Contains(name, e.Reason, StringComparison.Ordinal);
        }
    }
}
