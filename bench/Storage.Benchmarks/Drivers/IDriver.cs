using Storage.Benchmarks.Scenarios;

namespace Storage.Benchmarks.Drivers;

/// <summary>The result of a conditional put: written (with the new version) or refused (with the version found).</summary>
internal readonly record struct PutOutcome(bool Written, long Version);

/// <summary>
/// What a scenario asks of the thing it measures. One implementation runs everything through
/// <see cref="IStore"/> (all backends); the others do the same work with the raw driver (SQLite,
/// PostgreSQL), the raw file system (JSON) or plain collections (memory), so that every figure has its baseline.
/// </summary>
/// <remarks>
/// Members may be called from many threads at once. A driver that cannot do something (the raw file
/// baseline has no reads: reading a JSON file per request is not what the store does) says so with
/// <see cref="SupportsReads"/>, and the scenario reports no figure.
/// </remarks>
internal interface IDriver : IAsyncDisposable
{
    /// <summary>Names the subject in the table: "Storage" or the raw driver.</summary>
    string Name { get; }

    bool SupportsReads { get; }

    /// <summary>Writes documents before a measurement (not measured); the partition is new.</summary>
    ValueTask SeedAsync(string partition, IReadOnlyList<Doc> docs);

    /// <summary>Writes documents of <see cref="Data.IndexedCollection"/> with their e-mail index entries (not measured); the partition is new.</summary>
    ValueTask SeedIndexedAsync(string partition, IReadOnlyList<IndexedDoc> docs);

    /// <summary>
    /// An index lookup: finds the document whose <c>email</c> is <paramref name="email"/>, in whichever
    /// partition holds it, with its value and metadata; returns whether one was found.
    /// </summary>
    ValueTask<bool> FindByEmailAsync(string email);

    /// <summary>A point read; returns whether the document exists (its value is read in full).</summary>
    ValueTask<bool> GetAsync(string partition, string key);

    /// <summary>The current version of a document (0 when missing).</summary>
    ValueTask<long> GetVersionAsync(string partition, string key);

    /// <summary>A listing by key prefix, ascending, at most <paramref name="limit"/> documents; returns how many.</summary>
    ValueTask<int> ListAsync(string partition, string prefix, int limit);

    /// <summary>One durable put that must match <paramref name="expectedVersion"/>.</summary>
    ValueTask<PutOutcome> PutAsync(string partition, string key, byte[] value, long expectedVersion);

    /// <summary>Puts every document (unconditionally) in one atomic, durable batch.</summary>
    ValueTask PutBatchAsync(string partition, IReadOnlyList<Doc> docs);

    /// <summary>
    /// Appends one event (a new id, <paramref name="data"/> as its JSON) to <paramref name="stream"/>,
    /// durably, if the stream's version is still <paramref name="expectedVersion"/> (0: the stream
    /// must not exist yet); returns whether it was appended.
    /// </summary>
    ValueTask<bool> AppendAsync(string partition, string stream, byte[] data, long expectedVersion);

    /// <summary>Loads partitions of new documents, streamed, as fast as the driver allows; returns the documents written.</summary>
    /// <param name="source">Generated as it is enumerated; may be enumerated once only.</param>
    /// <param name="writers">How many concurrent callers the driver may use.</param>
    ValueTask<long> BulkLoadAsync(IEnumerable<PartitionDocs> source, int writers);
}
