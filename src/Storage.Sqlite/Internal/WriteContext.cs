using Storage.Internal;

namespace Storage.Sqlite.Internal;

/// <summary>
/// The state of a group's transaction as its writes apply, one after the other: every read goes
/// to the database inside the transaction, so each write sees what the ones before it wrote — and
/// what other processes committed before the transaction began. What a batch or an increment changes
/// is decided by the engine's <see cref="PartitionWriter"/> over the state read here; this class reads
/// that state, writes the net change, and keeps the index entries (uniqueness is the database's).
/// Every partition the transaction changes — or deletes — takes one store-wide position, the one after
/// <paramref name="lastPosition"/> (the transaction's writes are serialized with every other writer's
/// by <c>BEGIN IMMEDIATE</c>, so no other transaction can take it); <see cref="Finish"/> stores it as the
/// last position.
/// </summary>
internal sealed class WriteContext(SqliteSession session, string path, DateTimeOffset now, SqliteIndexes indexes, long lastPosition)
{
    private readonly long _nowMs = now.ToUnixTimeMilliseconds();
    private readonly long _position = lastPosition + 1;

    // Whether a write gave a partition the position. Not cleared when that write's savepoint rolls back:
    // the position is then stored with nothing at it, which the cursor never minds (positions may skip).
    private bool _moved;

    /// <summary>Stores the transaction's position as the last one, if a write took it; the last step before the commit.</summary>
    public void Finish()
    {
        if (_moved)
        {
            session.Execute(Sql.SetPosition, _position);
        }
    }

    public CommitResult ApplyBatch(PendingWrite write)
    {
        var (partition, operations, entries) = (write.Partition, write.Operations!, write.Entries!);
        var writer = new PartitionWriter(Load(partition, write.Reads), now);

        // Without a uniqueness check the writer applies every batch whose conditions hold (never null):
        // the unique indexes of the database decide uniqueness, as the entries go in.
        var result = writer.ApplyBatch(operations, entries)!;
        if (result.Changed)
        {
            Persist(writer);
            if (indexes.Catalog.All.Count > 0)
            {
                UpdateEntries(writer, operations);
            }
        }

        return result;
    }

    /// <summary>
    /// Commits one partition of a bulk import, as a batch of must-not-exist puts would commit it. A
    /// partition without a row in <c>partitions</c> holds nothing: every write that stores anything in a
    /// partition (document, tombstone, index entry, event, sequence) first creates or updates its row,
    /// a partition delete removes the row with everything in it, and a purge removes documents, their
    /// entries and tombstones but never the row. So into a partition that does not exist, its first
    /// revision (the floor + 1) and a plain insert of each document and its index entries (a unique
    /// value another partition's live document holds still fails the write); into one that exists,
    /// the puts as a batch.
    /// </summary>
    public CommitResult Import(PendingWrite write)
    {
        var (imported, partition) = (write.Imported!, write.Partition);
        if (session.Scalar(Sql.GetPartitionRevision, partition) is long)
        {
            return ApplyBatch(write);
        }

        // The partition's first revision, above the floor; it can be resumed from there on.
        var revision = RevisionFloor() + 1;
        SetPartition(partition, revision, revision, created: true);
        var puts = imported.Puts;
        var outcomes = new OperationOutcome[puts.Count];

        // Boxed once for every row.
        object boxedRevision = revision;
        object boxedNow = _nowMs;
        for (var i = 0; i < puts.Count; i++)
        {
            var op = puts[i];
            var expiresAt = op.ExpiresAt?.ToUnixTimeMilliseconds();
            var checksum = RowChecksum.Document(partition, op.Collection, op.Key, revision, _nowMs, _nowMs, expiresAt, op.Value.Span);
            session.Execute(Sql.InsertDocument, partition, op.Collection, op.Key, ToArray(op.Value), boxedRevision, boxedNow, boxedNow, expiresAt, checksum);
            outcomes[i] = new OperationOutcome(false, revision);
        }

        // The partition is new: a holder in it is a document of the import, a second claim of the value.
        for (var i = 0; i < puts.Count; i++)
        {
            if (write.Entries![i] is { } values)
            {
                foreach (var entry in IndexEntryChanges.Entries(new DocumentId(puts[i].Collection, puts[i].Key), values, puts[i].ExpiresAt))
                {
                    InsertEntry(partition, entry, static _ => true, puts);
                }
            }
        }

        return new CommitResult(revision, changed: true, outcomes);
    }

