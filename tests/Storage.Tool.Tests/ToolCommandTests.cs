using Storage.Conformance;
using Storage.Hosting;

namespace Storage.Tool.Tests;

/// <summary>
/// The tool's other commands and outcomes, run as a process: inspect; usage errors (exit 2, one line, no
/// stack trace); a missing store (3); a JSON store locked by its owner (4); <c>--archive</c>; backup and
/// restore; the rollback drill.
/// </summary>
public sealed class ToolCommandTests(ToolFixture fixture) : IClassFixture<ToolFixture>
{
    [Fact]
    public async Task Inspect_counts_what_the_store_holds()
    {
        var (source, partitions) = await fixture.SeedAsync("sqlite", 2001, bulkPartitions: 12);
        var digest = await ToolFixture.DigestAsync(source);

        var run = await ToolFixture.RunAsync("inspect", source, "--indexes", fixture.IndexFile, "--json");

        Assert.True(run.ExitCode == 0, run.ToString());
        var done = run.Event("done");
        Assert.Equal(partitions, done.GetProperty("partitions").GetInt64());
        Assert.Equal(12, done.GetProperty("collections").GetProperty("profiles").GetInt64());
        Assert.True(done.GetProperty("collections").GetProperty("orders").GetInt64() >= 24);
        Assert.True(done.GetProperty("streams").GetInt64() >= 12 && done.GetProperty("events").GetInt64() >= 24);
        Assert.True(done.GetProperty("sequences").GetInt64() >= 12 && done.GetProperty("tombstones").GetInt64() >= 12);
        Assert.Equal(digest, done.GetProperty("storeDigest").GetString());
        var text = await ToolFixture.RunAsync("inspect", source, "--indexes", fixture.IndexFile);
        Assert.Contains(text.Lines, l => l.StartsWith("Partitions:", StringComparison.Ordinal) && l.EndsWith(partitions.ToString(System.Globalization.CultureInfo.InvariantCulture), StringComparison.Ordinal));
    }

    [Fact]
    public async Task Without_an_index_file_the_apps_indexes_are_kept_and_a_new_destination_gets_the_sources()
    {
        var (source, _) = await fixture.SeedAsync("sqlite", 2002, bulkPartitions: 4);
        var destination = await fixture.NewAddressAsync("sqlite");
        var declared = DifferentialRun.Indexes.Select(IndexCatalogText).Order().ToList();

        var inspect = await ToolFixture.RunAsync("inspect", source, "--json");
        var migrate = await ToolFixture.RunAsync("migrate", "--from", source, "--to", destination, "--execute");

        Assert.True(inspect.ExitCode == 0, inspect.ToString());
        Assert.Equal(DifferentialRun.Indexes.Select(i => $"{i.Collection}.{i.Name}").Order(), inspect.Event("done").GetProperty("indexes").EnumerateArray().Select(e => e.GetString()).Order());
        Assert.True(migrate.ExitCode == 0, migrate.ToString());
        Assert.Equal(declared, await StoredAsync(source));
        Assert.Equal(declared, await StoredAsync(destination));

        static async Task<List<string>> StoredAsync(string address)
        {
            await using var store = await StoreFactory.OpenAsync(address, o => o.KeepStoredIndexes = true);
            return [.. (await store.GetExportInfoAsync()).Indexes.Select(IndexCatalogText).Order()];
        }

        static string IndexCatalogText(IndexDefinition i) => $"{i.Collection}.{i.Name}:{i.Path}:{i.ValueType}:{i.Unique}:{i.Scope}";
    }

