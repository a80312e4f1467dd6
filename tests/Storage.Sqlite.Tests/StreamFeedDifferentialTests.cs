using System.Globalization;
using System.Text;
using Microsoft.Extensions.Time.Testing;
using Storage.Conformance.Reference;
using Xunit.Abstractions;

namespace Storage.Sqlite.Tests;

/// <summary>
/// Drives the SQLite store and the reference model (tests/Storage.TestKit/Reference) with the same seeded
/// random appends (fresh, retried, with every kind of expectation), puts, deletes, increments,
/// partition deletes, purges and clock moves, and compares every stream read, stream listing and
/// change-feed page, exceptions included. Prints the seed; set STORAGE_TEST_SEED to replay.
/// </summary>
public sealed class StreamFeedDifferentialTests(ITestOutputHelper output) : IDisposable
{
    private static readonly TimeSpan s_retention = TimeSpan.FromSeconds(20);
    private static readonly string[] s_partitions = ["alice", "\U0001F600", "b"];
    private static readonly string[] s_streams = ["s1", "s2", "\U0001F600", "a/b", "\uFFFF"];
    private static readonly string[] s_collections = ["c1", "c2"];
    private static readonly string[] s_keys = ["a", "b", "\U0001F600", "\uE000"];
    private readonly TestDatabase _db = new();

    public void Dispose() => _db.Dispose();

    [Fact]
    public async Task Sqlite_store_agrees_with_the_reference_model_on_streams_and_the_change_feed()
    {
        var seed = Environment.GetEnvironmentVariable("STORAGE_TEST_SEED") is { Length: > 0 } s ? int.Parse(s, CultureInfo.InvariantCulture) : Random.Shared.Next();
        output.WriteLine($"seed {seed} (replay with STORAGE_TEST_SEED={seed})");
        var random = new Random(seed);
        var clock = new FakeTimeProvider(new DateTimeOffset(2026, 11, 23, 12, 0, 0, TimeSpan.Zero));
        await using var sqlite = SqliteStore.Open(new SqliteStoreOptions { Path = _db.Path, TimeProvider = clock, TombstoneRetention = s_retention, Durability = DurabilityMode.Relaxed });
        await using var reference = new ReferenceStore(clock, s_retention);
        var run = new Run(random, clock);
        var coverage = new Dictionary<string, int>(StringComparer.Ordinal);

        for (var step = 0; step < 3000; step++)
        {
            var (name, operation) = await run.NextAsync(reference);
            var expected = await Describe(() => operation(reference));
            var actual = await Describe(() => operation(sqlite));
            Assert.True(expected == actual, $"seed {seed}, step {step} ({name}):\n reference: {expected}\n sqlite:    {actual}");
            run.Learn(expected);
            var outcome = expected.Split(':')[0];
            coverage[$"{name} -> {outcome}"] = coverage.GetValueOrDefault($"{name} -> {outcome}") + 1;
        }

        foreach (var (what, count) in coverage.OrderBy(c => c.Key, StringComparer.Ordinal))
        {
            output.WriteLine($"{what}: {count}");
        }

        foreach (var required in new[] { "commit -> VersionConflictException", "commit -> changed", "commit -> unchanged", "feed -> ChangeFeedTruncatedException", "feed -> page", "read stream -> events", "commit with a retried append -> unchanged" })
        {
            Assert.True(coverage.GetValueOrDefault(required) > 0, $"seed {seed}: the run never met '{required}'");
        }
    }

    private static async Task<string> Describe(Func<Task<string>> operation)
    {
        try
        {
            return await operation();
        }
        catch (StorageException e) when (e is VersionConflictException or ChangeFeedTruncatedException)
        {
            return $"{e.GetType().Name}: {e.Message}";
        }
        catch (ArgumentException e)
        {
            return $"{e.GetType().Name}: {e.ParamName}";
        }
    }

    private static string Describe(StoredEvent e)
        => $"{e.Partition}/{e.Stream}@{e.Version} r{e.Revision} {e.Id} {e.Type} {e.GetJsonText()} meta={Encoding.UTF8.GetString(e.Metadata.Span)} at={e.CommittedAt.ToUnixTimeMilliseconds()}";

