using System.Buffers;
using System.Text.Json;

namespace Storage.Json;

/// <summary>
/// Makes <see cref="DocumentRecord"/>s, rendering each document's entry in the partition file: the
/// bytes from the opening quote of its key to its closing brace. It writes the entry with the very
/// writer and options <see cref="PartitionFile"/> writes a file with, at the depth the file holds
/// documents (<c>{ "collections": { "&lt;name&gt;": { here } } }</c>), so the bytes are the ones a
/// serialization of the whole file produces there — escaping and indentation included.
/// <see cref="PartitionFile.Serialize"/> then joins the entries with <see cref="Separator"/>.
/// Used by one thread at a time (a parse, or a commit's working copy).
/// </summary>
internal sealed class DocumentEntryWriter : IDisposable
{
    private readonly ArrayBufferWriter<byte> _buffer = new(1024);
    private readonly Utf8JsonWriter _writer;

    public DocumentEntryWriter()
    {
        _writer = new Utf8JsonWriter(_buffer, PartitionFile.WriterOptions);
    }

    /// <summary>What the writer puts before every document's entry of a collection but the first, which it opens with <see cref="Indent"/> alone.</summary>
    public static ReadOnlySpan<byte> Separator => ",\n      "u8;

    /// <summary>What the writer puts before a collection's first document's entry: a new line and the entry's indentation.</summary>
    public static ReadOnlySpan<byte> Indent => "\n      "u8;

    /// <summary>What closes a collection after its last entry.</summary>
    public static ReadOnlySpan<byte> CollectionEnd => "\n    }"u8;

    /// <summary>A record of a document, its entry rendered.</summary>
    /// <param name="key">The document key.</param>
    /// <param name="value">Its UTF-8 JSON value, written as it is.</param>
    /// <param name="version">Its version.</param>
    /// <param name="createdAt">When it was created.</param>
    /// <param name="updatedAt">When it was last written.</param>
    /// <param name="expiresAt">When it expires, or <see langword="null"/>.</param>
    /// <returns>The record.</returns>
    public DocumentRecord Create(string key, ReadOnlySpan<byte> value, long version, DateTimeOffset createdAt, DateTimeOffset updatedAt, DateTimeOffset? expiresAt)
    {
        _buffer.ResetWrittenCount();
        _writer.Reset(_buffer);

        // The enclosing objects of a partition file, down to a collection's.
        _writer.WriteStartObject();
        _writer.WriteStartObject("collections"u8);
        _writer.WriteStartObject("c"u8);
        _writer.Flush();
        var start = _buffer.WrittenCount + Indent.Length;

        _writer.WriteStartObject(key);
        _writer.WriteNumber("version"u8, version);
        PartitionFile.WriteTimestamp(_writer, "created"u8, createdAt);
        PartitionFile.WriteTimestamp(_writer, "updated"u8, updatedAt);
        if (expiresAt is { } expires)
        {
            PartitionFile.WriteTimestamp(_writer, "expires"u8, expires);
        }
        else
        {
            _writer.WriteNull("expires"u8);
        }

        _writer.WritePropertyName("value"u8);
        _writer.Flush();
        var valueStart = _buffer.WrittenCount - start;
        _writer.WriteRawValue(value, skipInputValidation: true);
        _writer.WriteEndObject();
        _writer.Flush();

        var written = _buffer.WrittenSpan;
        if (!written[(start - Indent.Length)..start].SequenceEqual(Indent) || !written.Slice(start + valueStart, value.Length).SequenceEqual(value))
        {
            throw new InvalidOperationException("The partition writer did not write a document entry as expected.");
        }

        return new DocumentRecord(key, version, createdAt, updatedAt, expiresAt, written[start..].ToArray(), valueStart, value.Length);
    }

    public void Dispose() => _writer.Dispose();
}
