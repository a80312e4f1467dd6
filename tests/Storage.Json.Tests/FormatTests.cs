using System.Text;
using Storage.Json.Tests.Infrastructure;

namespace Storage.Json.Tests;

/// <summary>
/// Partition-file formats: a format-1 file (written by the library before streams existed, checked
/// in under Data/format1) is read as it is, its change feed starts at its current revision, and
/// its next commit writes it as format 2 without losing anything; a newer format is refused.
/// </summary>
public sealed class FormatTests
{
    private const string Legacy = "legacy";
    private const string Notes = "notes";

    // What Data/format1 holds: revision 6, written by the format-1 writer.
    private const long LegacyRevision = 6;

    [Fact]
    public async Task A_format_1_partition_file_reads_its_documents_and_sequences_and_is_left_unchanged_by_reads()
    {
        using var temp = CopyFormat1Store();
        var path = PartitionPath(temp.Path, Legacy);
        var original = await File.ReadAllBytesAsync(path);
        Assert.StartsWith("{\n  \"format\": 1,", Encoding.UTF8.GetString(original), StringComparison.Ordinal);

        await using (var store = JsonStore.Open(new JsonStoreOptions { Directory = temp.Path }))
        {
            var a = await store.GetAsync(Legacy, Notes, "a");
            Assert.Equal((6L, """{"text":"first, edited","n":12345678901234567890}"""), (a!.Version, a.GetJsonText()));
            Assert.Equal(new DateTimeOffset(2100, 1, 1, 0, 0, 0, TimeSpan.Zero), (await store.GetAsync(Legacy, Notes, "b"))!.ExpiresAt);
            Assert.Null(await store.GetAsync(Legacy, Notes, "gone"));
            Assert.Equal(5, (await store.GetAsync(Legacy, "tasks", "t1"))!.Version);
            Assert.Equal(3, await store.GetSequenceAsync(Legacy, "next_id"));
            Assert.Equal([new PartitionInfo(Legacy, LegacyRevision)], (await store.ListPartitionsAsync()).Items);
            Assert.Empty((await store.ListStreamsAsync(Legacy)).Items);
            Assert.Equal(0, (await store.ReadStreamAsync(Legacy, "audit")).StreamVersion);
        }

        Assert.Equal(original, await File.ReadAllBytesAsync(path));
    }

    [Fact]
    public async Task The_change_feed_of_a_format_1_partition_starts_over_from_0_or_resumes_at_its_current_revision()
    {
        using var temp = CopyFormat1Store();
        await using var store = JsonStore.Open(new JsonStoreOptions { Directory = temp.Path });

        // From 0: every live document at its version; the sequence at the current revision (its
        // last increment's revision is not in a format-1 file); no tombstones (none were kept).
        var all = await store.ReadChangesAsync(Legacy, 0);
        Assert.Equal(
            ["put r2 notes/b", "put r5 tasks/t1", "put r6 notes/a", "sequence r6 next_id=3"],
            all.Items.Select(Describe));
        Assert.Equal((LegacyRevision, false), (all.LastRevision, all.HasMore));

        // The history before the current revision is unknown: older readers must start over.
        var truncated = await Assert.ThrowsAsync<ChangeFeedTruncatedException>(() => store.ReadChangesAsync(Legacy, LegacyRevision - 1).AsTask());
        Assert.Equal((LegacyRevision - 1, LegacyRevision), (truncated.AfterRevision, truncated.OldestResumableRevision));
        var current = await store.ReadChangesAsync(Legacy, LegacyRevision);
        Assert.Equal((0, LegacyRevision, false), (current.Items.Count, current.LastRevision, current.HasMore));
    }