    public long Increment(PendingWrite write)
    {
        var writer = new PartitionWriter(Load(write.Partition, write.Reads), now);
        var value = writer.Increment(write.Sequence!, write.Delta);
        Persist(writer);
        return value;
    }

    public bool DeletePartition(string partition)
    {
        if (session.Scalar(Sql.GetPartitionRevision, partition) is not long revision)
        {
            return false;
        }

        // A partition written again later continues above every version it had.
        RaiseRevisionFloor(revision);
        foreach (var statement in Sql.DeletePartition)
        {
            session.Execute(statement, partition);
        }

        // Its mark, for the store-wide cursor, until the partition is created again or a purge drops it.
        session.Execute(Sql.PutMark, partition, revision, _position, _nowMs);
        _moved = true;
        return true;
    }

    /// <summary>
    /// Writes a restored partition state (<see cref="PendingWrite.IsRestore"/>) in the write's savepoint:
    /// <see langword="false"/>, writing nothing, when the partition's revision is no longer the one the
    /// engine read (<see cref="PendingWrite.RestoreOver"/>); when a unique value is taken
    /// (<see cref="PendingWrite.CheckRestore"/>, over the holders the entry table has), the conflict.
    /// Otherwise everything of the partition goes (a partition without a row holds nothing) and the state
    /// goes in with the bulk import's plain inserts: its row, documents with their checksums and index
    /// entries, tombstones, sequences, streams and events. The store's revision floor is left as it is.
    /// </summary>
    public object Restore(PendingWrite write)
    {
        var (state, partition) = (write.Restored!, write.Partition);
        var stored = session.Scalar(Sql.GetPartitionRevision, partition) as long?;
        if (stored != write.RestoreOver)
        {
            return false;
        }

        var uniqueness = indexes.Catalog.All.Any(static i => i.Unique) ? new UniqueValues(partition, now, (index, value) => Holders(partition, index, value)) : null;
        if (!write.CheckRestore(uniqueness, now))
        {
            // Without reservations nothing is left out: the write failed on a taken value.
            return write.Error ?? throw new InvalidOperationException("A restore was left out without reservations.");
        }

        if (stored is not null)
        {
            foreach (var statement in Sql.DeletePartition)
            {
                session.Execute(statement, partition);
            }
        }

        SetPartition(partition, state.Revision, state.OldestResumable, created: stored is null);
        foreach (var d in state.Documents)
        {
            var (createdAt, updatedAt, expiresAt) = (d.CreatedAt.ToUnixTimeMilliseconds(), d.UpdatedAt.ToUnixTimeMilliseconds(), d.ExpiresAt?.ToUnixTimeMilliseconds());
            var checksum = RowChecksum.Document(partition, d.Collection, d.Key, d.Version, createdAt, updatedAt, expiresAt, d.Value.Span);
            session.Execute(Sql.InsertDocument, partition, d.Collection, d.Key, ToArray(d.Value), d.Version, createdAt, updatedAt, expiresAt, checksum);
        }

        RestoreEntries(write);
        foreach (var t in state.Tombstones)
        {
            session.Execute(Sql.PutTombstone, partition, t.Collection, t.Key, t.Revision, t.DeletedAt.ToUnixTimeMilliseconds());
        }

        foreach (var s in state.Sequences)
        {
            session.Execute(Sql.SetSequence, partition, s.Name, s.Value, s.Revision);
        }

        foreach (var stream in state.Streams)
        {
            foreach (var e in stream.Events)
            {
                var (eventId, committedAt, hasMetadata) = (RowChecksum.FormatEventId(e.Id), e.CommittedAt.ToUnixTimeMilliseconds(), !e.Metadata.IsEmpty);
                var checksum = RowChecksum.Event(partition, e.Stream, e.Version, e.Revision, eventId, e.Type, committedAt, e.Data.Span, e.Metadata.Span, hasMetadata);
                session.Execute(Sql.InsertEvent, partition, e.Stream, e.Version, e.Revision, eventId, e.Type, ToArray(e.Data), hasMetadata ? ToArray(e.Metadata) : null, committedAt, checksum);
            }

            session.Execute(Sql.SetStreamVersion, partition, stream.Stream, stream.Events.Count);
        }

        return true;
    }

