using System.Buffers;
using System.Buffers.Binary;
using System.Security.Cryptography;
using System.Text;

namespace Storage;

/// <summary>
/// The digest of a partition's exported state (<see cref="PartitionExport"/>): the SHA-256 of its
/// canonical encoding, equal across backends for equal stored state. The encoding is specified in
/// docs/upgrade-path.md ("The digest"); it is a function of the stored state alone — no clock is
/// read, so a digest does not depend on when it is computed: expired documents not yet purged and
/// tombstones past their retention not yet purged are stored state and are covered.
/// </summary>
/// <seealso href="../../docs/upgrade-path.md#the-digest"/>
public static class ExportDigest
{
    /// <summary>The length of a digest in bytes (SHA-256).</summary>
    public const int Length = 32;

    /// <summary>The first field of a partition's encoding: names the encoding and its version.</summary>
    public const string PartitionFormat = "storage.partition.v1";

    /// <summary>The first field of a store's encoding: names the encoding and its version.</summary>
    public const string StoreFormat = "storage.store.v1";

    /// <summary>Computes a partition's digest.</summary>
    /// <param name="partition">The partition's state.</param>
    /// <returns>The 32-byte SHA-256 of its canonical encoding.</returns>
    /// <exception cref="ArgumentException">A time of the state is finer than a microsecond (no backend stores one).</exception>
    public static byte[] Compute(PartitionExport partition)
    {
        ArgumentNullException.ThrowIfNull(partition);
        using var encoder = new Encoder();
        encoder.Partition(partition);
        return encoder.Finish();
    }

    /// <summary>Writes a partition's canonical encoding into <paramref name="output"/> and computes its digest, in one pass: the bytes written are those the digest is the SHA-256 of.</summary>
    /// <param name="partition">The partition's state.</param>
    /// <param name="output">Receives the encoding.</param>
    /// <returns>The partition's digest (<see cref="Compute"/>).</returns>
    internal static byte[] Encode(PartitionExport partition, IBufferWriter<byte> output)
    {
        ArgumentNullException.ThrowIfNull(partition);
        ArgumentNullException.ThrowIfNull(output);
        using var encoder = new Encoder(output);
        encoder.Partition(partition);
        return encoder.Finish();
    }

    /// <summary>Reads a partition's canonical encoding back (the inverse of <see cref="Encode"/>): the whole of <paramref name="encoding"/> must be one partition.</summary>
    /// <param name="encoding">The encoding.</param>
    /// <returns>The partition's state.</returns>
    /// <exception cref="FormatException">The bytes are not a partition's canonical encoding (the message says what is wrong and at which offset).</exception>
    internal static PartitionExport Decode(ReadOnlySpan<byte> encoding) => new Decoder(encoding).Partition();

    /// <summary>The digest of one document's encoding alone (as it is part of its partition's): what <see cref="ExportComparison"/> compares item by item.</summary>
    internal static byte[] Item(StoredDocument document) => One(e => e.Document(document));

    /// <summary>The digest of one tombstone's encoding alone.</summary>
    internal static byte[] Item(ExportedTombstone tombstone) => One(e => e.Tombstone(tombstone));

    /// <summary>The digest of one sequence's encoding alone.</summary>
    internal static byte[] Item(ExportedSequence sequence) => One(e => e.Sequence(sequence));

    /// <summary>The digest of one stream's encoding alone.</summary>
    internal static byte[] Item(ExportedStream stream) => One(e => e.Stream(stream));

    private static byte[] One(Action<Encoder> write)
    {
        using var encoder = new Encoder();
        write(encoder);
        return encoder.Finish();
    }

    /// <summary>
    /// Writes the canonical encoding's fields into a SHA-256 as they come — 64-bit big-endian integers,
    /// length-prefixed UTF-8 strings and bytes — and, when given an output, the same bytes into it (the
    /// portable archive's entries, Storage.Archive). The one writer of the encoding; <see cref="Decoder"/> reads it.
    /// </summary>
    /// <param name="output">Receives every byte hashed, or <see langword="null"/> to hash only.</param>
    internal sealed class Encoder(IBufferWriter<byte>? output = null) : IDisposable
    {
        private readonly IncrementalHash _hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);

