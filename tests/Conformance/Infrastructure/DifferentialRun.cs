using System.Text;
using Microsoft.Extensions.Time.Testing;

namespace Storage.Conformance;

/// <summary>
/// Drives a backend and the reference model with one seeded sequence of random operations and
/// compares every result and every exception. The key space is small (4 partitions, 2
/// collections, 12 tricky keys, 2 sequences) so that operations collide: conditions fail, keys are
/// re-created, listings see inserts and deletes.
/// </summary>
/// <remarks>
/// <para>
/// The mix (see <see cref="s_mix"/>) is mostly reads and clock moves. About one operation in five
/// writes (a put, a delete, a batch of up to 6 operations, an increment, and rarely a partition
/// delete or a purge); a listing sometimes also writes between its pages. Of those writes a good
/// part fail a condition or change nothing, so they never reach the disk. 20,000 operations thus
/// make about 2,000 durable commits (and about 1,500 failed or empty ones): affordable for a backend
/// that fsyncs every commit. The JSON backend runs them in 5–20 s.
/// </para>
/// <para>
/// Every 1,000 operations, and at the end, the whole visible state of both stores is compared.
/// </para>
/// </remarks>
internal sealed class DifferentialRun
{
    private static readonly string[] s_partitions = ["alice", "Alice", "😀/../x", "CON"];
    private static readonly string[] s_collections = ["c", "D"];
    private static readonly string[] s_keys = ["a", "A", "a.", "ab", "b", "caf\u00e9", "cafe\u0301", "\uE000", "\uFFFD", "😀", "\U00010000", "../x"];
    private static readonly string[] s_prefixes = ["a", "ab", "caf", "cafe", "😀", "\U00010000", "\uFFFD", "zz", "A", ".."];
    private static readonly string[] s_bounds = [.. s_keys, "aa", "c", "\uF000", "\U0001F000", "~", "0", "\U0010FFFF"];
    private static readonly string[] s_sequences = ["s", "t"];
    private static readonly string[] s_values =
    [
        """{"b":1,"a":2}""", "1.0", "1", "1e3", "12345678901234567890", "0.1000000000000000000000000000001",
        "\"\\u00e9\"", "\"\u00e9\"", "\"😀\"", """{ "a" : [ 1 , 2 ] }""", "[[[]],[1,[2]]]", "null", "true", "\"\"",
    ];

    private static readonly (Kind Kind, int Weight)[] s_mix =
    [
        (Kind.Get, 300),
        (Kind.List, 170),
        (Kind.ListPartitions, 30),
        (Kind.GetSequence, 30),
        (Kind.Put, 70),
        (Kind.Delete, 30),
        (Kind.Batch, 50),
        (Kind.Increment, 20),
        (Kind.AdvanceClock, 190),
        (Kind.DeletePartition, 4),
        (Kind.Purge, 3),
        (Kind.Invalid, 40),
    ];

    private readonly Random _random;
    private readonly IStore _backend;
    private readonly IStore _model;
    private readonly FakeTimeProvider _time;
    private readonly Dictionary<(string Partition, string Collection, string Key), List<long>> _versions = [];
    private readonly Queue<string> _recent = new();
    private readonly Dictionary<string, int> _coverage = new(StringComparer.Ordinal);
    private string _current = string.Empty;

    public DifferentialRun(int seed, IStore backend, IStore model, FakeTimeProvider time)
    {
        _random = new Random(seed);
        _backend = backend;
        _model = model;
        _time = time;
    }

    public enum Kind
    {
        Get,
        List,
        ListPartitions,
        GetSequence,
        Put,
        Delete,
        Batch,
        Increment,
        AdvanceClock,
        DeletePartition,
        Purge,
        Invalid,
    }

    /// <summary>What happened how often: operation kinds and notable outcomes.</summary>
    public IReadOnlyDictionary<string, int> Coverage => _coverage;

    /// <summary>The operations before the current one, oldest first.</summary>
    public IEnumerable<string> Recent => _recent;

    /// <summary>The operation being run.</summary>
    public string Current => _current;

