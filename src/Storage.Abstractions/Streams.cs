using System.Text;
using System.Text.Json;
using System.Text.Json.Serialization.Metadata;
using Storage.Internal;

namespace Storage;

/// <summary>What an append to a stream expects of the stream: anything, no stream yet, or exactly version N.</summary>
public enum ExpectedStreamVersionKind
{
    /// <summary>No expectation: the events go after whatever the stream holds.</summary>
    Any = 0,

    /// <summary>The stream must not exist yet (version 0).</summary>
    NoStream = 1,

    /// <summary>The stream's last event must have exactly this version.</summary>
    Exactly = 2,
}

/// <summary>
/// The version a stream must be at for an append to apply. Stream versions count the events of one
/// stream from 1; a stream that does not exist is at version 0.
/// </summary>
/// <remarks>
/// An append that is re-sent with the same event ids (a retry after an unknown outcome) succeeds
/// without writing twice when those ids are already stored at the expected position (for
/// <see cref="Any"/>: when they are the last events of the stream).
/// </remarks>
/// <seealso href="../../docs/streams-and-changes.md#expected-versions"/>
public readonly record struct ExpectedStreamVersion
{
    private ExpectedStreamVersion(ExpectedStreamVersionKind kind, long version)
    {
        Kind = kind;
        Version = version;
    }

    /// <summary>No expectation (the default).</summary>
    public static ExpectedStreamVersion Any => default;

    /// <summary>The stream must not exist yet.</summary>
    public static ExpectedStreamVersion NoStream => new(ExpectedStreamVersionKind.NoStream, 0);

    /// <summary>What the expectation requires.</summary>
    public ExpectedStreamVersionKind Kind { get; }

    /// <summary>The version required by <see cref="ExpectedStreamVersionKind.Exactly"/>; 0 otherwise.</summary>
    public long Version { get; }

    /// <summary>The stream's last event must have exactly <paramref name="version"/>; 0 means the stream must not exist (the same as <see cref="NoStream"/>).</summary>
    /// <param name="version">A stream version read earlier; at least 0.</param>
    /// <returns>The expectation.</returns>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="version"/> is negative.</exception>
    public static ExpectedStreamVersion Exactly(long version)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(version);
        return version == 0 ? NoStream : new(ExpectedStreamVersionKind.Exactly, version);
    }

    /// <inheritdoc/>
    public override string ToString() => Kind switch
    {
        ExpectedStreamVersionKind.NoStream => "no stream",
        ExpectedStreamVersionKind.Exactly => $"version {Version}",
        _ => "any",
    };
}

/// <summary>
/// An event to append: an id, a type name, JSON data and optional JSON metadata. Validated when it
/// is created. Keep the instance (or its <see cref="Id"/>) to retry an append idempotently.
/// </summary>
/// <seealso href="../../docs/streams-and-changes.md#streams"/>
public sealed class EventData
{
    private EventData(Guid id, string type, ReadOnlyMemory<byte> data, ReadOnlyMemory<byte> metadata)
    {
        Id = id;
        Type = type;
        Data = data;
        Metadata = metadata;
    }

    /// <summary>The event's id: a retry with the same ids at the same position is recognized and not written twice.</summary>
    public Guid Id { get; }

    /// <summary>The event's type name (letters, digits, '_', '-', '.', starting with a letter, at most <see cref="StoreLimits.MaxNameLength"/> characters).</summary>
    public string Type { get; }

    /// <summary>The UTF-8 JSON data, without surrounding white space.</summary>
    public ReadOnlyMemory<byte> Data { get; }

    /// <summary>The UTF-8 JSON metadata, or empty when there is none.</summary>
    public ReadOnlyMemory<byte> Metadata { get; }

