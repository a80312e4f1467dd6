using System.Runtime.CompilerServices;

namespace Storage;

/// <summary>
/// Finds which partitions, and which items of them, differ between two stores' exports, reading each
/// export once, side by side (both in key order, as <see cref="IStoreExport.ExportAsync"/> yields
/// them): partitions are matched by key and compared by digest (<see cref="ExportDigest"/>); only a
/// partition whose digests differ is compared item by item. At most one partition of each export is
/// held at a time.
/// </summary>
/// <seealso href="../../docs/upgrade-path.md#comparing-two-stores"/>
public static class ExportComparison
{
    /// <summary>Compares two exports partition by partition.</summary>
    /// <param name="source">One store's partitions, in key order.</param>
    /// <param name="destination">The other store's partitions, in key order.</param>
    /// <param name="cancellationToken">Stops the comparison.</param>
    /// <returns>The partitions that differ, in key order; none when the stores hold the same partitions.</returns>
    /// <exception cref="ArgumentException">An export does not yield its partitions in ascending key order.</exception>
    public static async IAsyncEnumerable<PartitionDifference> CompareAsync(IAsyncEnumerable<PartitionExport> source, IAsyncEnumerable<PartitionExport> destination, [EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(source);
        ArgumentNullException.ThrowIfNull(destination);
        var left = source.GetAsyncEnumerator(cancellationToken);
        await using var leftScope = left.ConfigureAwait(false);
        var right = destination.GetAsyncEnumerator(cancellationToken);
        await using var rightScope = right.ConfigureAwait(false);
        var a = await NextAsync(left, null, nameof(source)).ConfigureAwait(false);
        var b = await NextAsync(right, null, nameof(destination)).ConfigureAwait(false);
        while (a is not null || b is not null)
        {
            var order = a is null ? 1 : b is null ? -1 : StorageKeyComparer.Instance.Compare(a.Partition, b.Partition);
            if (order < 0)
            {
                yield return new PartitionDifference(a!.Partition, InSource: true, InDestination: false, []);
                a = await NextAsync(left, a, nameof(source)).ConfigureAwait(false);
            }
            else if (order > 0)
            {
                yield return new PartitionDifference(b!.Partition, InSource: false, InDestination: true, []);
                b = await NextAsync(right, b, nameof(destination)).ConfigureAwait(false);
            }
            else
            {
                var items = Compare(a!, b!);
                if (items.Count > 0)
                {
                    yield return new PartitionDifference(a!.Partition, InSource: true, InDestination: true, items);
                }

                a = await NextAsync(left, a, nameof(source)).ConfigureAwait(false);
                b = await NextAsync(right, b, nameof(destination)).ConfigureAwait(false);
            }
        }
    }

    /// <summary>Compares two states of one partition item by item.</summary>
    /// <param name="source">One state.</param>
    /// <param name="destination">The other.</param>
    /// <returns>The items that differ (present in one only, or different), in the order of the encoding; none when the digests are equal.</returns>
    public static IReadOnlyList<ExportItem> Compare(PartitionExport source, PartitionExport destination)
    {
        ArgumentNullException.ThrowIfNull(source);
        ArgumentNullException.ThrowIfNull(destination);
        if (ExportDigest.Compute(source).AsSpan().SequenceEqual(ExportDigest.Compute(destination)))
        {
            return [];
        }

        var items = new List<ExportItem>();
        if (!string.Equals(source.Partition, destination.Partition, StringComparison.Ordinal))
        {
            items.Add(new ExportItem(ExportItemKind.Partition, null, nameof(PartitionExport.Partition)));
        }

        if (source.Revision != destination.Revision)
        {
            items.Add(new ExportItem(ExportItemKind.Partition, null, nameof(PartitionExport.Revision)));
        }

        if (source.OldestResumable != destination.OldestResumable)
        {
            items.Add(new ExportItem(ExportItemKind.Partition, null, nameof(PartitionExport.OldestResumable)));
        }

        Merge(items, source.Documents, destination.Documents, static d => (d.Collection, d.Key), ExportDigest.Item, ExportItemKind.Document);
        Merge(items, source.Tombstones, destination.Tombstones, static t => (t.Collection, t.Key), ExportDigest.Item, ExportItemKind.Tombstone);
        Merge(items, source.Sequences, destination.Sequences, static s => ((string?)null, s.Name), ExportDigest.Item, ExportItemKind.Sequence);
        Merge(items, source.Streams, destination.Streams, static s => ((string?)null, s.Stream), ExportDigest.Item, ExportItemKind.Stream);
        return items;
    }

    private static async ValueTask<PartitionExport?> NextAsync(IAsyncEnumerator<PartitionExport> enumerator, PartitionExport? previous, string paramName)
    {
        if (!await enumerator.MoveNextAsync().ConfigureAwait(false))
        {
            return null;
        }

        var next = enumerator.Current ?? throw new ArgumentException("An export yielded a null partition.", paramName);
        if (previous is not null && StorageKeyComparer.Instance.Compare(previous.Partition, next.Partition) >= 0)
        {
            throw new ArgumentException($"An export must yield its partitions in key order: '{next.Partition}' came after '{previous.Partition}'.", paramName);
        }

        return next;
    }

    /// <summary>Merges two lists in canonical order by identity, adding the items present in one only or encoded differently.</summary>
    private static void Merge<T>(List<ExportItem> items, IReadOnlyList<T> source, IReadOnlyList<T> destination, Func<T, (string? Collection, string Name)> id, Func<T, byte[]> digest, ExportItemKind kind)
    {
        int i = 0, j = 0;
        while (i < source.Count || j < destination.Count)
        {
            var order = i == source.Count ? 1 : j == destination.Count ? -1 : CompareIds(id(source[i]), id(destination[j]));
            var (collection, name) = order <= 0 ? id(source[i]) : id(destination[j]);
            if (order != 0 || !digest(source[i]).AsSpan().SequenceEqual(digest(destination[j])))
            {
                items.Add(new ExportItem(kind, collection, name));
            }

            (i, j) = order < 0 ? (i + 1, j) : order > 0 ? (i, j + 1) : (i + 1, j + 1);
        }
    }

    private static int CompareIds((string? Collection, string Name) x, (string? Collection, string Name) y)
        => PartitionExport.CompareIds(x.Collection ?? string.Empty, x.Name, y.Collection ?? string.Empty, y.Name);
}

/// <summary>A partition that differs between two exports.</summary>
/// <param name="Partition">The partition key.</param>
/// <param name="InSource">Whether the first export has the partition.</param>
/// <param name="InDestination">Whether the second export has the partition.</param>
/// <param name="Items">When both have it, the items that differ (<see cref="ExportComparison.Compare"/>); empty otherwise.</param>
public sealed record PartitionDifference(string Partition, bool InSource, bool InDestination, IReadOnlyList<ExportItem> Items);

/// <summary>An item of a partition's state.</summary>
/// <param name="Kind">What it is.</param>
/// <param name="Collection">The collection of a document or tombstone; <see langword="null"/> otherwise.</param>
/// <param name="Name">The key of a document or tombstone, the name of a sequence or stream, or the property of the partition (<c>Revision</c>, <c>OldestResumable</c>).</param>
public sealed record ExportItem(ExportItemKind Kind, string? Collection, string Name);

/// <summary>The kinds of items of a partition's state.</summary>
public enum ExportItemKind
{
    /// <summary>A property of the partition itself: its revision or oldest resumable revision.</summary>
    Partition = 0,

    /// <summary>A document.</summary>
    Document = 1,

    /// <summary>A tombstone.</summary>
    Tombstone = 2,

    /// <summary>A sequence.</summary>
    Sequence = 3,

    /// <summary>A stream with its events.</summary>
    Stream = 4,
}