    /// <summary>Runs one random operation against both stores and compares the results.</summary>
    /// <returns>A task.</returns>
    public async Task StepAsync()
    {
        var kind = PickKind();
        Count(kind.ToString());
        switch (kind)
        {
            case Kind.Get:
                await GetAsync(Pick(s_partitions), Pick(s_collections), Pick(s_keys));
                break;
            case Kind.List:
                await ListAsync();
                break;
            case Kind.ListPartitions:
                await ListPartitionsAsync(_random.Next(4) == 0 ? StoreLimits.DefaultPageSize : _random.Next(1, 4));
                break;
            case Kind.GetSequence:
                await GetSequenceAsync(Pick(s_partitions), Pick(s_sequences));
                break;
            case Kind.Put:
            case Kind.Delete:
                var partition = Pick(s_partitions);
                await CommitAsync(partition, [await NewOperationAsync(partition, Pick(s_collections), Pick(s_keys), put: kind == Kind.Put)]);
                break;
            case Kind.Batch:
                await BatchAsync(Pick(s_partitions));
                break;
            case Kind.Increment:
                await IncrementAsync();
                break;
            case Kind.AdvanceClock:
                AdvanceClock();
                break;
            case Kind.DeletePartition:
                await DeletePartitionAsync(Pick(s_partitions));
                break;
            case Kind.Purge:
                await PurgeAsync();
                break;
            case Kind.Invalid:
                await InvalidAsync();
                break;
        }
    }

    /// <summary>Compares everything both stores show: every partition, every document of every collection, every sequence.</summary>
    /// <returns>A task.</returns>
    public async Task CompareAllAsync()
    {
        Begin("compare the whole state");
        await ListPartitionsAsync(StoreLimits.MaxPageSize);
        foreach (var partition in s_partitions)
        {
            foreach (var collection in s_collections)
            {
                await PagesAsync(partition, collection, new ListOptions { Limit = StoreLimits.MaxPageSize }, writeBetweenPages: false);
            }

            foreach (var sequence in s_sequences)
            {
                await GetSequenceAsync(partition, sequence);
            }
        }
    }

    private async Task GetAsync(string partition, string collection, string key)
    {
        Begin($"Get({Show(partition)}, {collection}, {Show(key)})");
        await BothAsync(s => s.GetAsync(partition, collection, key), (expected, actual) =>
        {
            if (expected is null)
            {
                Assert.Null(actual);
            }
            else
            {
                StoreAssert.SameDocument(expected, actual);
            }
        });
    }

    private async Task ListAsync()
    {
        var options = new ListOptions
        {
            Prefix = _random.Next(10) < 3 ? Pick(s_prefixes) : null,
            StartKey = _random.Next(4) == 0 ? Pick(s_bounds) : null,
            EndKey = _random.Next(4) == 0 ? Pick(s_bounds) : null,
            Descending = _random.Next(2) == 0,
            Limit = _random.Next(10) switch
            {
                < 6 => _random.Next(1, 5),
                < 9 => _random.Next(5, 21),
                _ => StoreLimits.DefaultPageSize,
            },
        };
        await PagesAsync(Pick(s_partitions), Pick(s_collections), options, writeBetweenPages: _random.Next(10) == 0);
    }

    // Pages through a listing in both stores, each with its own tokens, comparing every page.
    private async Task PagesAsync(string partition, string collection, ListOptions options, bool writeBetweenPages)
    {
        string? backendToken = null;
        string? modelToken = null;
        for (var page = 0; page < 100; page++)
        {
            Begin($"List({Show(partition)}, {collection}, prefix {Show(options.Prefix)}, start {Show(options.StartKey)}, end {Show(options.EndKey)}, {(options.Descending ? "desc" : "asc")}, limit {options.Limit}) page {page}");
            var (backendPage, modelPage) = await BothAsync(
                s => s.ListAsync(partition, collection, options with { ContinuationToken = s == _backend ? backendToken : modelToken }),
                (expected, actual) =>
                {
                    Assert.Equal(expected.Items.Count, actual.Items.Count);
                    for (var i = 0; i < expected.Items.Count; i++)
                    {
                        StoreAssert.SameDocument(expected.Items[i], actual.Items[i]);
                    }

                    Assert.Equal(expected.ContinuationToken is null, actual.ContinuationToken is null);
                });
            if (modelPage?.ContinuationToken is null)
            {
                return;
            }

            backendToken = backendPage!.ContinuationToken;
            modelToken = modelPage.ContinuationToken;
            if (writeBetweenPages)
            {
                Count("write between pages");
                var put = _random.Next(3) > 0;
                await CommitAsync(partition, [await NewOperationAsync(partition, collection, Pick(s_keys), put)]);
            }
        }

        Assert.Fail("A listing ran past 100 pages.");
    }

