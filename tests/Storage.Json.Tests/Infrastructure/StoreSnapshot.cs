using System.Globalization;
using System.Text;

namespace Storage.Json.Tests.Infrastructure;

/// <summary>Where a <see cref="StoreSnapshot"/> looks.</summary>
/// <param name="Partitions">Partitions to read even if the partition listing misses them.</param>
/// <param name="Collections">Collections to list in each partition.</param>
/// <param name="Sequences">Sequences to read in each partition.</param>
/// <param name="IncludePartitionList">Whether the partition listing (keys and revisions) and each partition's change feed (which shows every collection) are part of the snapshot.</param>
internal sealed record SnapshotScope(IReadOnlyList<string> Partitions, IReadOnlyList<string> Collections, IReadOnlyList<string> Sequences, bool IncludePartitionList = true)
{
    /// <summary>The same scope without the partition listing and without some collections.</summary>
    public SnapshotScope Without(params string[] collections) => this with
    {
        Collections = Collections.Except(collections, StringComparer.Ordinal).ToList(),
        IncludePartitionList = false,
    };
}

/// <summary>
/// Everything a store shows through <see cref="IStore"/> in a scope — partitions with revisions,
/// documents with versions, timestamps and exact values, sequences, every stream with all its
/// events, and each partition's change feed from the start (tombstones and sequence revisions
/// included) — as sorted lines, so two states compare with <c>==</c> and differ with a readable diff.
/// </summary>
internal sealed class StoreSnapshot : IEquatable<StoreSnapshot>
{
    private StoreSnapshot(IReadOnlyList<string> lines) => Lines = lines;

    public IReadOnlyList<string> Lines { get; }

    public static async Task<StoreSnapshot> CaptureAsync(IStore store, SnapshotScope scope)
    {
        var lines = new List<string>();
        var partitions = new SortedSet<string>(scope.Partitions, StringComparer.Ordinal);
        string? token = null;
        do
        {
            var page = await store.ListPartitionsAsync(new PartitionListOptions { ContinuationToken = token, Limit = StoreLimits.MaxPageSize });
            foreach (var info in page.Items)
            {
                partitions.Add(info.Partition);
                if (scope.IncludePartitionList)
                {
                    lines.Add($"partition {info.Partition} rev {info.Revision}");
                }
            }

            token = page.ContinuationToken;
        }
        while (token is not null);

        foreach (var partition in partitions)
        {
            foreach (var collection in scope.Collections)
            {
                token = null;
                do
                {
                    var page = await store.ListAsync(partition, collection, new ListOptions { ContinuationToken = token, Limit = StoreLimits.MaxPageSize });
                    lines.AddRange(page.Items.Select(Describe));
                    token = page.ContinuationToken;
                }
                while (token is not null);
            }

            foreach (var sequence in scope.Sequences)
            {
                var value = await store.GetSequenceAsync(partition, sequence);
                if (value != 0)
                {
                    lines.Add($"seq {partition} {sequence} {value}");
                }
            }

            token = null;
            do
            {
                var page = await store.ListStreamsAsync(partition, new ListOptions { ContinuationToken = token, Limit = StoreLimits.MaxPageSize });
                foreach (var stream in page.Items)
                {
                    lines.Add($"stream {partition} {stream.Stream} v{stream.Version}");
                    long? from = 1;
                    while (from is not null)
                    {
                        var events = await store.ReadStreamAsync(partition, stream.Stream, new ReadStreamOptions { FromVersion = from, Limit = StoreLimits.MaxPageSize });
                        lines.AddRange(events.Items.Select(Describe));
                        from = events.NextVersion;
                    }
                }

                token = page.ContinuationToken;
            }
            while (token is not null);

            if (scope.IncludePartitionList)
            {
                long after = 0;
                ChangePage changes;
                do
                {
                    changes = await store.ReadChangesAsync(partition, after, StoreLimits.MaxPageSize);
                    lines.AddRange(changes.Items.Select(c => $"feed {partition} {Describe(c)}"));
                    after = changes.LastRevision;
                }
                while (changes.HasMore);

                lines.Add($"feed {partition} up to rev {after}");
            }
        }

        lines.Sort(StringComparer.Ordinal);
        return new StoreSnapshot(lines);
    }

    /// <summary>The line that stands for one document.</summary>
    public static string Describe(StoredDocument document) => string.Create(
        CultureInfo.InvariantCulture,
        $"doc {document.Partition} {document.Collection} {document.Key} v{document.Version} created {document.CreatedAt.ToUnixTimeMilliseconds()} updated {document.UpdatedAt.ToUnixTimeMilliseconds()} expires {document.ExpiresAt?.ToUnixTimeMilliseconds()} {document.GetJsonText()}");

    /// <summary>The line that stands for one event.</summary>
    public static string Describe(StoredEvent e) => string.Create(
        CultureInfo.InvariantCulture,
        $"event {e.Partition} {e.Stream} v{e.Version} r{e.Revision} {e.Id} {e.Type} committed {e.CommittedAt.ToUnixTimeMilliseconds()} {e.GetJsonText()} meta {(e.Metadata.IsEmpty ? "none" : Encoding.UTF8.GetString(e.Metadata.Span))}");

    /// <summary>What one change of the feed says.</summary>
    public static string Describe(Change change) => change.Kind switch
    {
        ChangeKind.Put => Describe(change.Document!),
        ChangeKind.Delete => string.Create(CultureInfo.InvariantCulture, $"delete r{change.Revision} {change.Collection} {change.Key}"),
        ChangeKind.Append => Describe(change.Event!),
        _ => string.Create(CultureInfo.InvariantCulture, $"sequence r{change.Revision} {change.SequenceName} {change.SequenceValue}"),
    };

    /// <summary>The partition's revision as the partition listing showed it; 0 when it is not listed (or the listing is not in the scope).</summary>
    public long Revision(string partition)
    {
        var prefix = $"partition {partition} rev ";
        var line = Lines.FirstOrDefault(l => l.StartsWith(prefix, StringComparison.Ordinal));
        return line is null ? 0 : long.Parse(line.AsSpan(prefix.Length), NumberStyles.None, CultureInfo.InvariantCulture);
    }

    /// <summary>The lines about one partition (every line names its partition after its kind).</summary>
    public StoreSnapshot Of(string partition)
        => new([.. Lines.Where(l => l.AsSpan(l.IndexOf(' ') + 1).StartsWith(partition + " ", StringComparison.Ordinal))]);

    /// <summary>The lines only one side has.</summary>
    public string Diff(StoreSnapshot expected)
    {
        var missing = expected.Lines.Except(Lines, StringComparer.Ordinal).Select(l => "  - " + l);
        var extra = Lines.Except(expected.Lines, StringComparer.Ordinal).Select(l => "  + " + l);
        return string.Join('\n', missing.Concat(extra));
    }

    public bool Equals(StoreSnapshot? other) => other is not null && Lines.SequenceEqual(other.Lines, StringComparer.Ordinal);

    public override bool Equals(object? obj) => Equals(obj as StoreSnapshot);

    public override int GetHashCode() => Lines.Count;

    public override string ToString() => string.Join('\n', Lines);

    public static bool operator ==(StoreSnapshot? left, StoreSnapshot? right) => left?.Equals(right) ?? right is null;

    public static bool operator !=(StoreSnapshot? left, StoreSnapshot? right) => !(left == right);
}
