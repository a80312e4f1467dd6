using System.Text;
using Storage.Json.Tests.Infrastructure;
using Xunit.Abstractions;

namespace Storage.Json.Tests;

/// <summary>
/// Fuzzes the partition-key → file-name encoding: injective (also on case-insensitive file
/// systems), safe on every file system, reversible where direct, hashed only past the cap — and,
/// end to end, keys written as partitions stay inside the partitions directory and list back exactly.
/// </summary>
public sealed class PartitionFileNameFuzzTests(ITestOutputHelper output)
{
    /// <summary>The longest temp suffix the store appends (".&lt;16 hex&gt;.tmp"), with room to spare.</summary>
    private const int TempSuffixAllowance = 32;

    private static readonly HashSet<string> s_windowsDevices = new(
        ["CON", "PRN", "AUX", "NUL", "CONIN$", "CONOUT$", "CLOCK$", .. Enumerable.Range(0, 10).SelectMany(i => new[] { $"COM{i}", $"LPT{i}" })],
        StringComparer.OrdinalIgnoreCase);

    [Fact]
    public void Random_keys_map_to_distinct_safe_file_names_even_after_case_folding()
    {
        var seed = TestSettings.Seed(output);
        var count = TestSettings.Count(TestSettings.FuzzKeysVariable, 10_000);
        var keys = new RandomKeys(new Random(seed));
        var byName = new Dictionary<string, string>(StringComparer.Ordinal);
        var byLower = new Dictionary<string, string>(StringComparer.Ordinal);
        var byUpper = new Dictionary<string, string>(StringComparer.Ordinal);
        var failures = new List<string>();
        int direct = 0, hashed = 0, distinct = 0;

        for (var i = 0; i < count && failures.Count < 20; i++)
        {
            var key = keys.Next();
            var name = PartitionFileNames.Encode(key);
            if (byName.TryGetValue(name, out var known))
            {
                if (!string.Equals(known, key, StringComparison.Ordinal))
                {
                    failures.Add($"{Show(key)} and {Show(known)} share the name {name}");
                }

                continue;
            }

            distinct++;
            byName[name] = key;
            CheckUnique(byLower, name.ToLowerInvariant(), key, "after ToLowerInvariant", failures);
            CheckUnique(byUpper, name.ToUpperInvariant(), key, "after ToUpperInvariant", failures);
            if (ExplainUnsafe(name) is { } unsafeReason)
            {
                failures.Add($"{Show(key)} -> {name}: {unsafeReason}");
            }

            var expectHashed = DirectLength(key) > PartitionFileNames.MaxDirectNameLength;
            if (PartitionFileNames.IsHashed(name) != expectHashed)
            {
                failures.Add($"{Show(key)} -> {name}: the direct name would be {DirectLength(key)} characters (cap {PartitionFileNames.MaxDirectNameLength}), yet it is {(expectHashed ? "not " : string.Empty)}hashed");
            }

            if (expectHashed)
            {
                hashed++;
                if (PartitionFileNames.TryDecodeDirect(name, out _))
                {
                    failures.Add($"{Show(key)} -> {name}: a hashed name decodes as a direct one");
                }
            }
            else
            {
                direct++;
                if (!PartitionFileNames.TryDecodeDirect(name, out var decoded) || !string.Equals(decoded, key, StringComparison.Ordinal))
                {
                    failures.Add($"{Show(key)} -> {name}: decodes to {Show(decoded)}");
                }
            }
        }

        output.WriteLine($"{count} keys, {distinct} distinct: {direct} direct names, {hashed} hashed names.");
        Assert.True(failures.Count == 0, $"{TestSettings.Replay(seed)}\n{string.Join("\n", failures)}");
        Assert.True(direct > 0 && hashed > 0, $"The keys exercised only one form (direct {direct}, hashed {hashed}). {TestSettings.Replay(seed)}");
    }

    [Theory]
    [InlineData("p-~61.json")] // 'a' escaped although it stands for itself
    [InlineData("p-~4A.json")] // uppercase hex
    [InlineData("p-~4.json")] // truncated escape
    [InlineData("p-A.json")] // an unescaped unsafe character
    [InlineData("p-.json")] // the empty key
    [InlineData("p-~ff.json")] // not UTF-8
    [InlineData("p-~00.json")] // NUL
    [InlineData("p-abc.json.1234.tmp")]
    [InlineData("storage.json")]
    public void A_name_that_is_not_the_canonical_encoding_of_a_valid_key_does_not_decode(string name)
    {
        // Otherwise two files could stand for one key, or a stray file for a key it was never written for.
        Assert.False(PartitionFileNames.TryDecodeDirect(name, out _));
    }

