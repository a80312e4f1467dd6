using Storage.Json;
using Storage.Memory;

namespace Storage.Hosting.Tests;

public sealed class StoreAddressTests
{
    [Theory]
    [InlineData("json:./data", StoreBackend.Json, "./data", null)]
    [InlineData("JSON: data ", StoreBackend.Json, "data", null)]
    [InlineData("sqlite:/var/lib/app.db", StoreBackend.Sqlite, "/var/lib/app.db", null)]
    [InlineData("postgres:Host=db;Database=app", StoreBackend.Postgres, "Host=db;Database=app", null)]
    [InlineData("memory:", StoreBackend.Memory, "", null)]
    public void An_address_names_a_backend_and_its_target(string address, StoreBackend backend, string target, string? schema)
    {
        var parsed = StoreAddress.Parse(address);

        Assert.Equal(backend, parsed.Backend);
        Assert.Equal(target, parsed.Target);
        Assert.Equal(schema, parsed.Schema);
    }

    [Fact]
    public void A_postgres_address_may_name_a_schema_which_leaves_the_connection_string()
    {
        var parsed = StoreAddress.Parse("postgres:Host=db;Schema=orders;Database=app");

        Assert.Equal("orders", parsed.Schema);
        Assert.DoesNotContain("orders", parsed.Target, StringComparison.Ordinal);
        Assert.Contains("database=app", parsed.Target, StringComparison.OrdinalIgnoreCase);

        // A schema alone: the server comes from a data source (the one registered in the services, under AddStorage).
        var schemaOnly = StoreAddress.Parse("postgres:Schema=orders");
        Assert.Equal(("orders", ""), (schemaOnly.Schema, schemaOnly.Target));
    }

    [Theory]
    [InlineData("", "The store address is empty; expected json:<directory>, sqlite:<file>, postgres:<connection string> or memory:.")]
    [InlineData("data", "The store address has no scheme; expected json:<directory>, sqlite:<file>, postgres:<connection string> or memory:.")]
    [InlineData("Host=db;Password=se:cret", "The store address has no scheme; expected json:<directory>, sqlite:<file>, postgres:<connection string> or memory:.")]
    [InlineData(" :data", "The store address has no scheme; expected json:<directory>, sqlite:<file>, postgres:<connection string> or memory:.")]
    [InlineData(":data", "The store address has no scheme; expected json:<directory>, sqlite:<file>, postgres:<connection string> or memory:.")]
    [InlineData("mysql:Server=x;Password=p", "The store address has an unknown scheme 'mysql'; expected json:<directory>, sqlite:<file>, postgres:<connection string> or memory:.")]
    [InlineData("json:", "The store address 'json:' names no data directory.")]
    [InlineData("sqlite:  ", "The store address 'sqlite:' names no database file.")]
    [InlineData("postgres:", "The store address 'postgres:' names no connection string.")]
    [InlineData("memory:x", "The store address 'memory:' takes nothing after the colon.")]
    public void A_wrong_address_is_refused_with_an_exact_message(string address, string message)
    {
        Assert.Equal(message, Assert.Throws<FormatException>(() => StoreAddress.Parse(address)).Message);
        Assert.False(StoreAddress.TryParse(address, out _, out var error));
        Assert.Equal(message, error);
    }

    [Fact]
    public void An_unreadable_connection_string_is_refused_without_being_repeated()
    {
        var failure = Assert.Throws<FormatException>(() => StoreAddress.Parse("postgres:Host=db;Password='hunter2"));

        Assert.DoesNotContain("hunter2", failure.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void An_address_writes_itself_back_without_its_password()
    {
        var text = StoreAddress.Parse("postgres:Host=db;Password=hunter2;Schema=orders").ToString();

        Assert.DoesNotContain("hunter2", text, StringComparison.Ordinal);
        Assert.StartsWith("postgres:", text, StringComparison.Ordinal);
        Assert.Contains("password=***", text, StringComparison.OrdinalIgnoreCase);
        Assert.EndsWith(";Schema=orders", text, StringComparison.Ordinal);
        Assert.Equal("json:./data", StoreAddress.Parse("json:./data").ToString());
    }

    [Fact]
    public async Task The_factory_opens_any_backend_from_an_address_with_options_from_code()
    {
        var directory = Directory.CreateTempSubdirectory("storage-factory-");
        try
        {
            await using (var store = await StoreFactory.OpenAsync("json:" + directory.FullName, o =>
            {
                o.Durability = DurabilityMode.Relaxed;
                o.Indexes.Add(new IndexDefinition("users", "by-email", "email", IndexValueType.String, unique: true));
            }))
            {
                Assert.Equal(directory.FullName, Assert.IsType<JsonStore>(store).Directory);
                await store.PutAsync("p", "users", "a", """{"email":"a@x"}""");
                await Assert.ThrowsAsync<UniqueConstraintException>(async () => await store.PutAsync("p", "users", "b", """{"email":"a@x"}"""));
            }

            await using var memory = await StoreFactory.OpenAsync(new StorageOptions { Backend = StoreBackend.Memory });
            Assert.IsType<MemoryStore>(memory);
        }
        finally
        {
            directory.Delete(recursive: true);
        }
    }

    [Fact]
    public async Task The_factory_names_properties_in_its_messages()
    {
        var failure = await Assert.ThrowsAsync<ArgumentException>(async () => await StoreFactory.OpenAsync(new StorageOptions { Backend = StoreBackend.Sqlite, TombstoneRetention = TimeSpan.FromDays(-1) }));

        Assert.Contains("StorageOptions.Path is missing: the sqlite backend needs the database file.", failure.Message, StringComparison.Ordinal);
        Assert.Contains("StorageOptions.TombstoneRetention is -1.00:00:00; it must not be negative.", failure.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Open_is_async_on_every_backend_with_one_signature()
    {
        foreach (var type in new[] { typeof(JsonStore), typeof(Storage.Sqlite.SqliteStore), typeof(Storage.Postgres.PostgresStore), typeof(MemoryStore) })
        {
            var open = type.GetMethod("OpenAsync");
            Assert.NotNull(open);
            Assert.Equal(typeof(CancellationToken), open.GetParameters()[^1].ParameterType);
            Assert.Equal(typeof(ValueTask<>).MakeGenericType(type), open.ReturnType);
        }
    }
}
