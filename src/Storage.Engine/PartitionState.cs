using System.Diagnostics.CodeAnalysis;

namespace Storage.Engine;

/// <summary>A document's identity inside a partition.</summary>
/// <param name="Collection">The collection.</param>
/// <param name="Key">The key.</param>
[Experimental(Experiments.BackendInterface)]
public readonly record struct DocumentId(string Collection, string Key);

/// <summary>
/// A document as a write sees it. Rows a backend loads carry their version, creation time and expiry
/// (and, where the backend needs them to maintain index entries, their value); rows a
/// <see cref="PartitionWriter"/> writes carry everything, with their index values.
/// </summary>
/// <param name="Version">The version (the revision of the commit that wrote it).</param>
/// <param name="CreatedAt">When the document was first written (kept across updates).</param>
/// <param name="ExpiresAt">When it expires, if it does.</param>
/// <param name="UpdatedAt">When it was last written (only set on rows the writer produced).</param>
/// <param name="Value">The JSON value (on rows the writer produced; on loaded rows only if the backend read it).</param>
/// <param name="Entries">The index values of a row the writer produced, when its collection has indexes.</param>
[Experimental(Experiments.BackendInterface)]
public sealed record DocumentRow(long Version, DateTimeOffset CreatedAt, DateTimeOffset? ExpiresAt, DateTimeOffset UpdatedAt = default, ReadOnlyMemory<byte> Value = default, IndexEntries? Entries = null);

/// <summary>An event a write appends: its stream version and the revision of the batch that appended it.</summary>
/// <param name="Stream">The stream.</param>
/// <param name="Version">The event's version in its stream.</param>
/// <param name="Revision">The partition revision of the batch that appended it.</param>
/// <param name="Data">The event as the caller gave it.</param>
[Experimental(Experiments.BackendInterface)]
public sealed record NewEvent(string Stream, long Version, long Revision, EventData Data);

/// <summary>
/// A stream as a write sees it: the stored version, the stored event ids a retry may be compared with
/// (by version: those <see cref="PartitionReads"/> asked for), and the events the write appended so far.
/// </summary>
/// <param name="storedVersion">The stored version; 0 when the stream does not exist.</param>
[Experimental(Experiments.BackendInterface)]
public sealed class StreamState(long storedVersion)
{
    /// <summary>The version the stream had before the write.</summary>
    public long StoredVersion { get; } = storedVersion;

    /// <summary>Stored event ids by version, as the backend loaded them.</summary>
    public Dictionary<long, Guid> StoredIds { get; } = [];

    /// <summary>The events appended by the write so far.</summary>
    public List<NewEvent> Appended { get; } = [];

    /// <summary>The stream's version with the write's events.</summary>
    public long Version => StoredVersion + Appended.Count;

    /// <summary>The ids at <paramref name="first"/> onwards: stored ones (loaded by the backend) or the write's own.</summary>
    /// <param name="first">The first version.</param>
    /// <param name="count">How many.</param>
    /// <returns>The ids.</returns>
    /// <exception cref="InvalidOperationException">The backend did not load a stored id the decision needs.</exception>
    public Guid[] IdsFrom(long first, int count)
    {
        var ids = new Guid[count];
        for (var i = 0; i < count; i++)
        {
            var version = first + i;
            ids[i] = version > StoredVersion
                ? Appended[(int)(version - StoredVersion - 1)].Data.Id
                : StoredIds.TryGetValue(version, out var id) ? id : throw new InvalidOperationException($"The id of stored event {version} was not loaded.");
        }

        return ids;
    }
}

/// <summary>
/// What a write to one partition must load before the engine decides it: every document its batches
/// name (expired or not), every sequence it increments, every stream it appends to with the stored
/// event ids a retry of each append would match — at the append's expected position
/// (<see cref="IdWindows"/>) or, expecting any version, the stream's last events (<see cref="IdTails"/>).
/// </summary>
[Experimental(Experiments.BackendInterface)]
public sealed class PartitionReads
{
    // What no write names; read-only to everyone outside, as the sets below are.
    private static readonly HashSet<string> s_none = [];

    // Created when a write names a sequence or a stream, or an append needs them (most writes name documents only).
    private HashSet<string>? _sequences;
    private HashSet<string>? _streams;
    private List<(string Stream, long First, long Last)>? _idWindows;
    private Dictionary<string, int>? _idTails;

    /// <summary>The documents to load.</summary>
    public HashSet<DocumentId> Documents { get; } = [];

    /// <summary>The sequences to load.</summary>
    public IReadOnlySet<string> Sequences => _sequences ?? s_none;

    /// <summary>The streams to load (their versions).</summary>
    public IReadOnlySet<string> Streams => _streams ?? s_none;

    /// <summary>Stored ids to load: from version <c>First</c> to <c>Last</c> of <c>Stream</c>, those that exist.</summary>
    public List<(string Stream, long First, long Last)> IdWindows => _idWindows ??= [];

