using System.Diagnostics;

namespace Storage.Json.Indexes;

/// <summary>
/// The entries of one index across the store, sorted by (value, partition, key): a list of sorted
/// chunks of at most <see cref="ChunkCapacity"/> entries (a two-level B-tree, like Python's
/// <c>sortedcontainers</c>). A seek is two binary searches; a scan walks chunks both ways from a
/// position; an insert or a removal moves at most one chunk's entries; a count between two
/// positions adds chunk sizes. Entries are structs in arrays, so the list costs little more than
/// the entries themselves (40 bytes each). Not thread-safe: <see cref="JsonIndexes"/> guards it.
/// </summary>
internal sealed class IndexEntryList
{
    /// <summary>The most entries a chunk holds; a full chunk splits in two.</summary>
    public const int ChunkCapacity = 128;

    private readonly List<Chunk> _chunks = [];

    private IndexEntryList()
    {
    }

    /// <summary>How many entries the list holds.</summary>
    public int Count { get; private set; }

    /// <summary>How many entries belong to documents with an expiry (a count must check those one by one).</summary>
    public int Expiring { get; private set; }

    /// <summary>The position after the last entry.</summary>
    public Position End => new(_chunks.Count, 0);

    /// <summary>A list of entries already sorted by (value, partition, key).</summary>
    public static IndexEntryList FromSorted(ReadOnlySpan<IndexEntry> sorted)
    {
        var list = new IndexEntryList();
        for (var start = 0; start < sorted.Length; start += ChunkCapacity)
        {
            var chunk = new Chunk();
            var part = sorted.Slice(start, Math.Min(ChunkCapacity, sorted.Length - start));
            part.CopyTo(chunk.Items);
            chunk.Count = part.Length;
            list._chunks.Add(chunk);
        }

        list.Count = sorted.Length;
        foreach (var entry in sorted)
        {
            if (entry.Document.ExpiresAt is not null)
            {
                list.Expiring++;
            }
        }

        return list;
    }

    /// <summary>The entry at a position before <see cref="End"/>.</summary>
    public IndexEntry this[Position position] => _chunks[position.Chunk].Items[position.Offset];

    /// <summary>The position of the first entry above <paramref name="probe"/>, or <see cref="End"/>.</summary>
    public Position Seek(in IndexProbe probe)
    {
        // The first chunk whose last entry is above the probe holds the position.
        int low = 0, high = _chunks.Count - 1;
        while (low <= high)
        {
            var mid = low + ((high - low) >> 1);
            var chunk = _chunks[mid];
            var last = chunk.Items[chunk.Count - 1];
            if (probe.CompareEntry(last.Value, last.Partition, last.Document.Key) > 0)
            {
                high = mid - 1;
            }
            else
            {
                low = mid + 1;
            }
        }

        return low == _chunks.Count ? End : new Position(low, _chunks[low].Seek(probe));
    }

    /// <summary>The position after <paramref name="position"/>.</summary>
    public Position Next(Position position)
        => position.Offset + 1 < _chunks[position.Chunk].Count ? position with { Offset = position.Offset + 1 } : new Position(position.Chunk + 1, 0);

    /// <summary>The position before <paramref name="position"/> (which must not be the first).</summary>
    public Position Previous(Position position)
        => position.Offset > 0 ? position with { Offset = position.Offset - 1 } : new Position(position.Chunk - 1, _chunks[position.Chunk - 1].Count - 1);

    /// <summary>How many entries lie in [<paramref name="from"/>, <paramref name="to"/>).</summary>
    public long CountBetween(Position from, Position to)
    {
        if (from.CompareTo(to) >= 0)
        {
            return 0;
        }

        if (from.Chunk == to.Chunk)
        {
            return to.Offset - from.Offset;
        }

        long count = _chunks[from.Chunk].Count - from.Offset;
        for (var i = from.Chunk + 1; i < to.Chunk; i++)
        {
            count += _chunks[i].Count;
        }

        return count + to.Offset;
    }

    /// <summary>Adds an entry (its (value, partition, key) must not be in the list).</summary>
    public void Add(IndexEntry entry)
    {
        var position = Seek(IndexProbe.Before(entry.Value, entry.Partition, entry.Document.Key));
        if (position.Chunk == _chunks.Count)
        {
            // Above every entry: the end of the last chunk.
            if (_chunks.Count == 0)
            {
                _chunks.Add(new Chunk());
            }

            position = new Position(_chunks.Count - 1, _chunks[^1].Count);
        }

        var chunk = _chunks[position.Chunk];
        var offset = position.Offset;
        if (chunk.Count == ChunkCapacity)
        {
            var upper = chunk.SplitUpperHalf();
            _chunks.Insert(position.Chunk + 1, upper);
            if (offset > chunk.Count)
            {
                offset -= chunk.Count;
                chunk = upper;
            }
        }

        chunk.Insert(offset, entry);
        Count++;
        if (entry.Document.ExpiresAt is not null)
        {
            Expiring++;
        }
    }

