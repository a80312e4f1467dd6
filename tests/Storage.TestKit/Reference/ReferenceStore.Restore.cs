using Storage.Internal;

namespace Storage.Conformance.Reference;

/// <summary>
/// The reference model's restore, written from docs/upgrade-path.md ("Restore") and the XML docs of
/// <see cref="IStoreRestore"/> — not from the engine: the state is checked, compared with the stored
/// partition, its unique values checked against the other partitions, and it replaces the partition under
/// the model's lock.
/// </summary>
public sealed partial class ReferenceStore : IStoreRestore
{
    /// <inheritdoc/>
    public ValueTask<RestoreOutcome> RestorePartitionAsync(PartitionExport partition, RestoreMode mode = RestoreMode.FailIfDifferent, CancellationToken cancellationToken = default) => Run(() =>
    {
        if (mode is not (RestoreMode.FailIfDifferent or RestoreMode.Replace))
        {
            throw new ArgumentOutOfRangeException(nameof(mode), mode, "Not a restore mode.");
        }

        CheckState(partition);
        cancellationToken.ThrowIfCancellationRequested();
        lock (_lock)
        {
            ThrowIfDisposed();
            ThrowIfReadOnly();
            var key = partition.Partition;
            if (_partitions.ContainsKey(key))
            {
                var stored = ExportPartitionAsync(key).AsTask().GetAwaiter().GetResult()!;
                var differences = ExportComparison.Compare(partition, stored);
                if (differences.Count == 0)
                {
                    return RestoreOutcome.Unchanged;
                }

                if (mode == RestoreMode.FailIfDifferent)
                {
                    throw new RestoreConflictException(key, differences);
                }
            }

            CheckRestoredUniqueness(partition, Timestamps.Now(_time));
            var existed = _partitions.Remove(key);
            var state = new ModelPartition { Revision = partition.Revision, OldestResumable = partition.OldestResumable };
            foreach (var document in partition.Documents)
            {
                state.Collection(document.Collection)[document.Key] = new StoredDocument(key, document.Collection, document.Key, document.Value.ToArray(), document.Version, document.CreatedAt, document.UpdatedAt, document.ExpiresAt);
            }

            foreach (var tombstone in partition.Tombstones)
            {
                state.Tombstones[(tombstone.Collection, tombstone.Key)] = new Tombstone(tombstone.Revision, tombstone.DeletedAt);
            }

            foreach (var sequence in partition.Sequences)
            {
                state.Sequences[sequence.Name] = (sequence.Value, sequence.Revision);
            }

            foreach (var stream in partition.Streams)
            {
                state.Stream(stream.Stream).AddRange(stream.Events);
            }

            _partitions[key] = state;
            Moved(key, state);
            return existed ? RestoreOutcome.Replaced : RestoreOutcome.Created;
        }
    });

    /// <inheritdoc/>
    public async ValueTask<RestoreResult> RestoreAsync(StoreExportInfo info, IAsyncEnumerable<PartitionExport> partitions, RestoreMode mode = RestoreMode.FailIfDifferent, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(info);
        ArgumentNullException.ThrowIfNull(partitions);
        await RaiseRevisionFloorAsync(info.RevisionFloor, cancellationToken).ConfigureAwait(false);
        var seen = new HashSet<string>(StringComparer.Ordinal);
        long created = 0, replaced = 0, unchanged = 0, documents = 0, events = 0;
        await foreach (var partition in partitions.WithCancellation(cancellationToken).ConfigureAwait(false))
        {
            if (partition is null || !seen.Add(partition.Partition))
            {
                throw new ArgumentException(partition is null ? "A restored partition is null." : $"Partition '{partition.Partition}' appears twice in the restore.", nameof(partitions));
            }

            var outcome = await RestorePartitionAsync(partition, mode, cancellationToken).ConfigureAwait(false);
            if (outcome == RestoreOutcome.Unchanged)
            {
                unchanged++;
                continue;
            }

            (created, replaced) = outcome == RestoreOutcome.Created ? (created + 1, replaced) : (created, replaced + 1);
            documents += partition.Documents.Count;
            events += partition.Streams.Sum(s => (long)s.Events.Count);
        }

        return new RestoreResult(created, replaced, unchanged, documents, events);
    }

    /// <inheritdoc/>
    public ValueTask RaiseRevisionFloorAsync(long floor, CancellationToken cancellationToken = default)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(floor);
        cancellationToken.ThrowIfCancellationRequested();
        lock (_lock)
        {
            ThrowIfDisposed();
            ThrowIfReadOnly();
            _revisionFloor = Math.Max(_revisionFloor, floor);
        }

