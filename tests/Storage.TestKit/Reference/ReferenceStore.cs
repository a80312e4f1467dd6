using System.Buffers.Text;
using System.Globalization;
using System.Text.Json;
using Storage.Internal;

namespace Storage.Conformance.Reference;

/// <summary>
/// The reference model of the <see cref="IStore"/> contract: in memory, one lock around
/// everything, no cleverness. It is a backend of the conformance suite and the oracle of the
/// differential test, so it favours being obviously right over being fast.
/// </summary>
/// <remarks>
/// <para>
/// The model shares no code with the engine the backends are built on (the Engine project under src/): it
/// decides every rule itself — batch checks, conditions, appends and their retries, listing, paging
/// and its tokens, stream reads, the change feed and its pages, index queries, uniqueness, index
/// builds at open, bulk import — with plain loops, filters and sorts over its state, so a
/// differential run tests the engine against an independent reading of the contract. Only the
/// contract itself is shared: its types, identifier and JSON validation, index paths and values,
/// timestamps and messages (<c>Storage.Internal</c>). A test (<c>ReferenceIndependenceTests</c>)
/// keeps it so.
/// </para>
/// <para>
/// Where the XML docs of the contract leave a choice open, the model follows docs/contract.md,
/// so the differential test holds every backend to the same reading:
/// </para>
/// <list type="bullet">
/// <item>A partition's revisions count up by exactly 1: every commit that changes something, and
/// every sequence increment, takes the current revision + 1.</item>
/// <item>A partition exists (is listed, and <see cref="DeletePartitionAsync"/> returns true) from its
/// first change until it is deleted, even when all its documents are deleted or expired. A
/// partition that does not exist has revision 0, which a commit that changes nothing reports.</item>
/// <item>Deleting a partition raises a store-wide revision floor to its last revision; every
/// partition created afterwards, under any key, starts at floor + 1. No trace of the key is kept.</item>
/// <item>When several conditions of a batch fail, the first failing operation is reported.</item>
/// <item>Expired documents stay until <see cref="PurgeExpiredAsync"/> removes them or a put replaces
/// them (a delete of an expired document changes nothing), so every backend's purge count is the same.</item>
/// <item>The change feed is computed from the state: live documents by version, tombstones (kept
/// until a put of the same key replaces them or the purge drops them past the retention), every
/// event, and each sequence at the revision of its last increment.</item>
/// <item>A bulk import commits one partition at a time (<see cref="ImportWindow"/> 1).</item>
/// </list>
/// </remarks>
/// <param name="time">The store's clock.</param>
/// <param name="tombstoneRetention">How long tombstones are kept; <see cref="StoreLimits.DefaultTombstoneRetention"/> when <see langword="null"/>.</param>
/// <param name="indexes">The declared secondary indexes; none when <see langword="null"/>.</param>
/// <param name="data">The contents of an earlier instance to open again (declarations may differ); a new, empty store when <see langword="null"/>.</param>
public sealed partial class ReferenceStore(TimeProvider time, TimeSpan? tombstoneRetention = null, IEnumerable<IndexDefinition>? indexes = null, ReferenceStore.Contents? data = null) : IStore, IBulkImport, IStoreFence
{
    /// <summary>How many partitions of a bulk import commit at once: one, so none after a failing one is imported.</summary>
    public const int ImportWindow = 1;

    // Index values are recomputed from the live documents at every query: obviously consistent.
    private readonly List<IndexDefinition> _indexes = Built(Checks.Indexes(indexes), data, time);
    private readonly Contents _data = data ?? new Contents();
    private readonly TimeProvider _time = time ?? throw new ArgumentNullException(nameof(time));
    private readonly TimeSpan _tombstoneRetention = tombstoneRetention ?? StoreLimits.DefaultTombstoneRetention;
    private bool _disposed;

    /// <summary>What this instance stores: pass it to a new instance to open the same store again.</summary>
    public Contents Data => _data;

    private Lock _lock => _data.Lock;

    private SortedDictionary<string, ModelPartition> _partitions => _data.Partitions;

    private long _revisionFloor
    {
        get => _data.RevisionFloor;
        set => _data.RevisionFloor = value;
    }

    /// <inheritdoc/>
    public ValueTask<StoredDocument?> GetAsync(string partition, string collection, string key, CancellationToken cancellationToken = default) => Run(() =>
    {
        Identifiers.ValidatePartitionKey(partition);
        Identifiers.ValidateName(collection, nameof(collection));
        Identifiers.ValidateDocumentKey(key);
        cancellationToken.ThrowIfCancellationRequested();
        lock (_lock)
        {
            ThrowIfDisposed();
            return Live(partition, collection, key, Timestamps.Now(_time));
        }
    });

