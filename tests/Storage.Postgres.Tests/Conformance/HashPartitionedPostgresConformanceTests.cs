using Xunit.Abstractions;

namespace Storage.Conformance.Postgres;

// The test kit's conformance suites against the PostgreSQL backend with a hash-partitioned documents
// table: `dotnet test --filter Backend=PostgresHashPartitioned` (they carry the assembly's
// `Backend=Postgres` too, so that filter runs both layouts). A trait of its own on each class, since
// the compliance check wants one per fixture.

[Trait("Backend", "PostgresHashPartitioned")]
public sealed class HashPartitionedPostgresComplianceTests : ComplianceTestBase<HashPartitionedPostgresStoreFixture>;

[Trait("Backend", "PostgresHashPartitioned")]
public sealed class HashPartitionedPostgresIdentifierTests(HashPartitionedPostgresStoreFixture fixture) : IdentifierTests<HashPartitionedPostgresStoreFixture>(fixture);

[Trait("Backend", "PostgresHashPartitioned")]
public sealed class HashPartitionedPostgresValueRoundTripTests(HashPartitionedPostgresStoreFixture fixture) : ValueRoundTripTests<HashPartitionedPostgresStoreFixture>(fixture);

[Trait("Backend", "PostgresHashPartitioned")]
public sealed class HashPartitionedPostgresVersionTests(HashPartitionedPostgresStoreFixture fixture) : VersionTests<HashPartitionedPostgresStoreFixture>(fixture);

[Trait("Backend", "PostgresHashPartitioned")]
public sealed class HashPartitionedPostgresConditionTests(HashPartitionedPostgresStoreFixture fixture) : ConditionTests<HashPartitionedPostgresStoreFixture>(fixture);

[Trait("Backend", "PostgresHashPartitioned")]
public sealed class HashPartitionedPostgresBatchTests(HashPartitionedPostgresStoreFixture fixture) : BatchTests<HashPartitionedPostgresStoreFixture>(fixture);

[Trait("Backend", "PostgresHashPartitioned")]
public sealed class HashPartitionedPostgresListingTests(HashPartitionedPostgresStoreFixture fixture) : ListingTests<HashPartitionedPostgresStoreFixture>(fixture);

[Trait("Backend", "PostgresHashPartitioned")]
public sealed class HashPartitionedPostgresExpiryTests(HashPartitionedPostgresStoreFixture fixture) : ExpiryTests<HashPartitionedPostgresStoreFixture>(fixture);

[Trait("Backend", "PostgresHashPartitioned")]
public sealed class HashPartitionedPostgresSequenceTests(HashPartitionedPostgresStoreFixture fixture) : SequenceTests<HashPartitionedPostgresStoreFixture>(fixture);

[Trait("Backend", "PostgresHashPartitioned")]
public sealed class HashPartitionedPostgresPartitionTests(HashPartitionedPostgresStoreFixture fixture) : PartitionTests<HashPartitionedPostgresStoreFixture>(fixture);

[Trait("Backend", "PostgresHashPartitioned")]
public sealed class HashPartitionedPostgresLimitTests(HashPartitionedPostgresStoreFixture fixture) : LimitTests<HashPartitionedPostgresStoreFixture>(fixture);

[Trait("Backend", "PostgresHashPartitioned")]
public sealed class HashPartitionedPostgresConcurrencyTests(HashPartitionedPostgresStoreFixture fixture) : ConcurrencyTests<HashPartitionedPostgresStoreFixture>(fixture);

[Trait("Backend", "PostgresHashPartitioned")]
public sealed class HashPartitionedPostgresLifetimeTests(HashPartitionedPostgresStoreFixture fixture) : LifetimeTests<HashPartitionedPostgresStoreFixture>(fixture);

[Trait("Backend", "PostgresHashPartitioned")]
public sealed class HashPartitionedPostgresStreamTests(HashPartitionedPostgresStoreFixture fixture) : StreamTests<HashPartitionedPostgresStoreFixture>(fixture);

[Trait("Backend", "PostgresHashPartitioned")]
public sealed class HashPartitionedPostgresChangeFeedTests(HashPartitionedPostgresStoreFixture fixture) : ChangeFeedTests<HashPartitionedPostgresStoreFixture>(fixture);

[Trait("Backend", "PostgresHashPartitioned")]
public sealed class HashPartitionedPostgresDifferentialTests(HashPartitionedPostgresStoreFixture fixture, ITestOutputHelper output) : DifferentialTests<HashPartitionedPostgresStoreFixture>(fixture, output);

[Trait("Backend", "PostgresHashPartitioned")]
public sealed class HashPartitionedPostgresIndexTests(HashPartitionedPostgresStoreFixture fixture) : IndexTests<HashPartitionedPostgresStoreFixture>(fixture);

[Trait("Backend", "PostgresHashPartitioned")]
public sealed class HashPartitionedPostgresImportTests(HashPartitionedPostgresStoreFixture fixture) : ImportTests<HashPartitionedPostgresStoreFixture>(fixture);

[Trait("Backend", "PostgresHashPartitioned")]
public sealed class HashPartitionedPostgresReadOnlyTests(HashPartitionedPostgresStoreFixture fixture) : ReadOnlyTests<HashPartitionedPostgresStoreFixture>(fixture);

[Trait("Backend", "PostgresHashPartitioned")]
public sealed class HashPartitionedPostgresExportTests(HashPartitionedPostgresStoreFixture fixture) : ExportTests<HashPartitionedPostgresStoreFixture>(fixture);

[Trait("Backend", "PostgresHashPartitioned")]
public sealed class HashPartitionedPostgresRestoreTests(HashPartitionedPostgresStoreFixture fixture) : RestoreTests<HashPartitionedPostgresStoreFixture>(fixture);

[Trait("Backend", "PostgresHashPartitioned")]
public sealed class HashPartitionedPostgresFollowTests(HashPartitionedPostgresStoreFixture fixture) : FollowTests<HashPartitionedPostgresStoreFixture>(fixture);
