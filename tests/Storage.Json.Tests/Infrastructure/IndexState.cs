using Storage.Internal;

namespace Storage.Json.Tests.Infrastructure;

/// <summary>
/// What a store's indexes show, as comparable lines: every match of every index (paged, both
/// orders) and the counts — and what they must show, computed from the documents themselves.
/// </summary>
internal static class IndexState
{
    /// <summary>Every index's matches through <see cref="IStore.QueryAsync"/>, ascending (descending must be its exact reverse), and its count.</summary>
    public static async Task<List<string>> QueryAsync(IStore store, IReadOnlyList<IndexDefinition> indexes)
    {
        var lines = new List<string>();
        foreach (var index in indexes)
        {
            var ascending = await AllAsync(store, new IndexQuery(index.Collection, index.Name) { Limit = 7 });
            var descending = await AllAsync(store, new IndexQuery(index.Collection, index.Name) { Limit = 5, Descending = true });
            descending.Reverse();
            if (!ascending.SequenceEqual(descending))
            {
                lines.Add($"{index.Name}: the descending scan is not the reverse of the ascending one");
            }

            lines.AddRange(ascending);
            lines.Add($"{index.Name}: count {await store.CountAsync(new IndexQuery(index.Collection, index.Name))}");
        }

        return lines;
    }

    /// <summary>What <see cref="QueryAsync"/> must show: the live documents' values, found by listing every partition.</summary>
    public static async Task<List<string>> ExpectedAsync(IStore store, IReadOnlyList<IndexDefinition> indexes)
    {
        var documents = new List<StoredDocument>();
        foreach (var collection in indexes.Select(i => i.Collection).Distinct(StringComparer.Ordinal))
        {
            string? partitionToken = null;
            do
            {
                var partitions = await store.ListPartitionsAsync(new PartitionListOptions { ContinuationToken = partitionToken });
                foreach (var partition in partitions.Items)
                {
                    string? token = null;
                    do
                    {
                        var page = await store.ListAsync(partition.Partition, collection, new ListOptions { ContinuationToken = token });
                        documents.AddRange(page.Items);
                        token = page.ContinuationToken;
                    }
                    while (token is not null);
                }

                partitionToken = partitions.ContinuationToken;
            }
            while (partitionToken is not null);
        }

        var lines = new List<string>();
        foreach (var index in indexes)
        {
            var matches = documents
                .Where(d => string.Equals(d.Collection, index.Collection, StringComparison.Ordinal))
                .SelectMany(d => IndexValues.Extract(index, d.Value).Select(v => new IndexMatch(v, d)))
                .ToList();
            matches.Sort(IndexQueryPlan.Order);
            lines.AddRange(matches.Select(m => Line(index, m)));
            lines.Add($"{index.Name}: count {matches.Count}");
        }

        return lines;
    }

    private static async Task<List<string>> AllAsync(IStore store, IndexQuery query)
    {
        var lines = new List<string>();
        string? token = null;
        do
        {
            var page = await store.QueryAsync(query with { ContinuationToken = token });
            lines.AddRange(page.Items.Select(m => Line(query.Index, m)));
            token = page.ContinuationToken;
        }
        while (token is not null);

        return lines;
    }

    private static string Line(IndexDefinition index, IndexMatch match) => Line(index.Name, match);

    private static string Line(string index, IndexMatch match)
        => $"{index}: {match.Value} @ {match.Document.Partition}/{match.Document.Key} v{match.Document.Version} {match.Document.GetJsonText()}";
}
