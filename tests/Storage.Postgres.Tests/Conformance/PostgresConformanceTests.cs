using Xunit.Abstractions;

namespace Storage.Conformance.Postgres;

// The conformance suites against the PostgreSQL backend: `dotnet test --filter Backend=Postgres`.

[Trait("Backend", "Postgres")]
public sealed class PostgresComplianceTests : ComplianceTestBase<PostgresStoreFixture>;

[Trait("Backend", "Postgres")]
public sealed class PostgresIdentifierTests(PostgresStoreFixture fixture) : IdentifierTests<PostgresStoreFixture>(fixture);

[Trait("Backend", "Postgres")]
public sealed class PostgresValueRoundTripTests(PostgresStoreFixture fixture) : ValueRoundTripTests<PostgresStoreFixture>(fixture);

[Trait("Backend", "Postgres")]
public sealed class PostgresVersionTests(PostgresStoreFixture fixture) : VersionTests<PostgresStoreFixture>(fixture);

[Trait("Backend", "Postgres")]
public sealed class PostgresConditionTests(PostgresStoreFixture fixture) : ConditionTests<PostgresStoreFixture>(fixture);

[Trait("Backend", "Postgres")]
public sealed class PostgresBatchTests(PostgresStoreFixture fixture) : BatchTests<PostgresStoreFixture>(fixture);

[Trait("Backend", "Postgres")]
public sealed class PostgresListingTests(PostgresStoreFixture fixture) : ListingTests<PostgresStoreFixture>(fixture);

[Trait("Backend", "Postgres")]
public sealed class PostgresExpiryTests(PostgresStoreFixture fixture) : ExpiryTests<PostgresStoreFixture>(fixture);

[Trait("Backend", "Postgres")]
public sealed class PostgresSequenceTests(PostgresStoreFixture fixture) : SequenceTests<PostgresStoreFixture>(fixture);

[Trait("Backend", "Postgres")]
public sealed class PostgresPartitionTests(PostgresStoreFixture fixture) : PartitionTests<PostgresStoreFixture>(fixture);

[Trait("Backend", "Postgres")]
public sealed class PostgresLimitTests(PostgresStoreFixture fixture) : LimitTests<PostgresStoreFixture>(fixture);

[Trait("Backend", "Postgres")]
public sealed class PostgresConcurrencyTests(PostgresStoreFixture fixture) : ConcurrencyTests<PostgresStoreFixture>(fixture);

[Trait("Backend", "Postgres")]
public sealed class PostgresLifetimeTests(PostgresStoreFixture fixture) : LifetimeTests<PostgresStoreFixture>(fixture);

[Trait("Backend", "Postgres")]
public sealed class PostgresStreamTests(PostgresStoreFixture fixture) : StreamTests<PostgresStoreFixture>(fixture);

[Trait("Backend", "Postgres")]
public sealed class PostgresChangeFeedTests(PostgresStoreFixture fixture) : ChangeFeedTests<PostgresStoreFixture>(fixture);

[Trait("Backend", "Postgres")]
public sealed class PostgresDifferentialTests(PostgresStoreFixture fixture, ITestOutputHelper output) : DifferentialTests<PostgresStoreFixture>(fixture, output);

[Trait("Backend", "Postgres")]
public sealed class PostgresIndexTests(PostgresStoreFixture fixture) : IndexTests<PostgresStoreFixture>(fixture);

[Trait("Backend", "Postgres")]
public sealed class PostgresImportTests(PostgresStoreFixture fixture) : ImportTests<PostgresStoreFixture>(fixture);
