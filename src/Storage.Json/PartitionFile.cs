using System.Buffers;
using System.Collections.Frozen;
using System.Globalization;
using System.Runtime.InteropServices;
using System.Security.Cryptography;
using System.Text;
using System.Text.Encodings.Web;
using System.Text.Json;
using Storage.Internal;
using Storage.Json.Internal;

namespace Storage.Json;

/// <summary>
/// The on-disk form of one partition: an indented JSON object that any editor can read, whose
/// second member is the SHA-256 of every other byte of the file. Any flipped byte or truncation is
/// caught, so a damaged file is reported as corrupt and never read as a wrong value.
/// </summary>
/// <remarks>
/// Format 2 (written since issue 7) adds the streams, the tombstones of the change feed, the
/// revision of each sequence's last increment and the oldest revision a change-feed reader can
/// resume after. Format 1 files are still read (see <see cref="Parse"/>) and written as format 2 on
/// the partition's next commit.
/// <code>
/// {
///   "format": 2,
///   "checksum": "&lt;64 hex: SHA-256 of the file without these 64 characters&gt;",
///   "partition": "Alice",
///   "revision": 17,
///   "oldestResumable": 1,
///   "sequences": { "next_id": { "value": 4, "revision": 9 } },
///   "collections": {
///     "moods": {
///       "2026-11-23": { "version": 17, "created": "…Z", "updated": "…Z", "expires": null, "value": {…} }
///     }
///   },
///   "tombstones": { "moods": { "2026-11-20": { "revision": 12, "deleted": "…Z" } } },
///   "streams": {
///     "audit": [
///       { "version": 1, "revision": 3, "id": "…", "type": "login", "committed": "…Z", "data": {…}, "metadata": {…} }
///     ]
///   }
/// }
/// </code>
/// </remarks>
internal static class PartitionFile
{
    /// <summary>The format this version writes.</summary>
    public const int FormatVersion = 2;

    /// <summary>The first format: documents and sequence values only.</summary>
    public const int Format1 = 1;

    private const string TimestampFormat = "yyyy-MM-dd'T'HH:mm:ss.fff'Z'";
    private const int ChecksumHexLength = 64;
    private const int TimestampLength = 24;
    private static readonly byte[] s_checksumPlaceholder = [.. Enumerable.Repeat((byte)'0', ChecksumHexLength)];

    // Indented output puts the checksum at a fixed offset, right after the prefix of its format.
    private static readonly byte[] s_prefix = Prefix(FormatVersion);
    private static readonly byte[] s_format1Prefix = Prefix(Format1);
    private static readonly JsonWriterOptions s_writerOptions = new()
    {
        Indented = true,
        IndentSize = 2,
        NewLine = "\n",
        Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping,
        SkipValidation = false,
    };

    private static readonly IComparer<DocumentRecord> s_documentOrder = Comparer<DocumentRecord>.Create(static (a, b) => StorageKeyComparer.Instance.Compare(a!.Key, b!.Key));
    private static readonly IComparer<StreamRecord> s_streamOrder = Comparer<StreamRecord>.Create(static (a, b) => StorageKeyComparer.Instance.Compare(a!.Name, b!.Name));

    /// <summary>The options every partition file is written with (also by <see cref="DocumentEntryWriter"/>).</summary>
    internal static JsonWriterOptions WriterOptions => s_writerOptions;

