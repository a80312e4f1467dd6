using System.Diagnostics.CodeAnalysis;

namespace Storage.Engine;

/// <summary>
/// A validated stream read: which versions to fetch given the stream's current version, and where
/// the next read continues. Stream versions have no gaps, so a read is a version range.
/// </summary>
[Experimental(Experiments.BackendInterface)]
public sealed class StreamRead
{
    private StreamRead(long? fromVersion, bool backwards, int limit)
    {
        FromVersion = fromVersion;
        Backwards = backwards;
        Limit = limit;
    }

    /// <summary>The first version asked for, or <see langword="null"/> for the start in the read's direction.</summary>
    public long? FromVersion { get; }

    /// <summary>Whether the read runs towards version 1.</summary>
    public bool Backwards { get; }

    /// <summary>The most events to return.</summary>
    public int Limit { get; }

    /// <summary>Validates a read.</summary>
    /// <param name="partition">The partition key.</param>
    /// <param name="stream">The stream id.</param>
    /// <param name="options">The caller's options, or <see langword="null"/>.</param>
    /// <returns>The read.</returns>
    /// <exception cref="ArgumentException">An identifier or option is not valid.</exception>
    internal static StreamRead Create(string partition, string stream, ReadStreamOptions? options)
    {
        Identifiers.ValidatePartitionKey(partition);
        Identifiers.ValidateDocumentKey(stream, nameof(stream));
        options ??= new ReadStreamOptions();
        if (options.FromVersion is < 1)
        {
            throw new ArgumentOutOfRangeException(nameof(options), options.FromVersion, ErrorMessages.InvalidStreamVersion(options.FromVersion.Value));
        }

        ListQuery.ValidateLimit(options.Limit);
        return new StreamRead(options.FromVersion, options.Backwards, options.Limit);
    }

    /// <summary>The inclusive range of versions to fetch from a stream at <paramref name="streamVersion"/>, or <see langword="null"/> when the read returns nothing.</summary>
    /// <param name="streamVersion">The stream's current version (0 when it does not exist).</param>
    /// <returns>The lowest and highest version to fetch.</returns>
    public (long First, long Last)? Range(long streamVersion)
    {
        if (Backwards)
        {
            var start = Math.Min(FromVersion ?? streamVersion, streamVersion);
            return start < 1 ? null : (Math.Max(1, start - Limit + 1), start);
        }

        var first = FromVersion ?? 1;
        return first > streamVersion ? null : (first, Math.Min(streamVersion, first + Limit - 1));
    }

    /// <summary>Builds the page from the fetched events.</summary>
    /// <param name="streamVersion">The stream's current version.</param>
    /// <param name="ascending">The events of <see cref="Range"/>, in ascending version order.</param>
    /// <returns>The page, in the read's direction.</returns>
    /// <exception cref="CorruptDataException">The stored events do not cover the range without gaps.</exception>
    internal EventPage ToPage(long streamVersion, IReadOnlyList<StoredEvent> ascending)
    {
        ArgumentNullException.ThrowIfNull(ascending);
        if (Range(streamVersion) is not { } range)
        {
            return new EventPage([], streamVersion, null);
        }

        for (var i = 0; i < ascending.Count; i++)
        {
            if (ascending[i].Version != range.First + i)
            {
                throw new CorruptDataException(ascending[i].Stream, $"stream event {range.First + i} is missing (found version {ascending[i].Version})");
            }
        }

        if (ascending.Count != range.Last - range.First + 1)
        {
            throw new CorruptDataException(ascending.Count > 0 ? ascending[0].Stream : "stream", $"the stream is at version {streamVersion} but events {range.First}–{range.Last} are not all stored");
        }

        if (Backwards)
        {
            var items = new StoredEvent[ascending.Count];
            for (var i = 0; i < items.Length; i++)
            {
                items[i] = ascending[ascending.Count - 1 - i];
            }

            return new EventPage(items, streamVersion, range.First > 1 ? range.First - 1 : null);
        }

        return new EventPage(ascending, streamVersion, range.Last < streamVersion ? range.Last + 1 : null);
    }
}

