using Xunit.Abstractions;

namespace Storage.Conformance.Sqlite;

// The test kit's conformance suites against the SQLite backend: `dotnet test --filter Backend=Sqlite`
// (the trait is the assembly's: AssemblyTraits.cs).

public sealed class SqliteComplianceTests : ComplianceTestBase<SqliteStoreFixture>;
public sealed class SqliteIdentifierTests(SqliteStoreFixture fixture) : IdentifierTests<SqliteStoreFixture>(fixture);
public sealed class SqliteValueRoundTripTests(SqliteStoreFixture fixture) : ValueRoundTripTests<SqliteStoreFixture>(fixture);
public sealed class SqliteVersionTests(SqliteStoreFixture fixture) : VersionTests<SqliteStoreFixture>(fixture);
public sealed class SqliteConditionTests(SqliteStoreFixture fixture) : ConditionTests<SqliteStoreFixture>(fixture);
public sealed class SqliteBatchTests(SqliteStoreFixture fixture) : BatchTests<SqliteStoreFixture>(fixture);
public sealed class SqliteListingTests(SqliteStoreFixture fixture) : ListingTests<SqliteStoreFixture>(fixture);
public sealed class SqliteExpiryTests(SqliteStoreFixture fixture) : ExpiryTests<SqliteStoreFixture>(fixture);
public sealed class SqliteSequenceTests(SqliteStoreFixture fixture) : SequenceTests<SqliteStoreFixture>(fixture);
public sealed class SqlitePartitionTests(SqliteStoreFixture fixture) : PartitionTests<SqliteStoreFixture>(fixture);
public sealed class SqliteLimitTests(SqliteStoreFixture fixture) : LimitTests<SqliteStoreFixture>(fixture);
public sealed class SqliteConcurrencyTests(SqliteStoreFixture fixture) : ConcurrencyTests<SqliteStoreFixture>(fixture);
public sealed class SqliteLifetimeTests(SqliteStoreFixture fixture) : LifetimeTests<SqliteStoreFixture>(fixture);
public sealed class SqliteStreamTests(SqliteStoreFixture fixture) : StreamTests<SqliteStoreFixture>(fixture);
public sealed class SqliteChangeFeedTests(SqliteStoreFixture fixture) : ChangeFeedTests<SqliteStoreFixture>(fixture);
public sealed class SqliteDifferentialTests(SqliteStoreFixture fixture, ITestOutputHelper output) : DifferentialTests<SqliteStoreFixture>(fixture, output);
public sealed class SqliteIndexTests(SqliteStoreFixture fixture) : IndexTests<SqliteStoreFixture>(fixture);
public sealed class SqliteImportTests(SqliteStoreFixture fixture) : ImportTests<SqliteStoreFixture>(fixture);
public sealed class SqliteReadOnlyTests(SqliteStoreFixture fixture) : ReadOnlyTests<SqliteStoreFixture>(fixture);
public sealed class SqliteExportTests(SqliteStoreFixture fixture) : ExportTests<SqliteStoreFixture>(fixture);
public sealed class SqliteRestoreTests(SqliteStoreFixture fixture) : RestoreTests<SqliteStoreFixture>(fixture);
public sealed class SqliteFollowTests(SqliteStoreFixture fixture) : FollowTests<SqliteStoreFixture>(fixture);
