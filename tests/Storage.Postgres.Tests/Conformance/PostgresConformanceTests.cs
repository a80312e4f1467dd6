using Xunit.Abstractions;

namespace Storage.Conformance.Postgres;

// The test kit's conformance suites against the PostgreSQL backend's plain layout, tagged with the
// assembly's trait (AssemblyTraits.cs): `dotnet test --filter Backend=Postgres` runs them, and the
// hash-partitioned layout's too.

public sealed class PostgresComplianceTests : ComplianceTestBase<PostgresStoreFixture>;
public sealed class PostgresIdentifierTests(PostgresStoreFixture fixture) : IdentifierTests<PostgresStoreFixture>(fixture);
public sealed class PostgresValueRoundTripTests(PostgresStoreFixture fixture) : ValueRoundTripTests<PostgresStoreFixture>(fixture);
public sealed class PostgresVersionTests(PostgresStoreFixture fixture) : VersionTests<PostgresStoreFixture>(fixture);
public sealed class PostgresConditionTests(PostgresStoreFixture fixture) : ConditionTests<PostgresStoreFixture>(fixture);
public sealed class PostgresBatchTests(PostgresStoreFixture fixture) : BatchTests<PostgresStoreFixture>(fixture);
public sealed class PostgresListingTests(PostgresStoreFixture fixture) : ListingTests<PostgresStoreFixture>(fixture);
public sealed class PostgresExpiryTests(PostgresStoreFixture fixture) : ExpiryTests<PostgresStoreFixture>(fixture);
public sealed class PostgresSequenceTests(PostgresStoreFixture fixture) : SequenceTests<PostgresStoreFixture>(fixture);
public sealed class PostgresPartitionTests(PostgresStoreFixture fixture) : PartitionTests<PostgresStoreFixture>(fixture);
public sealed class PostgresLimitTests(PostgresStoreFixture fixture) : LimitTests<PostgresStoreFixture>(fixture);
public sealed class PostgresConcurrencyTests(PostgresStoreFixture fixture) : ConcurrencyTests<PostgresStoreFixture>(fixture);
public sealed class PostgresLifetimeTests(PostgresStoreFixture fixture) : LifetimeTests<PostgresStoreFixture>(fixture);
public sealed class PostgresStreamTests(PostgresStoreFixture fixture) : StreamTests<PostgresStoreFixture>(fixture);
public sealed class PostgresChangeFeedTests(PostgresStoreFixture fixture) : ChangeFeedTests<PostgresStoreFixture>(fixture);
public sealed class PostgresDifferentialTests(PostgresStoreFixture fixture, ITestOutputHelper output) : DifferentialTests<PostgresStoreFixture>(fixture, output);
public sealed class PostgresIndexTests(PostgresStoreFixture fixture) : IndexTests<PostgresStoreFixture>(fixture);
public sealed class PostgresImportTests(PostgresStoreFixture fixture) : ImportTests<PostgresStoreFixture>(fixture);
public sealed class PostgresReadOnlyTests(PostgresStoreFixture fixture) : ReadOnlyTests<PostgresStoreFixture>(fixture);
public sealed class PostgresExportTests(PostgresStoreFixture fixture) : ExportTests<PostgresStoreFixture>(fixture);
public sealed class PostgresRestoreTests(PostgresStoreFixture fixture) : RestoreTests<PostgresStoreFixture>(fixture);
public sealed class PostgresFollowTests(PostgresStoreFixture fixture) : FollowTests<PostgresStoreFixture>(fixture);