    /// <inheritdoc/>
    public ValueTask<CommitResult> CommitAsync(string partition, IReadOnlyList<WriteOperation> operations, CancellationToken cancellationToken = default) => Run(() =>
    {
        Checks.Batch(partition, operations);

        // A value of the wrong type for an index fails the batch before anything else is looked at.
        var values = operations.Select(op => op.Kind == WriteOperationKind.Put ? ValuesOf(op.Collection, op.Value) : null).ToList();
        cancellationToken.ThrowIfCancellationRequested();
        lock (_lock)
        {
            ThrowIfDisposed();
            ThrowIfReadOnly();
            var now = Timestamps.Now(_time);

            // Check every condition against the state before the batch, in batch order; nothing changes yet.
            var before = new StoredDocument?[operations.Count];
            var retried = new long?[operations.Count];
            var streamVersions = new long[operations.Count];
            for (var i = 0; i < operations.Count; i++)
            {
                var op = operations[i];
                if (op.Kind == WriteOperationKind.Append)
                {
                    var events = StreamOf(partition, op.Stream!);
                    streamVersions[i] = events.Count;
                    retried[i] = AlreadyStored(op, events);
                    if (retried[i] is null && !Appends(op, events))
                    {
                        throw new VersionConflictException(partition, op.Stream!, op.ExpectedVersion, events.Count, i);
                    }

                    continue;
                }

                before[i] = Live(partition, op.Collection, op.Key, now);
                if (!op.Condition.IsSatisfiedBy(before[i]?.Version))
                {
                    throw new VersionConflictException(partition, op.Collection, op.Key, op.Condition, before[i]?.Version, i);
                }
            }

            CheckUniqueness(partition, operations, values, now);

            // A put always changes something; a delete only a live document; an append unless it is a retry.
            var changes = Enumerable.Range(0, operations.Count).Any(i => operations[i].Kind switch
            {
                WriteOperationKind.Put => true,
                WriteOperationKind.Delete => before[i] is not null,
                _ => retried[i] is null,
            });
            var outcomes = new OperationOutcome[operations.Count];
            if (!changes)
            {
                for (var i = 0; i < operations.Count; i++)
                {
                    outcomes[i] = retried[i] is { } version ? new OperationOutcome(true, version) : new OperationOutcome(false, null);
                }

                return new CommitResult(CurrentRevision(partition), false, outcomes);
            }

            var state = TakeNextRevision(partition);
            for (var i = 0; i < operations.Count; i++)
            {
                var op = operations[i];
                if (op.Kind == WriteOperationKind.Append)
                {
                    if (retried[i] is { } version)
                    {
                        outcomes[i] = new OperationOutcome(true, version);
                        continue;
                    }

                    var events = state.Stream(op.Stream!);
                    foreach (var e in op.Events)
                    {
                        events.Add(new StoredEvent(partition, op.Stream!, events.Count + 1, state.Revision, e.Id, e.Type, e.Data.ToArray(), e.Metadata.ToArray(), now));
                    }

                    outcomes[i] = new OperationOutcome(streamVersions[i] > 0, events.Count);
                    continue;
                }

                var documents = state.Collection(op.Collection);
                if (op.Kind == WriteOperationKind.Put)
                {
                    documents[op.Key] = new StoredDocument(partition, op.Collection, op.Key, op.Value.ToArray(), state.Revision, before[i]?.CreatedAt ?? now, now, op.ExpiresAt);
                    state.Tombstones.Remove((op.Collection, op.Key));
                    outcomes[i] = new OperationOutcome(before[i] is not null, state.Revision);
                }
                else
                {
                    if (before[i] is not null)
                    {
                        documents.Remove(op.Key);
                        state.Tombstones[(op.Collection, op.Key)] = new Tombstone(state.Revision, now);
                    }

                    outcomes[i] = new OperationOutcome(before[i] is not null, null);
                }
            }

            return new CommitResult(state.Revision, true, outcomes);
        }
    });

    /// <inheritdoc/>
    public ValueTask<DocumentPage> ListAsync(string partition, string collection, ListOptions? options = null, CancellationToken cancellationToken = default) => Run(() =>
    {
        Identifiers.ValidatePartitionKey(partition);
        Identifiers.ValidateName(collection, nameof(collection));
        options ??= new ListOptions();
        string?[] listing = ["documents", partition, collection];
        var after = Checks.Keys(listing, options);
        cancellationToken.ThrowIfCancellationRequested();
        lock (_lock)
        {
            ThrowIfDisposed();
            var now = Timestamps.Now(_time);
            var documents = _partitions.TryGetValue(partition, out var state) && state.Collections.TryGetValue(collection, out var all)
                ? all.Values.Where(d => !Timestamps.IsExpired(d.ExpiresAt, now)).ToList()
                : [];
            var (items, more) = Page(InListingOrder(documents, d => d.Key, options, after), options.Limit);
            return new DocumentPage(items, more ? Tokens.Create(Checks.KeyListing(listing, options), [items[^1].Key]) : null);
        }
    });

    /// <inheritdoc/>
    public ValueTask<long> IncrementSequenceAsync(string partition, string name, long delta = 1, CancellationToken cancellationToken = default) => Run(() =>
    {
        Checks.Increment(partition, name, delta);
        cancellationToken.ThrowIfCancellationRequested();
        lock (_lock)
        {
            ThrowIfDisposed();
            ThrowIfReadOnly();
            var current = _partitions.TryGetValue(partition, out var existing) ? existing.Sequences.GetValueOrDefault(name).Value : 0;
            if (long.MaxValue - current < delta)
            {
                throw new OverflowException(ErrorMessages.SequenceOverflow(name, current, delta));
            }

            var state = TakeNextRevision(partition);
            state.Sequences[name] = (current + delta, state.Revision);
            return current + delta;
        }
    });

    /// <inheritdoc/>
    public ValueTask<long> GetSequenceAsync(string partition, string name, CancellationToken cancellationToken = default) => Run(() =>
    {
        Identifiers.ValidatePartitionKey(partition);
        Identifiers.ValidateName(name);
        cancellationToken.ThrowIfCancellationRequested();
        lock (_lock)
        {
            ThrowIfDisposed();
            return _partitions.TryGetValue(partition, out var state) ? state.Sequences.GetValueOrDefault(name).Value : 0;
        }
    });

    /// <inheritdoc/>
    public ValueTask<PartitionPage> ListPartitionsAsync(PartitionListOptions? options = null, CancellationToken cancellationToken = default) => Run(() =>
    {
        options ??= new PartitionListOptions();
        Checks.Limit(options.Limit);
        string?[] listing = ["partitions"];
        var after = options.ContinuationToken is null ? null : Tokens.Read(options.ContinuationToken, listing, 1, nameof(options))[0];
        cancellationToken.ThrowIfCancellationRequested();
        lock (_lock)
        {
            ThrowIfDisposed();
            var partitions = _partitions
                .Select(p => new PartitionInfo(p.Key, p.Value.Revision))
                .Where(p => after is null || StorageKeyComparer.Instance.Compare(p.Partition, after) > 0);
            var (items, more) = Page(partitions, options.Limit);
            return new PartitionPage(items, more ? Tokens.Create(listing, [items[^1].Partition]) : null);
        }
    });

    /// <inheritdoc/>
    public ValueTask<bool> DeletePartitionAsync(string partition, CancellationToken cancellationToken = default) => Run(() =>
    {
        Identifiers.ValidatePartitionKey(partition);
        cancellationToken.ThrowIfCancellationRequested();
        lock (_lock)
        {
            ThrowIfDisposed();
            ThrowIfReadOnly();
            if (!_partitions.Remove(partition, out var state))
            {
                return false;
            }

            _revisionFloor = Math.Max(_revisionFloor, state.Revision);
            _data.Deleted[partition] = (state.Revision, ++_data.Position, Timestamps.Now(_time));
            return true;
        }
    });

