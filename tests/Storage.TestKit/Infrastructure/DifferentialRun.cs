using System.Text;
using Microsoft.Extensions.Time.Testing;

namespace Storage.Conformance;

/// <summary>
/// Drives a backend and the reference model with one seeded sequence of random operations and
/// compares every result and every exception. The key space is small (4 partitions, 2
/// collections, 12 tricky keys, 2 sequences, 5 streams) so that operations collide: conditions
/// fail, keys are re-created, listings see inserts and deletes, appends conflict and are retried.
/// </summary>
/// <remarks>
/// <para>
/// The mix (see <see cref="s_mix"/>) is mostly reads and clock moves. About one operation in four
/// writes (a put, a delete, an append, a batch of up to 6 operations that now and then appends to
/// streams too, an increment, and rarely a partition delete or a purge); a listing sometimes also
/// writes between its pages. Of those writes a good part fail a condition or an expected stream
/// version, or change nothing (a retried append whose events are stored already), so they never
/// reach the disk. 20,000 operations thus make about 1,800 durable commits (and about 1,900 failed
/// or empty ones): affordable for a backend that fsyncs every commit.
/// </para>
/// <para>
/// Appends expect Any, the right version, NoStream, a version seen earlier (often stale) or a random
/// one, or re-send the exact events of an earlier append. Stream reads go either way from random
/// versions; change-feed reads start after 0, the current revision, a revision near it or past it,
/// or follow the partition like a replicating reader that starts over when it is truncated. Both
/// stores keep tombstones for <see cref="TombstoneRetention"/>, so purges drop them and truncate
/// readers.
/// </para>
/// <para>
/// Every 1,000 operations, and at the end, the whole visible state of both stores is compared:
/// documents, sequences, streams and every partition's change feed from revision 0.
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
    private static readonly string[] s_streams = ["s", "S", "\uE000", "\U00010000", "s/1"];
    private static readonly string[] s_streamPrefixes = ["s", "S", "s/", "\uE000", "\U00010000", "x"];
    private static readonly string[] s_streamBounds = [.. s_streams, "a", "s0", "\uF000", "\U0001F000", "~"];
    private static readonly string[] s_eventTypes = ["created", "Changed.v2"];
    private static readonly string[] s_values =
    [
        """{"b":1,"a":2}""", "1.0", "1", "1e3", "12345678901234567890", "0.1000000000000000000000000000001",
        "\"\\u00e9\"", "\"\u00e9\"", "\"😀\"", """{ "a" : [ 1 , 2 ] }""", "[[[]],[1,[2]]]", "null", "true", "\"\"",
    ];

    // Small value pools, so unique values collide across keys and partitions and ranges hit edges.
    private static readonly long[] s_numbers = [long.MinValue, -3, -1, 0, 1, 2, 3, 4_294_967_296, long.MaxValue];
    private static readonly string[] s_words = ["", "a", "ab", "B", "é", "é", "", "�", "😀", "𐀀", "a b"];

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
        (Kind.Append, 50),
        (Kind.ReadStream, 60),
        (Kind.ListStreams, 25),
        (Kind.ReadChanges, 60),
        (Kind.Query, 70),
        (Kind.Count, 20),
    ];

    private readonly Random _random;
    private readonly IStore _backend;
    private readonly IStore _model;
    private readonly FakeTimeProvider _time;
    private readonly Dictionary<(string Partition, string Collection, string Key), List<long>> _versions = [];
    private readonly Dictionary<(string Partition, string Stream), List<long>> _streamVersions = [];
    private readonly Dictionary<(string Partition, string Stream), List<(EventData[] Events, ExpectedStreamVersion Expected)>> _appends = [];
    private readonly Dictionary<string, long> _feedCursors = new(StringComparer.Ordinal);
    private readonly List<DateTimeOffset> _deletedAt = [];
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
        Append,
        ReadStream,
        ListStreams,
        ReadChanges,
        Query,
        Count,
    }

    /// <summary>
    /// The indexes both stores declare: in collection "c" an integer, a string array and a
    /// store-wide unique string; in "D" a unique-per-partition integer and a nested string.
    /// </summary>
    public static IReadOnlyList<IndexDefinition> Indexes { get; } =
    [
        new("c", "n", "n", IndexValueType.Int64),
        new("c", "tags", "t", IndexValueType.String),
        new("c", "u", "u", IndexValueType.String, unique: true, IndexScope.Global),
        new("D", "n", "n", IndexValueType.Int64, unique: true, IndexScope.Partition),
        new("D", "s", "x.s", IndexValueType.String),
    ];

    /// <summary>
    /// How long both stores keep tombstones: short, so that the run's clock moves (about 0.08 s per
    /// operation) and its purges drop tombstones and truncate change-feed readers every few hundred operations.
    /// </summary>
    public static TimeSpan TombstoneRetention { get; } = TimeSpan.FromSeconds(20);

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
            case Kind.Append:
                var appendTo = Pick(s_partitions);
                await CommitAsync(appendTo, [await NewAppendAsync(appendTo, Pick(s_streams))]);
                break;
            case Kind.ReadStream:
                await ReadStreamAsync();
                break;
            case Kind.ListStreams:
                await ListStreamsAsync();
                break;
            case Kind.ReadChanges:
                await ReadChangesAsync();
                break;
            case Kind.Query:
                await QueryAsync();
                break;
            case Kind.Count:
                var counted = NewQuery();
                Begin($"Count({Show(counted)})");
                await BothAsync(s => s.CountAsync(counted), (expected, actual) => Assert.Equal(expected, actual));
                break;
        }
    }

    /// <summary>Compares everything both stores show: every partition, every document of every collection, every sequence.</summary>
    /// <returns>A task.</returns>
    public async Task CompareAllAsync()
    {
        Begin("compare the whole state");
        await ListPartitionsAsync(StoreLimits.MaxPageSize);
        foreach (var index in Indexes)
        {
            await QueryPagesAsync(new IndexQuery(index.Collection, index.Name) { Limit = StoreLimits.MaxPageSize }, writeBetweenPages: false);
        }

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

            await StreamPagesAsync(partition, new ListOptions { Limit = StoreLimits.MaxPageSize }, appendBetweenPages: false);
            foreach (var stream in s_streams)
            {
                await StreamReadsAsync(partition, stream, new ReadStreamOptions { Limit = StoreLimits.MaxPageSize }, pages: int.MaxValue);
            }

            await ChangePagesAsync(partition, 0, StoreLimits.MaxPageSize, pages: int.MaxValue);
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

    private async Task PagesAsync(string partition, string collection, ListOptions options, bool writeBetweenPages)
        => await PageThroughAsync<DocumentPage>(
            _ => $"List({Show(partition)}, {collection}, prefix {Show(options.Prefix)}, start {Show(options.StartKey)}, end {Show(options.EndKey)}, {(options.Descending ? "desc" : "asc")}, limit {options.Limit})",
            (s, previous) => s.ListAsync(partition, collection, options with { ContinuationToken = previous?.ContinuationToken }),
            (expected, actual) => SameDocuments(expected.Items, actual.Items),
            page => page.ContinuationToken is not null,
            new Paging(100, MustEnd: true),
            writeBetweenPages
                ? async _ =>
                {
                    Count("write between pages");
                    var put = _random.Next(3) > 0;
                    await CommitAsync(partition, [await NewOperationAsync(partition, collection, Pick(s_keys), put)]);
                }
                : null);

    private async Task QueryAsync()
    {
        var query = NewQuery() with
        {
            Limit = _random.Next(10) switch
            {
                < 6 => _random.Next(1, 5),
                < 9 => _random.Next(5, 21),
                _ => StoreLimits.DefaultPageSize,
            },
        };
        await QueryPagesAsync(query, writeBetweenPages: _random.Next(8) == 0);
    }

    // A random query of a declared index: equality, a range with random inclusiveness, a prefix (with or without a range), or everything.
    private IndexQuery NewQuery()
    {
        var index = Pick(Indexes);
        var query = new IndexQuery(index.Collection, index.Name)
        {
            Partition = _random.Next(3) == 0 ? Pick(s_partitions) : null,
            Descending = _random.Next(2) == 0,
        };
        var isString = index.ValueType == IndexValueType.String;
        IndexValue Bound() => isString ? Pick(s_words) : Pick(s_numbers);
        return _random.Next(10) switch
        {
            < 3 => query with { Equal = Bound() },
            < 6 => query with
            {
                From = _random.Next(3) > 0 ? Bound() : default(IndexValue?),
                FromInclusive = _random.Next(2) == 0,
                To = _random.Next(3) > 0 ? Bound() : default(IndexValue?),
                ToInclusive = _random.Next(2) == 0,
            },
            < 8 when isString => query with { Prefix = Pick(s_words.Where(w => w.Length > 0).ToArray()), From = _random.Next(3) == 0 ? Bound() : default(IndexValue?) },
            _ => query,
        };
    }

    private async Task QueryPagesAsync(IndexQuery query, bool writeBetweenPages)
        => await PageThroughAsync<QueryPage>(
            _ => $"Query({Show(query)})",
            (s, previous) => s.QueryAsync(query with { ContinuationToken = previous?.ContinuationToken }),
            (expected, actual) =>
            {
                Assert.Equal(expected.Items.Count, actual.Items.Count);
                for (var i = 0; i < expected.Items.Count; i++)
                {
                    Assert.Equal(expected.Items[i].Value, actual.Items[i].Value);
                    StoreAssert.SameDocument(expected.Items[i].Document, actual.Items[i].Document);
                }

                if (expected.Items.Count > 0)
                {
                    Count("query found something");
                }
            },
            page => page.ContinuationToken is not null,
            new Paging(1000, MustEnd: true),
            async _ =>
            {
                Count("query page with more");
                if (writeBetweenPages)
                {
                    Count("write between query pages");
                    var partition = query.Partition ?? Pick(s_partitions);
                    await CommitAsync(partition, [await NewOperationAsync(partition, query.Collection, Pick(s_keys), put: _random.Next(4) > 0)]);
                }
            });

    private async Task ListPartitionsAsync(int limit)
        => await PageThroughAsync<PartitionPage>(
            _ => $"ListPartitions(limit {limit})",
            (s, previous) => s.ListPartitionsAsync(new PartitionListOptions { Limit = limit, ContinuationToken = previous?.ContinuationToken }),
            (expected, actual) => Assert.Equal(expected.Items, actual.Items),
            page => page.ContinuationToken is not null,
            new Paging(100, MustEnd: true));

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

        // A third of the batches also append to one or two streams, somewhere in the batch.
        if (_random.Next(3) == 0)
        {
            foreach (var stream in s_streams.OrderBy(_ => _random.Next()).Take(_random.Next(1, 3)).ToList())
            {
                operations.Insert(_random.Next(operations.Count + 1), await NewAppendAsync(partition, stream));
            }

            Count("batch with appends");
        }

        await CommitAsync(partition, operations);
    }

    private async Task CommitAsync(string partition, IReadOnlyList<WriteOperation> operations)
    {
        Begin($"Commit({Show(partition)}, [{string.Join(", ", operations.Select(Show))}])");
        var streamsBefore = new Dictionary<string, long>(StringComparer.Ordinal);
        foreach (var append in operations.Where(o => o.Kind == WriteOperationKind.Append))
        {
            streamsBefore[append.Stream!] = await ModelStreamVersionAsync(partition, append.Stream!);
        }

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
            var op = operations[i];
            if (op.Kind == WriteOperationKind.Append)
            {
                var version = model.Outcomes[i].Version!.Value;
                StreamVersionsOf(partition, op.Stream!).Add(version);
                Count(await ModelStreamVersionAsync(partition, op.Stream!) == streamsBefore[op.Stream!] ? "append retry recognized" : "append");
            }
            else if (model.Outcomes[i].Version is { } version)
            {
                VersionsOf(partition, op.Collection, op.Key).Add(version);
            }
            else if (model.Outcomes[i].Existed)
            {
                // A tombstone: remember when, so a purge can land exactly on the end of its retention.
                _deletedAt.Add(Internal.Timestamps.Now(_time));
                if (_deletedAt.Count > 50)
                {
                    _deletedAt.RemoveAt(0);
                }
            }
        }
    }

    // An append with a random expectation: Any, the right version, NoStream, a version seen before
    // (often stale), any small number; or, now and then, the exact events of an earlier append again.
    private async Task<WriteOperation> NewAppendAsync(string partition, string stream)
    {
        var earlier = AppendsOf(partition, stream);
        if (earlier.Count > 0 && _random.Next(5) == 0)
        {
            var (events, expected) = earlier[_random.Next(2) == 0 ? earlier.Count - 1 : _random.Next(earlier.Count)];
            Count("append sent again");

            // Mostly the exact events; sometimes only their first ones, their last ones, another last one, or another order.
            events = _random.Next(8) switch
            {
                0 when events.Length > 1 => events[..^1],
                1 when events.Length > 1 => events[1..],
                2 => [.. events[..^1], NewEvent()],
                3 when events.Length > 1 => [.. events.Reverse()],
                _ => events,
            };
            return WriteOperation.Append(stream, events, _random.Next(4) == 0 ? ExpectedStreamVersion.Any : expected);
        }

        var count = _random.Next(10) == 0 ? _random.Next(4, 9) : _random.Next(1, 4);
        var created = new EventData[count];
        for (var i = 0; i < count; i++)
        {
            created[i] = NewEvent();
        }

        var current = await ModelStreamVersionAsync(partition, stream);
        var seen = StreamVersionsOf(partition, stream);
        var expectation = _random.Next(100) switch
        {
            < 35 => ExpectedStreamVersion.Any,
            < 65 => ExpectedStreamVersion.Exactly(current),
            < 72 => ExpectedStreamVersion.NoStream,
            < 90 when seen.Count > 0 => ExpectedStreamVersion.Exactly(seen[_random.Next(seen.Count)]),
            _ => ExpectedStreamVersion.Exactly(_random.Next(0, 12)),
        };
        earlier.Add((created, expectation));
        return WriteOperation.Append(stream, created, expectation);
    }

    private EventData NewEvent()
    {
        var id = new byte[16];
        _random.NextBytes(id);
        var data = _random.Next(3) == 0 ? $$"""{"n":{{_random.Next(1000)}}}""" : Pick(s_values);
        if (_random.Next(10) == 0)
        {
            data = " \n" + data + "\t ";
        }

        return EventData.Create(Pick(s_eventTypes), data, _random.Next(3) == 0 ? Pick(s_values) : null, new Guid(id));
    }

    private async Task<long> ModelStreamVersionAsync(string partition, string stream)
        => (await _model.ReadStreamAsync(partition, stream, new ReadStreamOptions { Backwards = true, Limit = 1 })).StreamVersion;

    private async Task ReadStreamAsync()
    {
        var partition = Pick(s_partitions);
        var stream = Pick(s_streams);
        var current = await ModelStreamVersionAsync(partition, stream);
        var options = new ReadStreamOptions
        {
            FromVersion = _random.Next(10) < 4 ? null : _random.Next(1, (int)current + 4),
            Backwards = _random.Next(2) == 0,
            Limit = _random.Next(10) switch
            {
                < 6 => _random.Next(1, 5),
                < 9 => _random.Next(5, 21),
                _ => StoreLimits.DefaultPageSize,
            },
        };
        await StreamReadsAsync(partition, stream, options, pages: _random.Next(3) == 0 ? 5 : 1);
    }

    // Reads a stream in both stores, following NextVersion for up to `pages` pages, comparing every page.
    private async Task StreamReadsAsync(string partition, string stream, ReadStreamOptions options, int pages)
        => await PageThroughAsync<EventPage>(
            previous => $"ReadStream({Show(partition)}, {Show(stream)}, from {(previous?.NextVersion ?? options.FromVersion)?.ToString(System.Globalization.CultureInfo.InvariantCulture) ?? "start"}, {(options.Backwards ? "backwards" : "forwards")}, limit {options.Limit})",
            (s, previous) => s.ReadStreamAsync(partition, stream, options with { FromVersion = previous?.NextVersion ?? options.FromVersion }),
            (expected, actual) =>
            {
                Assert.Equal(expected.StreamVersion, actual.StreamVersion);
                Assert.Equal(expected.NextVersion, actual.NextVersion);
                Assert.Equal(expected.Items.Count, actual.Items.Count);
                for (var i = 0; i < expected.Items.Count; i++)
                {
                    StoreAssert.SameEvent(expected.Items[i], actual.Items[i]);
                }
            },
            page => page.NextVersion is not null,
            new Paging(pages, MustEnd: false));

    private async Task ListStreamsAsync()
    {
        var options = new ListOptions
        {
            Prefix = _random.Next(10) < 3 ? Pick(s_streamPrefixes) : null,
            StartKey = _random.Next(4) == 0 ? Pick(s_streamBounds) : null,
            EndKey = _random.Next(4) == 0 ? Pick(s_streamBounds) : null,
            Descending = _random.Next(2) == 0,
            Limit = _random.Next(4) == 0 ? StoreLimits.DefaultPageSize : _random.Next(1, 4),
        };
        await StreamPagesAsync(Pick(s_partitions), options, appendBetweenPages: _random.Next(10) == 0);
    }

    private async Task StreamPagesAsync(string partition, ListOptions options, bool appendBetweenPages)
        => await PageThroughAsync<StreamPage>(
            _ => $"ListStreams({Show(partition)}, prefix {Show(options.Prefix)}, start {Show(options.StartKey)}, end {Show(options.EndKey)}, {(options.Descending ? "desc" : "asc")}, limit {options.Limit})",
            (s, previous) => s.ListStreamsAsync(partition, options with { ContinuationToken = previous?.ContinuationToken }),
            (expected, actual) => Assert.Equal(expected.Items, actual.Items),
            page => page.ContinuationToken is not null,
            new Paging(100, MustEnd: true),
            appendBetweenPages
                ? async _ =>
                {
                    Count("append between pages");
                    await CommitAsync(partition, [await NewAppendAsync(partition, Pick(s_streams))]);
                }
                : null);

    // Reads the change feed after a random revision: the partition's own follower (a reader that
    // resumes from its last page and starts over from 0 when truncated), 0, the current revision,
    // a revision near it, or one past it.
    private async Task ReadChangesAsync()
    {
        var partition = Pick(s_partitions);
        var current = (await _model.ListPartitionsAsync(new PartitionListOptions { Limit = StoreLimits.MaxPageSize })).Items.FirstOrDefault(p => p.Partition == partition)?.Revision ?? 0;
        var limit = _random.Next(10) switch
        {
            < 5 => _random.Next(1, 6),
            < 8 => _random.Next(6, 31),
            < 9 => StoreLimits.DefaultPageSize,
            _ => StoreLimits.MaxPageSize,
        };
        var roll = _random.Next(100);
        if (roll < 30)
        {
            var after = _feedCursors.GetValueOrDefault(partition);
            var last = await ChangePagesAsync(partition, after, limit, pages: _random.Next(1, 4));
            _feedCursors[partition] = last ?? 0;
            Count(last is null ? "follower starts over" : "follower read");
            return;
        }

        var from = roll switch
        {
            < 40 => 0,
            < 55 => current,
            < 85 => _random.NextInt64(Math.Max(0, current - 12), current + 1),
            _ => current + _random.Next(1, 4),
        };
        await ChangePagesAsync(partition, from, limit, pages: _random.Next(4) == 0 ? 3 : 1);
    }

    // Reads up to `pages` pages of the change feed in both stores, comparing every page; returns the
    // revision to resume after, or null when the feed was truncated.
    private async Task<long?> ChangePagesAsync(string partition, long after, int limit, int pages)
    {
        var last = await PageThroughAsync<ChangePage>(
            previous => $"ReadChanges({Show(partition)}, after {previous?.LastRevision ?? after}, limit {limit})",
            (s, previous) => s.ReadChangesAsync(partition, previous?.LastRevision ?? after, limit),
            StoreAssert.SameChangePage,
            page => page.HasMore,
            new Paging(pages, MustEnd: false),
            _ =>
            {
                Count("change page with more");
                return Task.CompletedTask;
            });
        return last?.LastRevision;
    }

    /// <summary>
    /// Pages through one reading in both stores, comparing every page: each store reads its next page
    /// from its own previous one — its own continuation token (the model's tokens are its own format,
    /// so tokens are never compared, only whether a page has one), or the position the page names
    /// (a stream's next version, the feed's last revision), which the comparison makes equal.
    /// </summary>
    /// <typeparam name="TPage">The page type.</typeparam>
    /// <param name="describe">What is read, given the model's previous page (null for the first).</param>
    /// <param name="read">Reads a store's next page after its previous page (null for the first).</param>
    /// <param name="compare">Compares the model's page (expected) with the backend's (actual).</param>
    /// <param name="hasMore">Whether a page says more follows; the stores must agree.</param>
    /// <param name="paging">How many pages to read at most, and whether the reading must have ended by then.</param>
    /// <param name="onMore">Runs after a page that has more (counts, writes between pages), or <see langword="null"/>.</param>
    /// <returns>The model's last page, or <see langword="null"/> when both stores threw (alike).</returns>
    private async Task<TPage?> PageThroughAsync<TPage>(
        Func<TPage?, string> describe,
        Func<IStore, TPage?, ValueTask<TPage>> read,
        Action<TPage, TPage> compare,
        Func<TPage, bool> hasMore,
        Paging paging,
        Func<TPage, Task>? onMore = null)
        where TPage : class
    {
        TPage? backendPage = null;
        TPage? modelPage = null;
        for (var page = 0; page < paging.MaxPages; page++)
        {
            Begin($"{describe(modelPage)} page {page}");
            var (backendPrevious, modelPrevious) = (backendPage, modelPage);
            (backendPage, modelPage) = await BothAsync(
                s => read(s, s == _backend ? backendPrevious : modelPrevious),
                (expected, actual) =>
                {
                    compare(expected, actual);
                    Assert.True(hasMore(expected) == hasMore(actual), $"The model's page {(hasMore(expected) ? "has more" : "is the last")}, the backend's {(hasMore(actual) ? "has more" : "is the last")}.");
                });
            if (modelPage is null || !hasMore(modelPage))
            {
                return modelPage;
            }

            if (onMore is not null)
            {
                await onMore(modelPage);
            }
        }

        Assert.False(paging.MustEnd, $"{describe(modelPage)} ran past {paging.MaxPages} pages.");
        return modelPage;
    }

    private static void SameDocuments(IReadOnlyList<StoredDocument> expected, IReadOnlyList<StoredDocument> actual)
    {
        Assert.Equal(expected.Count, actual.Count);
        for (var i = 0; i < expected.Count; i++)
        {
            StoreAssert.SameDocument(expected[i], actual[i]);
        }
    }

    private async Task<int> ModelTombstonesAsync()
    {
        var tombstones = 0;
        foreach (var partition in s_partitions)
        {
            long after = 0;
            while (true)
            {
                var page = await _model.ReadChangesAsync(partition, after, StoreLimits.MaxPageSize);
                tombstones += page.Items.Count(c => c.Kind == ChangeKind.Delete);
                after = page.LastRevision;
                if (!page.HasMore)
                {
                    break;
                }
            }
        }

        return tombstones;
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

        var value = _random.Next(4) switch
        {
            0 => $$"""{"n":{{_random.Next(1000)}}}""",
            1 => Pick(s_values),
            _ => NewIndexedValue(),
        };
        if (_random.Next(10) == 0)
        {
            value = " \n" + value + "\t ";
        }

        return WriteOperation.Put(collection, key, value, condition, NewExpiry());
    }

    // A document with some of the indexed properties (n, t, u, x.s) from small pools; now and then
    // null, missing, an array with duplicates, or a value of the wrong type (the put must fail).
    private string NewIndexedValue()
    {
        var members = new List<string>();
        if (_random.Next(3) > 0)
        {
            members.Add("\"n\":" + (_random.Next(25) switch
            {
                0 => "\"7\"",
                1 => "1.5",
                2 => "null",
                _ => Pick(s_numbers).ToString(System.Globalization.CultureInfo.InvariantCulture),
            }));
        }

        if (_random.Next(2) == 0)
        {
            var tags = Enumerable.Range(0, _random.Next(0, 4)).Select(_ => _random.Next(8) == 0 ? "null" : Quote(Pick(s_words)));
            members.Add("\"t\":" + (_random.Next(25) == 0 ? "[1]" : _random.Next(6) == 0 ? Quote(Pick(s_words)) : "[" + string.Join(',', tags) + "]"));
        }

        if (_random.Next(3) == 0)
        {
            members.Add("\"u\":" + Quote(Pick(s_words)));
        }

        if (_random.Next(3) == 0)
        {
            members.Add("\"x\":" + (_random.Next(20) == 0 ? "[]" : "{\"s\":" + (_random.Next(25) == 0 ? "true" : Quote(Pick(s_words))) + "}"));
        }

        return "{" + string.Join(',', members.OrderBy(_ => _random.Next())) + "}";

        static string Quote(string text) => System.Text.Json.JsonSerializer.Serialize(text, ConformanceJsonContext.Default.String);
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
        // Half the purges first move the clock to the end of a tombstone's retention, or 1 ms before it.
        var pending = _deletedAt.Where(d => d + TombstoneRetention - TimeSpan.FromMilliseconds(1) > _time.GetUtcNow()).ToList();
        if (pending.Count > 0 && _random.Next(2) == 0)
        {
            var before = _random.Next(2) == 0;
            var boundary = Pick(pending) + TombstoneRetention - TimeSpan.FromMilliseconds(before ? 1 : 0);
            var target = boundary.AddTicks(_random.Next(0, (int)TimeSpan.TicksPerMillisecond));
            if (target > _time.GetUtcNow())
            {
                Begin($"AdvanceClock to {target:O}, {(before ? "1 ms before" : "at")} the end of a tombstone's retention");
                _time.Advance(target - _time.GetUtcNow());
                Count("purge at a tombstone's retention boundary");
            }
        }

        var tombstones = await ModelTombstonesAsync();
        Begin("PurgeExpired()");
        var (_, model) = await BothAsync(s => s.PurgeExpiredAsync(), (expected, actual) => Assert.Equal(expected, actual));
        if (model > 0)
        {
            Count("purged something");
        }

        if (await ModelTombstonesAsync() < tombstones)
        {
            Count("tombstone dropped");
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
        switch (_random.Next(12))
        {
            case 10:
                var bad = Pick<IndexQuery>(
                [
                    new IndexQuery("c", "n") { Equal = "7" },
                    new IndexQuery("c", "n") { Prefix = "1" },
                    new IndexQuery("c", "tags") { From = 1L },
                    new IndexQuery("c", "tags") { Equal = "a", Prefix = "a" },
                    new IndexQuery("c", "tags") { Prefix = string.Empty },
                    new IndexQuery("c", "missing"),
                    new IndexQuery("D", "u"),
                    new IndexQuery("c", "u") { Limit = StoreLimits.MaxPageSize + 1 },
                    new IndexQuery("c", "u") { ContinuationToken = "garbage" },
                    new IndexQuery("c", "u") { Partition = string.Empty },
                ]);
                Begin($"Query({Show(bad)}, token {Show(bad.ContinuationToken)}) (invalid)");
                await BothAsync(s => s.QueryAsync(bad), (_, _) => { });
                break;
            case 11:
                // Each store gets its own token of one query and must refuse it for another.
                Begin("Query with the token of another query");
                var first = new IndexQuery("c", "tags") { Limit = 1 };
                var backendQueryToken = (await _backend.QueryAsync(first)).ContinuationToken;
                var modelQueryToken = (await _model.QueryAsync(first)).ContinuationToken;
                Assert.Equal(modelQueryToken is null, backendQueryToken is null);
                if (modelQueryToken is not null)
                {
                    var second = first with { Descending = true };
                    await BothAsync(s => s.QueryAsync(second with { ContinuationToken = s == _backend ? backendQueryToken : modelQueryToken }), (_, _) => { });
                }

                break;
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
            case 5:
                Begin($"IncrementSequence({Show(partition)}) by 0");
                await BothAsync(s => s.IncrementSequenceAsync(partition, Pick(s_sequences), 0), (_, _) => { });
                break;
            case 6:
                var twice = Pick(s_streams);
                Begin($"Commit({Show(partition)}) appending to {Show(twice)} twice");
                await BothAsync(s => s.CommitAsync(partition, [WriteOperation.Append(twice, [EventData.Create("e", "1")]), WriteOperation.Put(collection, Pick(s_keys), "1"), WriteOperation.Append(twice, [EventData.Create("e", "2")])]), (_, _) => { });
                break;
            case 7:
                var read = _random.Next(2) == 0 ? new ReadStreamOptions { FromVersion = Pick([0L, -1L]) } : new ReadStreamOptions { Limit = Pick([0, StoreLimits.MaxPageSize + 1]), Backwards = true };
                Begin($"ReadStream({Show(partition)}) with from {read.FromVersion} and limit {read.Limit}");
                await BothAsync(s => s.ReadStreamAsync(partition, Pick(s_streams), read), (_, _) => { });
                break;
            case 8:
                var (after, size) = _random.Next(2) == 0 ? (Pick([-1L, long.MinValue]), 10) : ((long)_random.Next(0, 5), Pick([0, -1, StoreLimits.MaxPageSize + 1]));
                Begin($"ReadChanges({Show(partition)}, after {after}, limit {size})");
                await BothAsync(s => s.ReadChangesAsync(partition, after, size), (_, _) => { });
                break;
            default:
                // Each store gets its own token of a document listing and must refuse it in a stream listing.
                Begin($"ListStreams({Show(partition)}) with the token of a document listing");
                var documentsOf = (IStore s) => s.ListAsync(partition, collection, new ListOptions { Limit = 1 });
                var backendDocuments = (await documentsOf(_backend)).ContinuationToken;
                var modelDocuments = (await documentsOf(_model)).ContinuationToken;
                Assert.Equal(modelDocuments is null, backendDocuments is null);
                if (modelDocuments is not null)
                {
                    await BothAsync(s => s.ListStreamsAsync(partition, new ListOptions { Limit = 1, ContinuationToken = s == _backend ? backendDocuments : modelDocuments }), (_, _) => { });
                }

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
            Assert.Equal(expected.Stream, actual.Stream);
            Assert.Equal(expected.Condition, actual.Condition);
            Assert.Equal(expected.StreamExpectation, actual.StreamExpectation);
            Assert.Equal(expected.ExpectedVersion, actual.ExpectedVersion);
            Assert.Equal(expected.ActualVersion, actual.ActualVersion);
            Assert.Equal(expected.OperationIndex, actual.OperationIndex);
            Assert.Equal(expected.Message, actual.Message);
            if (expected.Stream is not null)
            {
                Count("stream conflict");
            }
        }

        if (modelError is UniqueConstraintException unique)
        {
            var actual = (UniqueConstraintException)backendError;
            Assert.Equal(unique.Partition, actual.Partition);
            Assert.Equal(unique.Collection, actual.Collection);
            Assert.Equal(unique.Index, actual.Index);
            Assert.Equal(unique.Scope, actual.Scope);
            Assert.Equal(unique.Value, actual.Value);
            Assert.Equal(unique.OperationIndex, actual.OperationIndex);
            Assert.Equal(unique.Message, actual.Message);
        }

        if (modelError is ChangeFeedTruncatedException truncated)
        {
            var actual = (ChangeFeedTruncatedException)backendError;
            Assert.Equal(truncated.Partition, actual.Partition);
            Assert.Equal(truncated.AfterRevision, actual.AfterRevision);
            Assert.Equal(truncated.OldestResumableRevision, actual.OldestResumableRevision);
            Assert.Equal(truncated.Message, actual.Message);
            Count(truncated.OldestResumableRevision == 0 ? "feed of a deleted partition" : "feed truncated");
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

    private List<long> StreamVersionsOf(string partition, string stream)
    {
        if (!_streamVersions.TryGetValue((partition, stream), out var versions))
        {
            versions = [];
            _streamVersions.Add((partition, stream), versions);
        }

        return versions;
    }

    private List<(EventData[] Events, ExpectedStreamVersion Expected)> AppendsOf(string partition, string stream)
    {
        if (!_appends.TryGetValue((partition, stream), out var appends))
        {
            appends = [];
            _appends.Add((partition, stream), appends);
        }

        return appends;
    }

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

    private static string Show(IndexQuery query)
    {
        static string V(IndexValue? value) => value is { } v ? (v.Type == IndexValueType.String ? Show(v.AsString) : v.ToString()) : "-";
        return $"{query.Collection}.{query.Index}, partition {Show(query.Partition)}, equal {V(query.Equal)}, from {V(query.From)}{(query.FromInclusive ? "]" : ")")}, to {V(query.To)}{(query.ToInclusive ? "]" : ")")}, prefix {Show(query.Prefix)}, {(query.Descending ? "desc" : "asc")}, limit {query.Limit}";
    }

    private static string Show(WriteOperation operation)
    {
        if (operation.Kind == WriteOperationKind.Append)
        {
            return $"Append({Show(operation.Stream)}, [{string.Join(", ", operation.Events.Select(e => $"{e.Id.ToString()[..8]} {e.Type} {Encoding.UTF8.GetString(e.Data.Span)}"))}], {operation.ExpectedVersion})";
        }

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

    /// <summary>How far <see cref="PageThroughAsync"/> reads.</summary>
    /// <param name="MaxPages">The most pages to read.</param>
    /// <param name="MustEnd">Whether the reading must end within them (a listing), or may stop there (a reader that reads a few pages).</param>
    private readonly record struct Paging(int MaxPages, bool MustEnd);
}