    [Fact]
    public async Task Random_keys_written_as_partitions_stay_in_the_partitions_directory_and_list_back_exactly()
    {
        var seed = TestSettings.Seed(output);
        var count = Math.Max(300, TestSettings.Count(TestSettings.FuzzKeysVariable, 10_000) / 30);
        var generator = new RandomKeys(new Random(seed));
        var keys = new SortedSet<string>(StorageKeyComparer.Instance);
        while (keys.Count < count)
        {
            keys.Add(generator.Next());
        }

        using var temp = new TempDirectory();
        var options = new JsonStoreOptions { Directory = temp.Path, Durability = DurabilityMode.Relaxed };
        await using (var store = JsonStore.Open(options))
        {
            foreach (var key in keys)
            {
                await store.PutAsync(key, "docs", "k", Encoding.UTF8.GetBytes($$"""{"key":{{System.Text.Json.JsonSerializer.Serialize(key)}}}"""));
            }
        }

        // Every file is the manifest, the lock, the cursor's journal, or a partition file directly in partitions/ named for one of the keys.
        var partitions = Path.Combine(temp.Path, "partitions");
        var expectedFiles = keys.Select(k => Path.Combine(partitions, PartitionFileNames.Encode(k))).Append(Path.Combine(temp.Path, "storage.json")).Append(Path.Combine(temp.Path, "storage.lock")).Append(Path.Combine(temp.Path, ChangeJournal.FileName)).Order(StringComparer.Ordinal);
        Assert.Equal(expectedFiles, Directory.EnumerateFiles(temp.Path, "*", SearchOption.AllDirectories).Order(StringComparer.Ordinal));
        Assert.Equal([partitions], Directory.EnumerateDirectories(temp.Path, "*", SearchOption.AllDirectories));

        await using var reopened = JsonStore.Open(options);
        var listed = new List<string>();
        string? token = null;
        do
        {
            var page = await reopened.ListPartitionsAsync(new PartitionListOptions { Limit = 97, ContinuationToken = token });
            listed.AddRange(page.Items.Select(p => p.Partition));
            token = page.ContinuationToken;
        }
        while (token is not null);

        Assert.True(keys.SequenceEqual(listed), $"The partition listing differs from the keys written. {TestSettings.Replay(seed)}");
        foreach (var key in keys)
        {
            var document = await reopened.GetAsync(key, "docs", "k");
            Assert.True(document is not null && System.Text.Json.JsonDocument.Parse(document.Value).RootElement.GetProperty("key").GetString() == key, $"{Show(key)} reads back wrong. {TestSettings.Replay(seed)}");
        }
    }

    private static void CheckUnique(Dictionary<string, string> seen, string folded, string key, string how, List<string> failures)
    {
        if (seen.TryGetValue(folded, out var other) && !string.Equals(other, key, StringComparison.Ordinal))
        {
            failures.Add($"{Show(key)} and {Show(other)} share a name {how}: {folded}");
        }

        seen[folded] = key;
    }

    /// <summary>Why a name is not a safe file name on Linux, macOS and Windows alike, or null.</summary>
    private static string? ExplainUnsafe(string name)
    {
        if (name.Any(c => c > 0x7E || c < 0x20))
        {
            return "not printable ASCII";
        }

        if (name.Length + TempSuffixAllowance > 255 || name.Length > PartitionFileNames.MaxDirectNameLength)
        {
            return $"{name.Length} characters: too long for a temp suffix to fit in 255 bytes";
        }

        if (name.IndexOfAny(['<', '>', ':', '"', '/', '\\', '|', '?', '*']) >= 0)
        {
            return "a character Windows forbids";
        }

        if (name.StartsWith('.') || name.EndsWith('.') || name.EndsWith(' '))
        {
            return "starts with a dot or ends with a dot or a space";
        }

        if (s_windowsDevices.Contains(name.Split('.')[0].TrimEnd(' ')))
        {
            return "a reserved Windows device name";
        }

        return null;
    }

    /// <summary>The length of the direct name of a key: prefix, one character per safe byte and three per escaped one, suffix.</summary>
    private static int DirectLength(string key)
        => PartitionFileNames.DirectPrefix.Length + PartitionFileNames.Extension.Length
            + Encoding.UTF8.GetBytes(key).Sum(b => b is (>= (byte)'a' and <= (byte)'z') or (>= (byte)'0' and <= (byte)'9') or (byte)'_' or (byte)'-' ? 1 : 3);

    private static string Show(string key) => $"\"{string.Concat(key.Select(c => c is < ' ' or > '~' ? $"\\u{(int)c:x4}" : c.ToString()))}\"";
}
