using Xunit.Abstractions;

namespace Storage.Conformance.Reference;

// The test kit's conformance suites against its reference model: `dotnet test --filter Backend=Reference`
// (the trait is the assembly's: AssemblyTraits.cs).

public sealed class ReferenceComplianceTests : ComplianceTestBase<ReferenceStoreFixture>;
public sealed class ReferenceIdentifierTests(ReferenceStoreFixture fixture) : IdentifierTests<ReferenceStoreFixture>(fixture);
public sealed class ReferenceValueRoundTripTests(ReferenceStoreFixture fixture) : ValueRoundTripTests<ReferenceStoreFixture>(fixture);
public sealed class ReferenceVersionTests(ReferenceStoreFixture fixture) : VersionTests<ReferenceStoreFixture>(fixture);
public sealed class ReferenceConditionTests(ReferenceStoreFixture fixture) : ConditionTests<ReferenceStoreFixture>(fixture);
public sealed class ReferenceBatchTests(ReferenceStoreFixture fixture) : BatchTests<ReferenceStoreFixture>(fixture);
public sealed class ReferenceListingTests(ReferenceStoreFixture fixture) : ListingTests<ReferenceStoreFixture>(fixture);
public sealed class ReferenceExpiryTests(ReferenceStoreFixture fixture) : ExpiryTests<ReferenceStoreFixture>(fixture);
public sealed class ReferenceSequenceTests(ReferenceStoreFixture fixture) : SequenceTests<ReferenceStoreFixture>(fixture);
public sealed class ReferencePartitionTests(ReferenceStoreFixture fixture) : PartitionTests<ReferenceStoreFixture>(fixture);
public sealed class ReferenceLimitTests(ReferenceStoreFixture fixture) : LimitTests<ReferenceStoreFixture>(fixture);
public sealed class ReferenceConcurrencyTests(ReferenceStoreFixture fixture) : ConcurrencyTests<ReferenceStoreFixture>(fixture);
public sealed class ReferenceLifetimeTests(ReferenceStoreFixture fixture) : LifetimeTests<ReferenceStoreFixture>(fixture);
public sealed class ReferenceStreamTests(ReferenceStoreFixture fixture) : StreamTests<ReferenceStoreFixture>(fixture);
public sealed class ReferenceChangeFeedTests(ReferenceStoreFixture fixture) : ChangeFeedTests<ReferenceStoreFixture>(fixture);
public sealed class ReferenceDifferentialTests(ReferenceStoreFixture fixture, ITestOutputHelper output) : DifferentialTests<ReferenceStoreFixture>(fixture, output);
public sealed class ReferenceIndexTests(ReferenceStoreFixture fixture) : IndexTests<ReferenceStoreFixture>(fixture);
public sealed class ReferenceImportTests(ReferenceStoreFixture fixture) : ImportTests<ReferenceStoreFixture>(fixture);
public sealed class ReferenceReadOnlyTests(ReferenceStoreFixture fixture) : ReadOnlyTests<ReferenceStoreFixture>(fixture);
public sealed class ReferenceExportTests(ReferenceStoreFixture fixture) : ExportTests<ReferenceStoreFixture>(fixture);
public sealed class ReferenceRestoreTests(ReferenceStoreFixture fixture) : RestoreTests<ReferenceStoreFixture>(fixture);
public sealed class ReferenceFollowTests(ReferenceStoreFixture fixture) : FollowTests<ReferenceStoreFixture>(fixture);