        public void Int(long value)
        {
            Span<byte> bytes = stackalloc byte[sizeof(long)];
            BinaryPrimitives.WriteInt64BigEndian(bytes, value);
            Append(bytes);
        }

        public void Bytes(ReadOnlySpan<byte> value)
        {
            Int(value.Length);
            Append(value);
        }

        /// <summary>A whole partition: the encoding <see cref="Compute"/> hashes.</summary>
        public void Partition(PartitionExport partition)
        {
            String(PartitionFormat);
            String(partition.Partition);
            Int(partition.Revision);
            Int(partition.OldestResumable);
            Int(partition.Documents.Count);
            foreach (var document in partition.Documents)
            {
                Document(document);
            }

            Int(partition.Tombstones.Count);
            foreach (var tombstone in partition.Tombstones)
            {
                Tombstone(tombstone);
            }

            Int(partition.Sequences.Count);
            foreach (var sequence in partition.Sequences)
            {
                Sequence(sequence);
            }

            Int(partition.Streams.Count);
            foreach (var stream in partition.Streams)
            {
                Stream(stream);
            }
        }

        public void String(string value)
        {
            var length = Encoding.UTF8.GetByteCount(value);
            var buffer = ArrayPool<byte>.Shared.Rent(length);
            try
            {
                Bytes(buffer.AsSpan(0, Encoding.UTF8.GetBytes(value, buffer)));
            }
            finally
            {
                ArrayPool<byte>.Shared.Return(buffer);
            }
        }

        /// <summary>A time: microseconds since the Unix epoch, UTC.</summary>
        public void Time(DateTimeOffset value)
        {
            var ticks = value.UtcTicks - DateTimeOffset.UnixEpoch.UtcTicks;
            if (ticks % TimeSpan.TicksPerMicrosecond != 0)
            {
                throw new ArgumentException($"The time {value:O} is finer than a microsecond; the digest encodes times in whole microseconds.", nameof(value));
            }

            Int(ticks / TimeSpan.TicksPerMicrosecond);
        }

        public void Document(StoredDocument document)
        {
            String(document.Collection);
            String(document.Key);
            Int(document.Version);
            Time(document.CreatedAt);
            Time(document.UpdatedAt);
            if (document.ExpiresAt is { } expiresAt)
            {
                Int(1);
                Time(expiresAt);
            }
            else
            {
                Int(0);
            }

            Bytes(document.Value.Span);
        }

        public void Tombstone(ExportedTombstone tombstone)
        {
            String(tombstone.Collection);
            String(tombstone.Key);
            Int(tombstone.Revision);
            Time(tombstone.DeletedAt);
        }

        public void Sequence(ExportedSequence sequence)
        {
            String(sequence.Name);
            Int(sequence.Value);
            Int(sequence.Revision);
        }

        public void Stream(ExportedStream stream)
        {
            String(stream.Stream);
            Int(stream.Events.Count);
            Span<byte> id = stackalloc byte[16];
            foreach (var e in stream.Events)
            {
                Int(e.Version);
                Int(e.Revision);
                e.Id.TryWriteBytes(id, bigEndian: true, out _);
                Append(id);
                String(e.Type);
                Time(e.CommittedAt);
                Bytes(e.Data.Span);
                Bytes(e.Metadata.Span);
            }
        }

        public byte[] Finish() => _hash.GetHashAndReset();

        public void Dispose() => _hash.Dispose();