    /// <summary>
    /// Removes expired documents (the count returned) and drops tombstones deleted at or before
    /// <paramref name="tombstoneCutoff"/> (none when <see langword="null"/>); each partition that loses
    /// documents or tombstones can no longer be resumed from before the newest of them; the marks of partitions
    /// deleted at or before the cutoff go too, and the store's oldest position rises to the newest of them.
    /// </summary>
    public long PurgeExpired(DateTimeOffset? tombstoneCutoff)
    {
        // A change-feed reader behind a purged version never saw it: it must start over.
        session.Execute(Sql.RaiseOldestResumableForExpired, _nowMs);
        session.Execute(Sql.PurgeExpiredEntries, _nowMs);
        var purged = session.Execute(Sql.PurgeExpired, _nowMs);

        var cutoff = tombstoneCutoff is { } c ? c.ToUnixTimeMilliseconds() : long.MinValue;
        session.Execute(Sql.RaiseOldestResumable, cutoff);
        session.Execute(Sql.PurgeTombstones, cutoff);

        // The marks of deleted partitions go with the tombstones: a cursor behind one dropped must start over.
        session.Execute(Sql.RaiseOldestPosition, cutoff);
        session.Execute(Sql.PurgeMarks, cutoff);
        return purged;
    }

    /// <summary>
    /// Brings the index entries of the documents the batch wrote in line with them, as the engine's
    /// <see cref="IndexEntryChanges"/> decides from the entries the database holds: the ones that go,
    /// then kept ones whose expiry moved, then the new ones in claim order, so the first insert the
    /// database refuses is the first conflict <see cref="UniqueValues"/> (and the reference model) reports.
    /// </summary>
    private void UpdateEntries(PartitionWriter writer, IReadOnlyList<WriteOperation> operations)
    {
        var partition = writer.Partition;
        var changes = IndexEntryChanges.Of(writer, indexes.Catalog, (id, _) => StoredEntries(partition, id));
        foreach (var entry in changes.Deletes)
        {
            session.Execute(Sql.DeleteEntry, indexes.Id(entry.Index), IndexValueRange.ToScalar(entry.Value), partition, entry.Document.Key);
        }

        foreach (var (id, expiresAt) in changes.ExpiryMoves)
        {
            session.Execute(Sql.SetEntriesExpiry, expiresAt?.ToUnixTimeMilliseconds(), partition, id.Key, id.Collection);
        }

        foreach (var entry in changes.Inserts)
        {
            InsertEntry(partition, entry, changes.Wrote, operations);
        }
    }

    /// <summary>A document's entries as the database holds them, in every index of its collection.</summary>
    private List<(IndexDefinition Index, IndexValue Value)> StoredEntries(string partition, DocumentId id)
    {
        var entries = new List<(IndexDefinition, IndexValue)>();
        using var reader = session.Query(Sql.ReadDocumentEntries, partition, id.Key, id.Collection);
        while (reader.Read())
        {
            entries.Add((indexes.Index(reader.GetInt64(0)), reader.GetValue(1) is string text ? IndexValue.Of(text) : IndexValue.Of(reader.GetInt64(1))));
        }

        return entries;
    }

    /// <summary>
    /// Inserts one entry. The database refuses a second holder of a unique value (no row inserted):
    /// this is what keeps a value unique across connections and processes. The holder is then a
    /// document the write put earlier in claim order (<paramref name="wrote"/>) or a live document the
    /// write does not touch — a <see cref="UniqueConstraintException"/> for this value — or one whose
    /// document expired, which holds no values (the rule of <see cref="UniqueValues"/>): its entries
    /// go and the insert is tried again.
    /// </summary>
    private void InsertEntry(string partition, IndexEntry entry, Func<DocumentId, bool> wrote, IReadOnlyList<WriteOperation> operations)
    {
        var (index, value) = (entry.Index, entry.Value);
        var id = indexes.Id(index);
        var bound = IndexValueRange.ToScalar(value);
        while (session.Execute(Sql.InsertEntry, id, bound, partition, entry.Document.Key, entry.ExpiresAt?.ToUnixTimeMilliseconds(), SqliteIndexes.UniqueScope(index)) == 0)
        {
            var holder = index.Unique ? Holders(partition, index, value).FirstOrDefault() : null;

            // A document's values are distinct and its old entries are gone, so only a unique index can refuse an entry.
            if (holder is null)
            {
                throw new CorruptDataException(path, SqliteErrors.EntryRefusedReason(index.Collection, index.Name));
            }

            if ((string.Equals(holder.Partition, partition, StringComparison.Ordinal) && wrote(new DocumentId(index.Collection, holder.Key)))
                || !Timestamps.IsExpired(holder.ExpiresAt, now))
            {
                var operation = operations.Select((op, i) => (op, i)).First(o => o.op.Kind == WriteOperationKind.Put && o.op.Collection == index.Collection && o.op.Key == entry.Document.Key).i;
                throw new UniqueConstraintException(partition, index.Collection, index.Name, index.Scope, value, operation);
            }

            if (session.Execute(Sql.DeleteDocumentEntries, holder.Partition, holder.Key, index.Collection) == 0)
            {
                throw new CorruptDataException(path, SqliteErrors.EntryRefusedReason(index.Collection, index.Name));
            }
        }
    }

