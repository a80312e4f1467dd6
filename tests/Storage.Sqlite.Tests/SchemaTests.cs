using System.Security.Cryptography;
using System.Text;
using Storage.Sqlite.Internal;

namespace Storage.Sqlite.Tests;

/// <summary>The on-disk format: tables a person can read, numbered migrations, and refusal of what the store cannot read.</summary>
[Trait("Backend", "Sqlite")]
public sealed class SchemaTests : IDisposable
{
    private readonly TestDatabase _db = new();

    public void Dispose() => _db.Dispose();

    [Fact]
    public async Task Values_are_stored_as_text_byte_for_byte_and_keys_as_text()
    {
        var json = "{\"z\":1.0e+2,\"a\":[18446744073709551617,-0.0],\"s\":\"caf\\u00e9 caf\u00e9 \U0001F600\"}";
        await using (var store = _db.Open())
        {
            await store.PutAsync("Ä", "c", "\U0001F600", json, expiresAt: _db.Clock.GetUtcNow().AddDays(1));
        }

        using var connection = _db.Connect();
        using var command = connection.CreateCommand();
        command.CommandText = "SELECT typeof(value), hex(value), typeof(partition), typeof(key), key, value, created_at, expires_at FROM documents";
        using var reader = command.ExecuteReader();
        Assert.True(reader.Read());
        Assert.Equal("text", reader.GetString(0));
        Assert.Equal(Convert.ToHexString(Encoding.UTF8.GetBytes(json)), reader.GetString(1));
        Assert.Equal("text", reader.GetString(2));
        Assert.Equal("text", reader.GetString(3));
        Assert.Equal("\U0001F600", reader.GetString(4));
        Assert.Equal(json, reader.GetString(5));
        Assert.Equal(_db.Clock.GetUtcNow().ToUnixTimeMilliseconds(), reader.GetInt64(6));
        Assert.Equal(_db.Clock.GetUtcNow().AddDays(1).ToUnixTimeMilliseconds(), reader.GetInt64(7));
    }

    [Fact]
    public async Task Sql_orders_keys_in_code_point_order_like_every_backend()
    {
        string[] keys = ["b", "\uFFFF", "\U0001F600", "a", "\uE000", "\U0010FFFF", "A", "ab"];
        await using (var store = _db.Open())
        {
            await store.CommitAsync("p", keys.Select(k => WriteOperation.Put("c", k, "0")).ToList());
        }

        using var connection = _db.Connect();
        using var command = connection.CreateCommand();
        command.CommandText = "SELECT key FROM documents ORDER BY key";
        using var reader = command.ExecuteReader();
        var ordered = new List<string>();
        while (reader.Read())
        {
            ordered.Add(reader.GetString(0));
        }

        Assert.Equal(keys.Order(StorageKeyComparer.Instance), ordered);
    }

    [Fact]
    public async Task Opening_records_the_migrations_and_the_format_version()
    {
        await using (var store = _db.Open())
        {
        }

        using var connection = _db.Connect();
        Assert.Equal(2L, TestDatabase.Scalar(connection, "SELECT value FROM storage_meta WHERE key = 'format_version'"));
        Assert.Equal("1,2", TestDatabase.Scalar(connection, "SELECT group_concat(version, ',') FROM (SELECT version FROM storage_migrations ORDER BY version)"));
        Assert.Equal((long)Schema.ApplicationId, TestDatabase.Scalar(connection, "PRAGMA application_id"));
        Assert.Equal("wal", TestDatabase.Scalar(connection, "PRAGMA journal_mode"));
    }

    [Fact]
    public async Task A_database_of_a_newer_format_is_refused_and_left_unchanged()
    {
        await using (var store = _db.Open())
        {
            await store.PutAsync("p", "c", "k", "1");
        }

        using (var connection = _db.Connect())
        {
            TestDatabase.Execute(connection, "UPDATE storage_meta SET value = 7 WHERE key = 'format_version'");
        }

        var before = Hash(_db.Path);
        var e = Assert.Throws<UnsupportedFormatException>(() => _db.Open());

        Assert.Equal(7, e.FoundVersion);
        Assert.Equal(2, e.SupportedVersion);
        Assert.Equal(_db.Path, e.Location);
        Assert.Equal(before, Hash(_db.Path));
    }

