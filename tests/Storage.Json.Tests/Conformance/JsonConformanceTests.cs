using Xunit.Abstractions;

namespace Storage.Conformance.Json;

// The test kit's conformance suites against the JSON-file backend: `dotnet test --filter Backend=Json`
// (the trait is the assembly's: AssemblyTraits.cs).

public sealed class JsonComplianceTests : ComplianceTestBase<JsonStoreFixture>;
public sealed class JsonIdentifierTests(JsonStoreFixture fixture) : IdentifierTests<JsonStoreFixture>(fixture);
public sealed class JsonValueRoundTripTests(JsonStoreFixture fixture) : ValueRoundTripTests<JsonStoreFixture>(fixture);
public sealed class JsonVersionTests(JsonStoreFixture fixture) : VersionTests<JsonStoreFixture>(fixture);
public sealed class JsonConditionTests(JsonStoreFixture fixture) : ConditionTests<JsonStoreFixture>(fixture);
public sealed class JsonBatchTests(JsonStoreFixture fixture) : BatchTests<JsonStoreFixture>(fixture);
public sealed class JsonListingTests(JsonStoreFixture fixture) : ListingTests<JsonStoreFixture>(fixture);
public sealed class JsonExpiryTests(JsonStoreFixture fixture) : ExpiryTests<JsonStoreFixture>(fixture);
public sealed class JsonSequenceTests(JsonStoreFixture fixture) : SequenceTests<JsonStoreFixture>(fixture);
public sealed class JsonPartitionTests(JsonStoreFixture fixture) : PartitionTests<JsonStoreFixture>(fixture);
public sealed class JsonLimitTests(JsonStoreFixture fixture) : LimitTests<JsonStoreFixture>(fixture);
public sealed class JsonConcurrencyTests(JsonStoreFixture fixture) : ConcurrencyTests<JsonStoreFixture>(fixture);
public sealed class JsonLifetimeTests(JsonStoreFixture fixture) : LifetimeTests<JsonStoreFixture>(fixture);
public sealed class JsonStreamTests(JsonStoreFixture fixture) : StreamTests<JsonStoreFixture>(fixture);
public sealed class JsonChangeFeedTests(JsonStoreFixture fixture) : ChangeFeedTests<JsonStoreFixture>(fixture);
public sealed class JsonDifferentialTests(JsonStoreFixture fixture, ITestOutputHelper output) : DifferentialTests<JsonStoreFixture>(fixture, output);
public sealed class JsonIndexTests(JsonStoreFixture fixture) : IndexTests<JsonStoreFixture>(fixture);
public sealed class JsonImportTests(JsonStoreFixture fixture) : ImportTests<JsonStoreFixture>(fixture);
public sealed class JsonReadOnlyTests(JsonStoreFixture fixture) : ReadOnlyTests<JsonStoreFixture>(fixture);
public sealed class JsonExportTests(JsonStoreFixture fixture) : ExportTests<JsonStoreFixture>(fixture);
public sealed class JsonRestoreTests(JsonStoreFixture fixture) : RestoreTests<JsonStoreFixture>(fixture);
public sealed class JsonFollowTests(JsonStoreFixture fixture) : FollowTests<JsonStoreFixture>(fixture);