    /// <summary>
    /// The index entries of a restored state, as its documents' puts would have them: first those of the
    /// documents live at the commit's time, in document order (each takes a value over from an expired
    /// holder in another partition, as a put does; <see cref="PendingWrite.CheckRestore"/> found no live
    /// one), then those of the expired documents, which claim nothing: an entry whose value another
    /// document holds is left out (entries of an expired document match no query or count).
    /// </summary>
    private void RestoreEntries(PendingWrite write)
    {
        var (state, partition, entries) = (write.Restored!, write.Partition, write.Entries!);
        WriteOperation[]? puts = null;
        foreach (var expired in (ReadOnlySpan<bool>)[false, true])
        {
            for (var i = 0; i < state.Documents.Count; i++)
            {
                var d = state.Documents[i];
                if (entries[i] is not { } values || Timestamps.IsExpired(d.ExpiresAt, now) != expired)
                {
                    continue;
                }

                foreach (var entry in IndexEntryChanges.Entries(new DocumentId(d.Collection, d.Key), values, d.ExpiresAt))
                {
                    if (expired)
                    {
                        session.Execute(Sql.InsertEntry, indexes.Id(entry.Index), IndexValueRange.ToScalar(entry.Value), partition, d.Key, entry.ExpiresAt?.ToUnixTimeMilliseconds(), SqliteIndexes.UniqueScope(entry.Index));
                        continue;
                    }

                    // The documents as puts: a refused entry names its document's position in the state.
                    puts ??= [.. state.Documents.Select(static d => WriteOperation.Validated(d.Collection, d.Key, d.Value))];
                    InsertEntry(partition, entry, static _ => true, puts);
                }
            }
        }
    }

    /// <summary>The documents that hold a value of a unique index in its scope (the store, or <paramref name="partition"/>), as the entry table has them.</summary>
    private List<ValueHolder> Holders(string partition, IndexDefinition index, IndexValue value)
    {
        var (id, bound) = (indexes.Id(index), IndexValueRange.ToScalar(value));
        var holders = new List<ValueHolder>(1);
        using var reader = index.Scope == IndexScope.Global ? session.Query(Sql.FindHolderInStore, id, bound) : session.Query(Sql.FindHolderInPartition, id, bound, partition);
        while (reader.Read())
        {
            holders.Add(new ValueHolder(reader.GetString(0), reader.GetString(1), reader.IsDBNull(2) ? null : DateTimeOffset.FromUnixTimeMilliseconds(reader.GetInt64(2))));
        }

        return holders;
    }

    /// <summary>Raises the store's revision floor to <paramref name="floor"/> when it is lower.</summary>
    /// <returns>Whether it was lower.</returns>
    public bool RaiseRevisionFloor(long floor) => session.Execute(Sql.RaiseRevisionFloor, floor) > 0;

    private long RevisionFloor() => session.Scalar(Sql.GetMeta, Schema.MetaRevisionFloor) is long floor ? floor : 0;

