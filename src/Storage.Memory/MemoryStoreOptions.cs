namespace Storage.Memory;

/// <summary>How a <see cref="MemoryStore"/> behaves: only what every backend shares (<see cref="StoreOptions"/>).</summary>
/// <seealso href="../../docs/memory-backend.md"/>
public sealed class MemoryStoreOptions : StoreOptions
{
}