    /// <summary>Removes the entry with the (value, partition, key) of <paramref name="entry"/>.</summary>
    /// <returns>Whether it was there.</returns>
    public bool Remove(IndexEntry entry)
    {
        if (!TryFind(entry, out var position))
        {
            return false;
        }

        var chunk = _chunks[position.Chunk];
        var found = chunk.Items[position.Offset];
        if (!ReferenceEquals(found.Document, entry.Document))
        {
            Debug.Fail("An index entry names another record of its document.");
            return false;
        }

        chunk.RemoveAt(position.Offset);
        Count--;
        if (found.Document.ExpiresAt is not null)
        {
            Expiring--;
        }

        if (chunk.Count == 0)
        {
            _chunks.RemoveAt(position.Chunk);
        }
        else if (chunk.Count < ChunkCapacity / 4 && position.Chunk + 1 < _chunks.Count && chunk.Count + _chunks[position.Chunk + 1].Count <= ChunkCapacity / 2)
        {
            // Keep chunks from thinning out after many removals: absorb the next one.
            chunk.Append(_chunks[position.Chunk + 1]);
            _chunks.RemoveAt(position.Chunk + 1);
        }

        return true;
    }

    /// <summary>
    /// Puts <paramref name="entry"/> in the place of the entry with its (value, partition, key): a
    /// kept entry of a rewritten document takes its new record, without moving.
    /// </summary>
    /// <returns>Whether that entry was there.</returns>
    public bool Replace(IndexEntry entry)
    {
        if (!TryFind(entry, out var position))
        {
            return false;
        }

        ref var found = ref _chunks[position.Chunk].Items[position.Offset];
        Expiring += (entry.Document.ExpiresAt is null ? 0 : 1) - (found.Document.ExpiresAt is null ? 0 : 1);
        found = entry;
        return true;
    }

    /// <summary>Where the entry with the (value, partition, key) of <paramref name="entry"/> is, if it is there.</summary>
    private bool TryFind(IndexEntry entry, out Position position)
    {
        position = Seek(IndexProbe.Before(entry.Value, entry.Partition, entry.Document.Key));
        if (position.Chunk == _chunks.Count)
        {
            return false;
        }

        var found = this[position];
        return found.Value.Equals(entry.Value) && string.Equals(found.Partition, entry.Partition, StringComparison.Ordinal) && string.Equals(found.Document.Key, entry.Document.Key, StringComparison.Ordinal);
    }

    /// <summary>A place in the list: a chunk and an offset in it; <see cref="End"/> is (chunk count, 0).</summary>
    internal readonly record struct Position(int Chunk, int Offset) : IComparable<Position>
    {
        public int CompareTo(Position other) => Chunk != other.Chunk ? Chunk.CompareTo(other.Chunk) : Offset.CompareTo(other.Offset);
    }

    private sealed class Chunk
    {
        public IndexEntry[] Items { get; } = new IndexEntry[ChunkCapacity];

        public int Count { get; set; }

        /// <summary>The offset of the first entry above the probe (Count when none).</summary>
        public int Seek(in IndexProbe probe)
        {
            int low = 0, high = Count - 1;
            while (low <= high)
            {
                var mid = low + ((high - low) >> 1);
                var item = Items[mid];
                if (probe.CompareEntry(item.Value, item.Partition, item.Document.Key) > 0)
                {
                    high = mid - 1;
                }
                else
                {
                    low = mid + 1;
                }
            }

            return low;
        }

        public void Insert(int offset, IndexEntry entry)
        {
            Array.Copy(Items, offset, Items, offset + 1, Count - offset);
            Items[offset] = entry;
            Count++;
        }

        public void RemoveAt(int offset)
        {
            Count--;
            Array.Copy(Items, offset + 1, Items, offset, Count - offset);
            Items[Count] = default;
        }

        public Chunk SplitUpperHalf()
        {
            var upper = new Chunk();
            var half = Count / 2;
            Array.Copy(Items, half, upper.Items, 0, Count - half);
            upper.Count = Count - half;
            Array.Clear(Items, half, Count - half);
            Count = half;
            return upper;
        }

        public void Append(Chunk next)
        {
            Array.Copy(next.Items, 0, Items, Count, next.Count);
            Count += next.Count;
        }
    }
}
