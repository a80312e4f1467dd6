using System.Collections;
using System.Diagnostics.CodeAnalysis;

namespace Storage.Engine;

/// <summary>A document that an in-memory index entry points at: its key and the expiry that decides whether the entry is live.</summary>
[Experimental(Experiments.BackendInterface)]
public interface IIndexedDocument
{
    /// <summary>The document's key.</summary>
    string Key { get; }

    /// <summary>The document's expiry: an entry of an expired document matches no query and holds no unique value.</summary>
    DateTimeOffset? ExpiresAt { get; }
}

/// <summary>One entry of an <see cref="IndexEntryTable{TDocument}"/>: a value and the document that holds it, in its partition.</summary>
/// <typeparam name="TDocument">How the backend holds a document (returned by queries without another lookup).</typeparam>
/// <param name="Value">The value.</param>
/// <param name="Partition">The document's partition.</param>
/// <param name="Document">The document (its collection is the index's).</param>
[Experimental(Experiments.BackendInterface)]
public readonly record struct IndexTableEntry<TDocument>(IndexValue Value, string Partition, TDocument Document)
    where TDocument : class, IIndexedDocument;

/// <summary>
/// The entries of one index held in memory, sorted by (value, partition, key) — the order of query
/// results — answering <see cref="IndexQueryPlan"/> queries and counts and "who holds this value".
/// A list of sorted chunks of at most <see cref="ChunkCapacity"/> entries (a two-level B-tree, like
/// Python's <c>sortedcontainers</c>): a seek is two binary searches, a scan walks chunks both ways
/// from a position, an insert or a removal moves at most one chunk's entries, a count between two
/// positions adds chunk sizes. Entries are structs in arrays, so the table costs little more than
/// the entries. Not thread-safe: the backend guards it (a lock, or a table never changed once published).
/// </summary>
/// <typeparam name="TDocument">How the backend holds a document.</typeparam>
/// <seealso href="../../docs/architecture.md"/>
[Experimental(Experiments.BackendInterface)]
public sealed class IndexEntryTable<TDocument> : IReadOnlyCollection<IndexTableEntry<TDocument>>
    where TDocument : class, IIndexedDocument
{
    /// <summary>The most entries a chunk holds; a full chunk splits in two.</summary>
    public const int ChunkCapacity = 128;

    private readonly List<Chunk> _chunks = [];

    /// <summary>How many entries the table holds.</summary>
    public int Count { get; private set; }

    /// <summary>How many entries belong to documents with an expiry (a count must check those one by one).</summary>
    public int Expiring { get; private set; }

    private Position End => new(_chunks.Count, 0);

    /// <summary>A table of <paramref name="entries"/>, in any order (walking partitions and documents in code-point order is cheapest).</summary>
    /// <param name="entries">The entries, each (value, partition, key) once.</param>
    /// <returns>The table.</returns>
    public static IndexEntryTable<TDocument> Create(IEnumerable<IndexTableEntry<TDocument>> entries)
    {
        ArgumentNullException.ThrowIfNull(entries);
        var sorted = entries.ToArray();
        if (InPartitionKeyOrder(sorted))
        {
            // A stable sort by value compares values and positions instead of partitions and keys.
            var keys = new (IndexValue Value, int Position)[sorted.Length];
            for (var i = 0; i < keys.Length; i++)
            {
                keys[i] = (sorted[i].Value, i);
            }

            keys.AsSpan().Sort(static (x, y) =>
            {
                var c = x.Value.CompareTo(y.Value);
                return c != 0 ? c : x.Position.CompareTo(y.Position);
            });
            var copy = sorted;
            sorted = new IndexTableEntry<TDocument>[keys.Length];
            for (var i = 0; i < keys.Length; i++)
            {
                sorted[i] = copy[keys[i].Position];
            }
        }
        else
        {
            sorted.AsSpan().Sort(static (x, y) => IndexQueryPlan.Compare(x.Value, x.Partition, x.Document.Key, y.Value, y.Partition, y.Document.Key));
        }

        var table = new IndexEntryTable<TDocument>();
        for (var start = 0; start < sorted.Length; start += ChunkCapacity)
        {
            // Sized to fit: a partition's table with a handful of entries costs a handful.
            var part = sorted.AsSpan(start, Math.Min(ChunkCapacity, sorted.Length - start));
            var chunk = new Chunk(part.Length);
            part.CopyTo(chunk.Items);
            chunk.Count = part.Length;
            table._chunks.Add(chunk);
        }

        table.Count = sorted.Length;
        table.Expiring = sorted.Count(static e => e.Document.ExpiresAt is not null);
        return table;
    }

    /// <summary>Adds an entry; its (value, partition, key) must not be in the table.</summary>
    /// <param name="entry">The entry.</param>
    public void Add(IndexTableEntry<TDocument> entry)
    {
        var position = Seek(IndexProbe.Before(entry.Value, entry.Partition, entry.Document.Key));
        if (position.Chunk == _chunks.Count)
        {
            // Above every entry: the end of the last chunk.
            if (_chunks.Count == 0)
            {
                _chunks.Add(new Chunk(4));
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
        Expiring += entry.Document.ExpiresAt is null ? 0 : 1;
    }

    /// <summary>Removes the entry (value, partition, key).</summary>
    /// <param name="value">Its value.</param>
    /// <param name="partition">Its partition.</param>
    /// <param name="key">Its document's key.</param>
    /// <returns>Whether it was there.</returns>
    public bool Remove(IndexValue value, string partition, string key)
    {
        if (!TryFind(value, partition, key, out var position))
        {
            return false;
        }

        var chunk = _chunks[position.Chunk];
        Expiring -= chunk.Items[position.Offset].Document.ExpiresAt is null ? 0 : 1;
        chunk.RemoveAt(position.Offset);
        Count--;
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
    /// Puts <paramref name="entry"/> in the place of the entry with its (value, partition, key): an
    /// entry a rewritten document kept takes the document's new state (and with it its expiry) without moving.
    /// </summary>
    /// <param name="entry">The entry.</param>
    /// <returns>Whether an entry with its (value, partition, key) was there.</returns>
    public bool Replace(IndexTableEntry<TDocument> entry)
    {
        if (!TryFind(entry.Value, entry.Partition, entry.Document.Key, out var position))
        {
            return false;
        }

        ref var found = ref _chunks[position.Chunk].Items[position.Offset];
        Expiring += (entry.Document.ExpiresAt is null ? 0 : 1) - (found.Document.ExpiresAt is null ? 0 : 1);
        found = entry;
        return true;
    }

    /// <summary>
    /// Up to <see cref="IndexQueryPlan.Limit"/> + 1 live matches of a query, after its cursor, in its
    /// order (the engine builds the page and its token from them).
    /// </summary>
    /// <param name="plan">The query (its partition, when it names one, filters the entries).</param>
    /// <param name="now">The store's clock: entries of documents expired at or before it do not match.</param>
    /// <returns>The matches.</returns>
    public List<IndexTableEntry<TDocument>> Query(IndexQueryPlan plan, DateTimeOffset now)
    {
        ArgumentNullException.ThrowIfNull(plan);
        var (start, end) = Range(plan);
        var found = new List<IndexTableEntry<TDocument>>(Math.Min(plan.Limit + 1, 64));
        if (start.CompareTo(end) >= 0)
        {
            return found;
        }

        for (var p = plan.Descending ? Previous(end) : start; found.Count <= plan.Limit; p = plan.Descending ? Previous(p) : Next(p))
        {
            var entry = this[p];
            if (IsMatch(entry, plan.Partition, now))
            {
                found.Add(entry);
            }

            if (plan.Descending ? p.CompareTo(start) == 0 : Next(p).CompareTo(end) >= 0)
            {
                break;
            }
        }

        return found;
    }

    /// <summary>How many live entries match a query (its cursor and page size aside).</summary>
    /// <param name="plan">The query (its partition, when it names one, filters the entries).</param>
    /// <param name="now">The store's clock.</param>
    /// <returns>The count.</returns>
    public long CountMatches(IndexQueryPlan plan, DateTimeOffset now)
    {
        ArgumentNullException.ThrowIfNull(plan);
        var (start, end) = Range(plan);
        if (Expiring == 0 && (plan.Partition is null || IsEquality(plan)))
        {
            return CountBetween(start, end);
        }

        long count = 0;
        for (var p = start; p.CompareTo(end) < 0; p = Next(p))
        {
            count += IsMatch(this[p], plan.Partition, now) ? 1 : 0;
        }

        return count;
    }

    /// <summary>The entries holding exactly <paramref name="value"/>, expired or not (the caller judges expiry), in (partition, key) order.</summary>
    /// <param name="value">The value.</param>
    /// <param name="partition">Only this partition's entries; every partition's when <see langword="null"/>.</param>
    /// <returns>The entries.</returns>
    public IEnumerable<IndexTableEntry<TDocument>> Holders(IndexValue value, string? partition = null)
    {
        var end = Seek(IndexProbe.After(value, partition, key: null));
        for (var p = Seek(IndexProbe.Before(value, partition, key: null)); p.CompareTo(end) < 0; p = Next(p))
        {
            yield return this[p];
        }
    }

    /// <summary>Every entry, in (value, partition, key) order.</summary>
    /// <returns>The entries.</returns>
    public IEnumerator<IndexTableEntry<TDocument>> GetEnumerator()
    {
        foreach (var chunk in _chunks)
        {
            for (var i = 0; i < chunk.Count; i++)
            {
                yield return chunk.Items[i];
            }
        }
    }

    IEnumerator IEnumerable.GetEnumerator() => GetEnumerator();

    /// <summary>The position of the first entry above <paramref name="probe"/>, or the end.</summary>
    internal Position Seek(in IndexProbe probe)
    {
        // The first chunk whose last entry is above the probe holds the position.
        int low = 0, high = _chunks.Count - 1;
        while (low <= high)
        {
            var mid = low + ((high - low) >> 1);
            var chunk = _chunks[mid];
            if (probe.CompareEntry(chunk.Items[chunk.Count - 1]) > 0)
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

    /// <summary>How many entries lie in [<paramref name="from"/>, <paramref name="to"/>).</summary>
    internal long CountBetween(Position from, Position to)
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

    private IndexTableEntry<TDocument> this[Position position] => _chunks[position.Chunk].Items[position.Offset];

    private static bool IsEquality(IndexQueryPlan plan)
        => plan.Lower is { } lower && plan.Upper is { } upper && plan.LowerInclusive && plan.UpperInclusive && lower.Equals(upper);

    private static bool IsMatch(in IndexTableEntry<TDocument> entry, string? partition, DateTimeOffset now)
        => (partition is null || string.Equals(entry.Partition, partition, StringComparison.Ordinal)) && !Timestamps.IsExpired(entry.Document.ExpiresAt, now);

    private static bool InPartitionKeyOrder(IndexTableEntry<TDocument>[] entries)
    {
        for (var i = 1; i < entries.Length; i++)
        {
            var c = StorageKeyComparer.Instance.Compare(entries[i - 1].Partition, entries[i].Partition);
            if (c > 0 || (c == 0 && StorageKeyComparer.Instance.Compare(entries[i - 1].Document.Key, entries[i].Document.Key) > 0))
            {
                return false;
            }
        }

        return true;
    }

    private Position Next(Position position)
        => position.Offset + 1 < _chunks[position.Chunk].Count ? position with { Offset = position.Offset + 1 } : new Position(position.Chunk + 1, 0);

    private Position Previous(Position position)
        => position.Offset > 0 ? position with { Offset = position.Offset - 1 } : new Position(position.Chunk - 1, _chunks[position.Chunk - 1].Count - 1);

    private bool TryFind(IndexValue value, string partition, string key, out Position position)
    {
        position = Seek(IndexProbe.Before(value, partition, key));
        if (position.Chunk == _chunks.Count)
        {
            return false;
        }

        var found = this[position];
        return found.Value.Equals(value) && string.Equals(found.Partition, partition, StringComparison.Ordinal) && string.Equals(found.Document.Key, key, StringComparison.Ordinal);
    }

    /// <summary>
    /// A query's bounds as positions: the matches lie from the first entry above every lower bound up
    /// to the first entry above any upper bound (exclusive). The cursor of a continued query is a
    /// lower bound when ascending, an upper one when descending; an equality in one partition is
    /// narrowed to that partition's entries.
    /// </summary>
    private (Position Start, Position End) Range(IndexQueryPlan plan)
    {
        var start = new Position(0, 0);
        var end = End;
        var partition = IsEquality(plan) ? plan.Partition : null;
        if (plan.Lower is { } l)
        {
            Raise(ref start, plan.LowerInclusive ? IndexProbe.Before(l, partition, null) : IndexProbe.After(l, partition, null));
        }

        if (plan.Upper is { } u)
        {
            Lower(ref end, plan.UpperInclusive ? IndexProbe.After(u, partition, null) : IndexProbe.Before(u, partition, null));
        }

        if (plan.Prefix is { } prefix)
        {
            Raise(ref start, IndexProbe.BeforeText(prefix));
            if (KeyRange.PrefixUpperBound(prefix) is { } above)
            {
                Lower(ref end, IndexProbe.BeforeText(above));
            }
        }

        if (plan.After is { } after)
        {
            if (plan.Descending)
            {
                Lower(ref end, IndexProbe.Before(after.Value, after.Partition, after.Key));
            }
            else
            {
                Raise(ref start, IndexProbe.After(after.Value, after.Partition, after.Key));
            }
        }

        return (start, start.CompareTo(end) < 0 ? end : start);

        void Raise(ref Position position, in IndexProbe probe)
        {
            var p = Seek(probe);
            position = p.CompareTo(position) > 0 ? p : position;
        }

        void Lower(ref Position position, in IndexProbe probe)
        {
            var p = Seek(probe);
            position = p.CompareTo(position) < 0 ? p : position;
        }
    }

    /// <summary>A place in the table: a chunk and an offset in it; the end is (chunk count, 0).</summary>
    internal readonly record struct Position(int Chunk, int Offset) : IComparable<Position>
    {
        public int CompareTo(Position other) => Chunk != other.Chunk ? Chunk.CompareTo(other.Chunk) : Offset.CompareTo(other.Offset);
    }

    /// <summary>
    /// A seek position between entries, in (value, partition, key) order: just before or just after
    /// every entry that starts with the probe's parts. A probe never equals an entry, so "the first
    /// entry above the probe" is well defined. The value is kept as raw text or a number, because a
    /// bound need not be a valid index value (a prefix's upper bound can be one UTF-8 byte longer
    /// than the longest value).
    /// </summary>
    internal readonly struct IndexProbe(string? text, long number, string? partition, string? key, bool after)
    {
        public static IndexProbe Before(IndexValue value, string? partition = null, string? key = null) => Of(value, partition, key, after: false);

        public static IndexProbe After(IndexValue value, string? partition = null, string? key = null) => Of(value, partition, key, after: true);

        /// <summary>Just before every string entry with this text, which need not be a valid index value.</summary>
        public static IndexProbe BeforeText(string text) => new(text, 0, null, null, after: false);

        /// <summary>The sign of (entry - probe): never 0.</summary>
        public int CompareEntry(in IndexTableEntry<TDocument> entry)
        {
            var c = text is not null ? StorageKeyComparer.Instance.Compare(entry.Value.AsString, text) : entry.Value.AsInt64.CompareTo(number);
            if (c == 0 && partition is not null)
            {
                c = StorageKeyComparer.Instance.Compare(entry.Partition, partition);
                if (c == 0 && key is not null)
                {
                    c = StorageKeyComparer.Instance.Compare(entry.Document.Key, key);
                }
            }

            return c != 0 ? c : after ? -1 : 1;
        }

        private static IndexProbe Of(IndexValue value, string? partition, string? key, bool after)
            => value.Type == IndexValueType.String ? new(value.AsString, 0, partition, key, after) : new(null, value.AsInt64, partition, key, after);
    }

    private sealed class Chunk(int capacity)
    {
        public IndexTableEntry<TDocument>[] Items { get; private set; } = new IndexTableEntry<TDocument>[capacity];

        public int Count { get; set; }

        /// <summary>The offset of the first entry above the probe (Count when none).</summary>
        public int Seek(in IndexProbe probe)
        {
            int low = 0, high = Count - 1;
            while (low <= high)
            {
                var mid = low + ((high - low) >> 1);
                if (probe.CompareEntry(Items[mid]) > 0)
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

        public void Insert(int offset, IndexTableEntry<TDocument> entry)
        {
            Reserve(Count + 1);
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
            var upper = new Chunk(ChunkCapacity);
            var half = Count / 2;
            Array.Copy(Items, half, upper.Items, 0, Count - half);
            upper.Count = Count - half;
            Array.Clear(Items, half, Count - half);
            Count = half;
            return upper;
        }

        public void Append(Chunk next)
        {
            Reserve(Count + next.Count);
            Array.Copy(next.Items, 0, Items, Count, next.Count);
            Count += next.Count;
        }

        private void Reserve(int count)
        {
            if (count > Items.Length)
            {
                var items = Items;
                Array.Resize(ref items, Math.Min(ChunkCapacity, Math.Max(count, 2 * Items.Length)));
                Items = items;
            }
        }
    }
}
