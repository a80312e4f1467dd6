namespace Storage.Tool;

/// <summary>What a pass over a store's export counted: partitions, documents (per collection), tombstones, sequences, streams, events.</summary>
internal sealed class StoreCounts
{
    private readonly SortedDictionary<string, long> _collections = new(StringComparer.Ordinal);

    public long Partitions { get; private set; }

    public long Documents { get; private set; }

    /// <summary>Documents past their expiry that no purge has removed yet: stored (and moved), hidden from reads.</summary>
    public long ExpiredDocuments { get; private set; }

    public long Tombstones { get; private set; }

    public long Sequences { get; private set; }

    public long Streams { get; private set; }

    public long Events { get; private set; }

    /// <summary>Documents per collection, by name.</summary>
    public IReadOnlyDictionary<string, long> Collections => _collections;

    /// <summary>Counts one partition.</summary>
    public void Add(PartitionExport partition, DateTimeOffset now)
    {
        Partitions++;
        Documents += partition.Documents.Count;
        Tombstones += partition.Tombstones.Count;
        Sequences += partition.Sequences.Count;
        Streams += partition.Streams.Count;
        foreach (var stream in partition.Streams)
        {
            Events += stream.Events.Count;
        }

        foreach (var document in partition.Documents)
        {
            _collections[document.Collection] = _collections.GetValueOrDefault(document.Collection) + 1;
            if (document.ExpiresAt <= now)
            {
                ExpiredDocuments++;
            }
        }
    }

    /// <summary>The counts as JSON fields.</summary>
    public IEnumerable<KeyValuePair<string, object?>> Fields()
    {
        yield return new("partitions", Partitions);
        yield return new("documents", Documents);
        yield return new("expiredDocuments", ExpiredDocuments);
        yield return new("tombstones", Tombstones);
        yield return new("sequences", Sequences);
        yield return new("streams", Streams);
        yield return new("events", Events);
    }

    /// <summary>The counts in one readable line.</summary>
    public override string ToString() =>
        $"{Partitions:N0} partitions, {Documents:N0} documents ({ExpiredDocuments:N0} expired, not purged), {Tombstones:N0} tombstones, {Sequences:N0} sequences, {Streams:N0} streams with {Events:N0} events";
}

/// <summary>
/// A read of a store's export that counts (<see cref="StoreCounts"/>) and digests (<see cref="StoreDigest"/>)
/// each partition as it passes on, so a pass that reads the store anyway need not read it again for them.
/// </summary>
internal sealed class CountedRead : IDisposable
{
    private readonly StoreDigest _digest = new();
    private readonly DateTimeOffset _now = DateTimeOffset.UtcNow;

    /// <summary>What passed so far.</summary>
    public StoreCounts Counts { get; } = new();

    /// <summary>Passes each partition of <paramref name="partitions"/> on, counting and digesting it.</summary>
    public async IAsyncEnumerable<PartitionExport> ReadAsync(IAsyncEnumerable<PartitionExport> partitions)
    {
        await foreach (var partition in partitions)
        {
            Counts.Add(partition, _now);
            _digest.Add(partition);
            yield return partition;
        }
    }

    /// <summary>The store digest of what passed (call once, after the read), in lowercase hex.</summary>
    public string Finish() => Convert.ToHexStringLower(_digest.Finish());

    /// <inheritdoc/>
    public void Dispose() => _digest.Dispose();
}