    /// <inheritdoc/>
    public ValueTask<long> PurgeExpiredAsync(CancellationToken cancellationToken = default) => Run(() =>
    {
        cancellationToken.ThrowIfCancellationRequested();
        lock (_lock)
        {
            ThrowIfDisposed();
            ThrowIfReadOnly();
            var now = Timestamps.Now(_time);
            long purged = 0;
            foreach (var state in _partitions.Values)
            {
                foreach (var documents in state.Collections.Values)
                {
                    foreach (var expired in documents.Values.Where(d => Timestamps.IsExpired(d.ExpiresAt, now)).ToList())
                    {
                        documents.Remove(expired.Key);
                        purged++;
                    }
                }

                foreach (var (key, tombstone) in state.Tombstones.Where(t => now - t.Value.DeletedAt >= _tombstoneRetention).ToList())
                {
                    state.Tombstones.Remove(key);
                    state.OldestResumable = Math.Max(state.OldestResumable, tombstone.Revision);
                }
            }

            foreach (var (key, mark) in _data.Deleted.Where(d => now - d.Value.DeletedAt >= _tombstoneRetention).ToList())
            {
                _data.Deleted.Remove(key);
                _data.OldestPosition = Math.Max(_data.OldestPosition, mark.Position);
            }

            return purged;
        }
    });

    /// <inheritdoc/>
    public ValueTask<EventPage> ReadStreamAsync(string partition, string stream, ReadStreamOptions? options = null, CancellationToken cancellationToken = default) => Run(() =>
    {
        options ??= new ReadStreamOptions();
        Checks.ReadStream(partition, stream, options);
        cancellationToken.ThrowIfCancellationRequested();
        lock (_lock)
        {
            ThrowIfDisposed();
            var events = StreamOf(partition, stream);
            var streamVersion = (long)events.Count;

            // Forwards: the events from the first version asked for up; backwards: from it (or the last event) down.
            var page = options.Backwards
                ? Enumerable.Reverse(events).Where(e => options.FromVersion is null || e.Version <= options.FromVersion).Take(options.Limit).ToList()
                : events.Where(e => options.FromVersion is null || e.Version >= options.FromVersion).Take(options.Limit).ToList();
            long? next = null;
            if (page.Count > 0 && options.Backwards && page[^1].Version > 1)
            {
                next = page[^1].Version - 1;
            }
            else if (page.Count > 0 && !options.Backwards && page[^1].Version < streamVersion)
            {
                next = page[^1].Version + 1;
            }

            return new EventPage(page, streamVersion, next);
        }
    });

    /// <inheritdoc/>
    public ValueTask<StreamPage> ListStreamsAsync(string partition, ListOptions? options = null, CancellationToken cancellationToken = default) => Run(() =>
    {
        Identifiers.ValidatePartitionKey(partition);
        options ??= new ListOptions();
        string?[] listing = ["streams", partition];
        var after = Checks.Keys(listing, options);
        cancellationToken.ThrowIfCancellationRequested();
        lock (_lock)
        {
            ThrowIfDisposed();
            var streams = _partitions.TryGetValue(partition, out var state)
                ? state.Streams.Select(s => new StreamInfo(s.Key, s.Value.Count)).ToList()
                : [];
            var (items, more) = Page(InListingOrder(streams, s => s.Stream, options, after), options.Limit);
            return new StreamPage(items, more ? Tokens.Create(Checks.KeyListing(listing, options), [items[^1].Stream]) : null);
        }
    });

    /// <inheritdoc/>
    public ValueTask<ChangePage> ReadChangesAsync(string partition, long afterRevision, int limit = StoreLimits.DefaultPageSize, CancellationToken cancellationToken = default) => Run(() =>
    {
        Checks.ReadChanges(partition, afterRevision, limit);
        cancellationToken.ThrowIfCancellationRequested();
        lock (_lock)
        {
            ThrowIfDisposed();
            _partitions.TryGetValue(partition, out var state);

            // Reading from 0 always works; any other reader needs the partition, and its changes since afterRevision.
            if (afterRevision > 0 && state is null)
            {
                throw new ChangeFeedTruncatedException(partition, afterRevision, 0);
            }

            if (afterRevision > 0 && afterRevision < state!.OldestResumable)
            {
                throw new ChangeFeedTruncatedException(partition, afterRevision, state.OldestResumable);
            }

            if (state is null)
            {
                return new ChangePage([], afterRevision, false);
            }

            var now = Timestamps.Now(_time);
            var changes = new List<Change>();
            changes.AddRange(state.Collections.Values.SelectMany(c => c.Values)
                .Where(d => d.Version > afterRevision && !Timestamps.IsExpired(d.ExpiresAt, now))
                .Select(Change.Put));
            changes.AddRange(state.Tombstones
                .Where(t => t.Value.Revision > afterRevision)
                .Select(t => Change.Delete(t.Value.Revision, t.Key.Collection, t.Key.Key, t.Value.DeletedAt)));
            changes.AddRange(state.Streams.Values.SelectMany(s => s)
                .Where(e => e.Revision > afterRevision)
                .Select(Change.Append));
            changes.AddRange(state.Sequences
                .Where(s => s.Value.Revision > afterRevision)
                .Select(s => Change.Sequence(s.Value.Revision, s.Key, s.Value.Value)));

            // Whole commits, while they fit in the page; the first one always, whatever its size.
            var page = new List<Change>();
            foreach (var commit in InFeedOrder(changes).GroupBy(c => c.Revision))
            {
                if (page.Count > 0 && page.Count + commit.Count() > limit)
                {
                    return new ChangePage(page, page[^1].Revision, true) { OldestResumableRevision = state.OldestResumable };
                }

                page.AddRange(commit);
            }

            return new ChangePage(page, Math.Max(afterRevision, state.Revision), false) { OldestResumableRevision = state.OldestResumable };
        }
    });

