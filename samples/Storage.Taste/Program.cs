using System.Text.Json.Serialization;
using Storage;
using Storage.Json;

await using var store = JsonStore.Open(new JsonStoreOptions { Directory = "data" });

// Typed values through source-generated JsonTypeInfo<T>: no reflection.
var first = await store.PutAsync("alice", "moods", "2026-11-23", new Mood("happy", 8), AppJson.Default.Mood);
var second = await store.PutAsync("alice", "moods", "2026-11-23", new Mood("calm", 6), AppJson.Default.Mood,
    WriteCondition.MustMatchVersion(first));

// Optimistic concurrency: a stale version is refused, nothing is written.
try
{
    await store.PutAsync("alice", "moods", "2026-11-23", new Mood("grumpy", 2), AppJson.Default.Mood,
        WriteCondition.MustMatchVersion(first));
}
catch (VersionConflictException e)
{
    Console.WriteLine($"expected {e.ExpectedVersion}, found {e.ActualVersion}"); // in a new store: expected 1, found 2
}

// All or nothing, in one partition. Raw JSON and typed values share one shape (camelCase, below).
await store.CommitAsync("alice", [
    WriteOperation.Put("moods", "2026-11-24", """{"label":"tired","score":4}"""),
    WriteOperation.Delete("moods", "2026-11-01"),
]);
var tired = await store.GetAsync("alice", "moods", "2026-11-24", AppJson.Default.Mood);
Console.WriteLine(tired!.Value); // Mood { Label = tired, Score = 4 }

// Ordered by Unicode code point in every backend; the listing pages by itself (tokens stay inside).
await foreach (var mood in store.ListAllAsync("alice", "moods", new ListOptions { Prefix = "2026-11-" }))
{
    Console.WriteLine($"{mood.Key} v{mood.Version}: {mood.GetJsonText()}");
}

[JsonSerializable(typeof(Mood))]
[JsonSourceGenerationOptions(PropertyNamingPolicy = JsonKnownNamingPolicy.CamelCase)]
partial class AppJson : JsonSerializerContext;
record Mood(string Label, int Score);
