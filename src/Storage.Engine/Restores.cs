namespace Storage.Engine;

/// <summary>
/// Checks an exported partition state before a restore writes it: everything a store of this library
/// could hold, and nothing else — so that a damaged or hand-made state is refused with a message naming
/// the item and the rule, before anything is written, on every backend alike.
/// </summary>
internal static class Restores
{
    /// <summary>
    /// Checks <paramref name="state"/> and extracts the index values of its documents for the store's
    /// indexes (a value of the wrong type fails it, as it would fail a put).
    /// </summary>
    /// <param name="state">The state to restore.</param>
    /// <param name="indexes">The destination's indexes.</param>
    /// <returns>Per document of <see cref="PartitionExport.Documents"/>, by position, its index values.</returns>
    /// <exception cref="ArgumentException">The state is not one a store can hold.</exception>
    public static IReadOnlyList<IndexEntries?> Validate(PartitionExport state, IndexCatalog indexes)
    {
        ArgumentNullException.ThrowIfNull(state, "partition");
        var partition = state.Partition;
        Identifiers.ValidatePartitionKey(partition, "partition");
        var check = new Checker(partition, state.Revision);
        if (state.Revision < 1)
        {
            check.Fail("its revision", FormattableString.Invariant($"is {state.Revision}; a partition that exists has revision 1 or more"));
        }

        if (state.OldestResumable < 1 || state.OldestResumable > state.Revision)
        {
            check.Fail("its oldest resumable revision", FormattableString.Invariant($"is {state.OldestResumable}; it must be from 1 to the partition's revision ({state.Revision})"));
        }

        var documents = new HashSet<DocumentId>(state.Documents.Count);
        var entries = new IndexEntries?[state.Documents.Count];
        for (var i = 0; i < state.Documents.Count; i++)
        {
            var document = state.Documents[i] ?? throw check.Error(FormattableString.Invariant($"document {i}"), "is null");
            var what = $"document '{document.Collection}/{document.Key}'";
            check.Identity(what, document.Collection, document.Key);
            check.SamePartition(what, document.Partition);
            if (!documents.Add(new DocumentId(document.Collection, document.Key)))
            {
                check.Fail(what, "appears twice");
            }

            check.Revision(what + "'s version", document.Version);
            check.Time(what + "'s creation time", document.CreatedAt);
            check.Time(what + "'s update time", document.UpdatedAt);
            if (document.ExpiresAt is { } expires)
            {
                check.Time(what + "'s expiry", expires);
            }

            check.Json(what + "'s value", document.Value);
            var collectionIndexes = indexes.For(document.Collection);
            if (collectionIndexes.Count > 0)
            {
                entries[i] = new IndexEntries(collectionIndexes, IndexValues.Extract(collectionIndexes, document.Value));
            }
        }

        var tombstones = new HashSet<DocumentId>(state.Tombstones.Count);
        foreach (var tombstone in state.Tombstones)
        {
            if (tombstone is null)
            {
                check.Fail("a tombstone", "is null");
            }

            var what = $"the tombstone of '{tombstone!.Collection}/{tombstone.Key}'";
            check.Identity(what, tombstone.Collection, tombstone.Key);
            var id = new DocumentId(tombstone.Collection, tombstone.Key);
            if (!tombstones.Add(id))
            {
                check.Fail(what, "appears twice");
            }

            if (documents.Contains(id))
            {
                check.Fail(what, "is beside a stored document of the same key; a key holds a document or a tombstone, not both");
            }

            check.Revision(what + "'s revision", tombstone.Revision);
            check.Time(what + "'s time", tombstone.DeletedAt);
        }

        var sequences = new HashSet<string>(StringComparer.Ordinal);
        foreach (var sequence in state.Sequences)
        {
            if (sequence is null)
            {
                check.Fail("a sequence", "is null");
            }

            var what = $"sequence '{sequence!.Name}'";
            if (sequence.Name is null || !Identifiers.IsValidName(sequence.Name))
            {
                check.Fail(what, "has a name that is not a valid sequence name");
            }

            if (!sequences.Add(sequence.Name!))
            {
                check.Fail(what, "appears twice");
            }

            if (sequence.Value < 1)
            {
                check.Fail(what, FormattableString.Invariant($"has the value {sequence.Value}; a stored sequence is 1 or more"));
            }

            check.Revision(what + "'s revision", sequence.Revision);
        }

        var streams = new HashSet<string>(StringComparer.Ordinal);
        foreach (var stream in state.Streams)
        {
            if (stream is null)
            {
                check.Fail("a stream", "is null");
            }

            var what = $"stream '{stream!.Stream}'";
            if (!Identifiers.IsValidDocumentKey(stream.Stream))
            {
                check.Fail(what, "has an id that is not a valid stream id");
            }

            if (!streams.Add(stream.Stream))
            {
                check.Fail(what, "appears twice");
            }

            if (stream.Events.Count == 0)
            {
                check.Fail(what, "has no events; a stored stream has 1 or more");
            }

            long previousRevision = 0;
            for (var i = 0; i < stream.Events.Count; i++)
            {
                var e = stream.Events[i] ?? throw check.Error(FormattableString.Invariant($"event {i + 1} of {what}"), "is null");
                var ev = FormattableString.Invariant($"event {e.Version} of {what}");
                if (e.Version != i + 1)
                {
                    check.Fail(what, FormattableString.Invariant($"has no event {i + 1}; its events must be numbered 1, 2, 3… without gaps"));
                }

                check.SamePartition(ev, e.Partition);
                if (!string.Equals(e.Stream, stream.Stream, StringComparison.Ordinal))
                {
                    check.Fail(ev, $"names the stream '{e.Stream}'");
                }

                check.Revision(ev + "'s revision", e.Revision);
                if (e.Revision < previousRevision)
                {
                    check.Fail(ev, FormattableString.Invariant($"has revision {e.Revision}, below the revision of the event before it ({previousRevision})"));
                }

                previousRevision = e.Revision;
                if (e.Id == Guid.Empty)
                {
                    check.Fail(ev, "has the empty id");
                }

                if (e.Type is null || !Identifiers.IsValidName(e.Type))
                {
                    check.Fail(ev, "has a type that is not a valid type name");
                }

                check.Time(ev + "'s commit time", e.CommittedAt);
                check.Json(ev + "'s data", e.Data);
                if (!e.Metadata.IsEmpty)
                {
                    check.Json(ev + "'s metadata", e.Metadata);
                }
            }
        }

        return entries;
    }

