namespace Storage.Conformance;

/// <summary>
/// What the crash writer's cutover-app mode acknowledged ("ACK PUT partition key", "ACK APPEND partition
/// id"), checked against the store it ended on: exactly the acknowledged keys in each partition's "docs"
/// collection (none missing, nothing the app did not write), each holding its key as a JSON string, and each partition's "log" stream holding the
/// acknowledged events in order, each once.
/// </summary>
public static class CutoverAppLog
{
    /// <summary>Asserts that <paramref name="store"/> holds every write the app acknowledged in <paramref name="lines"/>, once.</summary>
    /// <param name="lines">The app's output.</param>
    /// <param name="store">The store the app ended on.</param>
    /// <param name="operations">How many writes the app was told to make (each must have been acknowledged).</param>
    /// <returns>A task that completes when checked.</returns>
    public static async Task AssertEveryAcknowledgedWriteOnceAsync(IReadOnlyList<string> lines, IStore store, int operations)
    {
        var acknowledged = lines.Where(l => l.StartsWith("ACK ", StringComparison.Ordinal)).Select(l => l.Split(' ')).ToList();
        Assert.Equal(operations, acknowledged.Count);
        foreach (var partition in acknowledged.Where(a => a[1] == "PUT").GroupBy(a => a[2]))
        {
            var documents = (await store.ListAsync(partition.Key, "docs", new ListOptions { Limit = 1000 })).Items;
            Assert.Equal(partition.Select(a => a[3]).Order(StringComparer.Ordinal), documents.Select(d => d.Key).Order(StringComparer.Ordinal));

            // Each holds what the app wrote: its key, as a JSON string.
            Assert.All(documents, d => Assert.Equal("\"" + d.Key + "\"", System.Text.Encoding.UTF8.GetString(d.Value.Span)));
        }

        foreach (var partition in acknowledged.Where(a => a[1] == "APPEND").GroupBy(a => a[2]))
        {
            var events = await store.ReadStreamAsync(partition.Key, "log", new ReadStreamOptions { Limit = 1000 });
            Assert.Equal(partition.Select(a => Guid.Parse(a[3])), events.Items.Select(e => e.Id));
        }

        Assert.True(acknowledged.Count(a => a[1] == "PUT") > operations / 2);
    }
}
