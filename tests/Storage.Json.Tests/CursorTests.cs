using System.Text;
using Microsoft.Extensions.Time.Testing;
using Storage.CrashWriter;
using Storage.Json.IO;
using Storage.Json.Tests.Infrastructure;

namespace Storage.Json.Tests;

/// <summary>
/// The store-wide cursor's journal (changes.jsonl, see docs/json-backend.md): it survives a reopen, a
/// journal left unclosed (a kill, a crash) is repaired from the partition files and truncates older
/// cursors, an append in progress is ignored, compaction keeps positions, a failed append is retried,
/// and a store without a journal (an earlier version) lists every partition from 0.
/// </summary>
public sealed class CursorTests
{
    private const string Notes = "notes";

    [Fact]
    public async Task The_journal_survives_a_reopen_with_its_positions_and_marks_and_positions_continue_above_them()
    {
        using var temp = new TempDirectory();
        var options = new JsonStoreOptions { Directory = temp.Path };
        PartitionChangePage before;
        await using (var store = JsonStore.Open(options))
        {
            await store.PutAsync("a", Notes, "k", "1");
            await store.PutAsync("b", Notes, "k", "1");
            await store.PutAsync("a", Notes, "k", "2");
            await store.DeletePartitionAsync("b");
            before = await Cursor(store).ReadChangedPartitionsAsync(0);
            Assert.Equal(["a r2 @3", "b r1 deleted @4"], before.Items.Select(Describe));
            Assert.Equal(4, before.LastPosition);
        }

        Assert.EndsWith("\n{\"closed\":true}\n", await File.ReadAllTextAsync(JournalPath(temp.Path)), StringComparison.Ordinal);
        await using (var store = JsonStore.Open(options))
        {
            var after = await Cursor(store).ReadChangedPartitionsAsync(0);
            Assert.Equal(before.Items, after.Items);
            Assert.Equal(before.LastPosition, after.LastPosition);

            await store.PutAsync("c", Notes, "k", "1");
            var next = await Cursor(store).ReadChangedPartitionsAsync(before.LastPosition);
            // Created after b's delete raised the revision floor to 1.
            Assert.Equal(["c r2 @5"], next.Items.Select(Describe));
        }
    }

    [Fact]
    public async Task A_journal_without_its_closed_line_is_repaired_from_the_partition_files_and_truncates_older_cursors()
    {
        using var temp = new TempDirectory();
        var options = new JsonStoreOptions { Directory = temp.Path };
        await using (var store = JsonStore.Open(options))
        {
            await store.PutAsync("a", Notes, "k", "1");
            await store.PutAsync("b", Notes, "k", "1");
            await store.PutAsync("gone", Notes, "k", "1");
            await store.PutAsync("b", Notes, "k", "2");
        }

        // As a power loss leaves it: the closed line and b's last record lost, "gone"'s file removed.
        var lines = (await File.ReadAllLinesAsync(JournalPath(temp.Path))).ToList();
        Assert.Equal("{\"closed\":true}", lines[^1]);
        Assert.Contains("\"position\":4", lines[^2], StringComparison.Ordinal);
        await File.WriteAllTextAsync(JournalPath(temp.Path), string.Join('\n', lines.Take(lines.Count - 2)) + "\n");
        File.Delete(Path.Combine(temp.Path, "partitions", PartitionFileNames.Encode("gone")));

        await using (var store = JsonStore.Open(options))
        {
            const long jumped = 3 + ChangeJournal.RepairJump;
            var error = await Assert.ThrowsAsync<ChangedPartitionsTruncatedException>(() => Cursor(store).ReadChangedPartitionsAsync(3).AsTask());
            Assert.Equal(jumped, error.OldestResumablePosition);

            // a is as its record says; b is listed again at its file's revision; gone leaves a mark.
            var all = await Cursor(store).ReadChangedPartitionsAsync(0);
            Assert.Equal(["a r1 @1", $"b r2 @{jumped + 1}", $"gone r1 deleted @{jumped + 2}"], all.Items.Select(Describe));

            await store.PutAsync("a", Notes, "k", "2");
            Assert.Equal([$"a r2 @{jumped + 3}"], (await Cursor(store).ReadChangedPartitionsAsync(all.LastPosition)).Items.Select(Describe));
        }
    }