    [Fact]
    public async Task The_next_commit_writes_a_format_1_partition_as_format_2_and_keeps_everything()
    {
        using var temp = CopyFormat1Store();
        var path = PartitionPath(temp.Path, Legacy);
        var options = new JsonStoreOptions { Directory = temp.Path };
        await using (var store = JsonStore.Open(options))
        {
            var result = await store.CommitAsync(Legacy, [WriteOperation.Append("audit", [EventData.Create("migrated", """{"from":1}""")], ExpectedStreamVersion.NoStream)]);
            Assert.Equal(LegacyRevision + 1, result.Revision);
        }

        Assert.StartsWith("{\n  \"format\": 2,", await File.ReadAllTextAsync(path), StringComparison.Ordinal);
        await using (var reopened = JsonStore.Open(options))
        {
            Assert.Equal("""{"text":"first, edited","n":12345678901234567890}""", (await reopened.GetAsync(Legacy, Notes, "a"))!.GetJsonText());
            Assert.Equal(new DateTimeOffset(2100, 1, 1, 0, 0, 0, TimeSpan.Zero), (await reopened.GetAsync(Legacy, Notes, "b"))!.ExpiresAt);
            Assert.Equal(3, await reopened.GetSequenceAsync(Legacy, "next_id"));
            Assert.Equal(4, await reopened.IncrementSequenceAsync(Legacy, "next_id"));
            Assert.Equal(
                ["put r2 notes/b", "put r5 tasks/t1", "put r6 notes/a", "append r7 audit@1", "sequence r8 next_id=4"],
                (await reopened.ReadChangesAsync(Legacy, 0)).Items.Select(Describe));

            // The migration does not invent history: the feed still resumes at the old current revision at the earliest.
            await Assert.ThrowsAsync<ChangeFeedTruncatedException>(() => reopened.ReadChangesAsync(Legacy, LegacyRevision - 1).AsTask());
            Assert.Equal(["append r7 audit@1", "sequence r8 next_id=4"], (await reopened.ReadChangesAsync(Legacy, LegacyRevision)).Items.Select(Describe));
        }
    }

    [Fact]
    public async Task A_partition_file_of_a_newer_format_is_refused_naming_the_file_and_left_unchanged()
    {
        using var temp = new TempDirectory();
        var options = new JsonStoreOptions { Directory = temp.Path };
        await using (var store = JsonStore.Open(options))
        {
            await store.PutAsync("alice", Notes, "k", "1");
        }

        var path = PartitionPath(temp.Path, "alice");
        var newer = Encoding.UTF8.GetBytes(Encoding.UTF8.GetString(await File.ReadAllBytesAsync(path)).Replace("\"format\": 2,", "\"format\": 3,", StringComparison.Ordinal));
        await File.WriteAllBytesAsync(path, newer);

        await using (var store = JsonStore.Open(options))
        {
            var error = await Assert.ThrowsAsync<UnsupportedFormatException>(() => store.ReadStreamAsync("alice", "audit").AsTask());
            Assert.Equal((3L, 2L), (error.FoundVersion, error.SupportedVersion));
            Assert.Contains(Path.GetFileName(path), error.Location, StringComparison.Ordinal);
            await Assert.ThrowsAsync<UnsupportedFormatException>(() => store.CommitAsync("alice", [WriteOperation.Append("audit", [EventData.Create("e", "1")])]).AsTask());
        }

        Assert.Equal(newer, await File.ReadAllBytesAsync(path));
    }

    private static string Describe(Change change) => change.Kind switch
    {
        ChangeKind.Put => $"put r{change.Revision} {change.Collection}/{change.Key}",
        ChangeKind.Delete => $"delete r{change.Revision} {change.Collection}/{change.Key}",
        ChangeKind.Append => $"append r{change.Revision} {change.Event!.Stream}@{change.Event.Version}",
        _ => $"sequence r{change.Revision} {change.SequenceName}={change.SequenceValue}",
    };

    internal static TempDirectory CopyFormat1Store()
    {
        var temp = new TempDirectory();
        var source = Path.Combine(AppContext.BaseDirectory, "Data", "format1");
        foreach (var file in Directory.EnumerateFiles(source, "*", SearchOption.AllDirectories))
        {
            var target = Path.Combine(temp.Path, Path.GetRelativePath(source, file));
            Directory.CreateDirectory(Path.GetDirectoryName(target)!);
            File.Copy(file, target);
        }

        return temp;
    }

    private static string PartitionPath(string directory, string partition) => Path.Combine(directory, "partitions", PartitionFileNames.Encode(partition));
}