    /// <inheritdoc/>
    public ValueTask<QueryPage> QueryAsync(IndexQuery query, CancellationToken cancellationToken = default) => Run(() =>
    {
        var (index, after) = Checks.Query(_indexes, query, forCount: false);
        cancellationToken.ThrowIfCancellationRequested();
        lock (_lock)
        {
            ThrowIfDisposed();
            var matches = Matches(index, query);
            if (query.Descending)
            {
                matches.Reverse();
            }

            // The matches after the last one of the previous page, in the query's order.
            var rest = matches.Where(m => after is not { } a || (query.Descending ? Compare(m, a) < 0 : Compare(m, a) > 0));
            var (items, more) = Page(rest, query.Limit);
            var last = more ? items[^1] : null;
            return new QueryPage(items, last is null ? null : Tokens.Create(Checks.QueryListing(query), [.. Checks.Position(last.Value), last.Document.Partition, last.Document.Key]));
        }
    });

    /// <inheritdoc/>
    public ValueTask<long> CountAsync(IndexQuery query, CancellationToken cancellationToken = default) => Run(() =>
    {
        var (index, _) = Checks.Query(_indexes, query, forCount: true);
        cancellationToken.ThrowIfCancellationRequested();
        lock (_lock)
        {
            ThrowIfDisposed();
            return (long)Matches(index, query).Count;
        }
    });

    /// <inheritdoc/>
    /// <remarks>
    /// One partition at a time, in input order: checked (as a batch of its puts, only puts without a
    /// condition, each partition key once), then committed as <see cref="CommitAsync"/> of the same puts
    /// with <see cref="WriteCondition.MustNotExist"/>. The first failure ends the import.
    /// </remarks>
    public async ValueTask<ImportResult> ImportAsync(IAsyncEnumerable<ImportedPartition> partitions, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(partitions);
        lock (_lock)
        {
            ThrowIfDisposed();
            ThrowIfReadOnly();
        }

        var seen = new Dictionary<string, long>(StringComparer.Ordinal);
        long index = 0;
        long documents = 0;
        await foreach (var partition in partitions.WithCancellation(cancellationToken))
        {
            cancellationToken.ThrowIfCancellationRequested();
            if (partition is null)
            {
                throw new ArgumentException(ErrorMessages.NullImportedPartition(index), nameof(partitions));
            }

            // A copy: a source may refill one list for every partition it yields.
            var puts = partition.Puts?.ToList();
            Checks.Batch(partition.Partition, puts!);
            for (var i = 0; i < puts!.Count; i++)
            {
                if (puts[i].Kind != WriteOperationKind.Put)
                {
                    throw new ArgumentException(ErrorMessages.ImportNotPut(i, puts[i].Kind), nameof(partitions));
                }

                if (puts[i].Condition != WriteCondition.None)
                {
                    throw new ArgumentException(ErrorMessages.ImportCondition(i), nameof(partitions));
                }
            }

            if (!seen.TryAdd(partition.Partition, index))
            {
                throw new ArgumentException(ErrorMessages.DuplicateImportedPartition(partition.Partition, seen[partition.Partition], index), nameof(partitions));
            }

            await CommitAsync(partition.Partition, [.. puts.Select(p => p.WithCondition(WriteCondition.MustNotExist))], cancellationToken);
            index++;
            documents += puts.Count;
        }

        return new ImportResult(index, documents);
    }

    /// <inheritdoc/>
    /// <remarks>A flag of the contents, read under the lock every write holds: once set, no write changes anything.</remarks>
    public ValueTask SetReadOnlyAsync(bool readOnly, CancellationToken cancellationToken = default)
    {
        var set = Run(() =>
        {
            cancellationToken.ThrowIfCancellationRequested();
            lock (_lock)
            {
                ThrowIfDisposed();
                _data.ReadOnly = readOnly;
                return true;
            }
        });
        return set.IsCompletedSuccessfully ? ValueTask.CompletedTask : new ValueTask(set.AsTask());
    }

    /// <inheritdoc/>
    public ValueTask<bool> IsReadOnlyAsync(CancellationToken cancellationToken = default) => Run(() =>
    {
        cancellationToken.ThrowIfCancellationRequested();
        lock (_lock)
        {
            ThrowIfDisposed();
            return _data.ReadOnly;
        }
    });

    private void ThrowIfReadOnly()
    {
        if (_data.ReadOnly)
        {
            throw new StoreReadOnlyException();
        }
    }

    /// <inheritdoc/>
    public ValueTask DisposeAsync()
    {
        lock (_lock)
        {
            _disposed = true;
        }

        return ValueTask.CompletedTask;
    }

    // Like an async method: every exception, argument errors included, arrives through the task.
    private static ValueTask<T> Run<T>(Func<T> operation)
    {
        try
        {
            return ValueTask.FromResult(operation());
        }
        catch (Exception e)
        {
            return ValueTask.FromException<T>(e);
        }
    }

    // Items in a listing's order (code-point order of their keys, or its reverse), inside its prefix and
    // bounds, after the key the page continues after.
    private static List<T> InListingOrder<T>(IEnumerable<T> items, Func<T, string> keyOf, ListOptions options, string? after)
    {
        var keys = StorageKeyComparer.Instance;
        var inside = items
            .Where(i => options.Prefix is null || keyOf(i).StartsWith(options.Prefix, StringComparison.Ordinal))
            .Where(i => options.StartKey is null || keys.Compare(keyOf(i), options.StartKey) >= 0)
            .Where(i => options.EndKey is null || keys.Compare(keyOf(i), options.EndKey) < 0);
        var ordered = options.Descending ? inside.OrderByDescending(keyOf, keys) : inside.OrderBy(keyOf, keys);
        return [.. ordered.Where(i => after is null || (options.Descending ? keys.Compare(keyOf(i), after) < 0 : keys.Compare(keyOf(i), after) > 0))];
    }

    // The first `limit` items, and whether more follow (then the page carries a token).
    private static (List<T> Items, bool More) Page<T>(IEnumerable<T> ordered, int limit)
    {
        var items = ordered.Take(limit + 1).ToList();
        return items.Count > limit ? (items[..limit], true) : (items, false);
    }

    private StoredDocument? Live(string partition, string collection, string key, DateTimeOffset now)
        => _partitions.TryGetValue(partition, out var state)
            && state.Collections.TryGetValue(collection, out var documents)
            && documents.TryGetValue(key, out var document)
            && !Timestamps.IsExpired(document.ExpiresAt, now)
            ? document
            : null;

