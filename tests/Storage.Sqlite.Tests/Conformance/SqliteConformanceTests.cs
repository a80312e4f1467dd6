using Xunit.Abstractions;

namespace Storage.Conformance.Sqlite;

// The conformance suites against the SQLite backend: `dotnet test --filter Backend=Sqlite`.

[Trait("Backend", "Sqlite")]
public sealed class SqliteComplianceTests : ComplianceTestBase<SqliteStoreFixture>;

[Trait("Backend", "Sqlite")]
public sealed class SqliteIdentifierTests(SqliteStoreFixture fixture) : IdentifierTests<SqliteStoreFixture>(fixture);

[Trait("Backend", "Sqlite")]
public sealed class SqliteValueRoundTripTests(SqliteStoreFixture fixture) : ValueRoundTripTests<SqliteStoreFixture>(fixture);

[Trait("Backend", "Sqlite")]
public sealed class SqliteVersionTests(SqliteStoreFixture fixture) : VersionTests<SqliteStoreFixture>(fixture);

[Trait("Backend", "Sqlite")]
public sealed class SqliteConditionTests(SqliteStoreFixture fixture) : ConditionTests<SqliteStoreFixture>(fixture);

[Trait("Backend", "Sqlite")]
public sealed class SqliteBatchTests(SqliteStoreFixture fixture) : BatchTests<SqliteStoreFixture>(fixture);

[Trait("Backend", "Sqlite")]
public sealed class SqliteListingTests(SqliteStoreFixture fixture) : ListingTests<SqliteStoreFixture>(fixture);

[Trait("Backend", "Sqlite")]
public sealed class SqliteExpiryTests(SqliteStoreFixture fixture) : ExpiryTests<SqliteStoreFixture>(fixture);

[Trait("Backend", "Sqlite")]
public sealed class SqliteSequenceTests(SqliteStoreFixture fixture) : SequenceTests<SqliteStoreFixture>(fixture);

[Trait("Backend", "Sqlite")]
public sealed class SqlitePartitionTests(SqliteStoreFixture fixture) : PartitionTests<SqliteStoreFixture>(fixture);

[Trait("Backend", "Sqlite")]
public sealed class SqliteLimitTests(SqliteStoreFixture fixture) : LimitTests<SqliteStoreFixture>(fixture);

[Trait("Backend", "Sqlite")]
public sealed class SqliteConcurrencyTests(SqliteStoreFixture fixture) : ConcurrencyTests<SqliteStoreFixture>(fixture);

[Trait("Backend", "Sqlite")]
public sealed class SqliteLifetimeTests(SqliteStoreFixture fixture) : LifetimeTests<SqliteStoreFixture>(fixture);

[Trait("Backend", "Sqlite")]
public sealed class SqliteStreamTests(SqliteStoreFixture fixture) : StreamTests<SqliteStoreFixture>(fixture);

[Trait("Backend", "Sqlite")]
public sealed class SqliteChangeFeedTests(SqliteStoreFixture fixture) : ChangeFeedTests<SqliteStoreFixture>(fixture);

[Trait("Backend", "Sqlite")]
public sealed class SqliteDifferentialTests(SqliteStoreFixture fixture, ITestOutputHelper output) : DifferentialTests<SqliteStoreFixture>(fixture, output);

[Trait("Backend", "Sqlite")]
public sealed class SqliteIndexTests(SqliteStoreFixture fixture) : IndexTests<SqliteStoreFixture>(fixture);

[Trait("Backend", "Sqlite")]
public sealed class SqliteImportTests(SqliteStoreFixture fixture) : ImportTests<SqliteStoreFixture>(fixture);
