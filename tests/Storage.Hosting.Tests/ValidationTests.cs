using Microsoft.Extensions.Options;

namespace Storage.Hosting.Tests;

/// <summary>A wrong value fails the host's start with a message naming the full key and what is allowed; a password never appears.</summary>
public sealed class ValidationTests
{
    private const string Secret = "hunter2-secret";

    [Theory]
    [InlineData("Storage:Backend", "Mongo", "Storage:Backend is 'Mongo'; allowed: Json, Sqlite, Postgres, Memory.")]
    [InlineData("Storage:Durability", "Fast", "Storage:Durability is 'Fast'; allowed: Full, Relaxed.")]
    [InlineData("Storage:TombstoneRetention", "-00:00:01", "Storage:TombstoneRetention is -00:00:01; it must not be negative.")]
    [InlineData("Storage:TombstoneRetention", "soon", "Storage:TombstoneRetention is 'soon', not a duration; write it as [d.]hh:mm:ss[.fff], for example 00:00:30.")]
    [InlineData("Storage:Pth", "data", "Storage:Pth is not a setting; the settings are: Address, Backend, Path, ConnectionString, Schema, Durability, TombstoneRetention, BusyTimeout, RetryBudget, HashPartitions, Indexes, ReadOnly, Access, PurgeInterval, Stores.")]
    [InlineData("Storage:PurgeInterval", "00:00:00.5", "Storage:PurgeInterval is 00:00:00.5000000; allowed: 00:00:01 to 1.00:00:00.")]
    [InlineData("Storage:PurgeInterval", "-00:01:00", "Storage:PurgeInterval is -00:01:00; it must not be negative.")]
    [InlineData("Storage:BusyTimeout", "00:00:01", "Storage:BusyTimeout does not apply to the json backend; remove it.")]
    public async Task A_wrong_value_fails_start_naming_its_key_and_what_is_allowed(string key, string value, string message)
    {
        var settings = new Dictionary<string, string?> { ["Storage:Backend"] = "Json", ["Storage:Path"] = "data", [key] = value };

        var failure = await TestHost.StartFailsAsync(null, settings);

        Assert.Contains(message, Assert.IsType<OptionsValidationException>(failure).Failures);
    }