    // A put's values for each index of its collection, in declaration order; the wrong type fails the put.
    private PutValues? ValuesOf(string collection, ReadOnlyMemory<byte> value)
    {
        var indexes = _indexes.Where(i => i.Collection == collection).ToList();
        return indexes.Count == 0 ? null : new PutValues(indexes, IndexValues.Extract(indexes, value));
    }

    // Every live document's values of the index that the query asks for (its partition, equality,
    // bounds and prefix), in ascending (value, partition, key) order.
    private List<IndexMatch> Matches(IndexDefinition index, IndexQuery query)
    {
        var now = Timestamps.Now(_time);
        var matches = new List<IndexMatch>();
        foreach (var (partition, state) in _partitions)
        {
            if ((query.Partition is not null && partition != query.Partition) || !state.Collections.TryGetValue(index.Collection, out var documents))
            {
                continue;
            }

            foreach (var document in documents.Values.Where(d => !Timestamps.IsExpired(d.ExpiresAt, now)))
            {
                foreach (var value in IndexValues.Extract(index, document.Value))
                {
                    var wanted = (query.Equal is not { } equal || value == equal)
                        && (query.From is not { } from || (query.FromInclusive ? value >= from : value > from))
                        && (query.To is not { } to || (query.ToInclusive ? value <= to : value < to))
                        && (query.Prefix is null || value.AsString.StartsWith(query.Prefix, StringComparison.Ordinal));
                    if (wanted)
                    {
                        matches.Add(new IndexMatch(value, document));
                    }
                }
            }
        }

        matches.Sort((x, y) => Compare(x, (y.Value, y.Document.Partition, y.Document.Key)));
        return matches;
    }

    private static int Compare(IndexMatch match, (IndexValue Value, string Partition, string Key) position)
    {
        var c = match.Value.CompareTo(position.Value);
        if (c == 0)
        {
            c = StorageKeyComparer.Instance.Compare(match.Document.Partition, position.Partition);
        }

        return c != 0 ? c : StorageKeyComparer.Instance.Compare(match.Document.Key, position.Key);
    }

    // A unique value may be held by one live document (per partition or store-wide) after the batch:
    // documents the batch writes or deletes give up their old values; expired documents hold none.
    // Checked in batch order, each put's indexes in declaration order, each index's values ascending.
    private void CheckUniqueness(string partition, IReadOnlyList<WriteOperation> operations, IReadOnlyList<PutValues?> values, DateTimeOffset now)
    {
        var touched = operations.Where(o => o.Kind != WriteOperationKind.Append).Select(o => (o.Collection, o.Key)).ToHashSet();
        var taken = new HashSet<(string Collection, string Index, IndexValue Value)>();
        for (var i = 0; i < operations.Count; i++)
        {
            if (values[i] is not { } put)
            {
                continue;
            }

            for (var j = 0; j < put.Indexes.Count; j++)
            {
                var index = put.Indexes[j];
                if (!index.Unique)
                {
                    continue;
                }

                foreach (var value in put.Values[j].Order())
                {
                    if (!taken.Add((index.Collection, index.Name, value)) || HeldElsewhere(partition, index, value, touched, now))
                    {
                        throw new UniqueConstraintException(partition, index.Collection, index.Name, index.Scope, value, i);
                    }
                }
            }
        }
    }

    private bool HeldElsewhere(string partition, IndexDefinition index, IndexValue value, HashSet<(string, string)> touched, DateTimeOffset now)
    {
        foreach (var (key, state) in _partitions)
        {
            var samePartition = key == partition;
            if ((index.Scope == IndexScope.Partition && !samePartition) || !state.Collections.TryGetValue(index.Collection, out var documents))
            {
                continue;
            }

            foreach (var document in documents.Values)
            {
                if ((samePartition && touched.Contains((index.Collection, document.Key))) || Timestamps.IsExpired(document.ExpiresAt, now))
                {
                    continue;
                }

                if (IndexValues.Extract(index, document.Value).Contains(value))
                {
                    return true;
                }
            }
        }

        return false;
    }

    private List<StoredEvent> StreamOf(string partition, string stream)
        => _partitions.TryGetValue(partition, out var state) && state.Streams.TryGetValue(stream, out var events) ? events : [];

    // docs/streams-and-changes.md, idempotent retries: when the append's events (by id, in order) are
    // stored already — right after its expected version, or for Any as the stream's last events — it is
    // a retry, which writes nothing and reports the version of the last of them.
    private static long? AlreadyStored(WriteOperation append, List<StoredEvent> events)
    {
        var ids = append.Events.Select(e => e.Id);
        if (append.ExpectedVersion.Kind == ExpectedStreamVersionKind.Any)
        {
            var last = events.Skip(events.Count - append.Events.Count);
            return events.Count >= append.Events.Count && last.Select(e => e.Id).SequenceEqual(ids) ? events.Count : null;
        }

        var expected = append.ExpectedVersion.Version;
        var stored = events.Where(e => e.Version > expected).Take(append.Events.Count);
        return stored.Select(e => e.Id).SequenceEqual(ids) ? expected + append.Events.Count : null;
    }

    // An append that is not a retry applies when it expects Any, or the stream's current version.
    private static bool Appends(WriteOperation append, List<StoredEvent> events)
        => append.ExpectedVersion.Kind == ExpectedStreamVersionKind.Any || append.ExpectedVersion.Version == events.Count;

    private long CurrentRevision(string partition)
        => _partitions.TryGetValue(partition, out var state) ? state.Revision : 0;

    private ModelPartition TakeNextRevision(string partition)
    {
        if (!_partitions.TryGetValue(partition, out var state))
        {
            state = new ModelPartition { Revision = _revisionFloor, OldestResumable = _revisionFloor + 1 };
            _partitions.Add(partition, state);
        }

        state.Revision++;
        Moved(partition, state);
        return state;
    }

    private void ThrowIfDisposed()
    {
        if (_disposed)
        {
            throw new ObjectDisposedException(nameof(IStore), ErrorMessages.Disposed);
        }
    }