/// <summary>What an append does once its stream's current version is known.</summary>
internal enum AppendDecision
{
    /// <summary>Write the events after the stream's current version.</summary>
    Append = 1,

    /// <summary>The events are already stored at the expected position: a retry; write nothing.</summary>
    AlreadyStored = 2,

    /// <summary>The stream is not at the expected version: raise <see cref="VersionConflictException"/>.</summary>
    Conflict = 3,

    /// <summary>Compare the ids stored at <see cref="AppendPlan.WindowFirst"/> (the append's size) with the append's, then call <see cref="AppendPlan.Resolve"/>.</summary>
    CompareStoredIds = 4,
}

/// <summary>
/// The one place that decides an append: append, recognize an idempotent retry, or conflict. A
/// retry is recognized when the stored events at the expected position (for
/// <see cref="ExpectedStreamVersion.Any"/>: the last events of the stream) carry the append's ids,
/// in order.
/// </summary>
/// <param name="Decision">What to do, or <see cref="AppendDecision.CompareStoredIds"/> first.</param>
/// <param name="WindowFirst">The first stored version to compare (for <see cref="AppendDecision.CompareStoredIds"/>).</param>
internal readonly record struct AppendPlan(AppendDecision Decision, long WindowFirst)
{
    /// <summary>Plans an append of <paramref name="eventCount"/> events to a stream at <paramref name="currentVersion"/>.</summary>
    /// <param name="expected">The append's expectation.</param>
    /// <param name="currentVersion">The stream's current version (0 when it does not exist).</param>
    /// <param name="eventCount">How many events the append holds.</param>
    /// <returns>The plan.</returns>
    public static AppendPlan Create(ExpectedStreamVersion expected, long currentVersion, int eventCount)
    {
        if (expected.Kind == ExpectedStreamVersionKind.Any)
        {
            return currentVersion >= eventCount
                ? new(AppendDecision.CompareStoredIds, currentVersion - eventCount + 1)
                : new(AppendDecision.Append, 0);
        }

        var position = expected.Version;
        if (currentVersion == position)
        {
            return new(AppendDecision.Append, 0);
        }

        // Subtracted, not added: an expected version near long.MaxValue must not wrap around into a window.
        return currentVersion - position >= eventCount
            ? new(AppendDecision.CompareStoredIds, position + 1)
            : new(AppendDecision.Conflict, 0);
    }

    /// <summary>The stream version an append reports when its events were already stored (a retry): the version of the last of them.</summary>
    /// <param name="expected">The append's expectation.</param>
    /// <param name="currentVersion">The stream's current version.</param>
    /// <param name="eventCount">How many events the append holds.</param>
    /// <returns>The version of the last of the append's events.</returns>
    public static long AlreadyStoredVersion(ExpectedStreamVersion expected, long currentVersion, int eventCount)
        => expected.Kind == ExpectedStreamVersionKind.Any ? currentVersion : expected.Version + eventCount;

    /// <summary>Decides after comparing ids.</summary>
    /// <param name="expected">The append's expectation.</param>
    /// <param name="events">The append's events.</param>
    /// <param name="storedIds">The ids stored at <see cref="WindowFirst"/> onwards, as many as there are events.</param>
    /// <returns><see cref="AppendDecision.AlreadyStored"/>, or what to do when the ids differ.</returns>
    public AppendDecision Resolve(ExpectedStreamVersion expected, IReadOnlyList<EventData> events, IReadOnlyList<Guid> storedIds)
    {
        ArgumentNullException.ThrowIfNull(events);
        ArgumentNullException.ThrowIfNull(storedIds);
        if (Decision != AppendDecision.CompareStoredIds)
        {
            return Decision;
        }

        var same = storedIds.Count == events.Count;
        for (var i = 0; same && i < events.Count; i++)
        {
            same = storedIds[i] == events[i].Id;
        }

        return same ? AppendDecision.AlreadyStored
            : expected.Kind == ExpectedStreamVersionKind.Any ? AppendDecision.Append
            : AppendDecision.Conflict;
    }
}
