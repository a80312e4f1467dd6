using Microsoft.Extensions.Options;
using Storage.Json;
using Storage.Sqlite;

namespace Storage.Hosting.Tests;

/// <summary>The read-only fence from configuration (<c>Storage:ReadOnly</c>) and by address (<see cref="StoreFactory.SetReadOnlyAsync"/>).</summary>
public sealed class ReadOnlyFenceTests
{
    [Theory]
    [InlineData("json")]
    [InlineData("sqlite")]
    [InlineData("memory")]
    public async Task ReadOnly_true_in_configuration_makes_the_injected_store_refuse_writes(string backend)
    {
        await using var app = await TestHost.StartAsync(backend, new Dictionary<string, string?> { ["Storage:ReadOnly"] = "true" });

        Assert.True(await ((IStoreFence)app.Store).IsReadOnlyAsync());
        await Assert.ThrowsAsync<StoreReadOnlyException>(async () => await app.Store.PutAsync("p", "users", "k", """{"email":"a@b.c"}"""));
        Assert.Null(await app.Store.GetAsync("p", "users", "k"));
    }

    [Fact]
    public async Task ReadOnly_false_leaves_a_fence_the_store_keeps()
    {
        var directory = Path.Combine(Path.GetTempPath(), "storage-fence-" + Guid.NewGuid().ToString("N"));
        try
        {
            await (await JsonStore.OpenAsync(new JsonStoreOptions { Path = directory })).DisposeAsync();
            await StoreFactory.SetReadOnlyAsync("json:" + directory, true);

            await using var store = await StoreFactory.OpenAsync("json:" + directory, o => o.ReadOnly = false);

            Assert.True(await store.IsReadOnlyAsync());
        }
        finally
        {
            Directory.Delete(directory, recursive: true);
        }
    }

    [Fact]
    public async Task A_ReadOnly_that_is_not_a_boolean_fails_start_naming_the_key()
    {
        var failure = await TestHost.StartFailsAsync(null, new Dictionary<string, string?> { ["Storage:Address"] = "memory:", ["Storage:ReadOnly"] = "yes" });

        Assert.Contains("Storage:ReadOnly is 'yes'; allowed: true, false.", Assert.IsType<OptionsValidationException>(failure).Failures);
    }

    [Fact]
    public async Task The_fence_is_set_and_cleared_by_address_while_a_SQLite_store_is_open_leaving_its_indexes_as_they_are()
    {
        var path = Path.Combine(Path.GetTempPath(), "storage-fence-" + Guid.NewGuid().ToString("N") + ".db");
        try
        {
            // The app's store declares an index: setting the fence from outside must not drop it (it did: the
            // app's next write failed with IndexDeclarationsChangedException).
            await using var store = await SqliteStore.OpenAsync(new SqliteStoreOptions { Path = path, Indexes = [new IndexDefinition("c", "by-n", "n", IndexValueType.Int64)] });
            await store.PutAsync("p", "c", "k", """{"n":1}""");

            await StoreFactory.SetReadOnlyAsync("sqlite:" + path, true);

            await Assert.ThrowsAsync<StoreReadOnlyException>(async () => await store.PutAsync("p", "c", "k", """{"n":2}"""));
            await StoreFactory.SetReadOnlyAsync("sqlite:" + path, false);
            await store.PutAsync("p", "c", "k", """{"n":2}""");
            Assert.Equal([2L], (await store.QueryAsync(new IndexQuery("c", "by-n"))).Items.Select(m => m.Value.AsInt64));
        }
        finally
        {
            foreach (var file in Directory.GetFiles(Path.GetDirectoryName(path)!, Path.GetFileName(path) + "*"))
            {
                File.Delete(file);
            }
        }
    }

    [Fact]
    public async Task A_memory_address_has_no_fence_to_set_from_outside()
    {
        var e = await Assert.ThrowsAsync<ArgumentException>(async () => await StoreFactory.SetReadOnlyAsync("memory:", true));

        Assert.StartsWith(HostingErrors.MemoryFence, e.Message, StringComparison.Ordinal);
    }
}