    /// <summary>Creates an event from UTF-8 JSON.</summary>
    /// <param name="type">The event's type name.</param>
    /// <param name="utf8Json">The data: one JSON value in UTF-8.</param>
    /// <param name="metadata">Optional metadata: one JSON value in UTF-8, or empty for none.</param>
    /// <param name="id">The event id; a new version 7 GUID when <see langword="null"/>. <see cref="Guid.Empty"/> is rejected.</param>
    /// <returns>The event.</returns>
    /// <exception cref="ArgumentException">The type name, the JSON or the id is not valid, or data and metadata together pass <see cref="StoreLimits.MaxValueBytes"/>.</exception>
    public static EventData Create(string type, ReadOnlyMemory<byte> utf8Json, ReadOnlyMemory<byte> metadata = default, Guid? id = null)
    {
        Identifiers.ValidateName(type, nameof(type));
        if (id == Guid.Empty)
        {
            throw new ArgumentException(ErrorMessages.EmptyEventId, nameof(id));
        }

        var data = JsonValidation.Validate(utf8Json, nameof(utf8Json));
        var meta = metadata.IsEmpty ? ReadOnlyMemory<byte>.Empty : JsonValidation.Validate(metadata, nameof(metadata));
        if (data.Length + meta.Length > StoreLimits.MaxValueBytes)
        {
            throw new ArgumentException(ErrorMessages.ValueTooLarge(data.Length + meta.Length), nameof(metadata));
        }

        return new(id ?? Guid.CreateVersion7(), type, data, meta);
    }

    /// <summary>Creates an event from JSON text.</summary>
    /// <param name="type">The event's type name.</param>
    /// <param name="json">The data: one JSON value.</param>
    /// <param name="metadataJson">Optional metadata: one JSON value, or <see langword="null"/>.</param>
    /// <param name="id">The event id; a new version 7 GUID when <see langword="null"/>.</param>
    /// <returns>The event.</returns>
    /// <exception cref="ArgumentException">The type name, the JSON or the id is not valid.</exception>
    public static EventData Create(string type, string json, string? metadataJson = null, Guid? id = null)
    {
        ArgumentNullException.ThrowIfNull(json);
        return Create(
            type,
            JsonValidation.EncodeText(json, nameof(json)),
            metadataJson is null ? ReadOnlyMemory<byte>.Empty : JsonValidation.EncodeText(metadataJson, nameof(metadataJson)),
            id);
    }

    /// <summary>Creates an event from a typed value with source-generated metadata.</summary>
    /// <typeparam name="T">The data type.</typeparam>
    /// <param name="type">The event's type name.</param>
    /// <param name="value">The data.</param>
    /// <param name="typeInfo">The type's metadata from a <c>JsonSerializerContext</c>.</param>
    /// <param name="id">The event id; a new version 7 GUID when <see langword="null"/>.</param>
    /// <returns>The event.</returns>
    /// <exception cref="ArgumentException">The type name or the id is not valid, or the value is too large.</exception>
    public static EventData Create<T>(string type, T value, JsonTypeInfo<T> typeInfo, Guid? id = null)
    {
        ArgumentNullException.ThrowIfNull(typeInfo);
        return Create(type, JsonSerializer.SerializeToUtf8Bytes(value, typeInfo), ReadOnlyMemory<byte>.Empty, id);
    }
}

/// <summary>An event as stored in a stream: what was appended plus its stream version, revision and commit time.</summary>
/// <seealso href="../../docs/streams-and-changes.md#streams"/>
public sealed class StoredEvent
{
    /// <summary>Creates an event. Backends call this; applications receive it.</summary>
    /// <param name="partition">The partition key.</param>
    /// <param name="stream">The stream id.</param>
    /// <param name="version">The event's position in its stream, from 1.</param>
    /// <param name="revision">The partition revision of the commit that appended it.</param>
    /// <param name="id">The event id.</param>
    /// <param name="type">The event's type name.</param>
    /// <param name="data">The UTF-8 JSON data.</param>
    /// <param name="metadata">The UTF-8 JSON metadata, or empty.</param>
    /// <param name="committedAt">When it was committed (UTC, milliseconds).</param>
    public StoredEvent(string partition, string stream, long version, long revision, Guid id, string type, ReadOnlyMemory<byte> data, ReadOnlyMemory<byte> metadata, DateTimeOffset committedAt)
    {
        Partition = partition;
        Stream = stream;
        Version = version;
        Revision = revision;
        Id = id;
        Type = type;
        Data = data;
        Metadata = metadata;
        CommittedAt = committedAt;
    }