    // Opening a store with indexes builds them from the live documents, each index in declaration order
    // over (partition, key) order: the first document that cannot be indexed, or that holds a unique
    // value an earlier document holds (in its partition, or the store), refuses the open.
    private static List<IndexDefinition> Built(List<IndexDefinition> indexes, Contents? data, TimeProvider time)
    {
        if (data is null)
        {
            return indexes;
        }

        lock (data.Lock)
        {
            var now = Timestamps.Now(time);
            foreach (var index in indexes)
            {
                var holders = new HashSet<(string Scope, IndexValue Value)>();
                foreach (var (partition, state) in data.Partitions)
                {
                    if (!state.Collections.TryGetValue(index.Collection, out var documents))
                    {
                        continue;
                    }

                    foreach (var document in documents.Values.Where(d => !Timestamps.IsExpired(d.ExpiresAt, now)))
                    {
                        if (!IndexValues.TryExtract(index, document.Value, out var values, out var reason))
                        {
                            throw new IndexBuildException(index.Collection, index.Name, partition, document.Key, "cannot be indexed: " + reason);
                        }

                        if (!index.Unique)
                        {
                            continue;
                        }

                        var scope = index.Scope == IndexScope.Partition ? partition : string.Empty;
                        foreach (var value in values)
                        {
                            if (!holders.Add((scope, value)))
                            {
                                throw new IndexBuildException(
                                    index.Collection, index.Name, partition, document.Key,
                                    $"holds the value '{value}', which another document {(index.Scope == IndexScope.Partition ? "of its partition" : "of the store")} holds too, but the index is unique");
                            }
                        }
                    }
                }
            }
        }

        return indexes;
    }

    /// <summary>
    /// Orders changes as the change feed returns them (docs/streams-and-changes.md): by revision; inside
    /// one, documents by collection and key, then events by stream and version, then sequences by name.
    /// </summary>
    /// <param name="changes">The changes.</param>
    /// <returns>The changes in feed order.</returns>
    public static IEnumerable<Change> InFeedOrder(IEnumerable<Change> changes)
    {
        var keys = StorageKeyComparer.Instance;
        return changes
            .OrderBy(c => c.Revision)
            .ThenBy(c => c.Kind switch { ChangeKind.Put or ChangeKind.Delete => 0, ChangeKind.Append => 1, _ => 2 })
            .ThenBy(c => c.Collection ?? string.Empty, keys)
            .ThenBy(c => c.Key ?? string.Empty, keys)
            .ThenBy(c => c.Event?.Stream ?? string.Empty, keys)
            .ThenBy(c => c.Event?.Version ?? 0)
            .ThenBy(c => c.SequenceName ?? string.Empty, keys);
    }

    /// <summary>The contents of a reference store, shared by the instances that open it in turn.</summary>
    public sealed class Contents
    {
        internal Lock Lock { get; } = new();

        internal SortedDictionary<string, ModelPartition> Partitions { get; } = new(StorageKeyComparer.Instance);

        internal long RevisionFloor { get; set; }

        internal bool ReadOnly { get; set; }

        // The store-wide cursor: the last position handed out, the highest dropped mark, the marks of deleted partitions.
        internal long Position { get; set; }

        internal long OldestPosition { get; set; }

        internal Dictionary<string, (long Revision, long Position, DateTimeOffset DeletedAt)> Deleted { get; } = new(StringComparer.Ordinal);
    }

    internal sealed class ModelPartition
    {
        public long Revision { get; set; }

        // The store-wide position of its latest change.
        public long Position { get; set; }

        public Dictionary<string, SortedDictionary<string, StoredDocument>> Collections { get; } = new(StringComparer.Ordinal);

        // The oldest revision a change-feed reader may resume after (besides 0).
        public long OldestResumable { get; set; }

        public Dictionary<string, (long Value, long Revision)> Sequences { get; } = new(StringComparer.Ordinal);

        public Dictionary<(string Collection, string Key), Tombstone> Tombstones { get; } = [];

        public SortedDictionary<string, List<StoredEvent>> Streams { get; } = new(StorageKeyComparer.Instance);

        public List<StoredEvent> Stream(string name)
        {
            if (!Streams.TryGetValue(name, out var events))
            {
                events = [];
                Streams.Add(name, events);
            }

            return events;
        }

        public SortedDictionary<string, StoredDocument> Collection(string name)
        {
            if (!Collections.TryGetValue(name, out var documents))
            {
                documents = new SortedDictionary<string, StoredDocument>(StorageKeyComparer.Instance);
                Collections.Add(name, documents);
            }

            return documents;
        }
    }

    internal readonly record struct Tombstone(long Revision, DateTimeOffset DeletedAt);

    // A put's values per index of its collection (same positions).
    private sealed record PutValues(IReadOnlyList<IndexDefinition> Indexes, IReadOnlyList<IndexValue>[] Values);

    /// <summary>
    /// The reference model's argument checks, written from the contract's XML docs and docs/contract.md
    /// (not taken from the engine), in the order the contract checks them, so that a call with several
    /// faults fails with the same exception type in the model as in every backend. The messages are the
    /// contract's own (<see cref="ErrorMessages"/>).
    /// </summary>
    private static class Checks
    {
        /// <summary>A batch: the partition key, then each operation in order (null, a document or a stream twice), then its size in operations and bytes.</summary>
        /// <param name="partition">The partition key.</param>
        /// <param name="operations">The batch.</param>
        public static void Batch(string partition, IReadOnlyList<WriteOperation> operations)
        {
            Identifiers.ValidatePartitionKey(partition);
            ArgumentNullException.ThrowIfNull(operations);
            if (operations.Count == 0)
            {
                throw new ArgumentException(ErrorMessages.EmptyBatch, nameof(operations));
            }

            var documents = new Dictionary<(string Collection, string Key), int>();
            var streams = new Dictionary<string, int>(StringComparer.Ordinal);
            long count = 0;
            long bytes = 0;
            for (var i = 0; i < operations.Count; i++)
            {
                var op = operations[i] ?? throw new ArgumentException(ErrorMessages.NullOperation(i), nameof(operations));
                if (op.Kind == WriteOperationKind.Append)
                {
                    if (streams.TryGetValue(op.Stream!, out var first))
                    {
                        throw new ArgumentException(ErrorMessages.DuplicateStreamInBatch(op.Stream!, first, i), nameof(operations));
                    }

                    streams.Add(op.Stream!, i);
                    count += op.Events.Count;
                    bytes += op.EventBytes;
                }
                else
                {
                    if (documents.TryGetValue((op.Collection, op.Key), out var first))
                    {
                        throw new ArgumentException(ErrorMessages.DuplicateInBatch(op.Collection, op.Key, first, i), nameof(operations));
                    }

                    documents.Add((op.Collection, op.Key), i);
                    count++;
                    bytes += op.Value.Length;
                }
            }

            if (count > StoreLimits.MaxBatchOperations)
            {
                throw new ArgumentException(ErrorMessages.BatchTooLarge(count), nameof(operations));
            }

            if (bytes > StoreLimits.MaxBatchBytes)
            {
                throw new ArgumentException(ErrorMessages.BatchTooManyBytes(bytes), nameof(operations));
            }
        }

