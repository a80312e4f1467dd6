using System.Security.Cryptography;
using System.Text;
using System.Text.Json.Nodes;
using Storage.Json.Internal;
using Storage.Json.Tests.Infrastructure;
using Xunit.Abstractions;

namespace Storage.Json.Tests;

/// <summary>
/// Damaged files on a real directory: every flipped byte and every truncation of a partition file
/// is reported as corrupt data naming the file — never read as a wrong value, never "repaired" —
/// and the file is left byte for byte as found, even after writes to the partition are attempted.
/// </summary>
public sealed class CorruptionTests(ITestOutputHelper output)
{
    private const string Notes = "notes";
    private const string Audit = "audit";
    private static readonly string s_hashedKey = "long/" + new string('h', 220);

    [Fact]
    public async Task Random_byte_flips_and_truncations_of_a_partition_file_are_reported_as_corrupt_and_leave_the_file_unchanged()
    {
        var seed = TestSettings.Seed(output);
        var mutations = TestSettings.Count(TestSettings.CorruptionMutationsVariable, 200);
        var random = new Random(seed);
        using var temp = new TempDirectory();
        var options = new JsonStoreOptions { Directory = temp.Path };
        await WritePartitionsAsync(options, "alice", "bob", s_hashedKey);

        var targets = new[] { "alice", s_hashedKey }.Select(key => new Target(key, Path.Combine(temp.Path, "partitions", PartitionFileNames.Encode(key)))).ToList();
        var failures = new List<string>();
        var counts = new SortedDictionary<string, int>(StringComparer.Ordinal);
        for (var i = 0; i < mutations && failures.Count < 10; i++)
        {
            var target = targets[i % targets.Count];
            var (kind, mutated, description) = Mutate(target.Original, random, i / targets.Count);
            counts[kind] = counts.GetValueOrDefault(kind) + 1;
            await File.WriteAllBytesAsync(target.Path, mutated);

            var label = $"mutation {i} of {Path.GetFileName(target.Path)}: {description}";
            if (await ExplainMissedCorruptionAsync(options, target, mutated) is { } failure)
            {
                failures.Add($"{label}: {failure}");
            }

            await File.WriteAllBytesAsync(target.Path, target.Original);
        }

        output.WriteLine($"Mutations: {string.Join(", ", counts.Select(c => $"{c.Value} {c.Key}"))}");
        Assert.True(failures.Count == 0, $"{TestSettings.Replay(seed)}\n{string.Join("\n", failures)}");
    }

    [Theory]
    [InlineData("\"who\":\"ann\"", "\"who\":\"bnn\"")]
    [InlineData("\"ip\":\"10.0.0.1\"", "\"ip\":\"10.0.0.2\"")]
    [InlineData("\"type\": \"signed-in\"", "\"type\": \"signed-on\"")]
    [InlineData("\"version\": 2,\n        \"revision\"", "\"version\": 3,\n        \"revision\"")]
    public async Task A_changed_byte_of_a_stored_event_is_reported_as_corrupt_by_every_operation_and_the_file_is_left_unchanged(string original, string damaged)
    {
        using var temp = new TempDirectory();
        var options = new JsonStoreOptions { Directory = temp.Path };
        await WritePartitionsAsync(options, "alice", "bob");
        var path = PartitionPath(temp.Path, "alice");
        var text = await File.ReadAllTextAsync(path);
        Assert.Equal(1, text.Split(original).Length - 1);
        var mutated = Encoding.UTF8.GetBytes(text.Replace(original, damaged, StringComparison.Ordinal));
        await File.WriteAllBytesAsync(path, mutated);

        await using (var store = JsonStore.Open(options))
        {
            await AssertCorruptAsync(path, () => store.ReadStreamAsync("alice", Audit).AsTask());
            await AssertCorruptAsync(path, () => store.ReadStreamAsync("alice", Audit, new ReadStreamOptions { Backwards = true, Limit = 1 }).AsTask());
            await AssertCorruptAsync(path, () => store.ListStreamsAsync("alice").AsTask());
            await AssertCorruptAsync(path, () => store.ReadChangesAsync("alice", 0).AsTask());
            await AssertCorruptAsync(path, () => store.GetAsync("alice", Notes, "k0").AsTask());
            await AssertCorruptAsync(path, () => store.CommitAsync("alice", [WriteOperation.Append(Audit, [EventData.Create("more", "3")], ExpectedStreamVersion.Exactly(2))]).AsTask());
            await AssertCorruptAsync(path, () => store.PurgeExpiredAsync().AsTask());
            Assert.Equal(2, (await store.ReadStreamAsync("bob", Audit)).StreamVersion);
        }

        Assert.Equal(mutated, await File.ReadAllBytesAsync(path));
    }

