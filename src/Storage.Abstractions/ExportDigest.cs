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
        encoder.String(PartitionFormat);
        encoder.String(partition.Partition);
        encoder.Int(partition.Revision);
        encoder.Int(partition.OldestResumable);
        encoder.Int(partition.Documents.Count);
        foreach (var document in partition.Documents)
        {
            encoder.Document(document);
        }

        encoder.Int(partition.Tombstones.Count);
        foreach (var tombstone in partition.Tombstones)
        {
            encoder.Tombstone(tombstone);
        }

        encoder.Int(partition.Sequences.Count);
        foreach (var sequence in partition.Sequences)
        {
            encoder.Sequence(sequence);
        }

        encoder.Int(partition.Streams.Count);
        foreach (var stream in partition.Streams)
        {
            encoder.Stream(stream);
        }

        return encoder.Finish();
    }

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

    /// <summary>Writes the canonical encoding's fields into a SHA-256 as they come: 64-bit big-endian integers, length-prefixed UTF-8 strings and bytes.</summary>
    internal sealed class Encoder : IDisposable
    {
        private readonly IncrementalHash _hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);

        public void Int(long value)
        {
            Span<byte> bytes = stackalloc byte[sizeof(long)];
            BinaryPrimitives.WriteInt64BigEndian(bytes, value);
            _hash.AppendData(bytes);
        }

        public void Bytes(ReadOnlySpan<byte> value)
        {
            Int(value.Length);
            _hash.AppendData(value);
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
                _hash.AppendData(id);
                String(e.Type);
                Time(e.CommittedAt);
                Bytes(e.Data.Span);
                Bytes(e.Metadata.Span);
            }
        }

        public byte[] Finish() => _hash.GetHashAndReset();

        public void Dispose() => _hash.Dispose();
    }
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