    [Fact]
    public async Task Migrations_apply_in_order_at_open_and_a_failing_one_applies_nothing()
    {
        await using (var store = _db.Open())
        {
            await store.PutAsync("p", "c", "k", "1");
        }

        var next = Schema.CurrentVersion(Schema.Migrations) + 1;
        Migration[] failing = [.. Schema.Migrations, new(next, "add notes", ["CREATE TABLE notes (id INTEGER PRIMARY KEY)", "INSERT INTO no_such_table VALUES (1)"])];
        Assert.Throws<StorageException>(() => SqliteStore.Open(_db.Options(), failing));
        using (var connection = _db.Connect())
        {
            Assert.Equal((long)next - 1, TestDatabase.Scalar(connection, "SELECT value FROM storage_meta WHERE key = 'format_version'"));
            Assert.Equal(0L, TestDatabase.Scalar(connection, "SELECT count(*) FROM sqlite_schema WHERE name = 'notes'"));
        }

        Migration[] working = [.. Schema.Migrations, new(next, "add notes", ["CREATE TABLE notes (id INTEGER PRIMARY KEY)"]), new(next + 1, "index notes", ["CREATE INDEX notes_by_id ON notes (id)"])];
        await using (var store = SqliteStore.Open(_db.Options(), working))
        {
            Assert.Equal("1", (await store.GetAsync("p", "c", "k"))!.GetJsonText());
        }

        using (var connection = _db.Connect())
        {
            Assert.Equal((long)next + 1, TestDatabase.Scalar(connection, "SELECT value FROM storage_meta WHERE key = 'format_version'"));
            Assert.Equal(string.Join(',', Enumerable.Range(1, next + 1)), TestDatabase.Scalar(connection, "SELECT group_concat(version, ',') FROM (SELECT version FROM storage_migrations ORDER BY version)"));
            Assert.Equal(1L, TestDatabase.Scalar(connection, "SELECT count(*) FROM sqlite_schema WHERE name = 'notes_by_id'"));
        }

        // This library now refuses the file.
        Assert.Equal(next + 1, Assert.Throws<UnsupportedFormatException>(() => _db.Open()).FoundVersion);
    }

    [Fact]
    public void A_file_that_is_not_a_sqlite_database_raises_CorruptDataException_naming_it_and_is_left_alone()
    {
        var content = Encoding.UTF8.GetBytes("{\"this is\": \"a JSON file, not a database\"}" + new string(' ', 5000));
        File.WriteAllBytes(_db.Path, content);

        var e = Assert.Throws<CorruptDataException>(() => _db.Open());

        Assert.Equal(_db.Path, e.Location);
        Assert.Contains(_db.Path, e.Message, StringComparison.Ordinal);
        Assert.Equal(content, File.ReadAllBytes(_db.Path));
    }

    [Fact]
    public void Another_applications_sqlite_database_is_refused_and_not_modified()
    {
        using (var connection = _db.Connect())
        {
            TestDatabase.Execute(connection, "CREATE TABLE users (id INTEGER PRIMARY KEY, name TEXT)");
        }

        var before = Hash(_db.Path);
        var e = Assert.Throws<CorruptDataException>(() => _db.Open());

        Assert.Equal(_db.Path, e.Location);
        Assert.Equal(before, Hash(_db.Path));
        Assert.False(File.Exists(_db.Path + "-wal"), "the store switched the other application's database to WAL mode");
        using var check = _db.Connect();
        Assert.Equal(0L, TestDatabase.Scalar(check, "SELECT count(*) FROM sqlite_schema WHERE name LIKE 'storage%'"));
    }

    [Fact]
    public async Task A_damaged_page_is_found_by_the_integrity_check_on_open_and_on_demand()
    {
        long pages;
        await using (var store = _db.Open())
        {
            for (var i = 0; i < 50; i++)
            {
                await store.CommitAsync("p", Enumerable.Range(0, 20).Select(j => WriteOperation.Put("c", $"k{i:D3}-{j:D2}", $"{{\"n\":\"{new string('x', 200)}\"}}")).ToList());
            }

            await store.CheckIntegrityAsync();
        }

        // The last connection to close checkpointed the WAL into the file.
        Assert.False(File.Exists(_db.Path + "-wal"));
        using (var connection = _db.Connect())
        {
            pages = (long)TestDatabase.Scalar(connection, "PRAGMA page_count")!;
        }

        // No connection is open now: damage the last page (a leaf of the documents table).
        using (var file = new FileStream(_db.Path, FileMode.Open, FileAccess.Write))
        {
            file.Position = (pages - 1) * 4096;
            file.Write(Enumerable.Repeat((byte)0xA5, 4096).ToArray());
        }

        var damaged = Hash(_db.Path);
        var onOpen = Assert.Throws<CorruptDataException>(() => _db.Open(o => o.CheckIntegrityOnOpen = true));
        Assert.Equal(_db.Path, onOpen.Location);
        Assert.Contains("integrity_check", onOpen.Reason, StringComparison.Ordinal);
        Assert.Equal(damaged, Hash(_db.Path));

        await using var opened = _db.Open();
        var onDemand = await Assert.ThrowsAsync<CorruptDataException>(async () => await opened.CheckIntegrityAsync());
        Assert.Equal(_db.Path, onDemand.Location);
        var onRead = await Assert.ThrowsAsync<CorruptDataException>(async () => await opened.ListAsync("p", "c", new ListOptions { Limit = 1000 }));
        Assert.Equal(_db.Path, onRead.Location);
    }

    private static string Hash(string path) => Convert.ToHexString(SHA256.HashData(File.ReadAllBytes(path)));
}