    /// <summary>
    /// Writes the partition's file into <paramref name="output"/>, its checksum filled in. The
    /// documents' entries are copied as their records hold them (<see cref="DocumentRecord.Entry"/>),
    /// so only the documents a commit changed were ever rendered; the bytes are those of a
    /// serialization of every document from scratch.
    /// </summary>
    /// <param name="partition">The partition.</param>
    /// <param name="output">An empty buffer; the file is its written bytes.</param>
    public static void Serialize(PartitionSnapshot partition, PooledBufferWriter output)
    {
        using (var writer = new Utf8JsonWriter(output, s_writerOptions))
        {
            writer.WriteStartObject();
            writer.WriteNumber("format"u8, FormatVersion);
            writer.WriteString("checksum"u8, s_checksumPlaceholder);
            writer.WriteString("partition"u8, partition.Partition);
            writer.WriteNumber("revision"u8, partition.Revision);
            writer.WriteNumber("oldestResumable"u8, partition.OldestResumable);
            writer.WriteStartObject("sequences"u8);
            foreach (var (name, sequence) in partition.Sequences.OrderBy(static s => s.Key, StringComparer.Ordinal))
            {
                writer.WriteStartObject(name);
                writer.WriteNumber("value"u8, sequence.Value);
                writer.WriteNumber("revision"u8, sequence.Revision);
                writer.WriteEndObject();
            }

            writer.WriteEndObject();
            writer.WriteStartObject("collections"u8);
            foreach (var (name, documents) in partition.Collections.OrderBy(static c => c.Key, StringComparer.Ordinal))
            {
                if (documents.Length == 0)
                {
                    continue;
                }

                writer.WritePropertyName(name);
                WriteCollection(writer, documents);
            }

            writer.WriteEndObject();
            writer.WriteStartObject("tombstones"u8);
            string? collection = null;
            foreach (var tombstone in partition.Tombstones)
            {
                if (!string.Equals(collection, tombstone.Collection, StringComparison.Ordinal))
                {
                    if (collection is not null)
                    {
                        writer.WriteEndObject();
                    }

                    collection = tombstone.Collection;
                    writer.WriteStartObject(collection);
                }

                writer.WriteStartObject(tombstone.Key);
                writer.WriteNumber("revision"u8, tombstone.Revision);
                WriteTimestamp(writer, "deleted"u8, tombstone.DeletedAt);
                writer.WriteEndObject();
            }

            if (collection is not null)
            {
                writer.WriteEndObject();
            }

            writer.WriteEndObject();
            writer.WriteStartObject("streams"u8);
            foreach (var stream in partition.Streams)
            {
                writer.WriteStartArray(stream.Name);
                foreach (var e in stream.Events)
                {
                    writer.WriteStartObject();
                    writer.WriteNumber("version"u8, e.Version);
                    writer.WriteNumber("revision"u8, e.Revision);
                    writer.WriteString("id"u8, e.Id);
                    writer.WriteString("type"u8, e.Type);
                    WriteTimestamp(writer, "committed"u8, e.CommittedAt);
                    writer.WritePropertyName("data"u8);
                    writer.WriteRawValue(e.Data.Span, skipInputValidation: true);
                    if (!e.Metadata.IsEmpty)
                    {
                        // Absent when the event has none, so that metadata "null" stays distinct from none.
                        writer.WritePropertyName("metadata"u8);
                        writer.WriteRawValue(e.Metadata.Span, skipInputValidation: true);
                    }

                    writer.WriteEndObject();
                }

                writer.WriteEndArray();
            }

            writer.WriteEndObject();
            writer.WriteEndObject();
        }

        var bytes = output.WrittenSpan;
        if (!bytes.StartsWith(s_prefix))
        {
            throw new InvalidOperationException("The partition writer did not produce the expected header.");
        }

        Span<byte> hash = stackalloc byte[SHA256.HashSizeInBytes];
        ComputeChecksum(bytes, hash);
        if (!Convert.TryToHexStringLower(hash, bytes.Slice(s_prefix.Length, ChecksumHexLength), out var hexLength) || hexLength != ChecksumHexLength)
        {
            throw new InvalidOperationException("The checksum did not fit its place.");
        }
    }

    /// <summary>
    /// Writes a collection's object as the writer would, document by document: each entry as its
    /// record holds it, joined as <see cref="DocumentEntryWriter"/> says the writer joins them.
    /// </summary>
    private static void WriteCollection(Utf8JsonWriter writer, DocumentRecord[] documents)
    {
        var length = 1 + DocumentEntryWriter.CollectionEnd.Length;
        foreach (var document in documents)
        {
            length += DocumentEntryWriter.Separator.Length + document.Entry.Length;
        }

        var text = ArrayPool<byte>.Shared.Rent(length);
        try
        {
            var written = 0;
            text[written++] = (byte)'{';
            for (var i = 0; i < documents.Length; i++)
            {
                var separator = i == 0 ? DocumentEntryWriter.Indent : DocumentEntryWriter.Separator;
                separator.CopyTo(text.AsSpan(written));
                written += separator.Length;
                documents[i].Entry.CopyTo(text.AsSpan(written));
                written += documents[i].Entry.Length;
            }

            DocumentEntryWriter.CollectionEnd.CopyTo(text.AsSpan(written));
            written += DocumentEntryWriter.CollectionEnd.Length;
            writer.WriteRawValue(text.AsSpan(0, written), skipInputValidation: true);
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(text);
        }
    }

