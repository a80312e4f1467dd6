using System.Buffers.Binary;
using System.IO.Hashing;
using System.Runtime.InteropServices;
using Microsoft.Data.Sqlite;

namespace Storage.Sqlite.Internal;

/// <summary>
/// The checksum every row of <c>documents</c> and <c>events</c> carries in its <c>checksum</c> column,
/// and the reads of those rows, which check it.
/// SQLite has no page checksums and <c>PRAGMA integrity_check</c> checks structure, not content: bytes
/// flipped inside a stored value would come back as data. The store computes the checksum when it
/// writes a row and checks it on every read that returns the row, and raises
/// <see cref="CorruptDataException"/> naming the row when they differ.
/// </summary>
/// <remarks>
/// XxHash3 (64 bits, stored as a signed INTEGER): about 0.1 µs per KiB where SHA-256 takes about 3 µs,
/// and it is not a defence against anyone who can write the file, only against damage. The hash is
/// taken first over a header — a tag for the table, every other column of the row in a fixed order
/// (text as its length in UTF-16 code units and those units little-endian, integers as 8 bytes
/// little-endian, a flag for NULL), and the lengths of the bodies — then over each body in turn,
/// seeded with the hash before it, so the bodies are never copied. Text is hashed as .NET holds it
/// rather than transcoded back to UTF-8 (a third of the cost for short keys): text that is not valid
/// UTF-8 on disk reads back with replacement characters, so it fails the check all the same. Never
/// change this layout: stored checksums depend on it.
/// </remarks>
internal static class RowChecksum
{
    /// <summary>The application functions the migration that adds the column computes existing rows' checksums with.</summary>
    public const string DocumentFunction = "storage_document_checksum";

    /// <inheritdoc cref="DocumentFunction"/>
    public const string EventFunction = "storage_event_checksum";

    private const byte DocumentTag = 1;
    private const byte EventTag = 2;

    // Every valid row's header fits (keys and partition keys are at most 512 UTF-8 bytes, so 512
    // UTF-16 units); a longer one (damaged text read back) takes an array.
    private const int StackBytes = 4096;

    /// <summary>A document row's checksum, over every column but the checksum itself (times in Unix milliseconds).</summary>
    public static long Document(string partition, string collection, string key, long version, long createdAt, long updatedAt, long? expiresAt, ReadOnlySpan<byte> value)
    {
        var bound = 1 + TextBytes(partition) + TextBytes(collection) + TextBytes(key) + (5 * sizeof(long)) + 1 + sizeof(int);
        var header = new Header(bound <= StackBytes ? stackalloc byte[bound] : new byte[bound]);
        header.Byte(DocumentTag);
        header.Text(partition);
        header.Text(collection);
        header.Text(key);
        header.Int64(version);
        header.Int64(createdAt);
        header.Int64(updatedAt);
        header.Byte(expiresAt is null ? (byte)0 : (byte)1);
        header.Int64(expiresAt ?? 0);
        header.Int32(value.Length);
        var hash = XxHash3.HashToUInt64(header.Written);
        return unchecked((long)XxHash3.HashToUInt64(value, unchecked((long)hash)));
    }

    /// <summary>An event row's checksum, over every column but the checksum itself; <paramref name="hasMetadata"/> is false when metadata is NULL.</summary>
    public static long Event(string partition, string stream, long version, long revision, string eventId, string type, long committedAt, ReadOnlySpan<byte> data, ReadOnlySpan<byte> metadata, bool hasMetadata)
    {
        var bound = 1 + TextBytes(partition) + TextBytes(stream) + TextBytes(eventId) + TextBytes(type) + (3 * sizeof(long)) + 1 + (2 * sizeof(int));
        var header = new Header(bound <= StackBytes ? stackalloc byte[bound] : new byte[bound]);
        header.Byte(EventTag);
        header.Text(partition);
        header.Text(stream);
        header.Int64(version);
        header.Int64(revision);
        header.Text(eventId);
        header.Text(type);
        header.Int64(committedAt);
        header.Byte(hasMetadata ? (byte)1 : (byte)0);
        header.Int32(data.Length);
        header.Int32(metadata.Length);
        var hash = XxHash3.HashToUInt64(header.Written);
        hash = XxHash3.HashToUInt64(data, unchecked((long)hash));
        return unchecked((long)XxHash3.HashToUInt64(metadata, unchecked((long)hash)));
    }