    /// <summary>The checks of one partition's state, each failing with a message naming the item.</summary>
    private readonly struct Checker(string partition, long revision)
    {
        public void Fail(string what, string rule) => throw Error(what, rule);

        public ArgumentException Error(string what, string rule) => new(ErrorMessages.InvalidRestore(partition, what, rule), "partition");

        public void Identity(string what, string collection, string key)
        {
            if (collection is null || !Identifiers.IsValidName(collection))
            {
                Fail(what, "has a collection name that is not valid");
            }

            if (key is null || !Identifiers.IsValidDocumentKey(key))
            {
                Fail(what, "has a key that is not a valid document key");
            }
        }

        public void SamePartition(string what, string? other)
        {
            if (!string.Equals(other, partition, StringComparison.Ordinal))
            {
                Fail(what, $"belongs to the partition '{other}'");
            }
        }

        public void Revision(string what, long value)
        {
            if (value < 1 || value > revision)
            {
                Fail(what, FormattableString.Invariant($"is {value}; it must be from 1 to the partition's revision ({revision})"));
            }
        }

        public void Time(string what, DateTimeOffset value)
        {
            // Every backend keeps whole milliseconds (UTC); a finer time could not be restored exactly.
            if (value != Timestamps.Truncate(value))
            {
                Fail(what, FormattableString.Invariant($"is {value:O}, finer than a millisecond; stores keep whole milliseconds"));
            }
        }

        public void Json(string what, ReadOnlyMemory<byte> value)
        {
            ReadOnlyMemory<byte> trimmed;
            try
            {
                trimmed = JsonValidation.Validate(value, "partition");
            }
            catch (ArgumentException e)
            {
                throw new ArgumentException(ErrorMessages.InvalidRestore(partition, what, "is not valid: " + e.Message), "partition", e);
            }

            if (trimmed.Length != value.Length)
            {
                Fail(what, "has white space around its JSON; stored values have none");
            }
        }
    }
}