    [Fact]
    public async Task After_kill_9_of_a_writer_the_journal_is_repaired_lists_every_partition_at_its_revision_and_truncates_the_cursor_read_before()
    {
        using var temp = new TempDirectory();
        using (var writer = CrashWriterProcess.Start(temp.Path, seed: 7))
        {
            Assert.NotNull(await writer.WaitForLineAsync(TimeSpan.FromSeconds(60), CrashLog.Open));
            var deadline = DateTime.UtcNow.AddSeconds(60);
            while (writer.Lines.Count(l => l.StartsWith(CrashLog.Ack, StringComparison.Ordinal)) < 5 && DateTime.UtcNow < deadline && !writer.HasExited)
            {
                await Task.Delay(20);
            }

            writer.Kill();
        }

        // What a reader in another process saw before the kill.
        var seen = ChangeJournal.Read(new PosixFileSystem(), temp.Path)!;
        Assert.False(seen.Closed);
        Assert.True(seen.Current > 0, "The writer wrote nothing before it was killed.");

        await using var store = JsonStore.Open(new JsonStoreOptions { Directory = temp.Path });
        var error = await Assert.ThrowsAsync<ChangedPartitionsTruncatedException>(() => Cursor(store).ReadChangedPartitionsAsync(seen.Current).AsTask());
        Assert.True(error.OldestResumablePosition >= seen.Current + ChangeJournal.RepairJump);

        var listed = (await Cursor(store).ReadChangedPartitionsAsync(0, StoreLimits.MaxPageSize)).Items.Where(i => !i.Deleted).Select(i => new PartitionInfo(i.Partition, i.Revision)).OrderBy(i => i.Partition, StringComparer.Ordinal);
        var partitions = (await store.ListPartitionsAsync()).Items.OrderBy(i => i.Partition, StringComparer.Ordinal);
        Assert.Equal(partitions, listed);
    }

    [Fact]
    public void A_last_line_without_its_newline_is_an_append_in_progress_and_is_ignored()
    {
        var complete = "{\"format\":1,\"oldest\":0}\n{\"position\":1,\"partition\":\"a\",\"revision\":1}\n";
        var journal = Encoding.UTF8.GetBytes(complete + "{\"position\":2,\"partition\":\"b\",\"revision\":1}");

        var contents = ChangeJournal.Parse(journal, "changes.jsonl");

        Assert.Equal((1L, false), (contents.Current, contents.Closed));
        Assert.Equal(["a"], contents.Latest.Keys);
        Assert.Equal(2, ChangeJournal.Parse(Encoding.UTF8.GetBytes(complete + "{\"position\":2,\"partition\":\"b\",\"revision\":1}\n"), "changes.jsonl").Current);
        Assert.False(ChangeJournal.Parse(Encoding.UTF8.GetBytes(complete + "{\"closed\":true}"), "changes.jsonl").Closed);
        Assert.True(ChangeJournal.Parse(Encoding.UTF8.GetBytes(complete + "{\"closed\":true}\n"), "changes.jsonl").Closed);
        Assert.False(ChangeJournal.Parse(Encoding.UTF8.GetBytes(complete + "{\"closed\":true}\n{\"position\":2,\"partition\":\"b\",\"revision\":1}\n"), "changes.jsonl").Closed);
    }

