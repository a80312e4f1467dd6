using Xunit.Abstractions;

namespace Storage.Conformance.Memory;

// The test kit's conformance suites against the in-memory backend: `dotnet test --filter Backend=Memory`
// (the trait is the assembly's: AssemblyTraits.cs; it also runs the store-wide grouping).

public sealed class MemoryComplianceTests : ComplianceTestBase<MemoryStoreFixture>;
public sealed class MemoryIdentifierTests(MemoryStoreFixture fixture) : IdentifierTests<MemoryStoreFixture>(fixture);
public sealed class MemoryValueRoundTripTests(MemoryStoreFixture fixture) : ValueRoundTripTests<MemoryStoreFixture>(fixture);
public sealed class MemoryVersionTests(MemoryStoreFixture fixture) : VersionTests<MemoryStoreFixture>(fixture);
public sealed class MemoryConditionTests(MemoryStoreFixture fixture) : ConditionTests<MemoryStoreFixture>(fixture);
public sealed class MemoryBatchTests(MemoryStoreFixture fixture) : BatchTests<MemoryStoreFixture>(fixture);
public sealed class MemoryListingTests(MemoryStoreFixture fixture) : ListingTests<MemoryStoreFixture>(fixture);
public sealed class MemoryExpiryTests(MemoryStoreFixture fixture) : ExpiryTests<MemoryStoreFixture>(fixture);
public sealed class MemorySequenceTests(MemoryStoreFixture fixture) : SequenceTests<MemoryStoreFixture>(fixture);
public sealed class MemoryPartitionTests(MemoryStoreFixture fixture) : PartitionTests<MemoryStoreFixture>(fixture);
public sealed class MemoryLimitTests(MemoryStoreFixture fixture) : LimitTests<MemoryStoreFixture>(fixture);
public sealed class MemoryConcurrencyTests(MemoryStoreFixture fixture) : ConcurrencyTests<MemoryStoreFixture>(fixture);
public sealed class MemoryLifetimeTests(MemoryStoreFixture fixture) : LifetimeTests<MemoryStoreFixture>(fixture);
public sealed class MemoryStreamTests(MemoryStoreFixture fixture) : StreamTests<MemoryStoreFixture>(fixture);
public sealed class MemoryChangeFeedTests(MemoryStoreFixture fixture) : ChangeFeedTests<MemoryStoreFixture>(fixture);
public sealed class MemoryDifferentialTests(MemoryStoreFixture fixture, ITestOutputHelper output) : DifferentialTests<MemoryStoreFixture>(fixture, output);
public sealed class MemoryIndexTests(MemoryStoreFixture fixture) : IndexTests<MemoryStoreFixture>(fixture);
public sealed class MemoryImportTests(MemoryStoreFixture fixture) : ImportTests<MemoryStoreFixture>(fixture);
public sealed class MemoryReadOnlyTests(MemoryStoreFixture fixture) : ReadOnlyTests<MemoryStoreFixture>(fixture);
public sealed class MemoryExportTests(MemoryStoreFixture fixture) : ExportTests<MemoryStoreFixture>(fixture);
public sealed class MemoryRestoreTests(MemoryStoreFixture fixture) : RestoreTests<MemoryStoreFixture>(fixture);
public sealed class MemoryFollowTests(MemoryStoreFixture fixture) : FollowTests<MemoryStoreFixture>(fixture);