        private void Append(ReadOnlySpan<byte> bytes)
        {
            _hash.AppendData(bytes);
            output?.Write(bytes);
        }
    }

    /// <summary>Reads the canonical encoding written by <see cref="Encoder"/>, field by field, refusing anything it could not have written.</summary>
    internal ref struct Decoder(ReadOnlySpan<byte> encoding)
    {
        private readonly ReadOnlySpan<byte> _encoding = encoding;
        private int _offset;

        public PartitionExport Partition()
        {
            var format = String();
            if (format != PartitionFormat)
            {
                throw new FormatException($"The encoding starts with '{format}', not '{PartitionFormat}'.");
            }

            var partition = String();
            var revision = Int();
            var oldestResumable = Int();
            var documents = new StoredDocument[Count(MinimumDocument)];
            for (var i = 0; i < documents.Length; i++)
            {
                documents[i] = Document(partition);
            }

            var tombstones = new ExportedTombstone[Count(MinimumTombstone)];
            for (var i = 0; i < tombstones.Length; i++)
            {
                tombstones[i] = new ExportedTombstone(String(), String(), Int(), Time());
            }

            var sequences = new ExportedSequence[Count(MinimumSequence)];
            for (var i = 0; i < sequences.Length; i++)
            {
                sequences[i] = new ExportedSequence(String(), Int(), Int());
            }

            var streams = new ExportedStream[Count(MinimumStream)];
            for (var i = 0; i < streams.Length; i++)
            {
                streams[i] = Stream(partition);
            }

            if (_offset != _encoding.Length)
            {
                throw new FormatException($"{_encoding.Length - _offset} bytes follow the end of the partition's encoding at offset {_offset}.");
            }

            return new PartitionExport(partition, revision, oldestResumable, documents, tombstones, sequences, streams);
        }

        // The fewest bytes an item can take: a count larger than the bytes left divided by it is damage, refused before anything is allocated.
        private const int MinimumDocument = 8 * 7;
        private const int MinimumTombstone = 8 * 4;
        private const int MinimumSequence = 8 * 3;
        private const int MinimumStream = 8 * 2;
        private const int MinimumEvent = (8 * 6) + 16;

        private StoredDocument Document(string partition)
        {
            var collection = String();
            var key = String();
            var version = Int();
            var createdAt = Time();
            var updatedAt = Time();
            DateTimeOffset? expiresAt = Int() switch
            {
                0 => null,
                1 => Time(),
                var flag => throw new FormatException($"The expiry flag {flag} before offset {_offset} is neither 0 nor 1."),
            };
            return new StoredDocument(partition, collection, key, Bytes(), version, createdAt, updatedAt, expiresAt);
        }

        private ExportedStream Stream(string partition)
        {
            var stream = String();
            var events = new StoredEvent[Count(MinimumEvent)];
            for (var i = 0; i < events.Length; i++)
            {
                var version = Int();
                var revision = Int();
                var id = new Guid(Take(16), bigEndian: true);
                var type = String();
                var committedAt = Time();
                events[i] = new StoredEvent(partition, stream, version, revision, id, type, Bytes(), Bytes(), committedAt);
            }

            return new ExportedStream(stream, events);
        }

        private long Int() => BinaryPrimitives.ReadInt64BigEndian(Take(sizeof(long)));

        private int Count(int minimumSize)
        {
            var count = Int();
            if (count < 0 || count > (_encoding.Length - _offset) / minimumSize)
            {
                throw new FormatException($"The count {count} before offset {_offset} is negative or more than the {_encoding.Length - _offset} bytes left can hold.");
            }

            return (int)count;
        }

        private ReadOnlySpan<byte> Field()
        {
            var length = Int();
            if (length < 0 || length > _encoding.Length - _offset)
            {
                throw new FormatException($"The length {length} before offset {_offset} is negative or more than the {_encoding.Length - _offset} bytes left.");
            }

            return Take((int)length);
        }

        private byte[] Bytes() => Field().ToArray();

        private string String()
        {
            var start = _offset;
            try
            {
                return s_utf8.GetString(Field());
            }
            catch (DecoderFallbackException e)
            {
                throw new FormatException($"The string at offset {start} is not valid UTF-8.", e);
            }
        }

        private DateTimeOffset Time()
        {
            var microseconds = Int();
            if (microseconds < (DateTimeOffset.MinValue.UtcTicks - DateTimeOffset.UnixEpoch.UtcTicks) / TimeSpan.TicksPerMicrosecond
                || microseconds > (DateTimeOffset.MaxValue.UtcTicks - DateTimeOffset.UnixEpoch.UtcTicks) / TimeSpan.TicksPerMicrosecond)
            {
                throw new FormatException($"The time {microseconds} µs before offset {_offset} is out of range.");
            }

            return new DateTimeOffset(DateTimeOffset.UnixEpoch.UtcTicks + (microseconds * TimeSpan.TicksPerMicrosecond), TimeSpan.Zero);
        }

        private ReadOnlySpan<byte> Take(int length)
        {
            if (length > _encoding.Length - _offset)
            {
                throw new FormatException($"The encoding ends at offset {_encoding.Length}, inside a field of {length} bytes at offset {_offset}.");
            }

            var field = _encoding.Slice(_offset, length);
            _offset += length;
            return field;
        }
    }

    // Throws on invalid UTF-8 rather than replacing it: the encoder only writes valid UTF-8 (a string with a lone surrogate is refused by every store before it is stored).
    private static readonly UTF8Encoding s_utf8 = new(encoderShouldEmitUTF8Identifier: false, throwOnInvalidBytes: true);
}