        /// <summary>A sequence increment: the partition key, the name, then the delta (at least 1).</summary>
        /// <param name="partition">The partition key.</param>
        /// <param name="name">The sequence name.</param>
        /// <param name="delta">The increment.</param>
        public static void Increment(string partition, string name, long delta)
        {
            Identifiers.ValidatePartitionKey(partition);
            Identifiers.ValidateName(name);
            if (delta < 1)
            {
                throw new ArgumentOutOfRangeException(nameof(delta), delta, ErrorMessages.InvalidDelta(delta));
            }
        }

        /// <summary>A page size: 1 to <see cref="StoreLimits.MaxPageSize"/>.</summary>
        /// <param name="limit">The page size.</param>
        public static void Limit(int limit)
        {
            if (limit < 1 || limit > StoreLimits.MaxPageSize)
            {
                throw new ArgumentOutOfRangeException(nameof(limit), limit, ErrorMessages.InvalidLimit(limit));
            }
        }

        /// <summary>
        /// A listing of keys (documents or streams): its prefix and bounds, its page size, then its token.
        /// </summary>
        /// <param name="listing">What defines the listing (kind, partition, collection), without the options.</param>
        /// <param name="options">The caller's options.</param>
        /// <returns>The key the page continues after, or <see langword="null"/> on the first page.</returns>
        public static string? Keys(string?[] listing, ListOptions options)
        {
            if (options.Prefix is not null)
            {
                Identifiers.ValidateKeyFragment(options.Prefix, "prefix", nameof(options));
            }

            if (options.StartKey is not null)
            {
                Identifiers.ValidateKeyFragment(options.StartKey, "start key", nameof(options));
            }

            if (options.EndKey is not null)
            {
                Identifiers.ValidateKeyFragment(options.EndKey, "end key", nameof(options));
            }

            Limit(options.Limit);
            return options.ContinuationToken is null ? null : Tokens.Read(options.ContinuationToken, KeyListing(listing, options), 1, nameof(options))[0];
        }

        /// <summary>What defines a listing of keys: the listing and every option but the page size and the token.</summary>
        /// <param name="listing">Kind, partition, collection.</param>
        /// <param name="options">The caller's options.</param>
        /// <returns>The strings a token of this listing carries.</returns>
        public static string?[] KeyListing(string?[] listing, ListOptions options)
            => [.. listing, options.Prefix, options.StartKey, options.EndKey, options.Descending ? "descending" : "ascending"];

        /// <summary>A stream read: the partition key, the stream id, the first version (at least 1), then the page size.</summary>
        /// <param name="partition">The partition key.</param>
        /// <param name="stream">The stream id.</param>
        /// <param name="options">The caller's options.</param>
        public static void ReadStream(string partition, string stream, ReadStreamOptions options)
        {
            Identifiers.ValidatePartitionKey(partition);
            Identifiers.ValidateDocumentKey(stream, nameof(stream));
            if (options.FromVersion is { } from && from < 1)
            {
                throw new ArgumentOutOfRangeException(nameof(options), from, ErrorMessages.InvalidStreamVersion(from));
            }

            Limit(options.Limit);
        }

        /// <summary>A change-feed read: the partition key, the revision (0 or more), then the page size.</summary>
        /// <param name="partition">The partition key.</param>
        /// <param name="afterRevision">The revision already seen.</param>
        /// <param name="limit">The page size.</param>
        public static void ReadChanges(string partition, long afterRevision, int limit)
        {
            Identifiers.ValidatePartitionKey(partition);
            if (afterRevision < 0)
            {
                throw new ArgumentOutOfRangeException(nameof(afterRevision), afterRevision, ErrorMessages.InvalidRevision(afterRevision));
            }

            Limit(limit);
        }

        /// <summary>A store's index declarations: none null, none declared twice.</summary>
        /// <param name="indexes">The declarations, or <see langword="null"/> for none.</param>
        /// <returns>The declarations in order.</returns>
        public static List<IndexDefinition> Indexes(IEnumerable<IndexDefinition>? indexes)
        {
            var declared = new List<IndexDefinition>();
            foreach (var index in indexes ?? [])
            {
                if (index is null)
                {
                    throw new ArgumentException("An index declaration is null.", nameof(indexes));
                }

                if (declared.Any(d => d.Collection == index.Collection && d.Name == index.Name))
                {
                    throw new ArgumentException(ErrorMessages.DuplicateIndex(index.Collection, index.Name), nameof(indexes));
                }

                declared.Add(index);
            }

            return declared;
        }