    /// <summary>Stored ids to load: the last <c>Count</c> events of each stream (fewer if it has fewer).</summary>
    public Dictionary<string, int> IdTails => _idTails ??= new(StringComparer.Ordinal);

    /// <summary>Adds what a batch needs.</summary>
    /// <param name="operations">The batch.</param>
    internal void AddBatch(IReadOnlyList<WriteOperation> operations)
    {
        Documents.EnsureCapacity(Documents.Count + operations.Count);

        // Indexed, not foreach: a list behind its interface would allocate an enumerator.
        for (var i = 0; i < operations.Count; i++)
        {
            var op = operations[i];
            if (op.Kind != WriteOperationKind.Append)
            {
                Documents.Add(new DocumentId(op.Collection, op.Key));
                continue;
            }

            var stream = op.Stream!;
            (_streams ??= new(StringComparer.Ordinal)).Add(stream);
            if (op.ExpectedVersion.Kind == ExpectedStreamVersionKind.Any)
            {
                IdTails[stream] = Math.Max(IdTails.GetValueOrDefault(stream), op.Events.Count);
            }
            else if (op.ExpectedVersion.Version <= long.MaxValue - op.Events.Count)
            {
                // Events the write appends itself before this append are in memory; only stored ones are read.
                IdWindows.Add((stream, op.ExpectedVersion.Version + 1, op.ExpectedVersion.Version + op.Events.Count));
            }
        }
    }

    /// <summary>Adds a sequence increment.</summary>
    /// <param name="name">The sequence.</param>
    internal void AddSequence(string name) => (_sequences ??= new(StringComparer.Ordinal)).Add(name);

    /// <summary>
    /// The versions whose stored ids to load from a stream at <paramref name="storedVersion"/>: the
    /// windows and the tail asked for, within the stream. For a backend that reads a stream's version
    /// before its ids.
    /// </summary>
    /// <param name="stream">The stream.</param>
    /// <param name="storedVersion">Its stored version.</param>
    /// <returns>Ranges of versions, first to last, each within 1..<paramref name="storedVersion"/>.</returns>
    public IEnumerable<(long First, long Last)> IdRanges(string stream, long storedVersion)
    {
        foreach (var (name, first, last) in _idWindows ?? [])
        {
            if (string.Equals(name, stream, StringComparison.Ordinal) && first <= storedVersion)
            {
                yield return (first, Math.Min(last, storedVersion));
            }
        }

        if (_idTails is not null && _idTails.TryGetValue(stream, out var tail) && storedVersion > 0)
        {
            yield return (Math.Max(1, storedVersion - tail + 1), storedVersion);
        }
    }
}

/// <summary>
/// The stored state of one partition that a write needs, loaded by the backend for
/// <see cref="PartitionReads"/> (inside whatever keeps it from changing until the write persists:
/// a transaction with the partition's lock, the writer's turn): the partition's revision, the store's
/// revision floor, and every document, sequence and stream the reads named.
/// </summary>
[Experimental(Experiments.BackendInterface)]
public sealed class PartitionState
{
    // Created when a write names a sequence or a stream (most name documents only).
    private Dictionary<string, long>? _sequences;
    private Dictionary<string, StreamState>? _streams;

    /// <summary>Prepares the state to load for <paramref name="reads"/>: every named document absent, every named stream empty, until the backend loads them.</summary>
    /// <param name="partition">The partition key.</param>
    /// <param name="reads">What the write needs.</param>
    public PartitionState(string partition, PartitionReads reads)
    {
        Partition = partition;
        Documents = new(reads.Documents.Count);
        foreach (var id in reads.Documents)
        {
            Documents[id] = null;
        }

        foreach (var stream in reads.Streams)
        {
            Streams[stream] = new StreamState(0);
        }
    }

    /// <summary>The partition key.</summary>
    public string Partition { get; }

    /// <summary>Whether the partition exists (has had a change since it was created or last deleted).</summary>
    public bool Exists { get; set; }

    /// <summary>The partition's revision: its last one when it exists; otherwise a revision it must continue above (0 if none).</summary>
    public long Revision { get; set; }

    /// <summary>The store's revision floor: a partition that does not exist continues above it.</summary>
    public long RevisionFloor { get; set; }

    /// <summary>The named documents: their stored rows, expired or not; <see langword="null"/> when there is none.</summary>
    public Dictionary<DocumentId, DocumentRow?> Documents { get; }

    /// <summary>The named sequences that exist, with their values.</summary>
    public Dictionary<string, long> Sequences => _sequences ??= new(StringComparer.Ordinal);

    /// <summary>The named streams: replace an entry with a <see cref="StreamState"/> of the stored version and fill its ids.</summary>
    public Dictionary<string, StreamState> Streams => _streams ??= new(StringComparer.Ordinal);
}
