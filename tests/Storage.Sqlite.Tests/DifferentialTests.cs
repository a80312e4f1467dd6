using System.Globalization;
using System.Text;
using Microsoft.Extensions.Time.Testing;
using Storage.Json;
using Xunit.Abstractions;

namespace Storage.Sqlite.Tests;

/// <summary>
/// Drives the SQLite store and the reference JSON store with the same seeded random operations and
/// compares every result, exception and listing. Prints the seed; set STORAGE_TEST_SEED to replay.
/// </summary>
public sealed class DifferentialTests(ITestOutputHelper output) : IDisposable
{
    private static readonly string[] s_partitions = ["alice", "Alice", "\U0001F600", "../x"];
    private static readonly string[] s_collections = ["moods", "theme"];
    private static readonly string[] s_keys = ["a", "ab", "abc", "b", "\uFFFF", "\U0001F600", "\U0010FFFF", "a\u0001", "CON", "k/1"];
    private readonly TestDatabase _db = new();

    public void Dispose() => _db.Dispose();

    [Fact]
    public async Task Sqlite_store_agrees_with_the_json_reference_on_a_random_operation_sequence()
    {
        var seed = Environment.GetEnvironmentVariable("STORAGE_TEST_SEED") is { } s ? int.Parse(s, CultureInfo.InvariantCulture) : Random.Shared.Next();
        output.WriteLine($"seed {seed} (replay with STORAGE_TEST_SEED={seed})");
        var random = new Random(seed);
        var clock = new FakeTimeProvider(new DateTimeOffset(2026, 11, 23, 12, 0, 0, TimeSpan.Zero));
        await using var sqlite = SqliteStore.Open(new SqliteStoreOptions { Path = _db.Path, TimeProvider = clock, Durability = DurabilityMode.Relaxed });
        await using var json = JsonStore.Open(new JsonStoreOptions { Directory = Path.Combine(_db.Directory, "json"), TimeProvider = clock, Durability = DurabilityMode.Relaxed });
        var versions = new List<long> { 1, 2, 3 };

        for (var step = 0; step < 600; step++)
        {
            var operation = NextOperation(random, clock, versions);
            var expected = await Describe(() => operation(json));
            var actual = await Describe(() => operation(sqlite));
            Assert.True(expected == actual, $"seed {seed}, step {step}:\n json:   {expected}\n sqlite: {actual}");
            foreach (var number in expected.Split(' ', ',', '(', ')', '=').Select(t => long.TryParse(t, out var n) ? n : 0).Where(n => n > 0 && n < 100_000))
            {
                versions.Add(number);
            }
        }
    }

    private static Func<IStore, Task<string>> NextOperation(Random random, FakeTimeProvider clock, List<long> versions)
    {
        string Pick(string[] items) => items[random.Next(items.Length)];
        WriteCondition Condition() => random.Next(4) switch
        {
            0 => WriteCondition.MustNotExist,
            1 => WriteCondition.MustMatchVersion(versions[random.Next(versions.Count)]),
            _ => WriteCondition.None,
        };
        DateTimeOffset? Expiry() => random.Next(4) == 0 ? clock.GetUtcNow().AddSeconds(random.Next(1, 8)) : null;
        WriteOperation Op(string collection, string key) => random.Next(3) == 0
            ? WriteOperation.Delete(collection, key, Condition())
            : WriteOperation.Put(collection, key, $$"""{"v":{{random.Next(1000)}},"s":{{System.Text.Json.JsonSerializer.Serialize(key)}}}""", Condition(), Expiry());

        var partition = Pick(s_partitions);
        var collection = Pick(s_collections);
        switch (random.Next(20))
        {
            case < 6:
            {
                var op = Op(collection, Pick(s_keys));
                return async store => Commit(await store.CommitAsync(partition, [op]));
            }

            case < 9:
            {
                var keys = s_keys.OrderBy(_ => random.Next()).Take(random.Next(1, 5)).ToList();
                var ops = keys.Select(k => Op(Pick(s_collections), k)).DistinctBy(o => (o.Collection, o.Key)).ToList();
                return async store => Commit(await store.CommitAsync(partition, ops));
            }

            case < 11:
            {
                var key = Pick(s_keys);
                return async store => Document(await store.GetAsync(partition, collection, key));
            }

            case < 14:
            {
                var options = new ListOptions
                {
                    Prefix = random.Next(3) == 0 ? Pick(["a", "ab", "\U0010FFFF", "z"]) : null,
                    StartKey = random.Next(4) == 0 ? Pick(s_keys) : null,
                    EndKey = random.Next(4) == 0 ? Pick(s_keys) : null,
                    Descending = random.Next(2) == 0,
                    Limit = random.Next(1, 5),
                };
                return async store =>
                {
                    var pages = new StringBuilder();
                    string? token = null;
                    do
                    {
                        var page = await store.ListAsync(partition, collection, options with { ContinuationToken = token });
                        pages.Append('[').AppendJoin(", ", page.Items.Select(Document)).Append("] ");
                        token = page.ContinuationToken;
                    }
                    while (token is not null);

                    return pages.ToString();
                };
            }

            case 14:
            {
                var delta = random.Next(1, 4);
                return async store => "seq=" + await store.IncrementSequenceAsync(partition, "ids", delta);
            }

            case 15:
                return async store => "seq=" + await store.GetSequenceAsync(partition, "ids");

            case 16:
                return async store => string.Join(", ", (await store.ListPartitionsAsync(new PartitionListOptions { Limit = 1000 })).Items);

            case 17:
                return random.Next(3) == 0
                    ? async store => "deleted=" + await store.DeletePartitionAsync(partition)
                    : async store => "purged=" + await store.PurgeExpiredAsync();

            default:
            {
                var seconds = random.Next(1, 4);
                var advanced = false;
                return store =>
                {
                    // Both stores share the clock: advance it once, on the first (reference) call.
                    if (!advanced)
                    {
                        clock.Advance(TimeSpan.FromSeconds(seconds));
                        advanced = true;
                    }

                    return Task.FromResult("tick");
                };
            }
        }
    }

    private static async Task<string> Describe(Func<Task<string>> action)
    {
        try
        {
            return await action();
        }
        catch (VersionConflictException e)
        {
            return $"conflict op={e.OperationIndex} {e.Collection}/{e.Key} expected={e.ExpectedVersion} actual={e.ActualVersion}";
        }
        catch (Exception e) when (e is ArgumentException or OverflowException)
        {
            return e.GetType().Name;
        }
    }

    private static string Commit(CommitResult result)
        => $"rev={result.Revision} changed={result.Changed} [{string.Join(", ", result.Outcomes.Select(o => $"({o.Existed} {o.Version})"))}]";

    private static string Document(StoredDocument? d)
        => d is null ? "null" : $"{d.Key}=v{d.Version} {d.GetJsonText()} c={d.CreatedAt.ToUnixTimeMilliseconds()} u={d.UpdatedAt.ToUnixTimeMilliseconds()} e={d.ExpiresAt?.ToUnixTimeMilliseconds()}";
}
