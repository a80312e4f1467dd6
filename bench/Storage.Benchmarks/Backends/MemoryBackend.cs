using Storage.Benchmarks.Drivers;
using Storage.Memory;

namespace Storage.Benchmarks.Backends;

/// <summary>
/// The memory backend (the engine over dictionaries, nothing written anywhere), against the same
/// work on plain .NET collections: what the rows measure is the engine's own cost per operation.
/// </summary>
/// <remarks>Named apart from Storage.Memory's internal <c>MemoryBackend</c>, the store's side of the engine.</remarks>
internal sealed class InMemoryBackend : Backend
{
    public override string Name => "Memory";

    public override string RawName => "SortedDictionary + lock";

    public override bool RawAnswersAsStore => true;

    public override string Describe() => "Memory: MemoryStore.Create (the engine over sorted dictionaries under one lock); raw baseline: a SortedDictionary per partition under its lock";

    public override ValueTask<Subjects> OpenAsync(string label, IReadOnlyList<IndexDefinition>? indexes = null)
    {
        var store = MemoryStore.Create(new MemoryStoreOptions { Indexes = indexes ?? [] });
        return ValueTask.FromResult(new Subjects(new StoreDriver(store), new RawMemoryDriver(), static () => ValueTask.CompletedTask));
    }
}
