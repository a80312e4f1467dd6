using System.Globalization;
using System.Text;
using Microsoft.Extensions.Time.Testing;
using Storage.Json;
using Xunit.Abstractions;

namespace Storage.Postgres.Tests;

/// <summary>
/// Drives this backend and the JSON backend (the reference) with the same seeded sequence of
/// operations on one shared fake clock, and compares every result and every exception.
/// </summary>
public sealed class DifferentialTests(ITestOutputHelper output)
{
    private static readonly string[] s_partitions = ["a", "B", "é", "😀"];
    private static readonly string[] s_collections = ["x", "y"];
    private static readonly string[] s_keys = ["k", "k1", "k/2", "K", "é", "e\u0301", "\uE000", "😀", "k\U0010FFFF", "a b"];
    private static readonly string[] s_prefixes = ["k", "e", "\uE000", "K", "x"];

    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(3)]
    [InlineData(4)]
    public async Task Random_operations_give_the_same_results_as_the_json_backend(int seed)
    {
        output.WriteLine($"seed {seed} (replay: run this case again; the sequence depends only on the seed)");
        var clock = new FakeTimeProvider(new DateTimeOffset(2026, 11, 23, 12, 0, 0, TimeSpan.Zero));
        var directory = Path.Combine(Path.GetTempPath(), "storage-diff-" + Guid.NewGuid().ToString("N"));
        await using var schema = await TestSchema.CreateAsync("diff");
        await using var json = JsonStore.Open(new JsonStoreOptions { Directory = directory, TimeProvider = clock });
        var postgres = await schema.OpenAsync(o => o.TimeProvider = clock);
        try
        {
            var random = new Random(seed);
            for (var step = 0; step < 300; step++)
            {
                var operation = NextOperation(random, clock, json);
                var expected = await RunAsync(json, operation.Run);
                var actual = await RunAsync(postgres, operation.Run);
                Assert.True(expected == actual, $"seed {seed}, step {step}: {operation.Description}\n json:     {expected}\n postgres: {actual}");
            }
        }
        finally
        {
            Directory.Delete(directory, recursive: true);
        }
    }

    private static (string Description, Func<IStore, Task<string>> Run) NextOperation(Random random, FakeTimeProvider clock, IStore reference)
    {
        var partition = Pick(random, s_partitions);
        var collection = Pick(random, s_collections);
        switch (random.Next(100))
        {
            case < 40:
            {
                var count = random.Next(1, 4);
                var keys = s_keys.OrderBy(_ => random.Next()).Take(count).ToList();
                var operations = new List<WriteOperation>();
                var description = new StringBuilder($"commit {partition}:");
                foreach (var key in keys)
                {
                    var version = ReferenceVersion(reference, partition, collection, key);
                    var condition = random.Next(4) switch
                    {
                        0 => WriteCondition.MustNotExist,
                        1 when version is { } v => WriteCondition.MustMatchVersion(random.Next(3) == 0 ? v + 1 : v),
                        2 => WriteCondition.MustMatchVersion(random.Next(1, 20)),
                        _ => WriteCondition.None,
                    };
                    if (random.Next(4) == 0)
                    {
                        operations.Add(WriteOperation.Delete(collection, key, condition));
                        description.Append(CultureInfo.InvariantCulture, $" delete {collection}/{key} ({condition})");
                    }
                    else
                    {
                        DateTimeOffset? expires = random.Next(3) == 0 ? clock.GetUtcNow().AddMilliseconds(random.Next(0, 3000)) : null;
                        var value = random.Next(2) == 0 ? $$"""{"n":{{random.Next(1000)}},"a":1.50}""" : $"\"{key}\"";
                        operations.Add(WriteOperation.Put(collection, key, value, condition, expires));
                        description.Append(CultureInfo.InvariantCulture, $" put {collection}/{key} ({condition}, expires {expires:O})");
                    }
                }

                return (description.ToString(), async store => Describe(await store.CommitAsync(partition, operations)));
            }

            case < 52:
            {
                var key = Pick(random, s_keys);
                return ($"get {partition}/{collection}/{key}", async store => Describe(await store.GetAsync(partition, collection, key)));
            }

            case < 66:
            {
                var options = new ListOptions
                {
                    Prefix = random.Next(3) == 0 ? Pick(random, s_prefixes) : null,
                    StartKey = random.Next(4) == 0 ? Pick(random, s_keys) : null,
                    EndKey = random.Next(4) == 0 ? Pick(random, s_keys) : null,
                    Descending = random.Next(2) == 0,
                    Limit = random.Next(1, 5),
                };
                return ($"list {partition}/{collection} {options}", async store =>
                {
                    var pages = new StringBuilder();
                    var current = options;
                    for (var page = 0; page < 4; page++)
                    {
                        var result = await store.ListAsync(partition, collection, current);
                        pages.Append('[').AppendJoin(", ", result.Items.Select(Describe)).Append("] token=").Append(result.ContinuationToken).Append(' ');
                        if (result.ContinuationToken is null)
                        {
                            break;
                        }

                        current = current with { ContinuationToken = result.ContinuationToken };
                    }

                    return pages.ToString();
                });
            }

            case < 74:
            {
                var name = Pick(random, ["n", "m"]);
                var delta = random.Next(10) == 0 ? long.MaxValue / 2 : random.Next(1, 4);
                return ($"increment {partition}/{name} by {delta}", async store => (await store.IncrementSequenceAsync(partition, name, delta)).ToString(CultureInfo.InvariantCulture));
            }

            case < 78:
            {
                var name = Pick(random, ["n", "m"]);
                return ($"get sequence {partition}/{name}", async store => (await store.GetSequenceAsync(partition, name)).ToString(CultureInfo.InvariantCulture));
            }

            case < 83:
                return ("list partitions", async store =>
                {
                    var all = new StringBuilder();
                    var options = new PartitionListOptions { Limit = 2 };
                    while (true)
                    {
                        var page = await store.ListPartitionsAsync(options);
                        all.AppendJoin(", ", page.Items.Select(p => $"{p.Partition}@{p.Revision}")).Append(" | ").Append(page.ContinuationToken).Append(" | ");
                        if (page.ContinuationToken is null)
                        {
                            return all.ToString();
                        }

                        options = options with { ContinuationToken = page.ContinuationToken };
                    }
                });

            case < 87:
                return ($"delete partition {partition}", async store => (await store.DeletePartitionAsync(partition)).ToString());

            case < 91:
                return ("purge", async store => (await store.PurgeExpiredAsync()).ToString(CultureInfo.InvariantCulture));

            default:
            {
                // The clock moves between operations, never between the two backends' runs of one.
                var advance = TimeSpan.FromMilliseconds(random.Next(0, 2000));
                clock.Advance(advance);
                return ($"advance the clock by {advance}", _ => Task.FromResult("ok"));
            }
        }
    }

    private static long? ReferenceVersion(IStore reference, string partition, string collection, string key)
        => reference.GetAsync(partition, collection, key).AsTask().GetAwaiter().GetResult()?.Version;

    private static async Task<string> RunAsync(IStore store, Func<IStore, Task<string>> run)
    {
        try
        {
            return await run(store);
        }
        catch (VersionConflictException e)
        {
            return $"conflict {e.Partition}/{e.Collection}/{e.Key} expected {e.ExpectedVersion} actual {e.ActualVersion} at {e.OperationIndex}: {e.Message}";
        }
        catch (Exception e) when (e is OverflowException or ArgumentException)
        {
            return $"{e.GetType().Name}: {e.Message}";
        }
    }

    private static string Describe(CommitResult result)
        => $"revision {result.Revision} changed {result.Changed} [{string.Join(", ", result.Outcomes.Select(o => $"{o.Existed}/{o.Version}"))}]";

    private static string Describe(StoredDocument? document) => document is null
        ? "null"
        : $"{document.Partition}/{document.Collection}/{document.Key}={document.GetJsonText()} v{document.Version} c{document.CreatedAt.ToUnixTimeMilliseconds()} u{document.UpdatedAt.ToUnixTimeMilliseconds()} e{document.ExpiresAt?.ToUnixTimeMilliseconds()}";

    private static T Pick<T>(Random random, IReadOnlyList<T> items) => items[random.Next(items.Count)];
}