    private async Task ListPartitionsAsync(int limit)
    {
        string? backendToken = null;
        string? modelToken = null;
        for (var page = 0; page < 100; page++)
        {
            Begin($"ListPartitions(limit {limit}) page {page}");
            var (backendPage, modelPage) = await BothAsync(
                s => s.ListPartitionsAsync(new PartitionListOptions { Limit = limit, ContinuationToken = s == _backend ? backendToken : modelToken }),
                (expected, actual) =>
                {
                    Assert.Equal(expected.Items, actual.Items);
                    Assert.Equal(expected.ContinuationToken is null, actual.ContinuationToken is null);
                });
            if (modelPage?.ContinuationToken is null)
            {
                return;
            }

            backendToken = backendPage!.ContinuationToken;
            modelToken = modelPage.ContinuationToken;
        }

        Assert.Fail("The partition listing ran past 100 pages.");
    }

    private async Task GetSequenceAsync(string partition, string name)
    {
        Begin($"GetSequence({Show(partition)}, {name})");
        await BothAsync(s => s.GetSequenceAsync(partition, name), (expected, actual) => Assert.Equal(expected, actual));
    }

    private async Task IncrementAsync()
    {
        var partition = Pick(s_partitions);
        var name = Pick(s_sequences);
        var delta = _random.Next(20) == 0 ? long.MaxValue - _random.Next(3) : _random.Next(1, 4);
        Begin($"IncrementSequence({Show(partition)}, {name}, {delta})");
        await BothAsync(s => s.IncrementSequenceAsync(partition, name, delta), (expected, actual) => Assert.Equal(expected, actual));
    }

    private async Task BatchAsync(string partition)
    {
        var size = _random.Next(2, 7);
        var targets = new HashSet<(string Collection, string Key)>();
        while (targets.Count < size)
        {
            targets.Add((Pick(s_collections), Pick(s_keys)));
        }

        var operations = new List<WriteOperation>();
        foreach (var (collection, key) in targets)
        {
            operations.Add(await NewOperationAsync(partition, collection, key, put: _random.Next(10) < 7));
        }

        await CommitAsync(partition, operations);
    }

    private async Task CommitAsync(string partition, IReadOnlyList<WriteOperation> operations)
    {
        Begin($"Commit({Show(partition)}, [{string.Join(", ", operations.Select(Show))}])");
        var (_, model) = await BothAsync(s => s.CommitAsync(partition, operations), (expected, actual) =>
        {
            Assert.Equal(expected.Revision, actual.Revision);
            Assert.Equal(expected.Changed, actual.Changed);
            Assert.Equal(expected.Outcomes, actual.Outcomes);
        });
        if (model is null)
        {
            Count("conflict");
            return;
        }

        Count(model.Changed ? "commit" : "commit that changed nothing");
        for (var i = 0; i < operations.Count; i++)
        {
            if (model.Outcomes[i].Version is { } version)
            {
                VersionsOf(partition, operations[i].Collection, operations[i].Key).Add(version);
            }
        }
    }

    // A put or delete with a random condition that holds most of the time: the model tells the current version.
    private async Task<WriteOperation> NewOperationAsync(string partition, string collection, string key, bool put)
    {
        var roll = _random.Next(100);
        WriteCondition condition;
        if (roll < 45)
        {
            condition = WriteCondition.None;
        }
        else if (roll < 65)
        {
            condition = WriteCondition.MustNotExist;
        }
        else
        {
            var current = (await _model.GetAsync(partition, collection, key))?.Version;
            var seen = VersionsOf(partition, collection, key);
            var choice = _random.Next(10);
            condition = WriteCondition.MustMatchVersion(choice switch
            {
                < 7 when current is { } v => v,
                < 9 when seen.Count > 0 => seen[_random.Next(seen.Count)],
                _ => _random.Next(1, 40),
            });
        }

        if (!put)
        {
            return WriteOperation.Delete(collection, key, condition);
        }

        var value = _random.Next(3) == 0 ? $$"""{"n":{{_random.Next(1000)}}}""" : Pick(s_values);
        if (_random.Next(10) == 0)
        {
            value = " \n" + value + "\t ";
        }

        return WriteOperation.Put(collection, key, value, condition, NewExpiry());
    }

