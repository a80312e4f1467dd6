using System.Globalization;

namespace Storage.Hosting;

/// <summary>The messages of Storage.Hosting: each names the configuration key it is about and what is allowed; none repeats a connection string.</summary>
internal static class HostingErrors
{
    public const string Schemes = "json:<directory>, sqlite:<file>, postgres:<connection string> or memory:";

    public static string EmptyAddress => $"The store address is empty; expected {Schemes}.";

    public static string NoScheme => $"The store address has no scheme; expected {Schemes}.";

    public static string MemoryTarget => "The store address 'memory:' takes nothing after the colon.";

    public static string AddressConnectionString => "The connection string of the postgres: store address is not valid (keyword=value pairs separated by ';').";

    public static string EmptyAddressSchema => "The postgres: store address has an empty Schema; leave Schema out for the default schema (storage).";

    public static string UnknownScheme(string scheme) => $"The store address has an unknown scheme '{Truncate(scheme)}'; expected {Schemes}.";

    public static string EmptyTarget(StoreBackend backend) => $"The store address '{StoreAddress.SchemeOf(backend)}:' names no {TargetOf(backend)}.";

    public static string InvalidAddress(string key, string error) => $"{key}: {error}";

    public static string NoBackend(string backendKey, string addressKey) => $"{backendKey} is missing: give {backendKey} (Json, Sqlite, Postgres or Memory) or {addressKey} ({Schemes}).";

    public static string UnknownValue(string key, string value, string allowed) => $"{key} is '{Truncate(value)}'; allowed: {allowed}.";

    public static string NotDuration(string key, string value) => $"{key} is '{Truncate(value)}', not a duration; write it as [d.]hh:mm:ss[.fff], for example 00:00:30.";

    public static string NotInteger(string key, string value) => $"{key} is '{Truncate(value)}', not an integer.";

    public static string NotBoolean(string key, string value) => $"{key} is '{Truncate(value)}'; allowed: true, false.";

    public static string UnknownKey(string key, string known) => $"{key} is not a setting; the settings are: {known}.";

    public static string AddressWithBackend(string addressKey, StoreBackend addressed, string backendKey, StoreBackend configured) => $"{addressKey} names the {addressed} backend but {backendKey} is {configured}; give one of them.";

    public static string AddressAndTarget(string addressKey, string targetKey) => $"{addressKey} and {targetKey} are both set; give the address alone, or {targetKey} with the backend.";

    public static string TwoSchemas(string addressKey, string schemaKey) => $"{addressKey} names a Schema and {schemaKey} is set too; give one of them.";

    public static string MissingPath(string key, StoreBackend backend) => $"{key} is missing: the {StoreAddress.SchemeOf(backend)} backend needs the {TargetOf(backend)}.";

    public static string MissingServer(string key) => $"{key} is missing: the postgres backend needs a connection string, or an NpgsqlDataSource registered in the services.";

    public static string BothServers(string key) => $"{key} and a DataSource are both given; give one of them.";

    public static string InvalidConnectionString(string key, string detail) => $"{key} is not a valid PostgreSQL connection string ({detail}); the string itself is not repeated here.";

    public static string NotFor(string key, StoreBackend backend) => $"{key} does not apply to the {StoreAddress.SchemeOf(backend)} backend; remove it.";

    public static string ReaderReadOnly(string readOnlyKey, string accessKey) => $"{readOnlyKey} is true and {accessKey} is Reader: a reader never writes, and setting the read-only fence is a write. Set the fence through the store's owner, or with StoreFactory.SetReadOnlyAsync(address, true).";

    public static string Negative(string key, TimeSpan value) => $"{key} is {value.ToString("c", CultureInfo.InvariantCulture)}; it must not be negative.";

    public static string OutOfRange(string key, string value, string allowed) => $"{key} is {value}; allowed: {allowed}.";

    public static string NotAnObject(string key, string expected) => $"{key} must be {expected}.";

    public static string Missing(string key, string allowed) => $"{key} is missing; {allowed}.";

    public static string InvalidIndex(string key, string message) => $"{key}: {message}";

    public static string DuplicateRegistration(string name) => name.Length == 0
        ? "AddStorage was called twice: a host has one default store; register the others with AddKeyedStorage(name)."
        : $"AddKeyedStorage(\"{name}\") was called twice: each store name is registered once.";

    public static string MemoryFence => "A memory: store lives in one process only: set its read-only fence through the store itself (IStoreFence.SetReadOnlyAsync).";

    public static string NotOpenYet(string store) => $"{store} is not open yet: it opens while the host starts (IHost.StartAsync). Resolve IStore after the host has started, for example in a hosted service's StartAsync or a request handler, not while the host is being built.";

    public static string OpenFailed(string store) => $"{store} failed to open when the host started; see the inner exception.";

    public static string CannotOpen(string store, string reason) => $"{store} could not be opened: {reason}";

    public static string NotRegistered(string name) => name.Length == 0
        ? "No store is registered: call services.AddStorage(...) or builder.AddStorage()."
        : $"No store named '{name}' is registered: call AddKeyedStorage(\"{name}\", ...).";

    public static string StoreName(string name, string configurationPath) => name.Length == 0
        ? $"The store configured at '{configurationPath}'"
        : $"The store '{name}' configured at '{configurationPath}'";

    public static string InvalidOptions(IEnumerable<string> errors) => string.Join(Environment.NewLine, errors);

    public static string HealthNotOpen => "The store is not open (the host has not started, or the open failed).";

    public static string HealthTimedOut(TimeSpan timeout) => $"The store did not answer a read within {timeout.TotalSeconds.ToString(CultureInfo.InvariantCulture)} s.";

    public static string HealthSlow(TimeSpan elapsed, TimeSpan threshold) => $"A read took {elapsed.TotalMilliseconds.ToString("0", CultureInfo.InvariantCulture)} ms, above the {threshold.TotalMilliseconds.ToString("0", CultureInfo.InvariantCulture)} ms threshold.";

    public static string HealthFailed(string type) => $"A read failed with {type}.";

    public static string HealthOk(TimeSpan elapsed) => $"A read took {elapsed.TotalMilliseconds.ToString("0", CultureInfo.InvariantCulture)} ms.";

    private static string TargetOf(StoreBackend backend) => backend switch
    {
        StoreBackend.Json => "data directory",
        StoreBackend.Sqlite => "database file",
        _ => "connection string",
    };

    /// <summary>A configured value, shortened: a message must stay readable when someone pastes a whole file into one key.</summary>
    private static string Truncate(string value) => value.Length <= 60 ? value : value[..60] + "…";
}