    /// <summary>
    /// A document from six columns of a row, from <paramref name="first"/> on: value, version,
    /// created_at, updated_at, expires_at, checksum (the order of every document read; times in Unix
    /// milliseconds), once its checksum matches.
    /// </summary>
    /// <exception cref="CorruptDataException">The row does not match its checksum.</exception>
    public static StoredDocument ReadDocument(SqliteDataReader reader, int first, string path, string partition, string collection, string key)
    {
        var value = reader.GetFieldValue<byte[]>(first);
        var version = reader.GetInt64(first + 1);
        var createdAt = reader.GetInt64(first + 2);
        var updatedAt = reader.GetInt64(first + 3);
        long? expiresAt = reader.IsDBNull(first + 4) ? null : reader.GetInt64(first + 4);
        if (Document(partition, collection, key, version, createdAt, updatedAt, expiresAt, value) != reader.GetInt64(first + 5))
        {
            throw new CorruptDataException(path, SqliteErrors.DocumentChecksumMismatchReason(partition, collection, key));
        }

        return new(partition, collection, key, value, version, FromMs(createdAt), FromMs(updatedAt), expiresAt is { } e ? FromMs(e) : null);
    }

    /// <summary>
    /// An event from eight columns of a row, from <paramref name="first"/> on: version, revision,
    /// event_id, type, data, metadata, committed_at, checksum, once its checksum matches.
    /// </summary>
    /// <exception cref="CorruptDataException">The row does not match its checksum, or its id is not a GUID.</exception>
    public static StoredEvent ReadEvent(SqliteDataReader reader, int first, string path, string partition, string stream)
    {
        var version = reader.GetInt64(first);
        var revision = reader.GetInt64(first + 1);
        var eventId = reader.GetString(first + 2);
        var type = reader.GetString(first + 3);
        var data = reader.GetFieldValue<byte[]>(first + 4);
        var metadata = reader.IsDBNull(first + 5) ? null : reader.GetFieldValue<byte[]>(first + 5);
        var committedAt = reader.GetInt64(first + 6);
        if (Event(partition, stream, version, revision, eventId, type, committedAt, data, metadata, metadata is not null) != reader.GetInt64(first + 7))
        {
            throw new CorruptDataException(path, SqliteErrors.EventChecksumMismatchReason(partition, stream, version));
        }

        return new(partition, stream, version, revision, ParseEventId(eventId, path, stream), type, data, metadata ?? ReadOnlyMemory<byte>.Empty, FromMs(committedAt));
    }

    /// <summary>Event ids are stored as text in the 'D' form (lowercase, with hyphens), readable in any SQLite client.</summary>
    public static string FormatEventId(Guid id) => id.ToString("D");

    /// <summary>An event id as stored (<see cref="FormatEventId"/>).</summary>
    /// <exception cref="CorruptDataException">It is not a GUID in the 'D' form.</exception>
    public static Guid ParseEventId(string text, string path, string stream)
        => Guid.TryParseExact(text, "D", out var id) ? id : throw new CorruptDataException(path, SqliteErrors.BadEventIdReason(stream, text));

    /// <summary>Registers <see cref="DocumentFunction"/> and <see cref="EventFunction"/> on a connection (the writer's, for migrations).</summary>
    public static void Register(SqliteConnection connection)
    {
        connection.CreateFunction<string, string, string, long, long, long, long?, byte[], long>(
            DocumentFunction,
            static (partition, collection, key, version, createdAt, updatedAt, expiresAt, value) => Document(partition, collection, key, version, createdAt, updatedAt, expiresAt, value),
            isDeterministic: true);
        connection.CreateFunction<string, string, long, long, string, string, long, byte[], byte[]?, long>(
            EventFunction,
            static (partition, stream, version, revision, eventId, type, committedAt, data, metadata) => Event(partition, stream, version, revision, eventId, type, committedAt, data, metadata, metadata is not null),
            isDeterministic: true);
    }

    private static DateTimeOffset FromMs(long ms) => DateTimeOffset.FromUnixTimeMilliseconds(ms);

    private static int TextBytes(string text) => sizeof(int) + (text.Length * sizeof(char));

    /// <summary>Writes the header's fields, one after the other, into a buffer large enough for all of them.</summary>
    private ref struct Header(Span<byte> buffer)
    {
        private readonly Span<byte> _buffer = buffer;
        private int _length;

        public readonly ReadOnlySpan<byte> Written => _buffer[.._length];

        public void Byte(byte value) => _buffer[_length++] = value;

        public void Int32(int value)
        {
            BinaryPrimitives.WriteInt32LittleEndian(_buffer[_length..], value);
            _length += sizeof(int);
        }

        public void Int64(long value)
        {
            BinaryPrimitives.WriteInt64LittleEndian(_buffer[_length..], value);
            _length += sizeof(long);
        }

        public void Text(string value)
        {
            Int32(value.Length);
            if (BitConverter.IsLittleEndian)
            {
                MemoryMarshal.AsBytes(value.AsSpan()).CopyTo(_buffer[_length..]);
                _length += value.Length * sizeof(char);
            }
            else
            {
                foreach (var c in value)
                {
                    BinaryPrimitives.WriteUInt16LittleEndian(_buffer[_length..], c);
                    _length += sizeof(char);
                }
            }
        }
    }
}