    /// <summary>The partition key.</summary>
    public string Partition { get; }

    /// <summary>The stream id.</summary>
    public string Stream { get; }

    /// <summary>The event's position in its stream: 1 for the first event, without gaps.</summary>
    public long Version { get; }

    /// <summary>The partition revision of the commit that appended the event (shared with the documents that commit wrote).</summary>
    public long Revision { get; }

    /// <summary>The event id.</summary>
    public Guid Id { get; }

    /// <summary>The event's type name.</summary>
    public string Type { get; }

    /// <summary>The UTF-8 JSON data, byte for byte as appended.</summary>
    public ReadOnlyMemory<byte> Data { get; }

    /// <summary>The UTF-8 JSON metadata, or empty when the event has none.</summary>
    public ReadOnlyMemory<byte> Metadata { get; }

    /// <summary>When the event was committed (UTC, millisecond precision).</summary>
    public DateTimeOffset CommittedAt { get; }

    /// <summary>The data as JSON text.</summary>
    /// <returns>The UTF-8 data decoded to a string.</returns>
    public string GetJsonText() => Encoding.UTF8.GetString(Data.Span);

    /// <summary>Deserializes the data with source-generated metadata.</summary>
    /// <typeparam name="T">The data type.</typeparam>
    /// <param name="typeInfo">The type's metadata from a <c>JsonSerializerContext</c>.</param>
    /// <returns>The data.</returns>
    /// <exception cref="JsonException">The data does not fit <typeparamref name="T"/>.</exception>
    public T? Deserialize<T>(JsonTypeInfo<T> typeInfo)
    {
        ArgumentNullException.ThrowIfNull(typeInfo);
        return JsonSerializer.Deserialize(Data.Span, typeInfo);
    }
}

/// <summary>Where a stream read starts, in which direction, and how many events it returns.</summary>
public sealed record ReadStreamOptions
{
    /// <summary>
    /// The first version to return (inclusive, at least 1); <see langword="null"/> for the first
    /// event when reading forwards, the last when reading backwards.
    /// </summary>
    public long? FromVersion { get; init; }

    /// <summary>Whether to read from <see cref="FromVersion"/> down towards version 1.</summary>
    public bool Backwards { get; init; }

    /// <summary>The most events one read returns: 1 to <see cref="StoreLimits.MaxPageSize"/>.</summary>
    public int Limit { get; init; } = StoreLimits.DefaultPageSize;
}

/// <summary>Events read from a stream.</summary>
/// <param name="Items">The events, in the order read.</param>
/// <param name="StreamVersion">The stream's last version when it was read; 0 when the stream does not exist.</param>
/// <param name="NextVersion">The <see cref="ReadStreamOptions.FromVersion"/> that continues the read, or <see langword="null"/> when it reached the end (the last event forwards, version 1 backwards).</param>
public sealed record EventPage(IReadOnlyList<StoredEvent> Items, long StreamVersion, long? NextVersion);

/// <summary>A stream of a partition and its current version.</summary>
/// <param name="Stream">The stream id.</param>
/// <param name="Version">The version of its last event.</param>
public sealed record StreamInfo(string Stream, long Version);

/// <summary>One page of a stream listing, in code-point order of the stream ids.</summary>
/// <param name="Items">The streams of this page.</param>
/// <param name="ContinuationToken">The token for the next page, or <see langword="null"/> when this is the last.</param>
public sealed record StreamPage(IReadOnlyList<StreamInfo> Items, string? ContinuationToken);
