using System.Collections.Frozen;
using Storage.Json.Indexes;
using Storage.Json.Internal;

namespace Storage.Json;

/// <summary>
/// The restore of a partition's exported state: its whole file written in the partition's turn, over
/// the state the engine read, with one atomic replace (or creation) of the file; and the store's
/// revision floor raised in the manifest.
/// </summary>
internal sealed partial class JsonBackend
{
    /// <inheritdoc/>
    /// <remarks>
    /// The manifest is replaced durably (temp file, fsync, rename, fsync of the directory), under the
    /// read-only fence's hold as a commit's files are written: refused while the fence is set.
    /// </remarks>
    public ValueTask RaiseRevisionFloorAsync(long floor, CancellationToken cancellationToken)
    {
        cancellationToken.ThrowIfCancellationRequested();
        using var fence = _fence.EnterCommit();
        RaiseFloor(floor);
        return ValueTask.CompletedTask;
    }

    /// <summary>
    /// Writes a restore (<see cref="PendingWrite.IsRestore"/>) in the partition's turn: unless the
    /// partition moved since the engine read it, its file is replaced by one holding exactly the
    /// restored state — documents, tombstones, sequences, streams, revision and oldest resumable
    /// revision — and the state is published with its index entries. One file write, as any commit.
    /// </summary>
    private void Restore(Partition handle, PendingWrite write, DateTimeOffset now)
    {
        PartitionSnapshot current;
        try
        {
            current = Load(handle);
        }
        catch (StorageException e)
        {
            write.Fail(e);
            return;
        }

        if (current.Exists ? current.Revision != write.RestoreOver : write.RestoreOver is not null)
        {
            write.Complete(false);
            return;
        }

        var work = _indexes?.BeginRestore(handle.Key, handle.Index!, now);
        try
        {
            // The engine's UniqueValues decides the restored documents' unique values, as a batch's:
            // the partition's own stored holders all go, other partitions' through the reservations.
            work?.Waited = write.BackendState as List<IndexWork>;
            if (!write.CheckRestore(work is null ? null : new UniqueValues(handle.Key, now, work.StoredHolders, work), now))
            {
                if (write.LeftOut)
                {
                    Defer(write, work!);
                }

                return;
            }

            var state = write.Restored!;
            var next = Restored(state, out var records);
            work?.CompleteRestore(records, write.Entries!);
            using var bytes = new PooledBufferWriter(EstimatedFileLength(state));
            PartitionFile.Serialize(next, bytes);
            try
            {
                Persist(handle, work, current, next, bytes.WrittenSpan, now);
                Journal(handle.Key, next.Revision, deletedAt: null);
            }
            catch (StorageException e)
            {
                // Persist kept the outcome to be read back (the reservations with it, when indexed).
                write.Fail(e);
                return;
            }

            write.Complete(true);
        }
        catch when (work is not null)
        {
            // Nothing persisted: nothing the restore reserved may stay reserved.
            _indexes!.Release(work);
            throw;
        }
        finally
        {
            work?.Settle();
        }
    }

    /// <summary>
    /// A partition's snapshot holding exactly <paramref name="state"/>, with each document's entry
    /// rendered for the file (<paramref name="records"/>: by position in <see cref="PartitionExport.Documents"/>).
    /// </summary>
    private static PartitionSnapshot Restored(PartitionExport state, out DocumentRecord[] records)
    {
        var partition = state.Partition;
        var documents = state.Documents;
        records = new DocumentRecord[documents.Count];
        var collections = new Dictionary<string, DocumentRecord[]>(StringComparer.Ordinal);
        using (var writer = new DocumentEntryWriter())
        {
            // The export lists documents by collection, then key in code-point order: each collection
            // is one run, already in the order a snapshot keeps it.
            var start = 0;
            for (var i = 0; i < documents.Count; i++)
            {
                var d = documents[i];
                records[i] = writer.Create(d.Key, d.Value.Span, d.Version, d.CreatedAt, d.UpdatedAt, d.ExpiresAt);
                if (i + 1 == documents.Count || !string.Equals(documents[i + 1].Collection, d.Collection, StringComparison.Ordinal))
                {
                    collections.Add(d.Collection, records[start..(i + 1)]);
                    start = i + 1;
                }
            }
        }

        // The events are copied: the caller's buffers are not the store's.
        var streams = new StreamRecord[state.Streams.Count];
        for (var s = 0; s < streams.Length; s++)
        {
            var stream = state.Streams[s];
            streams[s] = new StreamRecord(stream.Stream, [.. stream.Events.Select(e => new StoredEvent(partition, e.Stream, e.Version, e.Revision, e.Id, e.Type, e.Data.ToArray(), e.Metadata.IsEmpty ? ReadOnlyMemory<byte>.Empty : e.Metadata.ToArray(), e.CommittedAt))]);
        }

        return new PartitionSnapshot(
            partition,
            state.Revision,
            exists: true,
            state.OldestResumable,
            collections.ToFrozenDictionary(StringComparer.Ordinal),
            state.Sequences.ToFrozenDictionary(static s => s.Name, static s => new SequenceRecord(s.Value, s.Revision), StringComparer.Ordinal),
            PartitionSnapshot.SortTombstones(state.Tombstones.Select(t => new TombstoneRecord(t.Collection, t.Key, t.Revision, t.DeletedAt))),
            streams);
    }

    /// <summary>About how long the restored state's file is, so that its buffer seldom grows.</summary>
    private static int EstimatedFileLength(PartitionExport state)
    {
        // Per document, event, tombstone and sequence: its metadata's text, about 200 bytes, and its key or id.
        long length = FileSlack;
        foreach (var d in state.Documents)
        {
            length += d.Value.Length + (d.Key.Length * 2) + 200;
        }

        foreach (var s in state.Streams)
        {
            foreach (var e in s.Events)
            {
                length += e.Data.Length + e.Metadata.Length + (s.Stream.Length * 2) + 200;
            }
        }

        length += (state.Tombstones.Count + state.Sequences.Count) * 200L;
        return (int)Math.Min(length, Array.MaxLength);
    }
}
