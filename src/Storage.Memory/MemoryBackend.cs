using System.Diagnostics.CodeAnalysis;

namespace Storage.Memory;

/// <summary>
/// The in-memory backend: every partition in a sorted dictionary, one lock around everything. The
/// engine decides every write; this class only loads the state a write needs, keeps the writer's
/// net change, and reads. Index queries, counts and unique checks are answered by the engine's
/// <see cref="InMemoryIndexes{TDocument}"/> (each document keeps the index values the engine extracted
/// when it was written, so a change's entries are decided without parsing it again).
/// </summary>
internal sealed class MemoryBackend : IStoreBackend
{
    private readonly IndexCatalog _indexes;
    private readonly MemoryData _data;
    private InMemoryIndexes<MemoryDocument> _entries;

    /// <summary>Opens the store over <paramref name="data"/>: the index values of its documents are computed again for <paramref name="indexes"/>.</summary>
    /// <param name="indexes">The declared indexes.</param>
    /// <param name="data">What an earlier instance stored, or a new, empty <see cref="MemoryData"/>.</param>
    /// <param name="now">The store's clock at open: documents expired by then hold no index values.</param>
    /// <exception cref="IndexBuildException">A document holds a value of the wrong type or a duplicate of a unique value; nothing changed.</exception>
    public MemoryBackend(IndexCatalog indexes, MemoryData data, DateTimeOffset now)
    {
        _indexes = indexes;
        _data = data;
        lock (_lock)
        {
            BuildIndexes(now);
        }
    }

    private Lock _lock => _data.Lock;

    private SortedDictionary<string, Partition> _partitions => _data.Partitions;

    public string SystemName => "memory";

    /// <inheritdoc/>
    public int ImportWindow => BatchImport.InFlight;

    /// <inheritdoc/>
    /// <remarks>Per partition by default; the conformance suite also runs the store-wide grouping through this backend.</remarks>
    public bool CommitsPerPartition { get; init; } = true;

    /// <inheritdoc/>
    public ValueTask CommitAsync(IReadOnlyList<PendingWrite> group, DateTimeOffset now, CancellationToken cancellationToken)
    {
        lock (_lock)
        {
            ThrowIfReadOnly();
            foreach (var write in group)
            {
                if (write.IsPartitionDelete)
                {
                    write.Complete(DeletePartition(write.Partition, now));
                    continue;
                }

                if (write.IsRestore)
                {
                    Restore(write, now);
                    continue;
                }

                var state = Load(write.Partition, write.Reads);
                var writer = new PartitionWriter(state, now, new UniqueValues(write.Partition, now, (index, value) => _entries.Holders(index, value, write.Partition)));
                if (write.Apply(writer, state))
                {
                    Persist(writer);
                    write.Complete();
                }
            }
        }

        return ValueTask.CompletedTask;
    }

    private bool DeletePartition(string partition, DateTimeOffset now)
    {
        if (!_partitions.Remove(partition, out var removed))
        {
            return false;
        }

        _data.Deleted[partition] = (removed.Revision, ++_data.Position, now);

        foreach (var document in removed.Collections.Values.SelectMany(c => c.Values))
        {
            RemoveEntries(document);
        }

        // A partition written again later continues above every version it had.
        _data.RevisionFloor = Math.Max(_data.RevisionFloor, removed.Revision);
        return true;
    }

    /// <summary>Replaces a partition with a restored state, unless it changed since the engine read it.</summary>
    private void Restore(PendingWrite write, DateTimeOffset now)
    {
        var name = write.Partition;
        var exists = _partitions.TryGetValue(name, out var stored);
        if (exists ? stored!.Revision != write.RestoreOver : write.RestoreOver is not null)
        {
            write.Complete(false);
            return;
        }

        if (!write.CheckRestore(new UniqueValues(name, now, (index, value) => _entries.Holders(index, value, name)), now))
        {
            return;
        }

        foreach (var document in stored?.Collections.Values.SelectMany(c => c.Values) ?? [])
        {
            RemoveEntries(document);
        }

        var state = write.Restored!;
        var partition = _partitions[name] = new Partition { Revision = state.Revision, OldestResumable = state.OldestResumable };
        Moved(name, partition);
        for (var i = 0; i < state.Documents.Count; i++)
        {
            var d = state.Documents[i];
            if (!partition.Collections.TryGetValue(d.Collection, out var documents))
            {
                partition.Collections[d.Collection] = documents = new SortedDictionary<string, MemoryDocument>(StorageKeyComparer.Instance);
            }

            var document = documents[d.Key] = new MemoryDocument(new StoredDocument(name, d.Collection, d.Key, d.Value.ToArray(), d.Version, d.CreatedAt, d.UpdatedAt, d.ExpiresAt), write.Entries![i]);
            if (document.Entries is { } entries)
            {
                _entries.Add(name, document, entries);
            }
        }

        foreach (var t in state.Tombstones)
        {
            partition.Tombstones[new DocumentId(t.Collection, t.Key)] = (t.Revision, t.DeletedAt);
        }

        foreach (var s in state.Sequences)
        {
            partition.Sequences[s.Name] = (s.Value, s.Revision);
        }

        foreach (var s in state.Streams)
        {
            partition.Streams[s.Stream] = s.Events.Select(e => new StoredEvent(name, e.Stream, e.Version, e.Revision, e.Id, e.Type, e.Data.ToArray(), e.Metadata.IsEmpty ? ReadOnlyMemory<byte>.Empty : e.Metadata.ToArray(), e.CommittedAt)).ToList();
        }

        write.Complete(true);
    }