    /// <summary>
    /// Reads, inside the transaction, the state a <see cref="PartitionWriter"/> needs for
    /// <paramref name="reads"/>: the partition's revision (or, when it has no row, the store's floor),
    /// the named documents expired or not, sequences, stream versions and the stored event ids a retry
    /// would be compared with.
    /// </summary>
    private PartitionState Load(string partition, PartitionReads reads)
    {
        var state = new PartitionState(partition, reads);
        if (session.Scalar(Sql.GetPartitionRevision, partition) is long revision)
        {
            (state.Exists, state.Revision) = (true, revision);
        }
        else
        {
            state.RevisionFloor = RevisionFloor();
        }

        foreach (var id in reads.Documents)
        {
            // The stored row, expired or not: conditions decide liveness in the engine.
            using var reader = session.Query(Sql.GetDocumentState, partition, id.Collection, id.Key);
            state.Documents[id] = reader.Read()
                ? new DocumentRow(reader.GetInt64(0), DateTimeOffset.FromUnixTimeMilliseconds(reader.GetInt64(1)), reader.IsDBNull(2) ? null : DateTimeOffset.FromUnixTimeMilliseconds(reader.GetInt64(2)))
                : null;
        }

        foreach (var name in reads.Sequences)
        {
            if (session.Scalar(Sql.GetSequence, partition, name) is long value)
            {
                state.Sequences[name] = value;
            }
        }

        foreach (var name in reads.Streams)
        {
            var stream = state.Streams[name] = new StreamState(session.Scalar(Sql.GetStreamVersion, partition, name) is long version ? version : 0);
            foreach (var (first, last) in reads.IdRanges(name, stream.StoredVersion))
            {
                using var reader = session.Query(Sql.GetEventIds, partition, name, first, last);
                while (reader.Read())
                {
                    stream.StoredIds[reader.GetInt64(0)] = RowChecksum.ParseEventId(reader.GetString(1), path, name);
                }
            }
        }

        return state;
    }

    /// <summary>Writes what the writer changed: documents with their checksums, tombstones, events, stream versions, sequences and the partition's revision.</summary>
    private void Persist(PartitionWriter writer)
    {
        var partition = writer.Partition;
        foreach (var (id, row) in writer.Upserts())
        {
            var createdAt = row.CreatedAt.ToUnixTimeMilliseconds();
            var updatedAt = row.UpdatedAt.ToUnixTimeMilliseconds();
            var expiresAt = row.ExpiresAt?.ToUnixTimeMilliseconds();
            var checksum = RowChecksum.Document(partition, id.Collection, id.Key, row.Version, createdAt, updatedAt, expiresAt, row.Value.Span);
            session.Execute(Sql.PutDocument, partition, id.Collection, id.Key, ToArray(row.Value), row.Version, createdAt, updatedAt, expiresAt, checksum);
        }

        // Only keys that had no row can have a tombstone: an update skips the statement.
        foreach (var id in writer.TombstoneDeletes())
        {
            session.Execute(Sql.DeleteTombstone, partition, id.Collection, id.Key);
        }

        foreach (var id in writer.Deletes())
        {
            session.Execute(Sql.DeleteDocument, partition, id.Collection, id.Key);
        }

        foreach (var (id, revision) in writer.TombstoneWrites())
        {
            session.Execute(Sql.PutTombstone, partition, id.Collection, id.Key, revision, _nowMs);
        }

        foreach (var e in writer.NewEvents())
        {
            var eventId = RowChecksum.FormatEventId(e.Data.Id);
            var hasMetadata = !e.Data.Metadata.IsEmpty;
            var checksum = RowChecksum.Event(partition, e.Stream, e.Version, e.Revision, eventId, e.Data.Type, _nowMs, e.Data.Data.Span, e.Data.Metadata.Span, hasMetadata);
            session.Execute(Sql.InsertEvent, partition, e.Stream, e.Version, e.Revision, eventId, e.Data.Type, ToArray(e.Data.Data), hasMetadata ? ToArray(e.Data.Metadata) : null, _nowMs, checksum);
        }

        foreach (var (stream, version) in writer.StreamWrites())
        {
            session.Execute(Sql.SetStreamVersion, partition, stream, version);
        }

        foreach (var (name, value, revision) in writer.SequenceWrites())
        {
            session.Execute(Sql.SetSequence, partition, name, value, revision);
        }

        // A partition the write created can be resumed from its first revision on; one that existed keeps its own.
        SetPartition(partition, writer.Revision, writer.CreatedAtRevision ?? writer.Revision, created: writer.CreatedAtRevision is not null);
    }

    /// <summary>
    /// Writes the partition's row with its revision and the transaction's position; a partition the
    /// write <paramref name="created"/> may have been deleted before: its mark goes (only a partition
    /// without a row can have one).
    /// </summary>
    private void SetPartition(string partition, long revision, long oldestResumable, bool created)
    {
        session.Execute(Sql.SetPartitionRevision, partition, revision, oldestResumable, _position);
        if (created)
        {
            session.Execute(Sql.DeleteMark, partition);
        }

        _moved = true;
    }

    private static byte[] ToArray(ReadOnlyMemory<byte> value)
        => System.Runtime.InteropServices.MemoryMarshal.TryGetArray(value, out var segment) && segment.Offset == 0 && segment.Count == segment.Array!.Length
            ? segment.Array
            : value.ToArray();
}
