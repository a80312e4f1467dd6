using System.Buffers;
using System.Globalization;
using System.Runtime.InteropServices;
using System.Security.Cryptography;
using System.Text;
using System.Text.Encodings.Web;
using System.Text.Json;
using Storage.Internal;

namespace Storage.Json;

/// <summary>
/// The on-disk form of one partition: an indented JSON object that any editor can read, whose
/// second member is the SHA-256 of every other byte of the file. Any flipped byte or truncation is
/// caught, so a damaged file is reported as corrupt and never read as a wrong value.
/// </summary>
/// <remarks>
/// <code>
/// {
///   "format": 1,
///   "checksum": "&lt;64 hex: SHA-256 of the file without these 64 characters&gt;",
///   "partition": "Alice",
///   "revision": 17,
///   "sequences": { "next_id": 4 },
///   "collections": {
///     "moods": {
///       "2026-11-23": { "version": 17, "created": "…Z", "updated": "…Z", "expires": null, "value": {…} }
///     }
///   }
/// }
/// </code>
/// </remarks>
internal static class PartitionFile
{
    public const int FormatVersion = 1;

    private const string TimestampFormat = "yyyy-MM-dd'T'HH:mm:ss.fff'Z'";
    private const int ChecksumHexLength = 64;

    // Indented output puts the checksum at a fixed offset, right after this prefix.
    private static readonly byte[] s_prefix = Encoding.UTF8.GetBytes("{\n  \"format\": 1,\n  \"checksum\": \"");
    private static readonly JsonWriterOptions s_writerOptions = new()
    {
        Indented = true,
        IndentSize = 2,
        NewLine = "\n",
        Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping,
        SkipValidation = false,
    };

    public static byte[] Serialize(PartitionSnapshot partition)
    {
        var buffer = new ArrayBufferWriter<byte>(4096);
        using (var writer = new Utf8JsonWriter(buffer, s_writerOptions))
        {
            writer.WriteStartObject();
            writer.WriteNumber("format", FormatVersion);
            writer.WriteString("checksum", new string('0', ChecksumHexLength));
            writer.WriteString("partition", partition.Partition);
            writer.WriteNumber("revision", partition.Revision);
            writer.WriteStartObject("sequences");
            foreach (var (name, value) in partition.Sequences.OrderBy(static s => s.Key, StringComparer.Ordinal))
            {
                writer.WriteNumber(name, value);
            }

            writer.WriteEndObject();
            writer.WriteStartObject("collections");
            foreach (var (name, documents) in partition.Collections.OrderBy(static c => c.Key, StringComparer.Ordinal))
            {
                if (documents.Length == 0)
                {
                    continue;
                }

                writer.WriteStartObject(name);
                foreach (var document in documents)
                {
                    writer.WriteStartObject(document.Key);
                    writer.WriteNumber("version", document.Version);
                    writer.WriteString("created", Format(document.CreatedAt));
                    writer.WriteString("updated", Format(document.UpdatedAt));
                    if (document.ExpiresAt is { } expires)
                    {
                        writer.WriteString("expires", Format(expires));
                    }
                    else
                    {
                        writer.WriteNull("expires");
                    }

                    writer.WritePropertyName("value");
                    writer.WriteRawValue(document.Value, skipInputValidation: true);
                    writer.WriteEndObject();
                }

                writer.WriteEndObject();
            }

            writer.WriteEndObject();
            writer.WriteEndObject();
        }

        var bytes = buffer.WrittenSpan.ToArray();
        if (!bytes.AsSpan().StartsWith(s_prefix))
        {
            throw new InvalidOperationException("The partition writer did not produce the expected header.");
        }

        Span<byte> hash = stackalloc byte[SHA256.HashSizeInBytes];
        ComputeChecksum(bytes, hash);
        var hex = Encoding.ASCII.GetBytes(Convert.ToHexStringLower(hash));
        hex.CopyTo(bytes.AsSpan(s_prefix.Length));
        return bytes;
    }