    // The partition changed: it takes the next store-wide position, and replaces its mark if it was deleted.
    private void Moved(string name, Partition partition)
    {
        partition.Position = ++_data.Position;
        _data.Deleted.Remove(name);
    }

    /// <inheritdoc/>
    public ValueTask<ChangedPartitions> ReadChangedPartitionsAsync(long afterPosition, int limit, CancellationToken cancellationToken)
        => Locked(() =>
        {
            var changed = _partitions.Where(p => p.Value.Position > afterPosition).Select(p => new PartitionChange(p.Key, p.Value.Revision, false, p.Value.Position))
                .Concat(_data.Deleted.Where(d => d.Value.Position > afterPosition).Select(d => new PartitionChange(d.Key, d.Value.Revision, true, d.Value.Position)));
            return ChangedPartitionPages.Cut(changed, limit, _data.Position, _data.OldestPosition, _data.RevisionFloor);
        });

    /// <inheritdoc/>
    public ValueTask RaiseRevisionFloorAsync(long floor, CancellationToken cancellationToken)
    {
        lock (_lock)
        {
            ThrowIfReadOnly();
            _data.RevisionFloor = Math.Max(_data.RevisionFloor, floor);
        }

        return ValueTask.CompletedTask;
    }

    /// <inheritdoc/>
    public ValueTask<long> PurgeAsync(DateTimeOffset now, DateTimeOffset? tombstoneCutoff, Func<string, CancellationToken, ValueTask<long>> purgeInTurn, CancellationToken cancellationToken)
    {
        long purged = 0;
        lock (_lock)
        {
            ThrowIfReadOnly();
            foreach (var partition in _partitions.Values)
            {
                foreach (var documents in partition.Collections.Values)
                {
                    foreach (var expired in documents.Values.Where(d => Timestamps.IsExpired(d.Document.ExpiresAt, now)).ToList())
                    {
                        documents.Remove(expired.Document.Key);
                        RemoveEntries(expired);
                        purged++;

                        // A reader behind the purged version never saw it: it must start over.
                        partition.OldestResumable = Math.Max(partition.OldestResumable, expired.Document.Version);
                    }
                }

                foreach (var (id, tombstone) in partition.Tombstones.Where(t => t.Value.DeletedAt <= tombstoneCutoff).ToList())
                {
                    partition.Tombstones.Remove(id);

                    // A reader behind the dropped tombstone would miss the delete: it must start over.
                    partition.OldestResumable = Math.Max(partition.OldestResumable, tombstone.Revision);
                }
            }

            // The marks of deleted partitions go with the tombstones: a cursor behind one dropped must start over.
            foreach (var (name, mark) in _data.Deleted.Where(d => d.Value.DeletedAt <= tombstoneCutoff).ToList())
            {
                _data.Deleted.Remove(name);
                _data.OldestPosition = Math.Max(_data.OldestPosition, mark.Position);
            }
        }

        return ValueTask.FromResult(purged);
    }

    /// <inheritdoc/>
    /// <remarks>A flag of the data, which every commit reads under the lock it commits under.</remarks>
    public ValueTask SetReadOnlyAsync(bool readOnly, CancellationToken cancellationToken)
    {
        lock (_lock)
        {
            _data.ReadOnly = readOnly;
        }

        return ValueTask.CompletedTask;
    }

    /// <inheritdoc/>
    public ValueTask<bool> IsReadOnlyAsync(CancellationToken cancellationToken)
        => Locked(() => _data.ReadOnly);