    [Theory]
    [InlineData("\"version\": 2,\n        \"revision\"", "\"version\": 3,\n        \"revision\"", "event 2 of stream 'audit' does not have version 2")]
    [InlineData("\"type\": \"signed-in\"", "\"type\": \"signed in\"", "event 1 of stream 'audit' has no valid type")]
    [InlineData("\"id\": \"", "\"id\": \"x", "event 1 of stream 'audit' has no valid id")]
    [InlineData("\"oldestResumable\": 1,", "\"oldestResumable\": 99,", "the oldest resumable revision is outside 1..")]
    [InlineData("\"audit\": [", "\"empty\": [],\n    \"audit\": [", "stream 'empty' is not valid")]
    public async Task A_hand_edited_file_with_a_recomputed_checksum_but_an_impossible_stream_is_reported_as_corrupt(string original, string edited, string reason)
    {
        using var temp = new TempDirectory();
        var options = new JsonStoreOptions { Directory = temp.Path };
        await WritePartitionsAsync(options, "alice");
        var path = PartitionPath(temp.Path, "alice");
        var text = await File.ReadAllTextAsync(path);
        Assert.Contains(original, text, StringComparison.Ordinal);
        await File.WriteAllBytesAsync(path, WithChecksum(text.Replace(original, edited, StringComparison.Ordinal)));

        await using var store = JsonStore.Open(options);

        var error = await Assert.ThrowsAsync<CorruptDataException>(() => store.ReadStreamAsync("alice", Audit).AsTask());
        Assert.Contains(reason, error.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData((byte)'[')]
    [InlineData((byte)'{')]
    [InlineData((byte)'"')]
    [InlineData((byte)'t')]
    [InlineData((byte)'n')]
    public async Task A_header_whose_format_is_not_a_number_is_reported_as_corrupt(byte replacement)
    {
        // {\n  "format": 2,… — byte 13 is the space before the format number (found by the random flips, seed 920644209).
        using var temp = new TempDirectory();
        var options = new JsonStoreOptions { Directory = temp.Path };
        await WritePartitionsAsync(options, "alice");
        var alice = PartitionPath(temp.Path, "alice");
        var damaged = await File.ReadAllBytesAsync(alice);
        Assert.Equal((byte)' ', damaged[13]);
        damaged[13] = replacement;
        await File.WriteAllBytesAsync(alice, damaged);

        await using (var store = JsonStore.Open(options))
        {
            await AssertCorruptAsync(alice, () => store.GetAsync("alice", Notes, "k0").AsTask());
        }

        Assert.Equal(damaged, await File.ReadAllBytesAsync(alice));
    }

    [Fact]
    public async Task A_partition_file_that_holds_another_partitions_key_is_reported_as_corrupt()
    {
        using var temp = new TempDirectory();
        var options = new JsonStoreOptions { Directory = temp.Path };
        await WritePartitionsAsync(options, "alice", "bob");
        var alice = PartitionPath(temp.Path, "alice");
        var swapped = await File.ReadAllBytesAsync(PartitionPath(temp.Path, "bob"));
        await File.WriteAllBytesAsync(alice, swapped);

        await using (var store = JsonStore.Open(options))
        {
            await AssertCorruptAsync(alice, () => store.GetAsync("alice", Notes, "k0").AsTask());
            await AssertCorruptAsync(alice, () => store.PutAsync("alice", Notes, "k0", """{"new":1}""").AsTask());
        }

        Assert.Equal(swapped, await File.ReadAllBytesAsync(alice));
    }

    [Fact]
    public async Task A_hashed_partition_file_that_holds_another_partitions_key_is_reported_as_corrupt()
    {
        using var temp = new TempDirectory();
        var options = new JsonStoreOptions { Directory = temp.Path };
        var other = s_hashedKey + "x";
        await WritePartitionsAsync(options, s_hashedKey, other);
        var path = PartitionPath(temp.Path, s_hashedKey);
        var swapped = await File.ReadAllBytesAsync(PartitionPath(temp.Path, other));
        await File.WriteAllBytesAsync(path, swapped);

        await using (var store = JsonStore.Open(options))
        {
            await AssertCorruptAsync(path, () => store.GetAsync(s_hashedKey, Notes, "k0").AsTask());
            await AssertCorruptAsync(path, () => store.ListPartitionsAsync().AsTask());
        }

        Assert.Equal(swapped, await File.ReadAllBytesAsync(path));
    }

    [Theory]
    [InlineData("format", "[2]")]
    [InlineData("format", "\"2\"")]
    [InlineData("revisionFloor", "{}")]
    [InlineData("revisionFloor", "true")]
    public async Task A_manifest_whose_numbers_are_not_numbers_is_reported_as_corrupt_and_nothing_is_changed(string member, string json)
    {
        using var temp = new TempDirectory();
        var options = new JsonStoreOptions { Directory = temp.Path };
        await WritePartitionsAsync(options, "alice");
        var manifestPath = Path.Combine(temp.Path, "storage.json");
        var manifest = JsonNode.Parse(await File.ReadAllBytesAsync(manifestPath))!.AsObject();
        manifest[member] = JsonNode.Parse(json);
        await File.WriteAllTextAsync(manifestPath, manifest.ToJsonString());
        var before = Snapshot(temp.Path);

        var error = Assert.Throws<CorruptDataException>(() => JsonStore.Open(options));

        Assert.Contains("storage.json", error.Location, StringComparison.Ordinal);
        Assert.Equal(before, Snapshot(temp.Path));
    }

    [Fact]
    public async Task A_manifest_with_a_newer_format_version_is_refused_and_nothing_is_changed()
    {
        using var temp = new TempDirectory();
        var options = new JsonStoreOptions { Directory = temp.Path };
        await WritePartitionsAsync(options, "alice");
        var manifestPath = Path.Combine(temp.Path, "storage.json");
        var manifest = JsonNode.Parse(await File.ReadAllBytesAsync(manifestPath))!.AsObject();
        var format = manifest["format"]!.GetValue<long>();
        manifest["format"] = format + 1;
        await File.WriteAllTextAsync(manifestPath, manifest.ToJsonString());
        var before = Snapshot(temp.Path);

        var error = Assert.Throws<UnsupportedFormatException>(() => JsonStore.Open(options));

        Assert.Equal(format + 1, error.FoundVersion);
        Assert.Equal(format, error.SupportedVersion);
        Assert.Contains("storage.json", error.Location, StringComparison.Ordinal);
        Assert.Equal(before, Snapshot(temp.Path));
    }

    [Fact]
    public async Task A_damaged_manifest_is_reported_as_corrupt_and_left_unchanged()
    {
        using var temp = new TempDirectory();
        var options = new JsonStoreOptions { Directory = temp.Path };
        await WritePartitionsAsync(options, "alice");
        var manifestPath = Path.Combine(temp.Path, "storage.json");
        var damaged = (await File.ReadAllBytesAsync(manifestPath))[..7];
        await File.WriteAllBytesAsync(manifestPath, damaged);

        var error = Assert.Throws<CorruptDataException>(() => JsonStore.Open(options));

        Assert.Contains("storage.json", error.Location, StringComparison.Ordinal);
        Assert.Equal(damaged, await File.ReadAllBytesAsync(manifestPath));
    }

    [Fact]
    public async Task A_store_whose_partitions_directory_was_removed_is_refused_as_corrupt_and_nothing_is_created()
    {
        using var temp = new TempDirectory();
        var options = new JsonStoreOptions { Directory = temp.Path };
        await WritePartitionsAsync(options, "alice");
        var partitions = Path.Combine(temp.Path, "partitions");
        Directory.Delete(partitions, recursive: true);
        var before = Snapshot(temp.Path);

        var error = Assert.Throws<CorruptDataException>(() => JsonStore.Open(options));

        Assert.Equal(temp.Path, error.Location);
        Assert.Equal(JsonErrors.PartitionsMissing, error.Reason);
        Assert.False(Directory.Exists(partitions), "The open recreated the partitions directory.");
        Assert.Equal(before, Snapshot(temp.Path));
    }

    [Fact]
    public async Task A_directory_without_a_manifest_is_created_as_a_new_empty_store()
    {
        using var temp = new TempDirectory();
        var directory = Path.Combine(temp.Path, "new", "store");
        var options = new JsonStoreOptions { Directory = directory };

        await using (var store = JsonStore.Open(options))
        {
            Assert.Empty((await store.ListPartitionsAsync()).Items);
            Assert.Equal(1, await store.PutAsync("alice", Notes, "k", "1"));
        }

        Assert.True(File.Exists(Path.Combine(directory, "storage.json")));
        await using var reopened = JsonStore.Open(options);
        Assert.Equal(["alice"], (await reopened.ListPartitionsAsync()).Items.Select(p => p.Partition));
    }

    [Theory]
    [InlineData("direct")]
    [InlineData("hashed")]
    public async Task A_damaged_partition_file_fails_the_purge_as_it_fails_the_partition_listing_whatever_its_name_form(string nameForm)
    {
        using var temp = new TempDirectory();
        var options = new JsonStoreOptions { Directory = temp.Path };
        var key = nameForm == "direct" ? "alice" : s_hashedKey;
        await WritePartitionsAsync(options, key, "bob");
        var path = PartitionPath(temp.Path, key);
        Assert.Equal(nameForm == "direct" ? "p-" : "h-", Path.GetFileName(path)[..2]);
        var damaged = await File.ReadAllBytesAsync(path);
        var value = "{\"k\":0}"u8.ToArray();
        damaged[damaged.AsSpan().IndexOf(value) + value.Length - 2] = (byte)'1';
        await File.WriteAllBytesAsync(path, damaged);

        await using (var store = JsonStore.Open(options))
        {
            await AssertCorruptAsync(path, () => store.ListPartitionsAsync().AsTask());
            await AssertCorruptAsync(path, () => store.PurgeExpiredAsync().AsTask());
        }

        Assert.Equal(damaged, await File.ReadAllBytesAsync(path));
    }

    [Fact]
    public async Task Leftover_temp_files_are_removed_at_open_and_the_data_is_intact()
    {
        using var temp = new TempDirectory();
        var options = new JsonStoreOptions { Directory = temp.Path };
        await WritePartitionsAsync(options, "alice");
        var leftovers = new[]
        {
            PartitionPath(temp.Path, "alice") + ".0123456789abcdef.tmp",
            PartitionPath(temp.Path, "carol") + ".fedcba9876543210.tmp",
            Path.Combine(temp.Path, "storage.json.00112233aabbccdd.tmp"),
        };
        foreach (var leftover in leftovers)
        {
            await File.WriteAllTextAsync(leftover, "{\"half\": ");
        }

        await using var store = JsonStore.Open(options);

        Assert.All(leftovers, leftover => Assert.False(File.Exists(leftover), $"{leftover} is still there."));
        Assert.Equal("""{"k":0}""", (await store.GetAsync("alice", Notes, "k0"))?.GetJsonText());
        Assert.Equal(["alice"], (await store.ListPartitionsAsync()).Items.Select(p => p.Partition));
    }

    private static async Task WritePartitionsAsync(JsonStoreOptions options, params string[] partitions)
    {
        await using var store = JsonStore.Open(options);
        foreach (var partition in partitions)
        {
            for (var k = 0; k < 4; k++)
            {
                await store.PutAsync(partition, Notes, $"k{k}", $$"""{"k":{{k}}}""", expiresAt: k == 3 ? DateTimeOffset.UtcNow.AddYears(1) : null);
            }

            await store.PutAsync(partition, "other", "big", """{"n":12345678901234567890.5,"s":"é😀\u0001","a":[1,2,{"x":null}]}""");
            await store.IncrementSequenceAsync(partition, "ids", 7);
            await store.CommitAsync(partition, [WriteOperation.Append(Audit, [
                EventData.Create("signed-in", """{"who":"ann","at":[1,2.50,"é"]}""", """{"ip":"10.0.0.1"}"""),
                EventData.Create("signed-out", "null")])]);
            await store.PutAsync(partition, "other", "gone", "1");
            await store.DeleteAsync(partition, "other", "gone");
        }
    }

    /// <summary>
    /// Opens the store over the damaged file and tries everything that touches the partition:
    /// each must fail with the file named, the other partition must still read, and the file must be
    /// unchanged. Returns what went wrong, or null.
    /// </summary>
    private static async Task<string?> ExplainMissedCorruptionAsync(JsonStoreOptions options, Target target, byte[] mutated)
    {
        JsonStore store;
        try
        {
            store = JsonStore.Open(options);
        }
        catch (Exception e)
        {
            return ExplainWrongError(e, target.Path) is { } wrong ? $"open: {wrong}" : Unchanged(target, mutated);
        }

        await using (store)
        {
            var attempts = new (string What, Func<Task> Run)[]
            {
                ("get", () => store.GetAsync(target.Key, Notes, "k0").AsTask()),
                ("list", () => store.ListAsync(target.Key, Notes).AsTask()),
                ("sequence read", () => store.GetSequenceAsync(target.Key, "ids").AsTask()),
                ("put", () => store.PutAsync(target.Key, Notes, "k0", """{"overwritten":true}""").AsTask()),
                ("batch", () => store.CommitAsync(target.Key, [WriteOperation.Put(Notes, "k9", "1"), WriteOperation.Delete(Notes, "k1")]).AsTask()),
                ("increment", () => store.IncrementSequenceAsync(target.Key, "ids").AsTask()),
                ("stream read", () => store.ReadStreamAsync(target.Key, Audit).AsTask()),
                ("stream listing", () => store.ListStreamsAsync(target.Key).AsTask()),
                ("change feed", () => store.ReadChangesAsync(target.Key, 0).AsTask()),
                ("append", () => store.CommitAsync(target.Key, [WriteOperation.Append(Audit, [EventData.Create("more", "3")])]).AsTask()),
                ("partition listing", () => store.ListPartitionsAsync().AsTask()),
                ("purge", () => store.PurgeExpiredAsync().AsTask()),
            };
            foreach (var (what, run) in attempts)
            {
                Exception? thrown = null;
                try
                {
                    await run();
                }
                catch (Exception e)
                {
                    thrown = e;
                }

                if (ExplainWrongError(thrown, target.Path) is { } wrong)
                {
                    return $"{what}: {wrong}";
                }
            }

            if ((await store.GetAsync("bob", Notes, "k0"))?.GetJsonText() != """{"k":0}""")
            {
                return "the undamaged partition 'bob' no longer reads back";
            }
        }

        return Unchanged(target, mutated);
    }

    private static string? Unchanged(Target target, byte[] mutated)
        => File.ReadAllBytes(target.Path).AsSpan().SequenceEqual(mutated) ? null : "the damaged file was modified";

    /// <summary>
    /// Null when <paramref name="thrown"/> reports the damage of <paramref name="path"/>:
    /// <see cref="CorruptDataException"/>, or <see cref="UnsupportedFormatException"/> when the
    /// damage made the format number look newer (a refusal that names the file too).
    /// </summary>
    private static string? ExplainWrongError(Exception? thrown, string path) => thrown switch
    {
        null => "it succeeded on a damaged file",
        CorruptDataException corrupt when corrupt.Location.Contains(Path.GetFileName(path), StringComparison.Ordinal) => null,
        UnsupportedFormatException format when format.Location.Contains(Path.GetFileName(path), StringComparison.Ordinal) => null,
        CorruptDataException corrupt => $"the CorruptDataException names '{corrupt.Location}', not the damaged file",
        _ => $"{thrown.GetType().Name} instead of CorruptDataException: {thrown.Message}",
    };

    private static async Task AssertCorruptAsync(string path, Func<Task> run)
    {
        var error = await Assert.ThrowsAsync<CorruptDataException>(run);
        Assert.Contains(Path.GetFileName(path), error.Location, StringComparison.Ordinal);
    }

    /// <summary>
    /// One random mutation of a partition file, by position class in turn: the header (format
    /// number and the start of the JSON), the checksum digits, the structure of the body, a stored
    /// value, and truncation (to zero bytes on the first truncation).
    /// </summary>
    private static (string Kind, byte[] Mutated, string Description) Mutate(byte[] original, Random random, int round)
    {
        var text = Encoding.UTF8.GetString(original);
        var checksumStart = text.IndexOf("\"checksum\": \"", StringComparison.Ordinal) + "\"checksum\": \"".Length;
        const int checksumLength = 64;
        var values = ValueRanges(text);
        string kind;
        int position;
        switch (round % 5)
        {
            case 0:
                kind = "header";
                position = random.Next(checksumStart);
                break;
            case 1:
                kind = "checksum";
                position = checksumStart + random.Next(checksumLength);
                break;
            case 2:
                kind = "body";
                do
                {
                    position = random.Next(checksumStart + checksumLength, original.Length);
                }
                while (values.Any(v => position >= v.Start && position < v.End));

                break;
            case 3:
                kind = "value";
                var (start, end) = values[random.Next(values.Count)];
                position = random.Next(start, end);
                break;
            default:
                var length = round == 4 ? 0 : random.Next(original.Length);
                return ("truncation", original[..length], $"truncated from {original.Length} to {length} bytes");
        }

        var mutated = original.ToArray();
        mutated[position] ^= (byte)random.Next(1, 256);
        return (kind + " flip", mutated, $"{kind} byte {position} flipped from 0x{original[position]:x2} to 0x{mutated[position]:x2}");
    }

    /// <summary>
    /// The byte ranges of the stored values, event data and event metadata: the rest of each line
    /// after <c>"value": </c>, <c>"data": </c> or <c>"metadata": </c> (written raw, on one line).
    /// </summary>
    private static List<(int Start, int End)> ValueRanges(string text)
    {
        var ranges = new List<(int, int)>();
        foreach (var marker in new[] { "\"value\": ", "\"data\": ", "\"metadata\": " })
        {
            var found = ranges.Count;
            for (var i = text.IndexOf(marker, StringComparison.Ordinal); i >= 0; i = text.IndexOf(marker, i + 1, StringComparison.Ordinal))
            {
                var start = i + marker.Length;
                var end = text.IndexOf('\n', start);
                ranges.Add((Encoding.UTF8.GetByteCount(text.AsSpan(0, start)), Encoding.UTF8.GetByteCount(text.AsSpan(0, end))));
            }

            Assert.True(ranges.Count > found, $"The file has no {marker.Trim()} to damage.");
        }

        return ranges;
    }

    /// <summary>The file with its checksum recomputed, as a person editing it by hand would do (docs/json-backend.md).</summary>
    private static byte[] WithChecksum(string text)
    {
        var bytes = Encoding.UTF8.GetBytes(text);
        const string marker = "\"checksum\": \"";
        var start = Encoding.UTF8.GetByteCount(text.AsSpan(0, text.IndexOf(marker, StringComparison.Ordinal) + marker.Length));
        var hash = SHA256.HashData([.. bytes.AsSpan(0, start), .. bytes.AsSpan(start + 64)]);
        Encoding.ASCII.GetBytes(Convert.ToHexStringLower(hash)).CopyTo(bytes, start);
        return bytes;
    }

    private static string PartitionPath(string directory, string partition) => Path.Combine(directory, "partitions", PartitionFileNames.Encode(partition));

    private static Dictionary<string, string> Snapshot(string directory)
        => Directory.EnumerateFiles(directory, "*", SearchOption.AllDirectories)
            .Where(f => !f.EndsWith("storage.lock", StringComparison.Ordinal))
            .ToDictionary(f => f, f => Convert.ToHexString(File.ReadAllBytes(f)), StringComparer.Ordinal);

    private sealed record Target(string Key, string Path)
    {
        public byte[] Original { get; } = File.ReadAllBytes(Path);
    }
}
