using System.Text.Json.Serialization;
using Storage;
using Storage.Json;

// Runs the store through its paces on the embedded default backend: JSON files in a directory.
// Usage: dotnet run --project samples/Storage.Demo [-- <data directory>]
var directory = args.Length > 0 ? args[0] : Path.Combine(Path.GetTempPath(), "storage-demo-" + Guid.NewGuid().ToString("N")[..8]);
Console.WriteLine($"Store directory: {directory}");

// Secondary indexes on what the documents contain; the JSON backend keeps them in memory.
IndexDefinition[] indexes =
[
    new("moods", "label", "label", IndexValueType.String),
    new("moods", "score", "score", IndexValueType.Int64),
];

await using (var store = JsonStore.Open(new JsonStoreOptions { Directory = directory, Indexes = indexes }))
{
    // Typed documents through a source-generated JsonSerializerContext.
    var version = await store.PutAsync("alice", "moods", "2026-11-23", new Mood("happy", 8), DemoJson.Default.Mood);
    Console.WriteLine($"put alice/moods/2026-11-23 -> version {version}");

    var mood = await store.GetAsync("alice", "moods", "2026-11-23", DemoJson.Default.Mood);
    Console.WriteLine($"get -> {mood!.Value} (version {mood.Version}, created {mood.CreatedAt:O})");

    // Conditional write: a stale version is refused and nothing changes.
    await store.PutAsync("alice", "moods", "2026-11-23", new Mood("calm", 6), DemoJson.Default.Mood, WriteCondition.MustMatchVersion(version));
    try
    {
        await store.PutAsync("alice", "moods", "2026-11-23", new Mood("grumpy", 2), DemoJson.Default.Mood, WriteCondition.MustMatchVersion(version));
    }
    catch (VersionConflictException e)
    {
        Console.WriteLine($"stale write refused: expected {e.ExpectedVersion}, actual {e.ActualVersion}");
    }

    // An atomic batch, then an ordered listing.
    var batch = await store.CommitAsync("alice", [
        WriteOperation.Put("moods", "2026-11-24", """{"label":"tired","score":4}"""),
        WriteOperation.Put("moods", "2026-11-25", """{"label":"rested","score":9}"""),
    ]);
    Console.WriteLine($"batch of 2 -> revision {batch.Revision}");

    var page = await store.ListAsync("alice", "moods", new ListOptions { Prefix = "2026-11-", Limit = 10 });
    foreach (var document in page.Items)
    {
        Console.WriteLine($"  {document.Key} v{document.Version}: {document.GetJsonText()}");
    }

    var id = await store.IncrementSequenceAsync("alice", "next_id");
    Console.WriteLine($"sequence next_id -> {id}");

    // A document and the audit event that explains it, in one atomic commit.
    var audit = EventData.Create("mood.changed", new MoodChanged("2026-11-23", "calm", "alice"), DemoJson.Default.MoodChanged);
    var withAudit = await store.CommitAsync("alice", [
        WriteOperation.Put("moods", "2026-11-23", """{"label":"calm","score":7}"""),
        WriteOperation.Append("audit", [audit], ExpectedStreamVersion.NoStream),
    ]);
    Console.WriteLine($"put + audit event -> revision {withAudit.Revision}, audit stream at version {withAudit.Outcomes[1].Version}");

    // Re-sending the same event (a retry after a timeout) is recognized: nothing is written twice.
    var retried = await store.AppendAsync("alice", "audit", [audit], ExpectedStreamVersion.NoStream);
    var trail = await store.ReadStreamAsync("alice", "audit");
    Console.WriteLine($"retry -> version {retried}; audit holds {trail.Items.Count} event(s): {trail.Items[0].Type} {trail.Items[0].GetJsonText()}");

    // The change feed: everything after revision 3, whole commits at a time, compacted.
    var changes = await store.ReadChangesAsync("alice", afterRevision: 3);
    foreach (var change in changes.Items)
    {
        var what = change.Kind switch
        {
            ChangeKind.Put => $"{change.Collection}/{change.Key} = {change.Document!.GetJsonText()}",
            ChangeKind.Delete => $"{change.Collection}/{change.Key} deleted",
            ChangeKind.Append => $"{change.Event!.Stream} v{change.Event.Version} {change.Event.Type}",
            _ => $"sequence {change.SequenceName} = {change.SequenceValue}",
        };
        Console.WriteLine($"  r{change.Revision} {change.Kind}: {what}");
    }

    Console.WriteLine($"feed caught up at revision {changes.LastRevision}");

    // Queries by index, across every partition, in (value, partition, key) order.
    await store.PutAsync("bob", "moods", "2026-11-23", new Mood("happy", 9), DemoJson.Default.Mood);
    var good = await store.QueryAsync(new IndexQuery("moods", "score") { From = 7, Descending = true });
    Console.WriteLine($"scores >= 7: {string.Join(", ", good.Items.Select(m => $"{m.Document.Partition}/{m.Document.Key}={m.Value}"))}");
    Console.WriteLine($"happy days: {await store.CountAsync(new IndexQuery("moods", "label") { Equal = "happy" })}");

    var partitions = await store.ListPartitionsAsync();
    Console.WriteLine($"partitions: {string.Join(", ", partitions.Items.Select(p => $"{p.Partition}@{p.Revision}"))}");
}

Console.WriteLine("Files on disk:");
foreach (var file in Directory.EnumerateFiles(directory, "*", SearchOption.AllDirectories).Order(StringComparer.Ordinal))
{
    Console.WriteLine($"  {Path.GetRelativePath(directory, file)}");
}

Console.WriteLine("OK");

/// <summary>A mood entry.</summary>
internal sealed record Mood(string Label, int Score);

/// <summary>An audit event: who changed which mood to what.</summary>
internal sealed record MoodChanged(string Day, string Label, string By);

/// <summary>Source-generated serialization metadata: no reflection.</summary>
[JsonSerializable(typeof(Mood))]
[JsonSerializable(typeof(MoodChanged))]
[JsonSourceGenerationOptions(PropertyNamingPolicy = JsonKnownNamingPolicy.CamelCase)]
internal sealed partial class DemoJson : JsonSerializerContext;