    private static string Describe(Change c) => c.Kind switch
    {
        ChangeKind.Put => $"put r{c.Revision} {c.Collection}/{c.Key} {c.Document!.GetJsonText()} v{c.Document.Version} c={c.Document.CreatedAt.ToUnixTimeMilliseconds()} u={c.Document.UpdatedAt.ToUnixTimeMilliseconds()} x={c.Document.ExpiresAt?.ToUnixTimeMilliseconds()}",
        ChangeKind.Delete => $"delete r{c.Revision} {c.Collection}/{c.Key}",
        ChangeKind.Append => $"append r{c.Revision} {Describe(c.Event!)}",
        _ => $"sequence r{c.Revision} {c.SequenceName}={c.SequenceValue}",
    };

    /// <summary>The random operations, and what they learn from results (revisions, stream versions) to make later expectations likely to matter.</summary>
    private sealed class Run(Random random, FakeTimeProvider clock)
    {
        private readonly List<long> _numbers = [0, 1, 2, 3];
        private readonly List<(string Partition, WriteOperation Append)> _appends = [];
        private readonly HashSet<WriteOperation> _retries = new(ReferenceEqualityComparer.Instance);

        /// <summary>The next operation; appends look at the model's stream version first, so that exact expectations often hold.</summary>
        public async Task<(string Name, Func<IStore, Task<string>> Operation)> NextAsync(IStore model)
        {
            var partition = Pick(s_partitions);
            var dice = random.Next(100);
            if (dice < 40)
            {
                var operations = new List<WriteOperation>();
                var streams = new HashSet<string>(StringComparer.Ordinal);
                var documents = new HashSet<string>(StringComparer.Ordinal);
                for (var i = random.Next(1, 4); i > 0; i--)
                {
                    if (random.Next(2) == 0)
                    {
                        var stream = Pick(s_streams);
                        if (streams.Add(stream))
                        {
                            var version = (await model.ReadStreamAsync(partition, stream, new ReadStreamOptions { Backwards = true, Limit = 1 })).StreamVersion;
                            operations.Add(Append(partition, stream, version));
                        }
                    }
                    else
                    {
                        var collection = Pick(s_collections);
                        var key = Pick(s_keys);
                        if (documents.Add(collection + "/" + key))
                        {
                            var condition = random.Next(4) switch
                            {
                                0 => WriteCondition.MustNotExist,
                                1 => WriteCondition.MustMatchVersion(Math.Max(1, Number())),
                                _ => WriteCondition.None,
                            };
                            operations.Add(random.Next(3) == 0
                                ? WriteOperation.Delete(collection, key, condition)
                                : WriteOperation.Put(collection, key, $$"""{"n":{{random.Next(100)}}, "k" : "{{key}}"}""", condition, random.Next(5) == 0 ? clock.GetUtcNow().AddSeconds(random.Next(1, 10)) : null));
                        }
                    }
                }

                return (operations.Any(_retries.Contains) ? "commit with a retried append" : "commit", async store =>
                {
                    var result = await store.CommitAsync(partition, operations);
                    return $"{(result.Changed ? "changed" : "unchanged")}: r{result.Revision} [{string.Join(", ", result.Outcomes)}]";
                });
            }

            if (dice < 47)
            {
                var name = random.Next(2) == 0 ? "n" : "m";
                var delta = random.Next(1, 3);
                return ("increment", async store => $"value: {await store.IncrementSequenceAsync(partition, name, delta)}");
            }

            if (dice < 49)
            {
                return ("delete partition", async store => $"deleted: {await store.DeletePartitionAsync(partition)}");
            }

            if (dice < 53)
            {
                return ("purge", async store => $"purged: {await store.PurgeExpiredAsync()}");
            }

            if (dice < 58)
            {
                var seconds = random.Next(1, 15);
                return ("clock", store =>
                {
                    // Both stores share the clock: move it once, on the reference's turn.
                    if (store is ReferenceStore)
                    {
                        clock.Advance(TimeSpan.FromSeconds(seconds));
                    }

                    return Task.FromResult("moved:");
                });
            }

            if (dice < 70)
            {
                var stream = Pick(s_streams);
                var options = new ReadStreamOptions
                {
                    FromVersion = random.Next(3) == 0 ? null : Math.Max(1, Number() % 12),
                    Backwards = random.Next(2) == 0,
                    Limit = random.Next(1, 6),
                };
                return ("read stream", async store =>
                {
                    var page = await store.ReadStreamAsync(partition, stream, options);
                    return $"{(page.Items.Count > 0 ? "events" : "empty")}: v{page.StreamVersion} next={page.NextVersion} [{string.Join("; ", page.Items.Select(Describe))}]";
                });
            }

            if (dice < 76)
            {
                var options = new ListOptions
                {
                    Limit = random.Next(1, 4),
                    Descending = random.Next(2) == 0,
                    Prefix = random.Next(4) == 0 ? "s" : null,
                    StartKey = random.Next(5) == 0 ? "b" : null,
                };
                return ("list streams", async store =>
                {
                    var all = new List<string>();
                    var current = options;
                    while (true)
                    {
                        var page = await store.ListStreamsAsync(partition, current);
                        all.Add(string.Join(",", page.Items.Select(i => $"{i.Stream}@{i.Version}")));
                        if (page.ContinuationToken is null)
                        {
                            return $"streams: {string.Join(" | ", all)}";
                        }

                        current = options with { ContinuationToken = page.ContinuationToken };
                    }
                });
            }

            var after = random.Next(4) == 0 ? 0 : Number();
            var limit = random.Next(1, 8);
            return ("feed", async store =>
            {
                // Read the whole feed from `after` page by page: every page, and where it resumes.
                var pages = new List<string>();
                var position = after;
                for (var i = 0; i < 50; i++)
                {
                    var page = await store.ReadChangesAsync(partition, position, limit);
                    pages.Add($"last={page.LastRevision} more={page.HasMore} [{string.Join("; ", page.Items.Select(Describe))}]");
                    if (!page.HasMore)
                    {
                        break;
                    }

                    position = page.LastRevision;
                }

                return $"page: {string.Join(" | ", pages)}";
            });
        }