        /// <summary>
        /// An index query: its collection and index names, the index is declared, its partition, then what
        /// it asks (an equality alone; bounds of the index's type; a prefix only of a string index, valid and
        /// not empty); for a page (not a count) its page size, then its token.
        /// </summary>
        /// <param name="indexes">The store's declared indexes.</param>
        /// <param name="query">The query.</param>
        /// <param name="forCount">Whether the query counts (page size and token are then ignored).</param>
        /// <returns>The index, and the (value, partition, key) the page continues after, if any.</returns>
        public static (IndexDefinition Index, (IndexValue Value, string Partition, string Key)? After) Query(IReadOnlyList<IndexDefinition> indexes, IndexQuery query, bool forCount)
        {
            ArgumentNullException.ThrowIfNull(query);
            Identifiers.ValidateName(query.Collection, nameof(query));
            Identifiers.ValidateName(query.Index, nameof(query));
            var index = indexes.FirstOrDefault(i => i.Collection == query.Collection && i.Name == query.Index)
                ?? throw new ArgumentException(ErrorMessages.UnknownIndex(query.Collection, query.Index), nameof(query));
            if (query.Partition is not null)
            {
                Identifiers.ValidatePartitionKey(query.Partition, nameof(query));
            }

            if (query.Equal is not null && (query.From is not null || query.To is not null || query.Prefix is not null))
            {
                throw InvalidQuery(index, "an equality cannot be combined with a range or a prefix");
            }

            foreach (var bound in new[] { query.Equal, query.From, query.To })
            {
                if (bound is { } b && b.Type != index.ValueType)
                {
                    throw InvalidQuery(index, $"the index holds {TypeName(index.ValueType)} but the query compares with {TypeName(b.Type)}");
                }
            }

            if (query.Prefix is not null)
            {
                if (index.ValueType != IndexValueType.String)
                {
                    throw InvalidQuery(index, "a prefix needs a string index");
                }

                IndexValues.ValidateString(query.Prefix, nameof(query));
                if (query.Prefix.Length == 0)
                {
                    throw InvalidQuery(index, "the prefix is empty");
                }
            }

            if (forCount)
            {
                return (index, null);
            }

            Limit(query.Limit);
            if (query.ContinuationToken is null)
            {
                return (index, null);
            }

            var position = Tokens.Read(query.ContinuationToken, QueryListing(query), 4, nameof(query));
            var value = position[0] switch
            {
                "string" when index.ValueType == IndexValueType.String => IndexValue.Of(position[1]),
                "int64" when index.ValueType == IndexValueType.Int64 && long.TryParse(position[1], NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var number) => IndexValue.Of(number),
                _ => throw new ArgumentException(ErrorMessages.InvalidContinuationToken, nameof(query)),
            };
            return (index, (value, position[2], position[3]));
        }

        /// <summary>What defines an index query: every option but the page size and the token.</summary>
        /// <param name="query">The query.</param>
        /// <returns>The strings a token of this query carries.</returns>
        public static string?[] QueryListing(IndexQuery query)
            =>
            [
                "index", query.Collection, query.Index, query.Partition, Text(query.Equal),
                Text(query.From), query.FromInclusive ? "inclusive" : "exclusive", Text(query.To), query.ToInclusive ? "inclusive" : "exclusive",
                query.Prefix, query.Descending ? "descending" : "ascending",
            ];

        /// <summary>An index value's position in a token: its type, then its text.</summary>
        /// <param name="value">The value.</param>
        /// <returns>Two strings.</returns>
        public static string[] Position(IndexValue value)
            => value.Type == IndexValueType.String ? ["string", value.AsString] : ["int64", value.AsInt64.ToString(CultureInfo.InvariantCulture)];

        private static string? Text(IndexValue? value) => value is { } v ? string.Join(':', Position(v)) : null;

        private static string TypeName(IndexValueType type) => type == IndexValueType.String ? "strings" : "64-bit integers";

        private static ArgumentException InvalidQuery(IndexDefinition index, string reason)
            => new(ErrorMessages.InvalidIndexQuery(index.Collection, index.Name, reason), "query");
    }

    /// <summary>
    /// The reference model's continuation tokens, its own format (not the backends'): a JSON array
    /// <c>["reference-model-1", …the listing's defining options…, …the position of the last item…]</c>
    /// in base64url. A token is accepted only by a listing whose defining options are the same strings,
    /// so a token of another listing, or anything that is not such an array, is refused as every backend
    /// refuses it: an <see cref="ArgumentException"/> with <see cref="ErrorMessages.InvalidContinuationToken"/>.
    /// </summary>
    private static class Tokens
    {
        private const string Format = "reference-model-1";

        /// <summary>The token that continues a listing after the item at <paramref name="position"/>.</summary>
        /// <param name="listing">What defines the listing (its kind, partition, bounds, order; never the page size).</param>
        /// <param name="position">The last item's position (its key, or its value, partition and key).</param>
        /// <returns>The token.</returns>
        public static string Create(IReadOnlyList<string?> listing, IReadOnlyList<string> position)
        {
            using var buffer = new MemoryStream();
            using (var writer = new Utf8JsonWriter(buffer))
            {
                writer.WriteStartArray();
                writer.WriteStringValue(Format);
                foreach (var part in listing)
                {
                    writer.WriteStringValue(part);
                }

                foreach (var part in position)
                {
                    writer.WriteStringValue(part);
                }

                writer.WriteEndArray();
            }

            return Base64Url.EncodeToString(buffer.ToArray());
        }

        /// <summary>The position a token of this listing continues after.</summary>
        /// <param name="token">The caller's token.</param>
        /// <param name="listing">What defines the listing, as given to <see cref="Create"/>.</param>
        /// <param name="positionLength">How many strings the position has.</param>
        /// <param name="paramName">The caller's parameter name.</param>
        /// <returns>The position.</returns>
        /// <exception cref="ArgumentException">The token was not made by <see cref="Create"/> for this listing.</exception>
        public static string[] Read(string token, IReadOnlyList<string?> listing, int positionLength, string paramName)
        {
            try
            {
                using var json = JsonDocument.Parse(Base64Url.DecodeFromChars(token));
                var parts = json.RootElement.EnumerateArray().ToList();
                if (parts.Count != 1 + listing.Count + positionLength || parts[0].GetString() != Format)
                {
                    throw new FormatException("Not a token of the reference model.");
                }

                for (var i = 0; i < listing.Count; i++)
                {
                    if (parts[1 + i].GetString() != listing[i])
                    {
                        throw new FormatException("A token of another listing.");
                    }
                }

                return [.. parts.Skip(1 + listing.Count).Select(p => p.GetString() ?? throw new FormatException("A position without a value."))];
            }
            catch (Exception e) when (e is FormatException or JsonException or InvalidOperationException)
            {
                throw new ArgumentException(ErrorMessages.InvalidContinuationToken, paramName, e);
            }
        }
    }
}