    /// <summary>Writes a timestamp member in the file's format (UTC, milliseconds), without making a string.</summary>
    internal static void WriteTimestamp(Utf8JsonWriter writer, ReadOnlySpan<byte> name, DateTimeOffset value)
    {
        Span<byte> text = stackalloc byte[TimestampLength];
        if (!value.UtcDateTime.TryFormat(text, out var length, TimestampFormat, CultureInfo.InvariantCulture) || length != TimestampLength)
        {
            throw new InvalidOperationException("A timestamp did not format to " + TimestampLength.ToString(CultureInfo.InvariantCulture) + " characters.");
        }

        writer.WriteString(name, text);
    }

    /// <summary>
    /// Verifies and parses a partition file of format 2, or of format 1: a format-1 partition has
    /// no streams or tombstones, and nothing tells which revision its sequences last changed at or
    /// what came before its current revision — so each sequence is taken to have changed at the
    /// current revision, and the current revision is the oldest a change-feed reader can resume
    /// after (older readers start over; readers from 0 read everything there is).
    /// </summary>
    /// <param name="bytes">The file's content.</param>
    /// <param name="path">The file's path, for errors.</param>
    /// <param name="expectedPartition">The key the file name stands for, or <see langword="null"/> for a hashed name whose key is read from the file.</param>
    /// <returns>The partition.</returns>
    /// <exception cref="CorruptDataException">The file fails any check.</exception>
    /// <exception cref="UnsupportedFormatException">The file has a newer format version.</exception>
    public static PartitionSnapshot Parse(byte[] bytes, string path, string? expectedPartition)
    {
        int format;
        if (bytes.AsSpan().StartsWith(s_prefix))
        {
            format = FormatVersion;
        }
        else if (bytes.AsSpan().StartsWith(s_format1Prefix))
        {
            format = Format1;
        }
        else
        {
            ThrowIfNewerFormat(bytes, path);
            throw Corrupt(path, "the file does not start with the partition-file header");
        }

        if (bytes.Length < s_prefix.Length + ChecksumHexLength)
        {
            throw Corrupt(path, "the file is truncated");
        }

        var hex = bytes.AsSpan(s_prefix.Length, ChecksumHexLength);
        Span<byte> stored = stackalloc byte[SHA256.HashSizeInBytes];
        if (hex.IndexOfAnyExcept("0123456789abcdef"u8) >= 0 || Convert.FromHexString(hex, stored, out _, out _) != OperationStatus.Done)
        {
            throw Corrupt(path, "the checksum is not 64 lowercase hexadecimal digits");
        }

        Span<byte> actual = stackalloc byte[SHA256.HashSizeInBytes];
        ComputeChecksum(bytes, actual);
        if (!actual.SequenceEqual(stored))
        {
            throw Corrupt(path, "the checksum does not match the content (the file was changed or damaged)");
        }

        try
        {
            using var document = JsonDocument.Parse(bytes, new JsonDocumentOptions { AllowTrailingCommas = false, CommentHandling = JsonCommentHandling.Disallow, MaxDepth = 80 });
            return Read(document.RootElement, format, path, expectedPartition);
        }
        catch (JsonException e)
        {
            throw Corrupt(path, "the file is not valid JSON: " + e.Message, e);
        }
    }