/// <summary>
/// The digest of a whole store's partitions: the SHA-256 over each partition's key and digest in key
/// order (code-point order, <see cref="StorageKeyComparer"/>), then their count. Add the partitions as
/// an export yields them (<see cref="IStoreExport.ExportAsync"/>), then <see cref="Finish"/>.
/// </summary>
/// <remarks>
/// It covers the partitions only: the revision floor and the index declarations
/// (<see cref="StoreExportInfo"/>) are compared on their own (a destination's floor may be higher).
/// </remarks>
public sealed class StoreDigest : IDisposable
{
    private readonly ExportDigest.Encoder _encoder = new();
    private string? _last;
    private long _count;

    /// <summary>Starts a store digest.</summary>
    public StoreDigest() => _encoder.String(ExportDigest.StoreFormat);

    /// <summary>Adds the next partition.</summary>
    /// <param name="partition">The partition's state.</param>
    /// <returns>The partition's digest (<see cref="ExportDigest.Compute"/>).</returns>
    /// <exception cref="ArgumentException">The partition does not come after the last one added in key order.</exception>
    public byte[] Add(PartitionExport partition)
    {
        ArgumentNullException.ThrowIfNull(partition);
        var digest = ExportDigest.Compute(partition);
        Add(partition.Partition, digest);
        return digest;
    }

    /// <summary>Adds the next partition by its digest.</summary>
    /// <param name="partition">The partition key.</param>
    /// <param name="digest">Its digest (<see cref="ExportDigest.Compute"/>).</param>
    /// <exception cref="ArgumentException">The partition does not come after the last one added in key order, or the digest is not <see cref="ExportDigest.Length"/> bytes.</exception>
    public void Add(string partition, ReadOnlySpan<byte> digest)
    {
        ArgumentNullException.ThrowIfNull(partition);
        if (digest.Length != ExportDigest.Length)
        {
            throw new ArgumentException($"A partition digest is {ExportDigest.Length} bytes, not {digest.Length}.", nameof(digest));
        }

        if (_last is not null && StorageKeyComparer.Instance.Compare(_last, partition) >= 0)
        {
            throw new ArgumentException($"Partitions are added in key order: '{partition}' does not come after '{_last}'.", nameof(partition));
        }

        _encoder.String(partition);
        _encoder.Bytes(digest);
        (_last, _count) = (partition, _count + 1);
    }

    /// <summary>Ends the digest.</summary>
    /// <returns>The 32-byte store digest.</returns>
    public byte[] Finish()
    {
        _encoder.Int(_count);
        return _encoder.Finish();
    }

    /// <inheritdoc/>
    public void Dispose() => _encoder.Dispose();

    /// <summary>Computes the digest of every partition an export yields.</summary>
    /// <param name="partitions">The partitions, in key order (as <see cref="IStoreExport.ExportAsync"/> yields them).</param>
    /// <param name="cancellationToken">Stops the enumeration.</param>
    /// <returns>The store digest.</returns>
    public static async ValueTask<byte[]> ComputeAsync(IAsyncEnumerable<PartitionExport> partitions, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(partitions);
        using var digest = new StoreDigest();
        await foreach (var partition in partitions.WithCancellation(cancellationToken).ConfigureAwait(false))
        {
            digest.Add(partition);
        }

        return digest.Finish();
    }
}
