namespace Storage.Hosting.Tests;

/// <summary>
/// The conformance suite's behaviour in brief, through whatever store a host injected: versions,
/// conditional writes, ordered listing, delete, and the unique index its configuration declares.
/// </summary>
internal static class Smoke
{
    public static async Task RunAsync(IStore store)
    {
        var first = await store.PutAsync("alice", "moods", "2026-11-23", """{"label":"happy"}""");
        Assert.Equal(1, first);
        var second = await store.PutAsync("alice", "moods", "2026-11-23", """{"label":"calm"}""", WriteCondition.MustMatchVersion(first));
        Assert.Equal(2, second);
        Assert.Equal("""{"label":"calm"}""", (await store.GetAsync("alice", "moods", "2026-11-23"))!.GetJsonText());

        var stale = await Assert.ThrowsAsync<VersionConflictException>(async () =>
            await store.PutAsync("alice", "moods", "2026-11-23", """{"label":"grumpy"}""", WriteCondition.MustMatchVersion(first)));
        Assert.Equal(first, stale.ExpectedVersion);
        Assert.Equal(second, stale.ActualVersion);
        await Assert.ThrowsAsync<VersionConflictException>(async () =>
            await store.PutAsync("alice", "moods", "2026-11-23", "{}", WriteCondition.MustNotExist));

        await store.PutAsync("alice", "moods", "2026-11-01", """{"label":"sleepy"}""");
        await store.PutAsync("alice", "moods", "2026-10-31", """{"label":"spooky"}""");
        var page = await store.ListAsync("alice", "moods", new ListOptions { Prefix = "2026-11-" });
        Assert.Equal(["2026-11-01", "2026-11-23"], page.Items.Select(d => d.Key));

        Assert.True(await store.DeleteAsync("alice", "moods", "2026-11-01"));
        Assert.False(await store.DeleteAsync("alice", "moods", "2026-11-01"));
        Assert.Null(await store.GetAsync("alice", "moods", "2026-11-01"));

        // The unique index comes from the appsettings file.
        await store.PutAsync("alice", "users", "a", """{"email":"a@example.com"}""");
        await Assert.ThrowsAsync<UniqueConstraintException>(async () =>
            await store.PutAsync("alice", "users", "b", """{"email":"a@example.com"}"""));
    }
}