    /// <summary>Reads under the lock every commit holds, so that a read sees whole commits only.</summary>
    private ValueTask<T> Locked<T>(Func<T> read)
    {
        lock (_lock)
        {
            return ValueTask.FromResult(read());
        }
    }

    private void ThrowIfReadOnly()
    {
        if (_data.ReadOnly)
        {
            throw new StoreReadOnlyException();
        }
    }

    /// <inheritdoc/>
    public ValueTask<StoredDocument?> GetAsync(string partition, string collection, string key, DateTimeOffset now, CancellationToken cancellationToken)
    {
        lock (_lock)
        {
            return ValueTask.FromResult(Find(partition, collection, key) is { } found && !Timestamps.IsExpired(found.Document.ExpiresAt, now) ? found.Document : null);
        }
    }

    /// <inheritdoc/>
    public ValueTask<IReadOnlyList<StoredDocument>> ListDocumentsAsync(string partition, string collection, KeyRange range, bool descending, int limit, DateTimeOffset now, CancellationToken cancellationToken)
        => Locked<IReadOnlyList<StoredDocument>>(() => InOrder(
            (_partitions.GetValueOrDefault(partition)?.Collections.GetValueOrDefault(collection)?.Values.Select(d => d.Document) ?? []).Where(d => range.Contains(d.Key) && !Timestamps.IsExpired(d.ExpiresAt, now)),
            descending).Take(limit).ToList());

    /// <inheritdoc/>
    public ValueTask<IReadOnlyList<StreamInfo>> ListStreamsAsync(string partition, KeyRange range, bool descending, int limit, CancellationToken cancellationToken)
        => Locked<IReadOnlyList<StreamInfo>>(() => InOrder((_partitions.GetValueOrDefault(partition)?.Streams ?? []).Where(s => range.Contains(s.Key)), descending)
            .Take(limit).Select(s => new StreamInfo(s.Key, s.Value.Count)).ToList());

    /// <inheritdoc/>
    public ValueTask<IReadOnlyList<PartitionInfo>> ListPartitionsAsync(string? after, int limit, CancellationToken cancellationToken)
        => Locked<IReadOnlyList<PartitionInfo>>(() => _partitions.Where(p => after is null || StorageKeyComparer.Instance.Compare(p.Key, after) > 0).Take(limit).Select(p => new PartitionInfo(p.Key, p.Value.Revision)).ToList());

    /// <inheritdoc/>
    public ValueTask<long> GetSequenceAsync(string partition, string name, CancellationToken cancellationToken)
        => Locked(() => _partitions.GetValueOrDefault(partition)?.Sequences.GetValueOrDefault(name).Value ?? 0);

    /// <inheritdoc/>
    public ValueTask<(long Version, IReadOnlyList<StoredEvent> Events)> ReadStreamAsync(string partition, string stream, StreamRead read, CancellationToken cancellationToken)
    {
        lock (_lock)
        {
            var events = _partitions.GetValueOrDefault(partition)?.Streams.GetValueOrDefault(stream) ?? [];
            IReadOnlyList<StoredEvent> range = read.Range(events.Count) is { } r ? events.GetRange((int)r.First - 1, (int)(r.Last - r.First + 1)) : [];
            return ValueTask.FromResult((Version: (long)events.Count, Events: range));
        }
    }

    /// <inheritdoc/>
    public ValueTask<ChangeCandidates> ReadChangesAsync(string partition, long afterRevision, int limit, int fetch, DateTimeOffset now, CancellationToken cancellationToken)
    {
        lock (_lock)
        {
            if (!_partitions.TryGetValue(partition, out var state))
            {
                return ValueTask.FromResult(new ChangeCandidates(false, 0, 0, []));
            }

            var changes = new List<Change>();
            changes.AddRange(state.Collections.Values.SelectMany(c => c.Values).Select(d => d.Document)
                .Where(d => d.Version > afterRevision && !Timestamps.IsExpired(d.ExpiresAt, now))
                .Select(Change.Put));
            changes.AddRange(state.Tombstones.Where(t => t.Value.Revision > afterRevision).Select(t => Change.Delete(t.Value.Revision, t.Key.Collection, t.Key.Key, t.Value.DeletedAt)));
            changes.AddRange(state.Sequences.Where(s => s.Value.Revision > afterRevision).Select(s => Change.Sequence(s.Value.Revision, s.Key, s.Value.Value)));
            return ValueTask.FromResult(new ChangeCandidates(true, state.Revision, state.OldestResumable, FeedCandidates.Merge(changes, state.Streams.Values, afterRevision, fetch)));
        }
    }

