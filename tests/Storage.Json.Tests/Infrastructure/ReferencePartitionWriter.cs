using System.Buffers;
using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using System.Text.Encodings.Web;
using System.Text.Json;

namespace Storage.Json.Tests.Infrastructure;

/// <summary>
/// The oracle of the partition-file format: a partition serialized from scratch, every member from
/// the records' fields through one <see cref="Utf8JsonWriter"/> — what the backend wrote before it
/// kept each document's entry (docs/json-backend.md, "A partition file"). Written apart from the
/// backend on purpose: the store's files must equal its output byte for byte.
/// </summary>
internal static class ReferencePartitionWriter
{
    private const string Timestamp = "yyyy-MM-dd'T'HH:mm:ss.fff'Z'";

    private static readonly JsonWriterOptions s_options = new()
    {
        Indented = true,
        IndentSize = 2,
        NewLine = "\n",
        Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping,
    };

    public static byte[] Serialize(PartitionSnapshot partition)
    {
        var buffer = new ArrayBufferWriter<byte>();
        using (var writer = new Utf8JsonWriter(buffer, s_options))
        {
            writer.WriteStartObject();
            writer.WriteNumber("format", 2);
            writer.WriteString("checksum", new string('0', 64));
            writer.WriteString("partition", partition.Partition);
            writer.WriteNumber("revision", partition.Revision);
            writer.WriteNumber("oldestResumable", partition.OldestResumable);
            writer.WriteStartObject("sequences");
            foreach (var (name, sequence) in partition.Sequences.OrderBy(s => s.Key, StringComparer.Ordinal))
            {
                writer.WriteStartObject(name);
                writer.WriteNumber("value", sequence.Value);
                writer.WriteNumber("revision", sequence.Revision);
                writer.WriteEndObject();
            }

            writer.WriteEndObject();
            writer.WriteStartObject("collections");
            foreach (var (name, documents) in partition.Collections.OrderBy(c => c.Key, StringComparer.Ordinal).Where(c => c.Value.Length > 0))
            {
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
                    writer.WriteRawValue(document.Value.Span, skipInputValidation: true);
                    writer.WriteEndObject();
                }

                writer.WriteEndObject();
            }

            writer.WriteEndObject();
            writer.WriteStartObject("tombstones");
            foreach (var collection in partition.Tombstones.GroupBy(t => t.Collection))
            {
                writer.WriteStartObject(collection.Key);
                foreach (var tombstone in collection)
                {
                    writer.WriteStartObject(tombstone.Key);
                    writer.WriteNumber("revision", tombstone.Revision);
                    writer.WriteString("deleted", Format(tombstone.DeletedAt));
                    writer.WriteEndObject();
                }

                writer.WriteEndObject();
            }

            writer.WriteEndObject();
            writer.WriteStartObject("streams");
            foreach (var stream in partition.Streams)
            {
                writer.WriteStartArray(stream.Name);
                foreach (var e in stream.Events)
                {
                    writer.WriteStartObject();
                    writer.WriteNumber("version", e.Version);
                    writer.WriteNumber("revision", e.Revision);
                    writer.WriteString("id", e.Id);
                    writer.WriteString("type", e.Type);
                    writer.WriteString("committed", Format(e.CommittedAt));
                    writer.WritePropertyName("data");
                    writer.WriteRawValue(e.Data.Span, skipInputValidation: true);
                    if (!e.Metadata.IsEmpty)
                    {
                        writer.WritePropertyName("metadata");
                        writer.WriteRawValue(e.Metadata.Span, skipInputValidation: true);
                    }

                    writer.WriteEndObject();
                }

                writer.WriteEndArray();
            }

            writer.WriteEndObject();
            writer.WriteEndObject();
        }

        // The checksum: SHA-256 of the file without its 64 digits, as the format's docs compute it.
        var bytes = buffer.WrittenSpan.ToArray();
        var digits = IndexOf(bytes, "\"checksum\": \""u8) + "\"checksum\": \""u8.Length;
        var hash = SHA256.HashData([.. bytes.AsSpan(0, digits), .. bytes.AsSpan(digits + 64)]);
        Encoding.ASCII.GetBytes(Convert.ToHexStringLower(hash)).CopyTo(bytes, digits);
        return bytes;
    }

    private static int IndexOf(byte[] bytes, ReadOnlySpan<byte> value)
    {
        var index = bytes.AsSpan().IndexOf(value);
        return index >= 0 ? index : throw new InvalidOperationException("No checksum member.");
    }

    private static string Format(DateTimeOffset value) => value.UtcDateTime.ToString(Timestamp, CultureInfo.InvariantCulture);
}
