using Xunit.Abstractions;

namespace Storage.Conformance.Memory;

// The conformance suites against the in-memory backend: `dotnet test --filter Backend=Memory`.

[Trait("Backend", "Memory")]
public sealed class MemoryComplianceTests : ComplianceTestBase<MemoryStoreFixture>;

[Trait("Backend", "Memory")]
public sealed class MemoryIdentifierTests(MemoryStoreFixture fixture) : IdentifierTests<MemoryStoreFixture>(fixture);

[Trait("Backend", "Memory")]
public sealed class MemoryValueRoundTripTests(MemoryStoreFixture fixture) : ValueRoundTripTests<MemoryStoreFixture>(fixture);

[Trait("Backend", "Memory")]
public sealed class MemoryVersionTests(MemoryStoreFixture fixture) : VersionTests<MemoryStoreFixture>(fixture);

[Trait("Backend", "Memory")]
public sealed class MemoryConditionTests(MemoryStoreFixture fixture) : ConditionTests<MemoryStoreFixture>(fixture);

[Trait("Backend", "Memory")]
public sealed class MemoryBatchTests(MemoryStoreFixture fixture) : BatchTests<MemoryStoreFixture>(fixture);

[Trait("Backend", "Memory")]
public sealed class MemoryListingTests(MemoryStoreFixture fixture) : ListingTests<MemoryStoreFixture>(fixture);

[Trait("Backend", "Memory")]
public sealed class MemoryExpiryTests(MemoryStoreFixture fixture) : ExpiryTests<MemoryStoreFixture>(fixture);

[Trait("Backend", "Memory")]
public sealed class MemorySequenceTests(MemoryStoreFixture fixture) : SequenceTests<MemoryStoreFixture>(fixture);

[Trait("Backend", "Memory")]
public sealed class MemoryPartitionTests(MemoryStoreFixture fixture) : PartitionTests<MemoryStoreFixture>(fixture);

[Trait("Backend", "Memory")]
public sealed class MemoryLimitTests(MemoryStoreFixture fixture) : LimitTests<MemoryStoreFixture>(fixture);

[Trait("Backend", "Memory")]
public sealed class MemoryConcurrencyTests(MemoryStoreFixture fixture) : ConcurrencyTests<MemoryStoreFixture>(fixture);

[Trait("Backend", "Memory")]
public sealed class MemoryLifetimeTests(MemoryStoreFixture fixture) : LifetimeTests<MemoryStoreFixture>(fixture);

[Trait("Backend", "Memory")]
public sealed class MemoryStreamTests(MemoryStoreFixture fixture) : StreamTests<MemoryStoreFixture>(fixture);

[Trait("Backend", "Memory")]
public sealed class MemoryChangeFeedTests(MemoryStoreFixture fixture) : ChangeFeedTests<MemoryStoreFixture>(fixture);

[Trait("Backend", "Memory")]
public sealed class MemoryDifferentialTests(MemoryStoreFixture fixture, ITestOutputHelper output) : DifferentialTests<MemoryStoreFixture>(fixture, output);

[Trait("Backend", "Memory")]
public sealed class MemoryIndexTests(MemoryStoreFixture fixture) : IndexTests<MemoryStoreFixture>(fixture);

[Trait("Backend", "Memory")]
public sealed class MemoryImportTests(MemoryStoreFixture fixture) : ImportTests<MemoryStoreFixture>(fixture);