    /// <inheritdoc/>
    public ValueTask<IReadOnlyList<IndexMatch>> QueryAsync(IndexQueryPlan plan, DateTimeOffset now, CancellationToken cancellationToken)
        => Locked<IReadOnlyList<IndexMatch>>(() => _entries[plan.Index].Query(plan, now).ConvertAll(e => new IndexMatch(e.Value, e.Document.Document)));

    /// <inheritdoc/>
    public ValueTask<long> CountAsync(IndexQueryPlan plan, DateTimeOffset now, CancellationToken cancellationToken)
        => Locked(() => _entries[plan.Index].CountMatches(plan, now));

    /// <inheritdoc/>
    public ValueTask DisposeAsync() => ValueTask.CompletedTask;

    /// <summary>
    /// Computes every document's index values for the declared indexes (all or nothing); expired
    /// documents hold none. A document that cannot be indexed, or a unique value held twice, fails the open.
    /// </summary>
    [MemberNotNull(nameof(_entries))]
    private void BuildIndexes(DateTimeOffset now)
    {
        var builders = _indexes.All.ToDictionary(index => index, index => new IndexBuilder(index));
        var built = new List<(SortedDictionary<string, MemoryDocument> Collection, MemoryDocument Document, IndexEntries? Entries)>();
        foreach (var partition in _partitions.Values)
        {
            foreach (var (name, documents) in partition.Collections)
            {
                var indexes = _indexes.For(name);
                foreach (var document in documents.Values)
                {
                    var stored = document.Document;
                    var live = indexes.Count > 0 && !Timestamps.IsExpired(stored.ExpiresAt, now);
                    IndexEntries? entries = live ? new IndexEntries(indexes, indexes.Select(i => builders[i].Add(stored.Partition, stored.Key, stored.Value)).ToList()) : null;
                    built.Add((documents, document, entries));
                }
            }
        }

        var indexed = new List<(string, MemoryDocument, IndexEntries)>();
        foreach (var (collection, document, entries) in built)
        {
            collection[document.Document.Key] = document with { Entries = entries };
            if (entries is not null)
            {
                indexed.Add((document.Document.Partition, collection[document.Document.Key], entries));
            }
        }

        _entries = InMemoryIndexes<MemoryDocument>.Build(_indexes, indexed);
    }

    private static IEnumerable<T> InOrder<T>(IEnumerable<T> ascending, bool descending) => descending ? ascending.Reverse() : ascending;

    private MemoryDocument? Find(string partition, string collection, string key)
        => _partitions.GetValueOrDefault(partition)?.Collections.GetValueOrDefault(collection)?.GetValueOrDefault(key);

    private void RemoveEntries(MemoryDocument document)
    {
        if (document.Entries is { } entries)
        {
            _entries.Remove(document.Document.Partition, document.Document.Key, entries);
        }
    }

    /// <summary>Loads what a write reads: the partition's revision, the floor, the named documents, sequences and streams with the ids asked for.</summary>
    private PartitionState Load(string partition, PartitionReads reads)
    {
        var state = new PartitionState(partition, reads) { RevisionFloor = _data.RevisionFloor };
        if (!_partitions.TryGetValue(partition, out var stored))
        {
            return state;
        }

        (state.Exists, state.Revision) = (true, stored.Revision);
        return IPartitionImage.Load(state, reads, stored);
    }