    [Fact]
    public async Task A_partial_line_on_disk_is_not_read_and_the_owners_next_append_writes_over_it()
    {
        using var temp = new TempDirectory();
        await using var store = JsonStore.Open(new JsonStoreOptions { Directory = temp.Path });
        await store.PutAsync("a", Notes, "k", "1");
        await using (var journal = new FileStream(JournalPath(temp.Path), FileMode.Append, FileAccess.Write, FileShare.ReadWrite))
        {
            await journal.WriteAsync("{\"position\":2,\"partition\":\"x\",\"rev"u8.ToArray());
        }

        var page = await Cursor(store).ReadChangedPartitionsAsync(0);
        Assert.Equal(["a r1 @1"], page.Items.Select(Describe));
        Assert.Equal(1, page.LastPosition);

        await store.PutAsync("b", Notes, "k", "1");
        Assert.Equal(["a r1 @1", "b r1 @2"], (await Cursor(store).ReadChangedPartitionsAsync(0)).Items.Select(Describe));
        Assert.DoesNotContain("\"x\"", await File.ReadAllTextAsync(JournalPath(temp.Path)), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Compaction_keeps_one_record_per_partition_at_its_position()
    {
        var fs = FaultChecks.NewFileSystem();
        await using (var store = FaultChecks.Open(fs))
        {
            await store.PutAsync("b", Notes, "k", "1");
            await store.PutAsync("gone", Notes, "k", "1");
            await store.DeletePartitionAsync("gone");
            var writes = (2 * 2) + ChangeJournal.CompactionSlack + 10;
            for (var i = 0; i < writes; i++)
            {
                await store.PutAsync("a", Notes, "k", i.ToString(System.Globalization.CultureInfo.InvariantCulture));
            }

            var last = 3 + writes;
            var lines = Encoding.UTF8.GetString(fs.ReadAllBytes(JournalPath(FaultChecks.DataDirectory))).Split('\n', StringSplitOptions.RemoveEmptyEntries);
            Assert.True(lines.Length < 20, $"The journal holds {lines.Length} lines: it was not compacted.");
            var page = await Cursor(store).ReadChangedPartitionsAsync(0);
            // a was created after gone's delete raised the revision floor to 1.
            Assert.Equal(["b r1 @1", "gone r1 deleted @3", $"a r{writes + 1} @{last}"], page.Items.Select(Describe));
            Assert.Equal(last, page.LastPosition);
        }

        await using (var store = FaultChecks.Open(fs))
        {
            await store.PutAsync("b", Notes, "k", "2");
            Assert.Equal([$"b r2 @{4 + (2 * 2) + ChangeJournal.CompactionSlack + 10}"], (await Cursor(store).ReadChangedPartitionsAsync(3 + (2 * 2) + ChangeJournal.CompactionSlack + 10)).Items.Select(Describe));
        }
    }

    [Fact]
    public async Task A_failed_append_leaves_the_write_acknowledged_and_the_next_append_writes_its_record_first()
    {
        var fs = FaultChecks.NewFileSystem();
        await using var store = FaultChecks.Open(fs);
        await store.PutAsync("a", Notes, "k", "1");

        // A put's writes: its temp file, then the journal (torn: a prefix of the record reaches the file).
        fs.InjectFault(FileSystemOperation.Write, 2, tornLength: 20);
        Assert.Equal(1, await store.PutAsync("b", Notes, "k", "1"));
        Assert.Equal(["a r1 @1"], Describe(ChangeJournal.Read(fs, FaultChecks.DataDirectory)!));

        // The next append writes the kept record first, over the torn one; so does the owner's next read.
        await store.PutAsync("c", Notes, "k", "1");
        Assert.Equal(["a r1 @1", "b r1 @2", "c r1 @3"], Describe(ChangeJournal.Read(fs, FaultChecks.DataDirectory)!));
        fs.InjectFault(FileSystemOperation.Write, 2);
        await store.PutAsync("d", Notes, "k", "1");
        Assert.Equal(["a r1 @1", "b r1 @2", "c r1 @3", "d r1 @4"], (await Cursor(store).ReadChangedPartitionsAsync(0)).Items.Select(Describe));
    }

    [Fact]
    public async Task A_purge_drops_the_marks_past_the_tombstone_cutoff_and_raises_the_oldest_position_durably()
    {
        var clock = new FakeTimeProvider(FaultChecks.Epoch);
        var fs = FaultChecks.NewFileSystem();
        var options = new JsonStoreOptions { Directory = FaultChecks.DataDirectory, TimeProvider = clock, TombstoneRetention = TimeSpan.FromDays(1) };
        await using (var store = JsonStore.Open(options, fs))
        {
            await store.PutAsync("a", Notes, "k", "1");
            await store.PutAsync("gone", Notes, "k", "1");
            await store.DeletePartitionAsync("gone");
            clock.Advance(TimeSpan.FromDays(2));
            await store.PutAsync("b", Notes, "k", "1");
            await store.PurgeExpiredAsync();

            Assert.Equal(["a r1 @1", "b r2 @4"], (await Cursor(store).ReadChangedPartitionsAsync(0)).Items.Select(Describe));
            Assert.Equal(3, (await Assert.ThrowsAsync<ChangedPartitionsTruncatedException>(() => Cursor(store).ReadChangedPartitionsAsync(2).AsTask())).OldestResumablePosition);
        }

        // A clean dispose makes the journal durable, closed line included: no repair after a power loss.
        fs.SimulatePowerLoss();
        await using (var store = JsonStore.Open(options, fs))
        {
            Assert.Equal(3, (await Assert.ThrowsAsync<ChangedPartitionsTruncatedException>(() => Cursor(store).ReadChangedPartitionsAsync(2).AsTask())).OldestResumablePosition);
        }
    }

    [Fact]
    public async Task A_store_without_a_journal_gets_one_at_open_that_lists_every_partition_from_0()
    {
        using var temp = FormatTests.CopyFormat1Store();
        Assert.False(File.Exists(JournalPath(temp.Path)));
        await using (var store = JsonStore.Open(new JsonStoreOptions { Directory = temp.Path }))
        {
            var page = await Cursor(store).ReadChangedPartitionsAsync(0);
            Assert.Equal(["legacy r6 @1"], page.Items.Select(Describe));
            Assert.Equal(1, page.LastPosition);
        }

        using var written = new TempDirectory();
        await using (var store = JsonStore.Open(new JsonStoreOptions { Directory = written.Path }))
        {
            await store.PutAsync("b", Notes, "k", "1");
            await store.PutAsync("a", Notes, "k", "1");
            await store.PutAsync("a", Notes, "k", "2");
        }

        File.Delete(JournalPath(written.Path));
        await using (var store = JsonStore.Open(new JsonStoreOptions { Directory = written.Path }))
        {
            Assert.Equal(["a r2 @1", "b r1 @2"], (await Cursor(store).ReadChangedPartitionsAsync(0)).Items.Select(Describe));
        }
    }

    private static IStoreExport Cursor(JsonStore store) => store;

    private static string JournalPath(string directory) => Path.Combine(directory, ChangeJournal.FileName);

    private static List<string> Describe(JournalContents journal) => journal.Page(0, StoreLimits.MaxPageSize, 0).Items.Select(Describe).ToList();

    private static string Describe(PartitionChange change) => $"{change.Partition} r{change.Revision}{(change.Deleted ? " deleted" : string.Empty)} @{change.Position}";
}
