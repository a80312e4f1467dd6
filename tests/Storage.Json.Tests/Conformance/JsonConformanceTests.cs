using Xunit.Abstractions;

namespace Storage.Conformance.Json;

// The conformance suites against the JSON-file backend: `dotnet test --filter Backend=Json`.

[Trait("Backend", "Json")]
public sealed class JsonComplianceTests : ComplianceTestBase<JsonStoreFixture>;

[Trait("Backend", "Json")]
public sealed class JsonIdentifierTests(JsonStoreFixture fixture) : IdentifierTests<JsonStoreFixture>(fixture);

[Trait("Backend", "Json")]
public sealed class JsonValueRoundTripTests(JsonStoreFixture fixture) : ValueRoundTripTests<JsonStoreFixture>(fixture);

[Trait("Backend", "Json")]
public sealed class JsonVersionTests(JsonStoreFixture fixture) : VersionTests<JsonStoreFixture>(fixture);

[Trait("Backend", "Json")]
public sealed class JsonConditionTests(JsonStoreFixture fixture) : ConditionTests<JsonStoreFixture>(fixture);

[Trait("Backend", "Json")]
public sealed class JsonBatchTests(JsonStoreFixture fixture) : BatchTests<JsonStoreFixture>(fixture);

[Trait("Backend", "Json")]
public sealed class JsonListingTests(JsonStoreFixture fixture) : ListingTests<JsonStoreFixture>(fixture);

[Trait("Backend", "Json")]
public sealed class JsonExpiryTests(JsonStoreFixture fixture) : ExpiryTests<JsonStoreFixture>(fixture);

[Trait("Backend", "Json")]
public sealed class JsonSequenceTests(JsonStoreFixture fixture) : SequenceTests<JsonStoreFixture>(fixture);

[Trait("Backend", "Json")]
public sealed class JsonPartitionTests(JsonStoreFixture fixture) : PartitionTests<JsonStoreFixture>(fixture);

[Trait("Backend", "Json")]
public sealed class JsonLimitTests(JsonStoreFixture fixture) : LimitTests<JsonStoreFixture>(fixture);

[Trait("Backend", "Json")]
public sealed class JsonConcurrencyTests(JsonStoreFixture fixture) : ConcurrencyTests<JsonStoreFixture>(fixture);

[Trait("Backend", "Json")]
public sealed class JsonLifetimeTests(JsonStoreFixture fixture) : LifetimeTests<JsonStoreFixture>(fixture);

[Trait("Backend", "Json")]
public sealed class JsonStreamTests(JsonStoreFixture fixture) : StreamTests<JsonStoreFixture>(fixture);

[Trait("Backend", "Json")]
public sealed class JsonChangeFeedTests(JsonStoreFixture fixture) : ChangeFeedTests<JsonStoreFixture>(fixture);

[Trait("Backend", "Json")]
public sealed class JsonDifferentialTests(JsonStoreFixture fixture, ITestOutputHelper output) : DifferentialTests<JsonStoreFixture>(fixture, output);

[Trait("Backend", "Json")]
public sealed class JsonIndexTests(JsonStoreFixture fixture) : IndexTests<JsonStoreFixture>(fixture);

[Trait("Backend", "Json")]
public sealed class JsonImportTests(JsonStoreFixture fixture) : ImportTests<JsonStoreFixture>(fixture);