    private static PartitionSnapshot Read(JsonElement root, int format, string path, string? expectedPartition)
    {
        var partition = RequireString(root, "partition", path);
        if (!Identifiers.IsValidPartitionKey(partition))
        {
            throw Corrupt(path, "the partition key inside the file is not a valid key");
        }

        if (expectedPartition is not null && !string.Equals(partition, expectedPartition, StringComparison.Ordinal))
        {
            throw Corrupt(path, "the partition key inside the file does not match the file name");
        }

        var revision = RequireInt64(root, "revision", path);
        if (revision < 1)
        {
            throw Corrupt(path, "the revision is not positive");
        }

        var oldestResumable = revision;
        if (format >= 2)
        {
            oldestResumable = RequireInt64(root, "oldestResumable", path);
            if (oldestResumable < 1 || oldestResumable > revision)
            {
                throw Corrupt(path, "the oldest resumable revision is outside 1.." + revision.ToString(CultureInfo.InvariantCulture));
            }
        }

        var sequences = ReadSequences(root, format, revision, path);
        var collections = new Dictionary<string, DocumentRecord[]>(StringComparer.Ordinal);
        using var entries = new DocumentEntryWriter();
        foreach (var collection in RequireObject(root, "collections", path).EnumerateObject())
        {
            if (!Identifiers.IsValidName(collection.Name) || collection.Value.ValueKind != JsonValueKind.Object)
            {
                throw Corrupt(path, $"collection '{collection.Name}' is not valid");
            }

            var documents = new List<DocumentRecord>();
            foreach (var entry in collection.Value.EnumerateObject())
            {
                documents.Add(ReadDocument(entries, entry, revision, path, collection.Name));
            }

            var sorted = SortedOnce(documents, s_documentOrder, d => $"document '{d.Key}' of collection '{collection.Name}'", path);
            if (!collections.TryAdd(collection.Name, sorted))
            {
                throw Corrupt(path, $"collection '{collection.Name}' appears twice");
            }
        }

        var snapshot = new PartitionSnapshot(partition, revision, exists: true, oldestResumable, collections.ToFrozenDictionary(StringComparer.Ordinal), sequences, [], []);
        if (format < 2)
        {
            return snapshot;
        }

        var tombstones = ReadTombstones(RequireObject(root, "tombstones", path), snapshot, path);
        var streams = ReadStreams(RequireObject(root, "streams", path), partition, revision, path);
        return new PartitionSnapshot(partition, revision, exists: true, oldestResumable, snapshot.Collections, sequences, tombstones, streams);
    }

    private static FrozenDictionary<string, SequenceRecord> ReadSequences(JsonElement root, int format, long revision, string path)
    {
        var sequences = new Dictionary<string, SequenceRecord>(StringComparer.Ordinal);
        foreach (var sequence in RequireObject(root, "sequences", path).EnumerateObject())
        {
            var where = $"sequence '{sequence.Name}'";
            long value;
            var changedAt = revision;
            if (format < 2)
            {
                if (sequence.Value.ValueKind != JsonValueKind.Number || !sequence.Value.TryGetInt64(out value))
                {
                    throw Corrupt(path, where + " is not valid");
                }
            }
            else if (sequence.Value.ValueKind == JsonValueKind.Object)
            {
                value = RequireInt64(sequence.Value, "value", path);
                changedAt = RequireInt64(sequence.Value, "revision", path);
            }
            else
            {
                throw Corrupt(path, where + " is not an object");
            }

            if (!Identifiers.IsValidName(sequence.Name) || value < 0 || changedAt < 1 || changedAt > revision || !sequences.TryAdd(sequence.Name, new SequenceRecord(value, changedAt)))
            {
                throw Corrupt(path, where + " is not valid");
            }
        }

        return sequences.ToFrozenDictionary(StringComparer.Ordinal);
    }