    [Theory]
    [InlineData("migrate --from data --to sqlite:x.db", "--from: The store address has no scheme")]
    [InlineData("migrate --from mysql:x --to sqlite:x.db", "--from: The store address has an unknown scheme 'mysql'")]
    [InlineData("verify json: sqlite:x.db", "A: The store address 'json:' names no data directory.")]
    [InlineData("migrate --from json:a --to sqlite:x.db --archive", "--archive moves the source only after a verified migration")]
    [InlineData("migrate --from sqlite:a.db --to json:b --execute --archive", "--archive moves a json: source's directory")]
    [InlineData("migrate --from json:a --to json:./a/ --execute", "--from and --to name the same store.")]
    [InlineData("migrate --from json:a", "Option '--to' is required.")]
    [InlineData("migrate --from json:a --to sqlite:x.db --unknown", "Unrecognized command or argument '--unknown'")]
    [InlineData("inspect sqlite:x.db --indexes no-such-file.json", "--indexes: there is no file 'no-such-file.json'.")]
    public async Task A_bad_command_line_exits_2_with_one_clear_line(string arguments, string message)
    {
        var run = await ToolFixture.RunAsync(arguments.Split(' '));

        Assert.True(run.ExitCode == 2, run.ToString());
        Assert.Contains(message, run.StandardError, StringComparison.Ordinal);
        Assert.DoesNotContain("   at ", run.StandardError, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_store_that_does_not_exist_is_unavailable_and_is_not_created()
    {
        var missing = await fixture.NewAddressAsync("sqlite");

        var run = await ToolFixture.RunAsync("inspect", missing);

        Assert.True(run.ExitCode == 3, run.ToString());
        Assert.Contains("there is no store at", run.StandardError, StringComparison.Ordinal);
        Assert.False(File.Exists(missing["sqlite:".Length..]));
    }

    [Fact]
    public async Task A_server_that_does_not_answer_is_unavailable_named_by_its_option_without_the_password()
    {
        var run = await ToolFixture.RunAsync("migrate", "--from", "postgres:Host=127.0.0.1;Port=1;Database=app;Username=app;Password=s3cret;Timeout=2", "--to", "sqlite:x.db");

        Assert.True(run.ExitCode == 3, run.ToString());
        Assert.StartsWith("storage: --from (postgres:", run.StandardError, StringComparison.Ordinal);
        Assert.Contains("password=***", run.StandardError, StringComparison.OrdinalIgnoreCase);
        Assert.DoesNotContain("s3cret", run.StandardError + string.Join('\n', run.Lines), StringComparison.Ordinal);
        Assert.Single(run.StandardError.Split('\n', StringSplitOptions.RemoveEmptyEntries));
    }

    [Fact]
    public async Task Verbose_adds_the_stack_trace()
    {
        var run = await ToolFixture.RunAsync("inspect", "sqlite:" + Path.Combine(fixture.Root, "none.db"), "--verbose");

        Assert.True(run.ExitCode == 3, run.ToString());
        Assert.Contains("   at ", run.StandardError, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_json_store_whose_lock_is_held_exits_4()
    {
        var (source, _) = await fixture.SeedAsync("json", 2002, bulkPartitions: 2);
        await using var owner = await ToolFixture.OpenAsync(source);

        var run = await ToolFixture.RunAsync("migrate", "--from", source, "--to", await fixture.NewAddressAsync("sqlite"), "--execute");

        Assert.True(run.ExitCode == 4, run.ToString());
        Assert.Contains("locked by another process", run.StandardError, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Archive_moves_the_json_source_to_legacy_after_a_verified_migration()
    {
        var (source, _) = await fixture.SeedAsync("json", 2003, bulkPartitions: 5);
        var directory = source["json:".Length..];
        var digest = await ToolFixture.DigestAsync(source);
        var destination = await fixture.NewAddressAsync("sqlite");

        var run = await ToolFixture.RunAsync("migrate", "--from", source, "--to", destination, "--indexes", fixture.IndexFile, "--execute", "--archive", "--json");

        Assert.True(run.ExitCode == 0, run.ToString());
        Assert.False(Directory.Exists(directory));
        var archived = run.Event("done").GetProperty("archivedTo").GetString()!;
        Assert.Equal(Path.Combine(Path.GetDirectoryName(directory)!, "_legacy"), Path.GetDirectoryName(Path.GetDirectoryName(archived)));
        Assert.Matches(@"^\d{8}T\d{6}Z$", Path.GetFileName(Path.GetDirectoryName(archived)));
        Assert.Equal(digest, await ToolFixture.DigestAsync("json:" + archived));
        Assert.Equal(digest, await ToolFixture.DigestAsync(destination));
    }

    [Fact]
    public async Task Backup_then_restore_into_another_backend_is_equal()
    {
        var (source, partitions) = await fixture.SeedAsync("sqlite", 2004, bulkPartitions: 20);
        var file = Path.Combine(fixture.Root, "backup-" + Guid.NewGuid().ToString("N") + ".storage");
        var destination = await fixture.NewAddressAsync("json");

        var backup = await ToolFixture.RunAsync("backup", source, "--out", file, "--indexes", fixture.IndexFile, "--json");
        Assert.True(backup.ExitCode == 0, backup.ToString());
        Assert.Equal(partitions, backup.Event("done").GetProperty("partitions").GetInt64());
        Assert.False(File.Exists(file + ".partial"));

        var restore = await ToolFixture.RunAsync("restore", file, "--to", destination, "--indexes", fixture.IndexFile, "--json");
        Assert.True(restore.ExitCode == 0, restore.ToString());
        Assert.Equal(partitions, restore.Event("done").GetProperty("created").GetInt64());
        var again = await ToolFixture.RunAsync("restore", file, "--to", destination, "--indexes", fixture.IndexFile, "--json");
        Assert.True(again.ExitCode == 0, again.ToString());
        Assert.Equal(partitions, again.Event("done").GetProperty("unchanged").GetInt64());

        var verify = await ToolFixture.RunAsync("verify", source, destination, "--indexes", fixture.IndexFile);
        Assert.True(verify.ExitCode == 0, verify.ToString());
        Assert.Equal(backup.Event("done").GetProperty("storeDigest").GetString(), await ToolFixture.DigestAsync(destination));
        // One byte changed in the middle of the archive: refused, naming the damage, and no store created.
        var damaged = Path.Combine(fixture.Root, "damaged-" + Guid.NewGuid().ToString("N") + ".storage");
        var bytes = await File.ReadAllBytesAsync(file);
        bytes[bytes.Length / 2] ^= 0x5A;
        await File.WriteAllBytesAsync(damaged, bytes);
        var nowhere = await fixture.NewAddressAsync("sqlite");
        var refused = await ToolFixture.RunAsync("restore", damaged, "--to", nowhere);
        Assert.True(refused.ExitCode == 3, refused.ToString());
        Assert.Contains("is damaged", refused.StandardError, StringComparison.Ordinal);
        Assert.Contains("nothing was restored", refused.StandardError, StringComparison.Ordinal);
        Assert.False(File.Exists(nowhere["sqlite:".Length..]));
    }

    [Fact]
    public async Task Rollback_drill_json_to_sqlite_app_writes_then_back_to_json_with_replace()
    {
        var (json, _) = await fixture.SeedAsync("json", 2005, bulkPartitions: 10);
        var sqlite = await fixture.NewAddressAsync("sqlite");
        var up = await ToolFixture.RunAsync("migrate", "--from", json, "--to", sqlite, "--indexes", fixture.IndexFile, "--execute");
        Assert.True(up.ExitCode == 0, up.ToString());

        // The app runs on SQLite: it updates, deletes, appends, creates a partition and deletes one.
        await using (var app = await ToolFixture.OpenAsync(sqlite))
        {
            await app.PutAsync("customer-00001", "orders", "o-1", """{"total":99}""");
            await app.DeleteAsync("customer-00002", "profiles", "me");
            await app.AppendAsync("customer-00003", "cart", [EventData.Create("checked-out", """{"at":1}""")]);
            await app.PutAsync("customer-new", "profiles", "me", """{"name":"new"}""");
            await app.DeletePartitionAsync("customer-00004");
        }

        // Back to JSON: the JSON store holds the old data; the plan says so, and without --replace it is refused.
        var before = await ToolFixture.DigestAsync(json);
        var dry = await ToolFixture.RunAsync("migrate", "--from", sqlite, "--to", json, "--indexes", fixture.IndexFile, "--json");
        Assert.True(dry.ExitCode == 5, dry.ToString());
        Assert.Equal(before, await ToolFixture.DigestAsync(json));
        Assert.Equal(3, dry.Event("plan").GetProperty("different").GetInt64());
        Assert.Equal(1, dry.Event("plan").GetProperty("new").GetInt64());
        Assert.Equal(1, dry.Event("plan").GetProperty("onlyInDestination").GetInt64());
        var refused = await ToolFixture.RunAsync("migrate", "--from", sqlite, "--to", json, "--indexes", fixture.IndexFile, "--execute");
        Assert.True(refused.ExitCode == 5, refused.ToString());
        Assert.Equal(before, await ToolFixture.DigestAsync(json));
        var back = await ToolFixture.RunAsync("migrate", "--from", sqlite, "--to", json, "--indexes", fixture.IndexFile, "--execute", "--replace", "--json");
        Assert.True(back.ExitCode == 0, back.ToString());
        var copied = back.Event("copied");
        Assert.Equal(1, copied.GetProperty("created").GetInt64());
        Assert.Equal(3, copied.GetProperty("replaced").GetInt64());
        Assert.Equal(1, copied.GetProperty("deleted").GetInt64());

        var verify = await ToolFixture.RunAsync("verify", sqlite, json, "--indexes", fixture.IndexFile);
        Assert.True(verify.ExitCode == 0, verify.ToString());
        Assert.Equal(await ToolFixture.DigestAsync(sqlite), await ToolFixture.DigestAsync(json));
        await using var rolledBack = await ToolFixture.OpenAsync(json);
        Assert.Null(await rolledBack.GetAsync("customer-00002", "profiles", "me"));
        Assert.NotNull(await rolledBack.GetAsync("customer-new", "profiles", "me"));
    }
}
