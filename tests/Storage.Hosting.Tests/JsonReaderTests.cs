using Microsoft.Extensions.Options;
using Storage.Json;

namespace Storage.Hosting.Tests;

/// <summary>A JSON reader (<c>Storage:Access</c> = <c>Reader</c>, <see cref="StorageOptions.Access"/>) opened through configuration and the factory.</summary>
public sealed class JsonReaderTests
{
    [Fact]
    public Task Access_Reader_in_configuration_opens_a_reader_beside_the_owner_that_refuses_writes() => WithOwnerAsync(async (directory, owner) =>
    {
        await using var app = await TestHost.StartAsync(null, new Dictionary<string, string?> { ["Storage:Address"] = "json:" + directory, ["Storage:Access"] = "reader" });

        Assert.Equal(JsonStoreAccess.Reader, Assert.IsType<JsonStore>(app.Store).Access);
        Assert.Equal("""{"n":1}""", (await app.Store.GetAsync("p", "users", "k"))!.GetJsonText());
        var error = await Assert.ThrowsAsync<InvalidOperationException>(async () => await app.Store.PutAsync("p", "users", "k", """{"n":2}"""));
        Assert.Contains("opened as a reader", error.Message, StringComparison.Ordinal);
        await owner.PutAsync("p", "users", "k", """{"n":3}""");
        Assert.Equal("""{"n":3}""", (await app.Store.GetAsync("p", "users", "k"))!.GetJsonText());
    });

    [Fact]
    public Task The_factory_opens_a_reader_by_address_and_access() => WithOwnerAsync(async (directory, _) =>
    {
        await using var reader = await StoreFactory.OpenAsync("json:" + directory, o => o.Access = JsonStoreAccess.Reader);

        Assert.Equal(JsonStoreAccess.Reader, Assert.IsType<JsonStore>(reader).Access);
        Assert.Equal("""{"n":1}""", (await reader.GetAsync("p", "users", "k"))!.GetJsonText());
    });

    [Theory]
    [InlineData("memory:", "Reader", null, "Storage:Access does not apply to the memory backend; remove it.")]
    [InlineData("json:./data", "Writer", null, "Storage:Access is 'Writer'; allowed: Owner, Reader.")]
    [InlineData("json:./data", "Reader", "true", "Storage:ReadOnly is true and Storage:Access is Reader: a reader never writes, and setting the read-only fence is a write. Set the fence through the store's owner, or with StoreFactory.SetReadOnlyAsync(address, true).")]
    public async Task An_Access_that_does_not_apply_fails_start_naming_the_key(string address, string access, string? readOnly, string message)
    {
        var settings = new Dictionary<string, string?> { ["Storage:Address"] = address, ["Storage:Access"] = access };
        if (readOnly is not null)
        {
            settings["Storage:ReadOnly"] = readOnly;
        }

        var failure = await TestHost.StartFailsAsync(null, settings);

        Assert.Contains(message, Assert.IsType<OptionsValidationException>(failure).Failures);
    }

    /// <summary>Runs <paramref name="test"/> with a JSON store open as the owner of a fresh directory, holding one document.</summary>
    private static async Task WithOwnerAsync(Func<string, JsonStore, Task> test)
    {
        var directory = Path.Combine(Path.GetTempPath(), "storage-reader-" + Guid.NewGuid().ToString("N"));
        try
        {
            await using var owner = await JsonStore.OpenAsync(new JsonStoreOptions { Path = directory });
            await owner.PutAsync("p", "users", "k", """{"n":1}""");
            await test(directory, owner);
        }
        finally
        {
            Directory.Delete(directory, recursive: true);
        }
    }
}