    // Mostly none; else a few milliseconds ahead (so reads soon land exactly on the boundary), or up to 5 s either way.
    private DateTimeOffset? NewExpiry()
    {
        var now = _time.GetUtcNow();
        return _random.Next(10) switch
        {
            < 7 => null,
            < 9 => DateTimeOffset.FromUnixTimeMilliseconds(now.ToUnixTimeMilliseconds() + _random.Next(0, 6)).AddTicks(_random.Next(0, (int)TimeSpan.TicksPerMillisecond)),
            _ => now.AddTicks(_random.NextInt64(-5_000_000, 50_000_000)),
        };
    }

    private void AdvanceClock()
    {
        var ticks = _random.Next(4) switch
        {
            0 => _random.NextInt64(0, TimeSpan.TicksPerMillisecond),
            1 => TimeSpan.TicksPerMillisecond,
            _ => _random.NextInt64(0, 20_000_000),
        };
        Begin($"AdvanceClock({ticks} ticks)");
        _time.Advance(TimeSpan.FromTicks(ticks));
    }

    private async Task DeletePartitionAsync(string partition)
    {
        Begin($"DeletePartition({Show(partition)})");
        await BothAsync(s => s.DeletePartitionAsync(partition), (expected, actual) => Assert.Equal(expected, actual));
    }

    private async Task PurgeAsync()
    {
        Begin("PurgeExpired()");
        var (_, model) = await BothAsync(s => s.PurgeExpiredAsync(), (expected, actual) => Assert.Equal(expected, actual));
        if (model > 0)
        {
            Count("purged something");
        }

        Begin("PurgeExpired() again");
        await BothAsync(s => s.PurgeExpiredAsync(), (expected, actual) =>
        {
            Assert.Equal(0, expected);
            Assert.Equal(0, actual);
        });
    }

    // Calls that must fail the same way in both stores.
    private async Task InvalidAsync()
    {
        var partition = Pick(s_partitions);
        var collection = Pick(s_collections);
        switch (_random.Next(6))
        {
            case 0:
                var limit = Pick([0, -1, StoreLimits.MaxPageSize + 1]);
                Begin($"List with limit {limit}");
                await BothAsync(s => s.ListAsync(partition, collection, new ListOptions { Limit = limit }), (_, _) => { });
                break;
            case 1:
                var token = Pick(["", "garbage", "AAAAAAAAAAAA", "AQAAAAAAAAAAYQ"]);
                Begin($"List with token {Show(token)}");
                await BothAsync(s => s.ListAsync(partition, collection, new ListOptions { ContinuationToken = token }), (_, _) => { });
                break;
            case 2:
                // Each store gets its own token of one listing and must refuse it in another.
                Begin($"List({Show(partition)}, {collection}) with the token of another collection");
                var other = collection == s_collections[0] ? s_collections[1] : s_collections[0];
                var backendToken = (await _backend.ListAsync(partition, other, new ListOptions { Limit = 1 })).ContinuationToken;
                var modelToken = (await _model.ListAsync(partition, other, new ListOptions { Limit = 1 })).ContinuationToken;
                Assert.Equal(modelToken is null, backendToken is null);
                if (modelToken is not null)
                {
                    await BothAsync(s => s.ListAsync(partition, collection, new ListOptions { Limit = 1, ContinuationToken = s == _backend ? backendToken : modelToken }), (_, _) => { });
                }

                break;
            case 3:
                var key = Pick([.. TestData.InvalidKeys.Values]);
                Begin($"Get with invalid key {Show(key)}");
                await BothAsync(s => s.GetAsync(partition, collection, key), (_, _) => { });
                break;
            case 4:
                var duplicate = Pick(s_keys);
                Begin($"Commit({Show(partition)}) touching {Show(duplicate)} twice");
                await BothAsync(s => s.CommitAsync(partition, [WriteOperation.Put(collection, duplicate, "1"), WriteOperation.Delete(collection, duplicate)]), (_, _) => { });
                break;
            default:
                Begin($"IncrementSequence({Show(partition)}) by 0");
                await BothAsync(s => s.IncrementSequenceAsync(partition, Pick(s_sequences), 0), (_, _) => { });
                break;
        }
    }