    private static TombstoneRecord[] ReadTombstones(JsonElement tombstones, PartitionSnapshot partition, string path)
    {
        var records = new List<TombstoneRecord>();
        var collections = new HashSet<string>(StringComparer.Ordinal);
        foreach (var collection in tombstones.EnumerateObject())
        {
            if (!Identifiers.IsValidName(collection.Name) || collection.Value.ValueKind != JsonValueKind.Object || !collections.Add(collection.Name))
            {
                throw Corrupt(path, $"the tombstones of collection '{collection.Name}' are not valid");
            }

            foreach (var entry in collection.Value.EnumerateObject())
            {
                var where = $"the tombstone of document '{entry.Name}' of collection '{collection.Name}'";
                if (!Identifiers.IsValidDocumentKey(entry.Name) || entry.Value.ValueKind != JsonValueKind.Object)
                {
                    throw Corrupt(path, where + " is not valid");
                }

                var revision = RequireInt64(entry.Value, "revision", path);
                if (revision < 1 || revision > partition.Revision)
                {
                    throw Corrupt(path, where + " has a revision outside 1.." + partition.Revision.ToString(CultureInfo.InvariantCulture));
                }

                if (partition.Find(collection.Name, entry.Name) is not null)
                {
                    throw Corrupt(path, where + " stands beside the document itself");
                }

                records.Add(new TombstoneRecord(collection.Name, entry.Name, revision, RequireTimestamp(entry.Value, "deleted", path)));
            }
        }

        return SortedOnce(records, PartitionSnapshot.TombstoneOrder, t => $"the tombstone of document '{t.Key}' of collection '{t.Collection}'", path);
    }

    private static StreamRecord[] ReadStreams(JsonElement streams, string partition, long revision, string path)
    {
        var records = new List<StreamRecord>();
        foreach (var stream in streams.EnumerateObject())
        {
            var name = stream.Name;
            if (!Identifiers.IsValidDocumentKey(name) || stream.Value.ValueKind != JsonValueKind.Array || stream.Value.GetArrayLength() == 0)
            {
                throw Corrupt(path, $"stream '{name}' is not valid (a non-empty array of events)");
            }

            var events = new StoredEvent[stream.Value.GetArrayLength()];
            var index = 0;
            long previousRevision = 1;
            foreach (var body in stream.Value.EnumerateArray())
            {
                var where = $"event {index + 1} of stream '{name}'";
                if (body.ValueKind != JsonValueKind.Object)
                {
                    throw Corrupt(path, where + " is not an object");
                }

                if (RequireInt64(body, "version", path) != index + 1)
                {
                    throw Corrupt(path, where + " does not have version " + (index + 1).ToString(CultureInfo.InvariantCulture) + " (versions start at 1 and have no gaps)");
                }

                var eventRevision = RequireInt64(body, "revision", path);
                if (eventRevision < previousRevision || eventRevision > revision)
                {
                    throw Corrupt(path, where + " has a revision outside " + previousRevision.ToString(CultureInfo.InvariantCulture) + ".." + revision.ToString(CultureInfo.InvariantCulture));
                }

                if (!Guid.TryParseExact(RequireString(body, "id", path), "D", out var id) || id == Guid.Empty)
                {
                    throw Corrupt(path, where + " has no valid id");
                }

                var type = RequireString(body, "type", path);
                if (!Identifiers.IsValidName(type))
                {
                    throw Corrupt(path, where + " has no valid type");
                }

                var committed = RequireTimestamp(body, "committed", path);
                if (!body.TryGetProperty("data", out var data))
                {
                    throw Corrupt(path, where + " has no data");
                }

                var metadata = body.TryGetProperty("metadata", out var m) ? JsonMarshal.GetRawUtf8Value(m).ToArray() : ReadOnlyMemory<byte>.Empty;
                events[index] = new StoredEvent(partition, name, index + 1, eventRevision, id, type, JsonMarshal.GetRawUtf8Value(data).ToArray(), metadata, committed);
                previousRevision = eventRevision;
                index++;
            }

            records.Add(new StreamRecord(name, events));
        }

        return SortedOnce(records, s_streamOrder, s => $"stream '{s.Name}'", path);
    }

    /// <summary>The items sorted; two that compare equal (a name the file holds twice) fail the file.</summary>
    private static T[] SortedOnce<T>(List<T> items, IComparer<T> order, Func<T, string> what, string path)
    {
        var sorted = items.ToArray();
        Array.Sort(sorted, order);
        for (var i = 1; i < sorted.Length; i++)
        {
            if (order.Compare(sorted[i - 1], sorted[i]) == 0)
            {
                throw Corrupt(path, what(sorted[i]) + " appears twice");
            }
        }

        return sorted;
    }