        return ValueTask.CompletedTask;
    }

    // docs/upgrade-path.md, "Checked before anything is written".
    private static void CheckState(PartitionExport state)
    {
        ArgumentNullException.ThrowIfNull(state, "partition");
        var p = state.Partition;
        Identifiers.ValidatePartitionKey(p, "partition");
        void Refuse(string what, string rule) => throw new ArgumentException(ErrorMessages.InvalidRestore(p, what, rule), "partition");
        void InRange(string what, long revision)
        {
            if (revision < 1 || revision > state.Revision)
            {
                Refuse(what, $"has revision (or version) {revision}, outside 1 to the partition's revision {state.Revision}");
            }
        }

        void Millisecond(string what, DateTimeOffset time)
        {
            if (time.Ticks % TimeSpan.TicksPerMillisecond != 0)
            {
                Refuse(what, "has a time finer than a millisecond");
            }
        }

        void Json(string what, ReadOnlyMemory<byte> value)
        {
            ReadOnlyMemory<byte> trimmed;
            try
            {
                trimmed = JsonValidation.Validate(value, "partition");
            }
            catch (ArgumentException e)
            {
                throw new ArgumentException(ErrorMessages.InvalidRestore(p, what, "is not valid JSON: " + e.Message), "partition", e);
            }

            if (trimmed.Length != value.Length)
            {
                Refuse(what, "has white space around its value");
            }
        }

        if (state.Revision < 1)
        {
            Refuse("the partition", $"has revision {state.Revision}");
        }

        if (state.OldestResumable < 1 || state.OldestResumable > state.Revision)
        {
            Refuse("the partition", $"has oldest resumable revision {state.OldestResumable}");
        }

        var keys = new HashSet<(string, string)>();
        foreach (var d in state.Documents)
        {
            var what = $"document {d.Collection}/{d.Key}";
            if (!Identifiers.IsValidName(d.Collection) || !Identifiers.IsValidDocumentKey(d.Key))
            {
                Refuse(what, "has an invalid name or key");
            }

            if (d.Partition != p)
            {
                Refuse(what, $"belongs to the partition '{d.Partition}'");
            }

            if (!keys.Add((d.Collection, d.Key)))
            {
                Refuse(what, "appears twice");
            }

            InRange(what, d.Version);
            Millisecond(what, d.CreatedAt);
            Millisecond(what, d.UpdatedAt);
            Millisecond(what, d.ExpiresAt ?? d.CreatedAt);
            Json(what, d.Value);
        }

        var tombstones = new HashSet<(string, string)>();
        foreach (var t in state.Tombstones)
        {
            var what = $"tombstone {t.Collection}/{t.Key}";
            if (!Identifiers.IsValidName(t.Collection) || !Identifiers.IsValidDocumentKey(t.Key))
            {
                Refuse(what, "has an invalid name or key");
            }

            if (!tombstones.Add((t.Collection, t.Key)))
            {
                Refuse(what, "appears twice");
            }

            if (keys.Contains((t.Collection, t.Key)))
            {
                Refuse(what, "shares its key with a document: a key holds a document or a tombstone");
            }

            InRange(what, t.Revision);
            Millisecond(what, t.DeletedAt);
        }

        var names = new HashSet<string>(StringComparer.Ordinal);
        foreach (var s in state.Sequences)
        {
            var what = $"sequence {s.Name}";
            if (!Identifiers.IsValidName(s.Name) || !names.Add(s.Name) || s.Value < 1)
            {
                Refuse(what, "has an invalid name, appears twice or is below 1");
            }

            InRange(what, s.Revision);
        }

        var streams = new HashSet<string>(StringComparer.Ordinal);
        foreach (var stream in state.Streams)
        {
            var what = $"stream {stream.Stream}";
            if (!Identifiers.IsValidDocumentKey(stream.Stream) || !streams.Add(stream.Stream))
            {
                Refuse(what, "has an invalid id or appears twice");
            }

            if (stream.Events.Count == 0)
            {
                Refuse(what, "has no events");
            }

            for (var i = 0; i < stream.Events.Count; i++)
            {
                var e = stream.Events[i];
                if (e.Version != i + 1)
                {
                    Refuse(what, "has events not numbered from 1 without gaps");
                }

                if (e.Stream != stream.Stream)
                {
                    Refuse(what, $"has an event that names the stream '{e.Stream}'");
                }

                if (e.Partition != p)
                {
                    Refuse(what, $"has an event that belongs to the partition '{e.Partition}'");
                }

                if (i > 0 && e.Revision < stream.Events[i - 1].Revision)
                {
                    Refuse(what, "has event revisions that go down");
                }

                if (e.Id == Guid.Empty || !Identifiers.IsValidName(e.Type))
                {
                    Refuse(what, "has an event with the empty id or an invalid type");
                }

                InRange(what, e.Revision);
                Millisecond(what, e.CommittedAt);
                Json(what, e.Data);
                if (!e.Metadata.IsEmpty)
                {
                    Json(what, e.Metadata);
                }
            }
        }
    }

    // The restored partition's live documents take their unique values as one batch's puts would; the
    // partition's stored documents are all replaced, so only other partitions (store-wide indexes) hold values.
    private void CheckRestoredUniqueness(PartitionExport state, DateTimeOffset now)
    {
        var taken = new HashSet<(string, string, IndexValue)>();
        for (var i = 0; i < state.Documents.Count; i++)
        {
            var document = state.Documents[i];
            if (Timestamps.IsExpired(document.ExpiresAt, now))
            {
                continue;
            }

            foreach (var index in _indexes.Where(x => x.Unique && x.Collection == document.Collection))
            {
                foreach (var value in IndexValues.Extract(index, document.Value).Order())
                {
                    var heldElsewhere = index.Scope == IndexScope.Global && _partitions.Any(other =>
                        other.Key != state.Partition
                        && other.Value.Collections.TryGetValue(index.Collection, out var documents)
                        && documents.Values.Any(d => !Timestamps.IsExpired(d.ExpiresAt, now) && IndexValues.Extract(index, d.Value).Contains(value)));
                    if (!taken.Add((index.Collection, index.Name, value)) || heldElsewhere)
                    {
                        throw new UniqueConstraintException(state.Partition, index.Collection, index.Name, index.Scope, value, i);
                    }
                }
            }
        }
    }
}
