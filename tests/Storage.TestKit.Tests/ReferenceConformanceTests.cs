using Xunit.Abstractions;

namespace Storage.Conformance.Reference;

// The conformance suites against the reference model: `dotnet test --filter Backend=Reference`.

[Trait("Backend", "Reference")]
public sealed class ReferenceComplianceTests : ComplianceTestBase<ReferenceStoreFixture>;

[Trait("Backend", "Reference")]
public sealed class ReferenceIdentifierTests(ReferenceStoreFixture fixture) : IdentifierTests<ReferenceStoreFixture>(fixture);

[Trait("Backend", "Reference")]
public sealed class ReferenceValueRoundTripTests(ReferenceStoreFixture fixture) : ValueRoundTripTests<ReferenceStoreFixture>(fixture);

[Trait("Backend", "Reference")]
public sealed class ReferenceVersionTests(ReferenceStoreFixture fixture) : VersionTests<ReferenceStoreFixture>(fixture);

[Trait("Backend", "Reference")]
public sealed class ReferenceConditionTests(ReferenceStoreFixture fixture) : ConditionTests<ReferenceStoreFixture>(fixture);

[Trait("Backend", "Reference")]
public sealed class ReferenceBatchTests(ReferenceStoreFixture fixture) : BatchTests<ReferenceStoreFixture>(fixture);

[Trait("Backend", "Reference")]
public sealed class ReferenceListingTests(ReferenceStoreFixture fixture) : ListingTests<ReferenceStoreFixture>(fixture);

[Trait("Backend", "Reference")]
public sealed class ReferenceExpiryTests(ReferenceStoreFixture fixture) : ExpiryTests<ReferenceStoreFixture>(fixture);

[Trait("Backend", "Reference")]
public sealed class ReferenceSequenceTests(ReferenceStoreFixture fixture) : SequenceTests<ReferenceStoreFixture>(fixture);

[Trait("Backend", "Reference")]
public sealed class ReferencePartitionTests(ReferenceStoreFixture fixture) : PartitionTests<ReferenceStoreFixture>(fixture);

[Trait("Backend", "Reference")]
public sealed class ReferenceLimitTests(ReferenceStoreFixture fixture) : LimitTests<ReferenceStoreFixture>(fixture);

[Trait("Backend", "Reference")]
public sealed class ReferenceConcurrencyTests(ReferenceStoreFixture fixture) : ConcurrencyTests<ReferenceStoreFixture>(fixture);

[Trait("Backend", "Reference")]
public sealed class ReferenceLifetimeTests(ReferenceStoreFixture fixture) : LifetimeTests<ReferenceStoreFixture>(fixture);

[Trait("Backend", "Reference")]
public sealed class ReferenceStreamTests(ReferenceStoreFixture fixture) : StreamTests<ReferenceStoreFixture>(fixture);

[Trait("Backend", "Reference")]
public sealed class ReferenceChangeFeedTests(ReferenceStoreFixture fixture) : ChangeFeedTests<ReferenceStoreFixture>(fixture);

[Trait("Backend", "Reference")]
public sealed class ReferenceDifferentialTests(ReferenceStoreFixture fixture, ITestOutputHelper output) : DifferentialTests<ReferenceStoreFixture>(fixture, output);

[Trait("Backend", "Reference")]
public sealed class ReferenceIndexTests(ReferenceStoreFixture fixture) : IndexTests<ReferenceStoreFixture>(fixture);

[Trait("Backend", "Reference")]
public sealed class ReferenceImportTests(ReferenceStoreFixture fixture) : ImportTests<ReferenceStoreFixture>(fixture);