    /// <summary>Verifies and parses a partition file.</summary>
    /// <param name="bytes">The file's content.</param>
    /// <param name="path">The file's path, for errors.</param>
    /// <param name="expectedPartition">The key the file name stands for, or <see langword="null"/> for a hashed name whose key is read from the file.</param>
    /// <returns>The partition.</returns>
    /// <exception cref="CorruptDataException">The file fails any check.</exception>
    /// <exception cref="UnsupportedFormatException">The file has a newer format version.</exception>
    public static PartitionSnapshot Parse(byte[] bytes, string path, string? expectedPartition)
    {
        if (!bytes.AsSpan().StartsWith(s_prefix))
        {
            ThrowIfNewerFormat(bytes, path);
            throw Corrupt(path, "the file does not start with the partition-file header");
        }

        if (bytes.Length < s_prefix.Length + ChecksumHexLength)
        {
            throw Corrupt(path, "the file is truncated");
        }

        Span<byte> stored = stackalloc byte[SHA256.HashSizeInBytes];
        if (Convert.FromHexString(bytes.AsSpan(s_prefix.Length, ChecksumHexLength), stored, out _, out var written) != OperationStatus.Done
            || written != stored.Length
            || !IsLowerHex(bytes.AsSpan(s_prefix.Length, ChecksumHexLength)))
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
            return Read(document.RootElement, path, expectedPartition);
        }
        catch (JsonException e)
        {
            throw Corrupt(path, "the file is not valid JSON: " + e.Message, e);
        }
    }

    private static PartitionSnapshot Read(JsonElement root, string path, string? expectedPartition)
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

        var sequences = new Dictionary<string, long>(StringComparer.Ordinal);
        foreach (var sequence in RequireObject(root, "sequences", path).EnumerateObject())
        {
            if (!Identifiers.IsValidName(sequence.Name) || sequence.Value.ValueKind != JsonValueKind.Number || !sequence.Value.TryGetInt64(out var value) || value < 0
                || !sequences.TryAdd(sequence.Name, value))
            {
                throw Corrupt(path, $"sequence '{sequence.Name}' is not valid");
            }
        }

        var collections = new Dictionary<string, DocumentRecord[]>(StringComparer.Ordinal);
        foreach (var collection in RequireObject(root, "collections", path).EnumerateObject())
        {
            if (!Identifiers.IsValidName(collection.Name) || collection.Value.ValueKind != JsonValueKind.Object)
            {
                throw Corrupt(path, $"collection '{collection.Name}' is not valid");
            }

            var documents = new List<DocumentRecord>();
            foreach (var entry in collection.Value.EnumerateObject())
            {
                documents.Add(ReadDocument(entry, revision, path, collection.Name));
            }

            var sorted = documents.ToArray();
            Array.Sort(sorted, static (a, b) => StorageKeyComparer.Instance.Compare(a.Key, b.Key));
            for (var i = 1; i < sorted.Length; i++)
            {
                if (string.Equals(sorted[i - 1].Key, sorted[i].Key, StringComparison.Ordinal))
                {
                    throw Corrupt(path, $"document '{sorted[i].Key}' of collection '{collection.Name}' appears twice");
                }
            }

            if (!collections.TryAdd(collection.Name, sorted))
            {
                throw Corrupt(path, $"collection '{collection.Name}' appears twice");
            }
        }

        return new PartitionSnapshot(partition, revision, exists: true, collections, sequences);
    }

    private static DocumentRecord ReadDocument(JsonProperty entry, long revision, string path, string collection)
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

        return new DocumentRecord(key, JsonMarshal.GetRawUtf8Value(value).ToArray(), version, created, updated, expires);
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
        // A future format may change the header; its format number is still the first member.
        try
        {
            var reader = new Utf8JsonReader(bytes);
            if (reader.Read() && reader.TokenType == JsonTokenType.StartObject && reader.Read()
                && reader.TokenType == JsonTokenType.PropertyName && reader.ValueTextEquals("format"u8)
                && reader.Read() && reader.TryGetInt64(out var format) && format > FormatVersion)
            {
                throw new UnsupportedFormatException(path, format, FormatVersion);
            }
        }
        catch (JsonException)
        {
        }
    }

    private static bool IsLowerHex(ReadOnlySpan<byte> hex)
    {
        foreach (var b in hex)
        {
            if (b is not ((>= (byte)'0' and <= (byte)'9') or (>= (byte)'a' and <= (byte)'f')))
            {
                return false;
            }
        }

        return true;
    }

    private static string Format(DateTimeOffset value) => value.UtcDateTime.ToString(TimestampFormat, CultureInfo.InvariantCulture);

    private static JsonElement RequireObject(JsonElement parent, string name, string path)
        => parent.TryGetProperty(name, out var value) && value.ValueKind == JsonValueKind.Object ? value : throw Corrupt(path, $"'{name}' is missing or not an object");

    private static string RequireString(JsonElement parent, string name, string path)
        => parent.TryGetProperty(name, out var value) && value.ValueKind == JsonValueKind.String ? value.GetString()! : throw Corrupt(path, $"'{name}' is missing or not a string");

    private static long RequireInt64(JsonElement parent, string name, string path)
        => parent.TryGetProperty(name, out var value) && value.ValueKind == JsonValueKind.Number && value.TryGetInt64(out var number) ? number : throw Corrupt(path, $"'{name}' is missing or not an integer");

    private static DateTimeOffset RequireTimestamp(JsonElement parent, string name, string path)
        => DateTimeOffset.TryParseExact(RequireString(parent, name, path), TimestampFormat, CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal | DateTimeStyles.AdjustToUniversal, out var value)
            ? value
            : throw Corrupt(path, $"'{name}' is not a UTC timestamp ({TimestampFormat})");

    private static CorruptDataException Corrupt(string path, string reason, Exception? inner = null) => new(path, reason, inner);
}
