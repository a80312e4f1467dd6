using Xunit.Abstractions;

namespace Storage.Conformance.Memory;

// The test kit's conformance suites against the in-memory backend with one group commit for the store:
// `dotnet test --filter Backend=MemoryStoreWide` (they carry the assembly's `Backend=Memory` too).
// A trait of its own on each class, since the compliance check wants one per fixture.

[Trait("Backend", "MemoryStoreWide")]
public sealed class StoreWideMemoryComplianceTests : ComplianceTestBase<StoreWideMemoryStoreFixture>;

[Trait("Backend", "MemoryStoreWide")]
public sealed class StoreWideMemoryIdentifierTests(StoreWideMemoryStoreFixture fixture) : IdentifierTests<StoreWideMemoryStoreFixture>(fixture);

[Trait("Backend", "MemoryStoreWide")]
public sealed class StoreWideMemoryValueRoundTripTests(StoreWideMemoryStoreFixture fixture) : ValueRoundTripTests<StoreWideMemoryStoreFixture>(fixture);

[Trait("Backend", "MemoryStoreWide")]
public sealed class StoreWideMemoryVersionTests(StoreWideMemoryStoreFixture fixture) : VersionTests<StoreWideMemoryStoreFixture>(fixture);

[Trait("Backend", "MemoryStoreWide")]
public sealed class StoreWideMemoryConditionTests(StoreWideMemoryStoreFixture fixture) : ConditionTests<StoreWideMemoryStoreFixture>(fixture);

[Trait("Backend", "MemoryStoreWide")]
public sealed class StoreWideMemoryBatchTests(StoreWideMemoryStoreFixture fixture) : BatchTests<StoreWideMemoryStoreFixture>(fixture);

[Trait("Backend", "MemoryStoreWide")]
public sealed class StoreWideMemoryListingTests(StoreWideMemoryStoreFixture fixture) : ListingTests<StoreWideMemoryStoreFixture>(fixture);

[Trait("Backend", "MemoryStoreWide")]
public sealed class StoreWideMemoryExpiryTests(StoreWideMemoryStoreFixture fixture) : ExpiryTests<StoreWideMemoryStoreFixture>(fixture);

[Trait("Backend", "MemoryStoreWide")]
public sealed class StoreWideMemorySequenceTests(StoreWideMemoryStoreFixture fixture) : SequenceTests<StoreWideMemoryStoreFixture>(fixture);

[Trait("Backend", "MemoryStoreWide")]
public sealed class StoreWideMemoryPartitionTests(StoreWideMemoryStoreFixture fixture) : PartitionTests<StoreWideMemoryStoreFixture>(fixture);

[Trait("Backend", "MemoryStoreWide")]
public sealed class StoreWideMemoryLimitTests(StoreWideMemoryStoreFixture fixture) : LimitTests<StoreWideMemoryStoreFixture>(fixture);

[Trait("Backend", "MemoryStoreWide")]
public sealed class StoreWideMemoryConcurrencyTests(StoreWideMemoryStoreFixture fixture) : ConcurrencyTests<StoreWideMemoryStoreFixture>(fixture);

[Trait("Backend", "MemoryStoreWide")]
public sealed class StoreWideMemoryLifetimeTests(StoreWideMemoryStoreFixture fixture) : LifetimeTests<StoreWideMemoryStoreFixture>(fixture);

[Trait("Backend", "MemoryStoreWide")]
public sealed class StoreWideMemoryStreamTests(StoreWideMemoryStoreFixture fixture) : StreamTests<StoreWideMemoryStoreFixture>(fixture);

[Trait("Backend", "MemoryStoreWide")]
public sealed class StoreWideMemoryChangeFeedTests(StoreWideMemoryStoreFixture fixture) : ChangeFeedTests<StoreWideMemoryStoreFixture>(fixture);

[Trait("Backend", "MemoryStoreWide")]
public sealed class StoreWideMemoryDifferentialTests(StoreWideMemoryStoreFixture fixture, ITestOutputHelper output) : DifferentialTests<StoreWideMemoryStoreFixture>(fixture, output);

[Trait("Backend", "MemoryStoreWide")]
public sealed class StoreWideMemoryIndexTests(StoreWideMemoryStoreFixture fixture) : IndexTests<StoreWideMemoryStoreFixture>(fixture);

[Trait("Backend", "MemoryStoreWide")]
public sealed class StoreWideMemoryImportTests(StoreWideMemoryStoreFixture fixture) : ImportTests<StoreWideMemoryStoreFixture>(fixture);

[Trait("Backend", "MemoryStoreWide")]
public sealed class StoreWideMemoryReadOnlyTests(StoreWideMemoryStoreFixture fixture) : ReadOnlyTests<StoreWideMemoryStoreFixture>(fixture);

[Trait("Backend", "MemoryStoreWide")]
public sealed class StoreWideMemoryExportTests(StoreWideMemoryStoreFixture fixture) : ExportTests<StoreWideMemoryStoreFixture>(fixture);

[Trait("Backend", "MemoryStoreWide")]
public sealed class StoreWideMemoryRestoreTests(StoreWideMemoryStoreFixture fixture) : RestoreTests<StoreWideMemoryStoreFixture>(fixture);
public sealed class StoreWideMemoryFollowTests(StoreWideMemoryStoreFixture fixture) : FollowTests<StoreWideMemoryStoreFixture>(fixture);
