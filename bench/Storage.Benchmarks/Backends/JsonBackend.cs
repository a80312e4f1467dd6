using Storage.Benchmarks.Drivers;
using Storage.Json;

namespace Storage.Benchmarks.Backends;

/// <summary>
/// The JSON-files backend, against a hand-written atomic replace of the same bytes that syncs what
/// the store syncs in <paramref name="durability"/>.
/// </summary>
internal sealed class JsonBackend(string root, DurabilityMode durability) : Backend
{
    public override string Name => "JSON";

    public override string RawName => "atomic file replace";

    public override string Describe() => durability == DurabilityMode.Full
        ? "JSON files: DurabilityMode.Full (fsync of the file and of its directory per commit)"
        : "JSON files: DurabilityMode.Relaxed (no fsync of the directory per commit; the raw baseline skips it too)";

    public override string Address(string label) => "json:" + Path.Combine(root, "json-" + label, "store");

    public override ValueTask<Subjects> OpenAsync(string label, IReadOnlyList<IndexDefinition>? indexes = null)
    {
        var directory = Path.Combine(root, "json-" + label);
        var storeDirectory = Path.Combine(directory, "store");
        var store = JsonStore.Open(new JsonStoreOptions { Directory = storeDirectory, Indexes = indexes ?? [], Durability = durability });

        // The partition keys of the benchmark are lower-case ASCII letters and digits, which the file-name
        // encoding keeps as they are (docs/json-backend.md): partition "w000000" is p-w000000.json.
        var raw = new RawFilesDriver(Path.Combine(directory, "raw"), partition => File.ReadAllBytes(Path.Combine(storeDirectory, "partitions", "p-" + partition + ".json")), syncDirectory: durability == DurabilityMode.Full);
        return ValueTask.FromResult(new Subjects(new StoreDriver(store), raw, DeleteDirectory(directory)));
    }
}