    [Fact]
    public async Task A_missing_directory_names_the_key_and_the_address_alternative()
    {
        var failure = await TestHost.StartFailsAsync(null, new Dictionary<string, string?> { ["Storage:Backend"] = "json" });

        Assert.Contains("Storage:Path is missing: the json backend needs the data directory.", failure.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Nothing_configured_names_both_ways_to_say_which_store()
    {
        var failure = await TestHost.StartFailsAsync(null);

        Assert.Contains(
            "Storage:Backend is missing: give Storage:Backend (Json, Sqlite, Postgres or Memory) or Storage:Address (json:<directory>, sqlite:<file>, postgres:<connection string> or memory:).",
            failure.Message,
            StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_keyed_store_names_its_own_section()
    {
        var failure = await TestHost.StartFailsAsync(null, new Dictionary<string, string?>
        {
            ["Storage:Address"] = "memory:",
            ["Storage:Stores:orders:Backend"] = "Sqlite",
            ["Storage:Stores:orders:RetryBudget"] = "-00:00:05",
        }, builder => builder.AddKeyedStorage("orders"));

        var failures = Assert.IsType<OptionsValidationException>(failure).Failures.ToList();
        Assert.Contains("Storage:Stores:orders:Path is missing: the sqlite backend needs the database file.", failures);
        Assert.Contains("Storage:Stores:orders:RetryBudget does not apply to the sqlite backend; remove it.", failures);
        Assert.Contains("Storage:Stores:orders:RetryBudget is -00:00:05; it must not be negative.", failures);
    }

    [Theory]
    [InlineData("mongo:x", "Storage:Address: The store address has an unknown scheme 'mongo'; expected json:<directory>, sqlite:<file>, postgres:<connection string> or memory:.")]
    [InlineData("sqlite:", "Storage:Address: The store address 'sqlite:' names no database file.")]
    [InlineData("./data", "Storage:Address: The store address has no scheme; expected json:<directory>, sqlite:<file>, postgres:<connection string> or memory:.")]
    public async Task A_wrong_address_fails_start_naming_the_key(string address, string message)
    {
        var failure = await TestHost.StartFailsAsync(null, new Dictionary<string, string?> { ["Storage:Address"] = address });

        Assert.Contains(message, Assert.IsType<OptionsValidationException>(failure).Failures);
    }

    [Fact]
    public async Task An_address_with_a_path_too_is_refused()
    {
        var failure = await TestHost.StartFailsAsync(null, new Dictionary<string, string?> { ["Storage:Address"] = "json:a", ["Storage:Path"] = "b" });

        Assert.Contains("Storage:Address and Storage:Path are both set; give the address alone, or Storage:Path with the backend.", failure.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("Storage:Indexes:0:Type", "Text", "Storage:Indexes:0:Type is 'Text'; allowed: String, Int64.")]
    [InlineData("Storage:Indexes:0:Unique", "yes", "Storage:Indexes:0:Unique is 'yes'; allowed: true, false.")]
    [InlineData("Storage:Indexes:0:Scope", "World", "Storage:Indexes:0:Scope is 'World'; allowed: Partition, Global.")]
    [InlineData("Storage:Indexes:0:Name", "", "Storage:Indexes:0:Name is missing; give the index name, unique within the collection.")]
    [InlineData("Storage:Indexes:0:Sorted", "true", "Storage:Indexes:0:Sorted is not a setting; the settings are: Collection, Name, Path, Type, Unique, Scope.")]
    public async Task A_bad_index_declaration_fails_start_naming_its_key(string key, string value, string message)
    {
        var settings = new Dictionary<string, string?>
        {
            ["Storage:Address"] = "memory:",
            ["Storage:Indexes:0:Collection"] = "users",
            ["Storage:Indexes:0:Name"] = "by-email",
            ["Storage:Indexes:0:Path"] = "email",
            ["Storage:Indexes:0:Type"] = "String",
            [key] = value,
        };

        var failure = await TestHost.StartFailsAsync(null, settings);

        Assert.Contains(message, Assert.IsType<OptionsValidationException>(failure).Failures);
    }

    [Fact]
    public async Task An_index_the_library_refuses_is_reported_under_the_key_of_the_refused_part()
    {
        var failure = await TestHost.StartFailsAsync(null, new Dictionary<string, string?>
        {
            ["Storage:Address"] = "memory:",
            ["Storage:Indexes:0:Collection"] = "9lives",
            ["Storage:Indexes:0:Name"] = "by-email",
            ["Storage:Indexes:0:Path"] = "email",
            ["Storage:Indexes:0:Type"] = "String",
            ["Storage:Indexes:1"] = "email",
        });

        var failures = Assert.IsType<OptionsValidationException>(failure).Failures.ToList();
        Assert.Contains(failures, f => f.StartsWith("Storage:Indexes:0:Collection: ", StringComparison.Ordinal) && f.Contains("9lives", StringComparison.Ordinal));
        Assert.Contains("Storage:Indexes:1 must be an object with Collection, Name, Path and Type.", failures);
    }

    [Fact]
    public async Task A_bad_connection_string_names_the_key_and_never_shows_the_password()
    {
        var failure = await TestHost.StartFailsAsync(null, new Dictionary<string, string?>
        {
            ["Storage:Backend"] = "Postgres",
            ["Storage:ConnectionString"] = $"Hots=db;Password={Secret}",
        });

        Assert.Equal("Storage:ConnectionString is not a valid PostgreSQL connection string (the keyword 'hots' is unknown or its value is not accepted); the string itself is not repeated here.", Assert.IsType<OptionsValidationException>(failure).Failures.Single());
        Assert.DoesNotContain(Secret, failure.ToString(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_server_that_cannot_be_reached_fails_start_without_showing_the_password()
    {
        var failure = await TestHost.StartFailsAsync(null, new Dictionary<string, string?>
        {
            ["Storage:Address"] = $"postgres:Host=127.0.0.1;Port=9;Username=app;Password={Secret};Timeout=1",
            ["Storage:RetryBudget"] = "00:00:01",
        });

        var open = Assert.IsType<InvalidOperationException>(failure);
        Assert.StartsWith("The store configured at 'Storage' could not be opened: ", open.Message, StringComparison.Ordinal);
        Assert.IsType<StoreUnavailableException>(open.InnerException);
        Assert.DoesNotContain(Secret, failure.ToString(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_postgres_store_without_a_server_says_where_one_can_come_from()
    {
        var failure = await TestHost.StartFailsAsync(null, new Dictionary<string, string?> { ["Storage:Backend"] = "Postgres" });

        Assert.Contains("Storage:ConnectionString is missing: the postgres backend needs a connection string, or an NpgsqlDataSource registered in the services.", failure.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Every_problem_is_reported_at_once()
    {
        var failure = await TestHost.StartFailsAsync(null, new Dictionary<string, string?>
        {
            ["Storage:Backend"] = "Sqlite",
            ["Storage:Durability"] = "Fast",
            ["Storage:BusyTimeout"] = "-00:00:01",
        });

        Assert.Equal(3, Assert.IsType<OptionsValidationException>(failure).Failures.Count());
    }

    [Fact]
    public void Registering_the_default_store_twice_is_refused()
    {
        var services = new Microsoft.Extensions.DependencyInjection.ServiceCollection();
        services.AddStorage(o => o.Address = "memory:");

        var twice = Assert.Throws<InvalidOperationException>(() => services.AddStorage(o => o.Address = "memory:"));
        Assert.Contains("AddKeyedStorage", twice.Message, StringComparison.Ordinal);
    }
}