        /// <summary>Collects the numbers a result shows (revisions, versions): later expectations and feed positions pick from them.</summary>
        public void Learn(string result)
        {
            foreach (var token in result.Split(' ', ',', '(', ')', '=', '@', 'r', 'v', '[', ']', ';'))
            {
                if (long.TryParse(token, NumberStyles.None, CultureInfo.InvariantCulture, out var n) && n < 10_000 && _numbers.Count < 500)
                {
                    _numbers.Add(n);
                }
            }
        }

        private WriteOperation Append(string partition, string stream, long version)
        {
            // A retry of an earlier append to the stream (the same events and expectation) now and then.
            var earlier = _appends.Where(a => a.Partition == partition && a.Append.Stream == stream).Select(a => a.Append).ToList();
            if (random.Next(4) == 0 && earlier.Count > 0)
            {
                var retry = random.Next(2) == 0 ? earlier[^1] : earlier[random.Next(earlier.Count)];
                _retries.Add(retry);
                return retry;
            }

            var expected = random.Next(5) switch
            {
                0 => ExpectedStreamVersion.NoStream,
                1 => ExpectedStreamVersion.Exactly(Number() % 15),
                2 or 3 => ExpectedStreamVersion.Exactly(Math.Max(0, version + random.Next(-1, 2))),
                _ => ExpectedStreamVersion.Any,
            };
            var events = Enumerable.Range(0, random.Next(1, 4)).Select(i => EventData.Create(
                random.Next(2) == 0 ? "Created" : "moved.v2",
                $$"""{"i":{{i}},"x":[1.50,"{{stream}}"]}""",
                random.Next(3) == 0 ? """{"by":"test"}""" : null,
                new Guid(random.Next(), 0, 0, [.. BitConverter.GetBytes(random.NextInt64())]))).ToList();
            var append = WriteOperation.Append(stream, events, expected);
            _appends.Add((partition, append));
            if (_appends.Count > 100)
            {
                _appends.RemoveAt(0);
            }

            return append;
        }

        private long Number() => _numbers[random.Next(_numbers.Count)];

        private string Pick(string[] items) => items[random.Next(items.Length)];
    }
}
