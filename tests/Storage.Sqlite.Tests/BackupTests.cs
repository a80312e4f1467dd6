namespace Storage.Sqlite.Tests;

/// <summary>Online backup: a consistent, self-contained copy taken while writers go on.</summary>
public sealed class BackupTests : IDisposable
{
    private readonly TestDatabase _db = new();

    public void Dispose() => _db.Dispose();

    [Fact]
    public async Task A_backup_taken_while_a_writer_commits_is_a_consistent_copy_that_opens()
    {
        await using var store = _db.Open();
        var pad = new string('x', 2000);
        for (var i = 0; i < 100; i++)
        {
            await store.CommitAsync("p", [WriteOperation.Put("c", $"n{i:D6}", $"{{\"pad\":\"{pad}\"}}"), WriteOperation.Put("meta", "count", $"{i + 1}")]);
        }

        // A writer that keeps committing batches of (new document, new count) all through the backups.
        using var stop = new CancellationTokenSource();
        var committed = 100;
        var writer = Task.Factory.StartNew(
            () =>
            {
                for (var i = 100; !stop.IsCancellationRequested; i++)
                {
                    store.CommitAsync("p", [WriteOperation.Put("c", $"n{i:D6}", $"{{\"pad\":\"{pad}\"}}"), WriteOperation.Put("meta", "count", $"{i + 1}")]).AsTask().GetAwaiter().GetResult();
                    Volatile.Write(ref committed, i + 1);
                }
            },
            CancellationToken.None,
            TaskCreationOptions.LongRunning,
            TaskScheduler.Default);

        var copies = new List<(string Path, int CommittedBefore)>();
        for (var b = 0; b < 3; b++)
        {
            await Task.Delay(30);
            var copy = Path.Combine(_db.Directory, $"backup-{b}.db");
            var before = Volatile.Read(ref committed);
            await store.BackupAsync(copy);
            copies.Add((copy, before));
        }

        stop.Cancel();
        await writer;
        Assert.True(Volatile.Read(ref committed) > copies[^1].CommittedBefore, "the writer made no progress while the backups ran");

        foreach (var (copy, committedBefore) in copies)
        {
            // A single self-contained file: rollback journal mode, nothing beside it.
            Assert.DoesNotContain(Directory.GetFiles(_db.Directory), f => f.StartsWith(copy, StringComparison.Ordinal) && f != copy);
            using (var raw = _db.Connect(copy))
            {
                Assert.Equal("delete", TestDatabase.Scalar(raw, "PRAGMA journal_mode"));
            }

            await using var restored = SqliteStore.Open(new SqliteStoreOptions { Path = copy, CheckIntegrityOnOpen = true });
            var count = long.Parse((await restored.GetAsync("p", "meta", "count"))!.GetJsonText(), System.Globalization.CultureInfo.InvariantCulture);
            var keys = new List<string>();
            string? token = null;
            do
            {
                var page = await restored.ListAsync("p", "c", new ListOptions { Limit = 1000, ContinuationToken = token });
                keys.AddRange(page.Items.Select(d => d.Key));
                token = page.ContinuationToken;
            }
            while (token is not null);

            // Every batch all or nothing, and nothing acknowledged before the backup began is missing.
            Assert.Equal(Enumerable.Range(0, (int)count).Select(i => $"n{i:D6}"), keys);
            Assert.True(count >= committedBefore, $"the copy holds {count} batches; {committedBefore} were committed before the backup began");
            Assert.Equal(count + 0, (await restored.ListPartitionsAsync()).Items.Single().Revision);
        }
    }

    [Fact]
    public async Task A_backup_replaces_an_older_backup_at_the_same_path()
    {
        await using var store = _db.Open();
        var copy = Path.Combine(_db.Directory, "backup.db");
        await store.PutAsync("p", "c", "k", "1");
        await store.BackupAsync(copy);
        await store.PutAsync("p", "c", "k", "2");

        await store.BackupAsync(copy);

        await using var restored = SqliteStore.Open(new SqliteStoreOptions { Path = copy });
        Assert.Equal("2", (await restored.GetAsync("p", "c", "k"))!.GetJsonText());
    }

    [Fact]
    public async Task A_backup_that_cannot_be_written_raises_StorageException_and_leaves_nothing_behind()
    {
        await using var store = _db.Open();
        await store.PutAsync("p", "c", "k", "1");
        var missingDirectory = Path.Combine(_db.Directory, "no-such-directory", "backup.db");

        var e = await Assert.ThrowsAsync<StorageException>(async () => await store.BackupAsync(missingDirectory));

        Assert.Contains(missingDirectory, e.Message, StringComparison.Ordinal);
        Assert.False(Directory.Exists(Path.GetDirectoryName(missingDirectory)));
        Assert.Equal("1", (await store.GetAsync("p", "c", "k"))!.GetJsonText());
    }

    [Fact]
    public async Task A_backup_to_a_database_in_use_is_refused_and_leaves_it_alone()
    {
        await using var store = _db.Open();
        await store.PutAsync("p", "c", "k", "1");
        var otherPath = Path.Combine(_db.Directory, "other.db");
        await using var other = SqliteStore.Open(new SqliteStoreOptions { Path = otherPath });
        await other.PutAsync("p", "c", "k", "\"other\"");

        await Assert.ThrowsAsync<StorageException>(async () => await store.BackupAsync(otherPath));
        await Assert.ThrowsAsync<ArgumentException>(async () => await store.BackupAsync(_db.Path));

        Assert.Equal("\"other\"", (await other.GetAsync("p", "c", "k"))!.GetJsonText());
    }
}
