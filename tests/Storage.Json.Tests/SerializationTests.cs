using System.Text;
using Microsoft.Extensions.Time.Testing;
using Storage.Json.Tests.Infrastructure;
using Xunit.Abstractions;

namespace Storage.Json.Tests;

/// <summary>
/// A commit writes each document's entry as its record keeps it (rendered once, when the document
/// was put or read) instead of serializing every document again. These tests check that the files
/// stay what a serialization from scratch writes, byte for byte: after every write of a seeded random
/// workload — puts (conditional, expiring, replacing), deletes, batches, stream appends, sequence
/// increments, concurrent writers sharing a commit, purges of expired documents and old tombstones,
/// partition deletes, reopening — each partition file equals <see cref="ReferencePartitionWriter"/>'s
/// output for the state the store holds in memory, and for the state the file itself parses to.
/// </summary>
public sealed class SerializationTests(ITestOutputHelper output)
{
    private static readonly string[] s_partitions = ["alice", "Bob"];
    private static readonly string[] s_collections = ["notes", "tasks"];

    // Keys and values the writer must escape (or, relaxed, must not): quotes, control characters,
    // a line separator, HTML characters, non-ASCII, a surrogate pair.
    private static readonly string[] s_keys = ["a", "b", "é/../1", "quote\"d", "tab\tkey", "emoji😀", "<html>&'", "line\u2028sep"];
    private static readonly string[] s_streams = ["audit", "é/log"];
    private static readonly string[] s_values =
    [
        """{"s":"é\"\\n","n":1}""",
        """[1,2.50,1e3,-0]""",
        "\"a string\"",
        "12345678901234567890",
        "null",
        """{ "spaced" : [ true , false ] }""",
        """{"big":""" + "\"" + new string('x', 3000) + "\"}",
    ];

    [Fact]
    public async Task Files_after_random_writes_equal_a_serialization_from_scratch_byte_for_byte()
    {
        var seed = TestSettings.Seed(output);
        var random = new Random(seed);
        using var temp = new TempDirectory();
        var time = new FakeTimeProvider(FaultChecks.Epoch);
        var options = new JsonStoreOptions { Directory = temp.Path, TimeProvider = time, Durability = DurabilityMode.Relaxed, TombstoneRetention = TimeSpan.FromMinutes(1) };
        var store = JsonStore.Open(options);
        var checkedFiles = 0;
        try
        {
            for (var step = 0; step < 400; step++)
            {
                time.Advance(TimeSpan.FromMilliseconds(random.Next(0, 3_000)));
                var what = await RunRandomWriteAsync(store, random, time);
                if (what == "reopen")
                {
                    await store.DisposeAsync();
                    store = JsonStore.Open(options);
                }

                foreach (var partition in s_partitions)
                {
                    checkedFiles += CheckFile(store, temp.Path, partition, $"step {step} ({what}), seed {seed}") ? 1 : 0;
                }
            }
        }
        finally
        {
            await store.DisposeAsync();
        }

        output.WriteLine($"{checkedFiles} files compared.");
        Assert.True(checkedFiles > 200, $"Only {checkedFiles} files were compared. {TestSettings.Replay(seed)}");
    }

    /// <summary>Compares a partition's file with the reference serialization of the store's in-memory state and of its own content; whether there was a file.</summary>
    private static bool CheckFile(JsonStore store, string directory, string partition, string where)
    {
        var path = Path.Combine(directory, "partitions", PartitionFileNames.Encode(partition));
        var cached = store.CachedSnapshot(partition);
        if (!File.Exists(path))
        {
            Assert.False(cached is { Exists: true }, $"{where}: '{partition}' has no file but the store holds it.");
            return false;
        }

        var bytes = File.ReadAllBytes(path);
        AssertSameBytes(ReferencePartitionWriter.Serialize(PartitionFile.Parse(bytes, path, partition)), bytes, $"{where}: the file of '{partition}' against its own content serialized from scratch");
        if (cached is not null)
        {
            AssertSameBytes(ReferencePartitionWriter.Serialize(cached), bytes, $"{where}: the file of '{partition}' against the store's state serialized from scratch");
        }

        return true;
    }

