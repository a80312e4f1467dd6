using System.Collections.Concurrent;
using Storage.Benchmarks.Scenarios;

namespace Storage.Benchmarks.Drivers;

/// <summary>
/// The baseline for the memory backend: the same work on plain .NET collections, as an application
/// would hand-write it. Per partition a <see cref="SortedDictionary{TKey, TValue}"/> of (value,
/// version) in ordinal order (the code-point order of the store for the benchmark's ASCII keys) and
/// the streams as lists, all under the partition's lock; an e-mail → (partition, key) dictionary for
/// the index lookup. It keeps the caller's arrays as they are and returns them as they are: what the
/// store adds — validating, queueing for group commit, deciding the batch, copying the bytes in and
/// out, timestamps, revisions of the change feed, tombstones — is the engine's own cost.
/// </summary>
/// <remarks>
/// Versions are the partition's revision, as in the store (docs/contract.md: every changing commit
/// takes the partition's next revision and every document it writes carries it): one counter per
/// partition costs an application nothing, and it makes every answer of this driver the store's
/// answer to the same calls, which <see cref="Harness.Agreement"/> checks before the memory rows are measured.
/// </remarks>
internal sealed class RawMemoryDriver : IDriver
{
    private readonly ConcurrentDictionary<string, RawPartition> _partitions = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, (string Partition, string Key)> _emails = new(StringComparer.Ordinal);

    public string Name => "SortedDictionary + lock";

    public bool SupportsReads => true;

    public ValueTask SeedAsync(string partition, IReadOnlyList<Doc> docs) => PutBatchAsync(partition, docs);

    public ValueTask SeedIndexedAsync(string partition, IReadOnlyList<IndexedDoc> docs)
    {
        var state = _partitions.GetOrAdd(partition, _ => new RawPartition());
        lock (state.Lock)
        {
            var revision = ++state.Revision;
            foreach (var doc in docs)
            {
                if (!_emails.TryAdd(doc.Email, (partition, doc.Key)))
                {
                    throw new InvalidOperationException($"The e-mail {doc.Email} is held twice.");
                }

                state.Documents[doc.Key] = (doc.Value, revision);
            }
        }

        return ValueTask.CompletedTask;
    }

    public ValueTask<bool> FindByEmailAsync(string email)
        => ValueTask.FromResult(_emails.TryGetValue(email, out var holder) && Read(holder.Partition, holder.Key) is { Length: > 0 });

    public ValueTask<bool> GetAsync(string partition, string key) => ValueTask.FromResult(Read(partition, key) is { Length: > 0 });

    public ValueTask<long> GetVersionAsync(string partition, string key)
    {
        if (!_partitions.TryGetValue(partition, out var state))
        {
            return ValueTask.FromResult(0L);
        }

        lock (state.Lock)
        {
            return ValueTask.FromResult(state.Documents.TryGetValue(key, out var document) ? document.Version : 0);
        }
    }

    /// <summary>
    /// Walks the partition in key order from its start, as <see cref="SortedDictionary{TKey, TValue}"/>
    /// offers no seek, and stops at the first key past the prefix (the store's memory backend walks its
    /// sorted dictionary the same way).
    /// </summary>
    public ValueTask<int> ListAsync(string partition, string prefix, int limit)
    {
        if (!_partitions.TryGetValue(partition, out var state))
        {
            return ValueTask.FromResult(0);
        }

        var found = new List<(string Key, byte[] Value, long Version)>(limit);
        lock (state.Lock)
        {
            foreach (var (key, document) in state.Documents)
            {
                if (key.StartsWith(prefix, StringComparison.Ordinal))
                {
                    found.Add((key, document.Value, document.Version));
                    if (found.Count == limit)
                    {
                        break;
                    }
                }
                else if (string.CompareOrdinal(key, prefix) > 0)
                {
                    break;
                }
            }
        }

        return ValueTask.FromResult(found.Count);
    }

    public ValueTask<PutOutcome> PutAsync(string partition, string key, byte[] value, long expectedVersion)
    {
        if (!_partitions.TryGetValue(partition, out var state))
        {
            return ValueTask.FromResult(new PutOutcome(false, 0));
        }

        lock (state.Lock)
        {
            // As MustMatchVersion: the document must exist with exactly that version.
            var current = state.Documents.TryGetValue(key, out var document) ? document.Version : 0;
            if (current != expectedVersion || current == 0)
            {
                return ValueTask.FromResult(new PutOutcome(false, current));
            }

            var revision = ++state.Revision;
            state.Documents[key] = (value, revision);
            return ValueTask.FromResult(new PutOutcome(true, revision));
        }
    }

    public ValueTask PutBatchAsync(string partition, IReadOnlyList<Doc> docs)
    {
        var state = _partitions.GetOrAdd(partition, _ => new RawPartition());
        lock (state.Lock)
        {
            var revision = ++state.Revision;
            foreach (var doc in docs)
            {
                state.Documents[doc.Key] = (doc.Value, revision);
            }
        }

        return ValueTask.CompletedTask;
    }

    public ValueTask<bool> AppendAsync(string partition, string stream, byte[] data, long expectedVersion)
    {
        var state = _partitions.GetOrAdd(partition, _ => new RawPartition());
        lock (state.Lock)
        {
            if (!state.Streams.TryGetValue(stream, out var events))
            {
                if (expectedVersion != 0)
                {
                    return ValueTask.FromResult(false);
                }

                state.Streams[stream] = events = [];
            }

            if (events.Count != expectedVersion)
            {
                return ValueTask.FromResult(false);
            }

            state.Revision++;
            events.Add(new RawEvent(Guid.CreateVersion7(), Data.EventType, data, DateTimeOffset.UtcNow));
            return ValueTask.FromResult(true);
        }
    }

    /// <summary>One caller, plain inserts into a new dictionary per partition.</summary>
    public ValueTask<long> BulkLoadAsync(IEnumerable<PartitionDocs> source, int writers)
    {
        long written = 0;
        foreach (var partition in source)
        {
            var state = new RawPartition { Revision = 1 };
            foreach (var doc in partition.Docs)
            {
                state.Documents.Add(doc.Key, (doc.Value, 1));
            }

            if (!_partitions.TryAdd(partition.Partition, state))
            {
                throw new InvalidOperationException($"The partition {partition.Partition} exists already.");
            }

            written += partition.Docs.Count;
        }

        return ValueTask.FromResult(written);
    }

    public ValueTask DisposeAsync() => ValueTask.CompletedTask;

    private byte[]? Read(string partition, string key)
    {
        if (!_partitions.TryGetValue(partition, out var state))
        {
            return null;
        }

        lock (state.Lock)
        {
            return state.Documents.TryGetValue(key, out var document) ? document.Value : null;
        }
    }

    private readonly record struct RawEvent(Guid Id, string Type, byte[] Data, DateTimeOffset CommittedAt);

    private sealed class RawPartition
    {
        public Lock Lock { get; } = new();

        public long Revision { get; set; }

        public SortedDictionary<string, (byte[] Value, long Version)> Documents { get; } = new(StringComparer.Ordinal);

        public Dictionary<string, List<RawEvent>> Streams { get; } = new(StringComparer.Ordinal);
    }
}