    private static DocumentRecord ReadDocument(DocumentEntryWriter entries, JsonProperty entry, long revision, string path, string collection)
    {
        var key = entry.Name;
        var where = $"document '{key}' of collection '{collection}'";
        if (!Identifiers.IsValidDocumentKey(key) || entry.Value.ValueKind != JsonValueKind.Object)
        {
            throw Corrupt(path, where + " is not valid");
        }

        var body = entry.Value;
        var version = RequireInt64(body, "version", path);
        if (version < 1 || version > revision)
        {
            throw Corrupt(path, where + " has a version outside 1.." + revision.ToString(CultureInfo.InvariantCulture));
        }

        var created = RequireTimestamp(body, "created", path);
        var updated = RequireTimestamp(body, "updated", path);
        DateTimeOffset? expires = body.TryGetProperty("expires", out var e) && e.ValueKind == JsonValueKind.Null ? null : RequireTimestamp(body, "expires", path);
        if (!body.TryGetProperty("value", out var value))
        {
            throw Corrupt(path, where + " has no value");
        }

        return entries.Create(key, JsonMarshal.GetRawUtf8Value(value), version, created, updated, expires);
    }

    private static void ComputeChecksum(ReadOnlySpan<byte> file, Span<byte> destination)
    {
        using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        hash.AppendData(file[..s_prefix.Length]);
        hash.AppendData(file[(s_prefix.Length + ChecksumHexLength)..]);
        hash.GetHashAndReset(destination);
    }

    private static void ThrowIfNewerFormat(byte[] bytes, string path)
    {
        // A future format may change the header; its format number is still the first member. Anything
        // else there (damage) is left to the caller's CorruptDataException.
        try
        {
            var reader = new Utf8JsonReader(bytes);
            if (reader.Read() && reader.TokenType == JsonTokenType.StartObject && reader.Read()
                && reader.TokenType == JsonTokenType.PropertyName && reader.ValueTextEquals("format"u8)
                && reader.Read() && reader.TokenType == JsonTokenType.Number && reader.TryGetInt64(out var format) && format > FormatVersion)
            {
                throw new UnsupportedFormatException(path, format, FormatVersion);
            }
        }
        catch (JsonException)
        {
        }
    }

    private static JsonElement RequireObject(JsonElement parent, string name, string path)
        => parent.TryGetProperty(name, out var value) && value.ValueKind == JsonValueKind.Object ? value : throw Corrupt(path, $"'{name}' is missing or not an object");

    private static string RequireString(JsonElement parent, string name, string path)
        => parent.TryGetProperty(name, out var value) && value.ValueKind == JsonValueKind.String ? value.GetString()! : throw Corrupt(path, $"'{name}' is missing or not a string");

    private static long RequireInt64(JsonElement parent, string name, string path)
        => parent.TryGetProperty(name, out var value) && value.ValueKind == JsonValueKind.Number && value.TryGetInt64(out var number) ? number : throw Corrupt(path, $"'{name}' is missing or not an integer");

    private static DateTimeOffset RequireTimestamp(JsonElement parent, string name, string path)
        => TryParseTimestamp(RequireString(parent, name, path), out var value)
            ? value
            : throw Corrupt(path, $"'{name}' is not a UTC timestamp ({TimestampFormat})");

    /// <summary>Parses a timestamp in the file's format (<see cref="WriteTimestamp"/>).</summary>
    internal static bool TryParseTimestamp(string? text, out DateTimeOffset value)
        => DateTimeOffset.TryParseExact(text, TimestampFormat, CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal | DateTimeStyles.AdjustToUniversal, out value);

    private static byte[] Prefix(int format) => Encoding.UTF8.GetBytes("{\n  \"format\": " + format.ToString(CultureInfo.InvariantCulture) + ",\n  \"checksum\": \"");

    private static CorruptDataException Corrupt(string path, string reason, Exception? inner = null) => new(path, reason, inner);
}