    /// <summary>Keeps a writer's net change (copies of the caller's bytes).</summary>
    private void Persist(PartitionWriter writer)
    {
        if (!writer.HasChanges)
        {
            return;
        }

        var name = writer.Partition;
        if (!_partitions.TryGetValue(name, out var partition))
        {
            _partitions[name] = partition = new Partition();
        }

        var entries = _indexes.All.Count == 0 ? null : EntryChanges(writer, partition);
        Moved(name, partition);

        partition.Revision = writer.Revision;
        if (writer.CreatedAtRevision is { } first)
        {
            partition.OldestResumable = first;
        }

        foreach (var (id, row) in writer.Upserts())
        {
            if (!partition.Collections.TryGetValue(id.Collection, out var documents))
            {
                partition.Collections[id.Collection] = documents = new SortedDictionary<string, MemoryDocument>(StorageKeyComparer.Instance);
            }

            var document = new StoredDocument(name, id.Collection, id.Key, row.Value.ToArray(), row.Version, row.CreatedAt, row.UpdatedAt, row.ExpiresAt);
            documents[id.Key] = new MemoryDocument(document, _indexes.For(id.Collection).Count > 0 ? row.Entries : null);
        }

        foreach (var id in writer.Deletes())
        {
            partition.Collections[id.Collection].Remove(id.Key);
        }

        foreach (var (id, revision) in writer.TombstoneWrites())
        {
            partition.Tombstones[id] = (revision, writer.Now);
        }

        foreach (var id in writer.TombstoneDeletes())
        {
            partition.Tombstones.Remove(id);
        }

        foreach (var e in writer.NewEvents())
        {
            if (!partition.Streams.TryGetValue(e.Stream, out var events))
            {
                partition.Streams[e.Stream] = events = [];
            }

            var data = e.Data;
            events.Add(new StoredEvent(name, e.Stream, e.Version, e.Revision, data.Id, data.Type, data.Data.ToArray(), data.Metadata.IsEmpty ? ReadOnlyMemory<byte>.Empty : data.Metadata.ToArray(), writer.Now));
        }

        foreach (var (sequence, value, revision) in writer.SequenceWrites())
        {
            partition.Sequences[sequence] = (value, revision);
        }

        if (entries is not null)
        {
            _entries.Apply(name, entries, partition.Find);
        }
    }

    /// <summary>The entries a change moves, decided over the documents' values before it (kept with each document).</summary>
    private IndexEntryChanges EntryChanges(PartitionWriter writer, Partition partition)
        => IndexEntryChanges.Of(writer, _indexes, (id, _) => partition.Find(id)?.Entries is { } stored ? IndexEntryChanges.Entries(id, stored, null).Select(e => (e.Index, e.Value)) : []);
    /// <inheritdoc/>
    public ValueTask<PartitionExport?> ReadPartitionAsync(string partition, CancellationToken cancellationToken)
    {
        lock (_lock)
        {
            return ValueTask.FromResult(_partitions.TryGetValue(partition, out var state)
                ? new PartitionExport(
                    partition,
                    state.Revision,
                    state.OldestResumable,
                    state.Collections.Values.SelectMany(c => c.Values).Select(d => d.Document),
                    state.Tombstones.Select(t => new ExportedTombstone(t.Key.Collection, t.Key.Key, t.Value.Revision, t.Value.DeletedAt)),
                    state.Sequences.Select(s => new ExportedSequence(s.Key, s.Value.Value, s.Value.Revision)),
                    state.Streams.Select(s => new ExportedStream(s.Key, s.Value)))
                : null);
        }
    }

    /// <inheritdoc/>
    public ValueTask<long> ReadRevisionFloorAsync(CancellationToken cancellationToken)
        => Locked(() => _data.RevisionFloor);

    /// <summary>A stored document and the index values it holds (null when its collection has no index).</summary>
    internal sealed record MemoryDocument(StoredDocument Document, IndexEntries? Entries) : IIndexedDocument
    {
        public string Key => Document.Key;

        public DateTimeOffset? ExpiresAt => Document.ExpiresAt;
    }

    internal sealed class Partition : IPartitionImage
    {
        public long Revision { get; set; }

        public long OldestResumable { get; set; }

        /// <summary>The store-wide position of the partition's latest change.</summary>
        public long Position { get; set; }

        public Dictionary<string, SortedDictionary<string, MemoryDocument>> Collections { get; } = new(StringComparer.Ordinal);

        public Dictionary<DocumentId, (long Revision, DateTimeOffset DeletedAt)> Tombstones { get; } = [];

        public SortedDictionary<string, List<StoredEvent>> Streams { get; } = new(StorageKeyComparer.Instance);

        public Dictionary<string, (long Value, long Revision)> Sequences { get; } = new(StringComparer.Ordinal);

        /// <inheritdoc/>
        public DocumentRow? Document(DocumentId id) => Find(id)?.Document is { } d ? new DocumentRow(d.Version, d.CreatedAt, d.ExpiresAt) : null;

        public MemoryDocument? Find(DocumentId id) => Collections.GetValueOrDefault(id.Collection)?.GetValueOrDefault(id.Key);

        /// <inheritdoc/>
        public bool TryGetSequence(string name, out long value)
        {
            var found = Sequences.TryGetValue(name, out var sequence);
            value = sequence.Value;
            return found;
        }

        /// <inheritdoc/>
        public long StreamVersion(string stream) => Streams.GetValueOrDefault(stream)?.Count ?? 0;

        /// <inheritdoc/>
        public Guid EventId(string stream, long version) => Streams[stream][(int)version - 1].Id;
    }
}