    // Runs the call on both stores; compares results, or exceptions (type and conflict details). Returns (backend, model) results, default on error.
    private async Task<(T? Backend, T? Model)> BothAsync<T>(Func<IStore, ValueTask<T>> call, Action<T, T> compare)
    {
        var (modelResult, modelError) = await CaptureAsync(() => call(_model));
        var (backendResult, backendError) = await CaptureAsync(() => call(_backend));
        if (modelError is null && backendError is null)
        {
            compare(modelResult!, backendResult!);
            return (backendResult, modelResult);
        }

        if (modelError is null)
        {
            Assert.Fail($"The model succeeded, but the backend threw {backendError}");
        }

        if (backendError is null)
        {
            Assert.Fail($"The model threw {modelError.GetType().Name} ({modelError.Message}), but the backend succeeded.");
        }

        if (modelError.GetType() != backendError.GetType())
        {
            Assert.Fail($"The model threw {modelError.GetType().Name} ({modelError.Message}), but the backend threw {backendError}");
        }

        if (modelError is VersionConflictException expected)
        {
            var actual = (VersionConflictException)backendError;
            Assert.Equal(expected.Partition, actual.Partition);
            Assert.Equal(expected.Collection, actual.Collection);
            Assert.Equal(expected.Key, actual.Key);
            Assert.Equal(expected.Condition, actual.Condition);
            Assert.Equal(expected.ExpectedVersion, actual.ExpectedVersion);
            Assert.Equal(expected.ActualVersion, actual.ActualVersion);
            Assert.Equal(expected.OperationIndex, actual.OperationIndex);
        }

        Count(modelError.GetType().Name);
        return default;
    }

    private static async Task<(T? Result, Exception? Error)> CaptureAsync<T>(Func<ValueTask<T>> call)
    {
        try
        {
            return (await call(), null);
        }
        catch (Exception e)
        {
            return (default, e);
        }
    }

    private void Begin(string description)
    {
        if (_current.Length > 0)
        {
            _recent.Enqueue(_current);
            if (_recent.Count > 25)
            {
                _recent.Dequeue();
            }
        }

        _current = $"[t={_time.GetUtcNow():O}] {description}";
    }

    private Kind PickKind()
    {
        var roll = _random.Next(s_mix.Sum(m => m.Weight));
        foreach (var (kind, weight) in s_mix)
        {
            if (roll < weight)
            {
                return kind;
            }

            roll -= weight;
        }

        throw new InvalidOperationException("The mix does not add up.");
    }

    private T Pick<T>(IReadOnlyList<T> items) => items[_random.Next(items.Count)];

    private List<long> VersionsOf(string partition, string collection, string key)
    {
        if (!_versions.TryGetValue((partition, collection, key), out var versions))
        {
            versions = [];
            _versions.Add((partition, collection, key), versions);
        }

        return versions;
    }

    private void Count(string what) => _coverage[what] = _coverage.GetValueOrDefault(what) + 1;

    // A C#-style literal: printable ASCII as is, everything else (unpaired surrogates too) as \uXXXX, so a failure can be pasted into a test.
    private static string Show(string? text)
    {
        if (text is null)
        {
            return "null";
        }

        var literal = new StringBuilder("\"");
        foreach (var c in text)
        {
            literal.Append(c is >= ' ' and <= '~' and not ('"' or '\\') ? c.ToString() : $"\\u{(int)c:X4}");
        }

        return literal.Append('"').ToString();
    }

    private static string Show(WriteOperation operation)
    {
        var text = new StringBuilder();
        text.Append(operation.Kind).Append('(').Append(operation.Collection).Append(", ").Append(Show(operation.Key));
        if (operation.Kind == WriteOperationKind.Put)
        {
            text.Append(", ").Append(Encoding.UTF8.GetString(operation.Value.Span));
        }

        if (operation.Condition.Kind != WriteConditionKind.None)
        {
            text.Append(", ").Append(operation.Condition);
        }

        if (operation.ExpiresAt is { } expiresAt)
        {
            text.Append(", expires ").Append(expiresAt.ToString("O", System.Globalization.CultureInfo.InvariantCulture));
        }

        return text.Append(')').ToString();
    }
}