    private static void AssertSameBytes(byte[] expected, byte[] actual, string what)
    {
        if (expected.AsSpan().SequenceEqual(actual))
        {
            return;
        }

        // Past the checksum (which differs whenever anything does), where the content first differs.
        var checksumEnd = "{\n  \"format\": 2,\n  \"checksum\": \""u8.Length + 64;
        var at = expected.AsSpan().CommonPrefixLength(actual);
        if (at < checksumEnd && expected.Length > checksumEnd && actual.Length > checksumEnd)
        {
            at = checksumEnd + expected.AsSpan(checksumEnd).CommonPrefixLength(actual.AsSpan(checksumEnd));
        }

        string Around(byte[] bytes) => Encoding.UTF8.GetString(bytes, Math.Max(0, at - 80), Math.Min(bytes.Length, at + 80) - Math.Max(0, at - 80));
        Assert.Fail($"{what}: they differ at byte {at} of {expected.Length} (expected) and {actual.Length} (written).\nExpected around it:\n{Around(expected)}\nWritten:\n{Around(actual)}");
    }

    private static async Task<string> RunRandomWriteAsync(JsonStore store, Random random, FakeTimeProvider time)
    {
        var partition = Pick(random, s_partitions);
        switch (random.Next(100))
        {
            case < 35:
                await PutOrConflictAsync(store, partition, await RandomPutAsync(store, partition, random, time));
                return "put";
            case < 45:
                await PutOrConflictAsync(store, partition, WriteOperation.Delete(Pick(random, s_collections), Pick(random, s_keys)));
                return "delete";
            case < 55:
                var batch = new List<WriteOperation>();
                for (var i = random.Next(1, 6); i > 0; i--)
                {
                    batch.Add(random.Next(3) == 0
                        ? WriteOperation.Delete(Pick(random, s_collections), Pick(random, s_keys))
                        : WriteOperation.Put(Pick(random, s_collections), Pick(random, s_keys), Pick(random, s_values), expiresAt: RandomExpiry(random, time)));
                }

                if (random.Next(2) == 0)
                {
                    batch.Add(RandomAppend(random));
                }

                // A key twice in one batch is refused before anything is written; that is not what this test is about.
                if (batch.Where(o => o.Kind != WriteOperationKind.Append).GroupBy(o => (o.Collection, o.Key)).All(g => g.Count() == 1))
                {
                    await PutOrConflictAsync(store, partition, [.. batch]);
                }

                return "batch";
            case < 67:
                await store.CommitAsync(partition, [RandomAppend(random)]);
                return "append";
            case < 72:
                await store.IncrementSequenceAsync(partition, random.Next(2) == 0 ? "next_id" : "other", random.Next(1, 4));
                return "increment";
            case < 80:
                // Writers that arrive together share one commit (several batches, one file write).
                var puts = new List<Task>();
                for (var i = 0; i < 6; i++)
                {
                    var put = WriteOperation.Put(Pick(random, s_collections), Pick(random, s_keys), Pick(random, s_values), expiresAt: RandomExpiry(random, time));
                    puts.Add(Task.Run(() => store.CommitAsync(partition, [put]).AsTask()));
                }

                await Task.WhenAll(puts);
                return "concurrent puts";
            case < 88:
                time.Advance(TimeSpan.FromSeconds(random.Next(0, 90)));
                await store.PurgeExpiredAsync();
                return "purge";
            case < 96:
                return "reopen";
            default:
                await store.DeletePartitionAsync(partition);
                return "partition delete";
        }
    }

    private static async Task<WriteOperation> RandomPutAsync(JsonStore store, string partition, Random random, FakeTimeProvider time)
    {
        var collection = Pick(random, s_collections);
        var key = Pick(random, s_keys);
        var condition = random.Next(3) switch
        {
            0 => WriteCondition.None,
            1 => WriteCondition.MustNotExist,
            _ => WriteCondition.MustMatchVersion((await store.GetAsync(partition, collection, key))?.Version ?? 1),
        };
        return WriteOperation.Put(collection, key, Pick(random, s_values), condition, RandomExpiry(random, time));
    }

    private static async Task PutOrConflictAsync(JsonStore store, string partition, params WriteOperation[] operations)
    {
        try
        {
            await store.CommitAsync(partition, operations);
        }
        catch (VersionConflictException)
        {
            // Part of the workload: nothing is written.
        }
    }

    private static WriteOperation RandomAppend(Random random)
    {
        var events = Enumerable.Range(0, random.Next(1, 4))
            .Select(_ => EventData.Create("happened", Pick(random, s_values), random.Next(3) switch { 0 => null, 1 => "null", _ => """{"by":"é"}""" }))
            .ToList();
        return WriteOperation.Append(Pick(random, s_streams), events);
    }

    private static DateTimeOffset? RandomExpiry(Random random, FakeTimeProvider time)
        => random.Next(3) == 0 ? time.GetUtcNow().AddMilliseconds(random.Next(1, 20_000)) : null;

    private static T Pick<T>(Random random, T[] items) => items[random.Next(items.Length)];
}
