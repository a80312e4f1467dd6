using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Microsoft.Extensions.DependencyInjection;
using Storage;
using Storage.Hosting;

namespace YearInPixels.Tests;

/// <summary>The app, started once per backend for a test class.</summary>
public abstract class AppFixture : IAsyncLifetime
{
    /// <summary>The app.</summary>
    public PixelsFactory Factory { get; private set; } = null!;

    /// <summary>The backend.</summary>
    protected abstract Backend Backend { get; }

    /// <inheritdoc/>
    public async Task InitializeAsync()
    {
        Factory = await PixelsFactory.CreateAsync(Backend);
        _ = Factory.Server; // starts the app (and opens the store) now, not in the first test
    }

    /// <inheritdoc/>
    public async Task DisposeAsync() => await Factory.DisposeAsync();
}

public sealed class JsonApp : AppFixture
{
    protected override Backend Backend => Backend.Json;
}

public sealed class SqliteApp : AppFixture
{
    protected override Backend Backend => Backend.Sqlite;
}

public sealed class PostgresApp : AppFixture
{
    protected override Backend Backend => Backend.Postgres;
}

[Trait("Backend", "Json")]
public sealed class JsonApiTests(JsonApp app) : ApiTests(app), IClassFixture<JsonApp>;

[Trait("Backend", "Sqlite")]
public sealed class SqliteApiTests(SqliteApp app) : ApiTests(app), IClassFixture<SqliteApp>;

[Trait("Backend", "Postgres")]
public sealed class PostgresApiTests(PostgresApp app) : ApiTests(app), IClassFixture<PostgresApp>;

/// <summary>The HTTP API on one backend: written once, bound to each backend above.</summary>
public abstract class ApiTests(AppFixture fixture)
{
    private readonly PixelsFactory _app = fixture.Factory;

    private static string NewName() => "user-" + Guid.NewGuid().ToString("N")[..10];

    [Fact]
    public async Task Signing_in_twice_gives_the_same_user_and_two_sessions()
    {
        var name = NewName();
        var now = _app.Time.GetUtcNow();
        var (first, one) = await _app.SignInAsync(name);
        var (second, two) = await _app.SignInAsync(name);

        Assert.Equal(one.UserId, two.UserId);
        Assert.NotEqual(one.Token, two.Token);
        Assert.Equal(now + TimeSpan.FromDays(30), one.ExpiresAt);
        Assert.Equal(HttpStatusCode.OK, (await first.GetAsync("/api/me")).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await second.GetAsync("/api/me")).StatusCode);

        // Stored: the identity and the session only as SHA-256 hashes, never in clear.
        var partition = Pixels.PartitionOf(one.UserId);
        var profile = (await _app.Store.GetAsync(partition, "profile", Pixels.ProfileKey))!.GetJsonText();
        Assert.DoesNotContain(name, profile, StringComparison.Ordinal);
        Assert.Contains(Pixels.HashIdentity("dev:" + name), profile, StringComparison.Ordinal);
        var session = await _app.Store.GetAsync(partition, "sessions", Pixels.HashToken(one.Token));
        Assert.NotNull(session);
        Assert.DoesNotContain(one.Token, session.GetJsonText(), StringComparison.Ordinal);
        Assert.Equal(one.ExpiresAt, session.ExpiresAt);
        Assert.True(System.Buffers.Text.Base64Url.DecodeFromChars(one.Token).Length >= 16, "a session token carries at least 128 random bits");
    }

    [Fact]
    public async Task Concurrent_first_sign_ins_of_one_identity_create_one_user()
    {
        var name = NewName();
        var results = await Task.WhenAll(Enumerable.Range(0, 6).Select(_ => _app.SignInAsync(name)));

        Assert.Single(results.Select(r => r.Session.UserId).Distinct());
        var holders = await _app.Store.QueryAsync(new IndexQuery("profile", "by-identity") { Equal = Pixels.HashIdentity("dev:" + name) });
        Assert.Single(holders.Items);
    }

    [Fact]
    public async Task Requests_without_a_valid_session_get_401()
    {
        using var anonymous = _app.CreateClient();
        Assert.Equal(HttpStatusCode.Unauthorized, (await anonymous.GetAsync("/api/year")).StatusCode);
        anonymous.DefaultRequestHeaders.Authorization = new("Bearer", Pixels.NewToken());
        Assert.Equal(HttpStatusCode.Unauthorized, (await anonymous.GetAsync("/api/year")).StatusCode);
        Assert.Equal(HttpStatusCode.Unauthorized, (await anonymous.PutAsJsonAsync("/api/days/2026-01-01", new MoodInput(3, ""))).StatusCode);
    }

    [Fact]
    public async Task Moods_are_saved_read_by_year_and_counted_per_level()
    {
        var (client, _) = await _app.SignInAsync(NewName());
        var now = _app.Time.GetUtcNow();
        (string Date, int Level)[] moods = [("2026-01-03", 4), ("2026-02-28", 5), ("2026-06-15", 4), ("2026-12-31", 1), ("2025-12-31", 2)];
        foreach (var (date, level) in moods)
        {
            using var put = await client.PutAsJsonAsync($"/api/days/{date}", new MoodInput(level, $"note {date}"));
            Assert.Equal(HttpStatusCode.OK, put.StatusCode);
        }

        var year = (await client.GetFromJsonAsync<YearView>("/api/year?year=2026"))!;
        Assert.Equal(["2026-01-03", "2026-02-28", "2026-06-15", "2026-12-31"], year.Days.Keys);
        Assert.Equal(4, year.Days["2026-06-15"].Level);
        Assert.Equal("note 2026-02-28", year.Days["2026-02-28"].Note);
        Assert.Equal(now, year.Days["2026-01-03"].UpdatedAt);
        Assert.Equal(new Dictionary<string, int> { ["1"] = 1, ["2"] = 0, ["3"] = 0, ["4"] = 2, ["5"] = 1 }, year.Counts);

        var counts = (await client.GetFromJsonAsync<YearCounts>("/api/year/counts?year=2025"))!;
        Assert.Equal(1, counts.Counts["2"]);
        Assert.Equal(1, counts.Total);

        // Without ?year= the year is the app clock's.
        Assert.Equal(now.Year, (await client.GetFromJsonAsync<YearView>("/api/year"))!.Year);
        Assert.Equal(5, (await client.GetFromJsonAsync<Mood>("/api/days/2026-02-28"))!.Level);
        Assert.Equal(HttpStatusCode.NotFound, (await client.GetAsync("/api/days/2026-03-01")).StatusCode);
    }

    [Fact]
    public async Task Users_see_only_their_own_moods()
    {
        var (ann, _) = await _app.SignInAsync(NewName());
        var (bob, _) = await _app.SignInAsync(NewName());
        (await ann.PutAsJsonAsync("/api/days/2026-05-05", new MoodInput(5, "ann's"))).EnsureSuccessStatusCode();

        Assert.Empty((await bob.GetFromJsonAsync<YearView>("/api/year?year=2026"))!.Days);
        Assert.Equal(HttpStatusCode.NotFound, (await bob.GetAsync("/api/days/2026-05-05")).StatusCode);
    }

    [Fact]
    public async Task Overwriting_a_day_keeps_its_earlier_values_in_its_history_newest_first()
    {
        var (client, _) = await _app.SignInAsync(NewName());
        for (var level = 1; level <= 3; level++)
        {
            _app.Time.Advance(TimeSpan.FromMinutes(1));
            (await client.PutAsJsonAsync("/api/days/2026-04-01", new MoodInput(level, $"try {level}"))).EnsureSuccessStatusCode();
        }

        var history = (await client.GetFromJsonAsync<List<HistoryEntry>>("/api/days/2026-04-01/history"))!;
        Assert.Equal([2, 1], history.Select(h => h.Level));
        Assert.Equal(["try 2", "try 1"], history.Select(h => h.Note));
        Assert.Equal(3, (await client.GetFromJsonAsync<Mood>("/api/days/2026-04-01"))!.Level);
        Assert.Empty((await client.GetFromJsonAsync<List<HistoryEntry>>("/api/days/2026-04-02/history"))!);
    }

    [Fact]
    public async Task Concurrent_saves_of_one_day_all_land_and_the_history_loses_none()
    {
        var (client, _) = await _app.SignInAsync(NewName());
        const int Writers = 8;
        var puts = await Task.WhenAll(Enumerable.Range(0, Writers).Select(i => client.PutAsJsonAsync("/api/days/2026-07-07", new MoodInput((i % 5) + 1, $"writer {i}"))));
        Assert.All(puts, p => Assert.Equal(HttpStatusCode.OK, p.StatusCode));

        var current = (await client.GetFromJsonAsync<Mood>("/api/days/2026-07-07"))!;
        var history = (await client.GetFromJsonAsync<List<HistoryEntry>>("/api/days/2026-07-07/history"))!;
        // Every value written is either the current one or in the history, exactly once.
        var all = history.Select(h => h.Note).Append(current.Note).Order(StringComparer.Ordinal).ToList();
        Assert.Equal(Enumerable.Range(0, Writers).Select(i => $"writer {i}").Order(StringComparer.Ordinal), all);
    }

    [Theory]
    [InlineData("PUT", "/api/days/2026-02-30", """{"level":3}""", "'2026-02-30' is not a date")]
    [InlineData("PUT", "/api/days/26-1-1", """{"level":3}""", "is not a date; write it as yyyy-MM-dd")]
    [InlineData("PUT", "/api/days/2026-01-01", """{"level":0}""", "level is 0; it must be from 1 to 5.")]
    [InlineData("PUT", "/api/days/2026-01-01", """{"level":6,"note":"x"}""", "level is 6; it must be from 1 to 5.")]
    [InlineData("PUT", "/api/days/2026-01-01", """{"note":"x"}""", "level is missing")]
    [InlineData("PUT", "/api/days/2026-01-01", """{"level":"high"}""", "Path: $.level")]
    [InlineData("PUT", "/api/days/2026-01-01", """{"level":""", "Failed to read parameter")]
    [InlineData("GET", "/api/year?year=twenty", null, "year 'twenty' is not a year from 1 to 9999.")]
    [InlineData("GET", "/api/year/counts?year=0", null, "year '0' is not a year")]
    [InlineData("GET", "/api/days/yesterday/history", null, "'yesterday' is not a date")]
    [InlineData("PUT", "/api/theme", """{"shape":"hexagon","spacing":"medium","colors":["#000000","#111111","#222222","#333333","#444444"]}""", "shape is 'hexagon'; allowed: square, rounded, circle.")]
    [InlineData("PUT", "/api/theme", """{"shape":"square","spacing":"huge","colors":["#000000","#111111","#222222","#333333","#444444"]}""", "spacing is 'huge'; allowed: none, small, medium, large.")]
    [InlineData("PUT", "/api/theme", """{"shape":"square","spacing":"small","colors":["#000000","#111111"]}""", "colors must hold exactly 5 colours (one per level), not 2.")]
    [InlineData("PUT", "/api/theme", """{"shape":"square","spacing":"small","colors":["#000000","#111111","red","#333333","#44444g"]}""", "colors[2] is 'red'; write a colour as #rrggbb")]
    public async Task Bad_input_is_answered_400_with_the_reason(string method, string path, string? body, string reason)
    {
        var (client, _) = await _app.SignInAsync(NewName());
        using var request = new HttpRequestMessage(new HttpMethod(method), path);
        if (body is not null)
        {
            request.Content = new StringContent(body, System.Text.Encoding.UTF8, "application/json");
        }

        using var response = await client.SendAsync(request);
        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        var problem = await response.Content.ReadFromJsonAsync<JsonElement>();
        Assert.Contains(reason, problem.GetProperty("detail").GetString(), StringComparison.Ordinal);
        Assert.Empty((await client.GetFromJsonAsync<YearView>("/api/year?year=2026"))!.Days);
    }

    [Fact]
    public async Task The_theme_is_saved_and_drawn_in_the_wallpaper()
    {
        var (client, _) = await _app.SignInAsync(NewName());
        var before = (await client.GetFromJsonAsync<Theme>("/api/theme"))!;
        Assert.Equal("square", before.Shape);
        (await client.PutAsJsonAsync("/api/days/2026-03-03", new MoodInput(2, ""))).EnsureSuccessStatusCode();
        var colors = new[] { "#000001", "#0000AA", "#000003", "#000004", "#000005" };
        using var put = await client.PutAsJsonAsync("/api/theme", new ThemeInput("circle", "large", colors));
        Assert.Equal(HttpStatusCode.OK, put.StatusCode);

        var theme = (await client.GetFromJsonAsync<Theme>("/api/theme"))!;
        Assert.Equal(("circle", "large"), (theme.Shape, theme.Spacing));
        Assert.Equal(["#000001", "#0000aa", "#000003", "#000004", "#000005"], theme.Colors);

        var wallpaper = (await client.GetFromJsonAsync<Wallpaper>("/api/wallpaper"))!;
        using var anonymous = _app.CreateClient();
        using var svg = await anonymous.GetAsync($"/w/{wallpaper.Token}?year=2026");
        Assert.Equal(HttpStatusCode.OK, svg.StatusCode);
        Assert.Equal("image/svg+xml", svg.Content.Headers.ContentType!.MediaType);
        var text = await svg.Content.ReadAsStringAsync();
        Assert.Contains("""data-shape="circle" data-spacing="large">""", text, StringComparison.Ordinal);
        Assert.Contains("""fill="#0000aa" data-date="2026-03-03" data-level="2"/>""", text, StringComparison.Ordinal);
        Assert.Contains("""fill="#ececec" data-date="2026-03-04" data-level="0"/>""", text, StringComparison.Ordinal);
        Assert.Equal(365, System.Text.RegularExpressions.Regex.Count(text, "<circle "));
    }

    [Fact]
    public async Task Rotating_the_wallpaper_token_makes_the_old_address_404_at_once()
    {
        var (client, _) = await _app.SignInAsync(NewName());
        using var anonymous = _app.CreateClient();
        var old = (await client.GetFromJsonAsync<Wallpaper>("/api/wallpaper"))!;
        Assert.Equal(HttpStatusCode.OK, (await anonymous.GetAsync($"/w/{old.Token}")).StatusCode);

        using var rotate = await client.PostAsync("/api/wallpaper/rotate", null);
        var fresh = (await rotate.Content.ReadFromJsonAsync<Wallpaper>())!;

        Assert.NotEqual(old.Token, fresh.Token);
        Assert.True(System.Buffers.Text.Base64Url.DecodeFromChars(fresh.Token).Length >= 16);
        Assert.EndsWith("/w/" + fresh.Token, fresh.Url, StringComparison.Ordinal);
        Assert.Equal(HttpStatusCode.NotFound, (await anonymous.GetAsync($"/w/{old.Token}")).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await anonymous.GetAsync($"/w/{fresh.Token}")).StatusCode);
        Assert.Equal(fresh.Token, (await client.GetFromJsonAsync<Wallpaper>("/api/wallpaper"))!.Token);
        Assert.Equal(HttpStatusCode.NotFound, (await anonymous.GetAsync($"/w/{Pixels.NewToken(24)}")).StatusCode);
    }

    [Fact]
    public async Task A_session_expires_with_the_clock_and_is_purged()
    {
        var name = NewName();
        var (client, session) = await _app.SignInAsync(name);
        var key = Pixels.HashToken(session.Token);
        async Task<bool> StoredAsync() => (await ((IStoreExport)_app.Store).ExportPartitionAsync(Pixels.PartitionOf(session.UserId)))!.Documents.Any(d => d.Collection == "sessions" && d.Key == key);

        _app.Time.Advance(TimeSpan.FromDays(30) - TimeSpan.FromSeconds(1));
        Assert.Equal(HttpStatusCode.OK, (await client.GetAsync("/api/me")).StatusCode);

        _app.Time.Advance(TimeSpan.FromSeconds(1));
        Assert.Equal(HttpStatusCode.Unauthorized, (await client.GetAsync("/api/me")).StatusCode);
        Assert.Null(await _app.Store.GetAsync(Pixels.PartitionOf(session.UserId), "sessions", key));

        // Expired, the session is invisible but stays stored until a purge. The host purges the store every
        // Storage:PurgeInterval (an hour, appsettings.json) on the app's clock: an hour or two later it is
        // gone from the store itself.
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(20);
        while (await StoredAsync() && DateTime.UtcNow < deadline)
        {
            _app.Time.Advance(TimeSpan.FromHours(1));
            await Task.Delay(50);
        }

        Assert.False(await StoredAsync(), "the host did not purge the expired session after its interval on the app's clock");

        // Signing in again opens a new session on the same account.
        var (again, fresh) = await _app.SignInAsync(name);
        Assert.Equal(session.UserId, fresh.UserId);
        Assert.Equal(HttpStatusCode.OK, (await again.GetAsync("/api/me")).StatusCode);
    }

    [Fact]
    public async Task Signing_out_ends_the_session_only()
    {
        var name = NewName();
        var (first, _) = await _app.SignInAsync(name);
        var (second, _) = await _app.SignInAsync(name);

        Assert.Equal(HttpStatusCode.NoContent, (await first.PostAsync("/api/sign-out", null)).StatusCode);

        Assert.Equal(HttpStatusCode.Unauthorized, (await first.GetAsync("/api/me")).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await second.GetAsync("/api/me")).StatusCode);
    }

    [Fact]
    public async Task Deleting_the_account_removes_its_partition_identity_sessions_and_wallpaper()
    {
        var name = NewName();
        var (client, session) = await _app.SignInAsync(name);
        var (other, _) = await _app.SignInAsync(name);
        (await client.PutAsJsonAsync("/api/days/2026-01-01", new MoodInput(3, "x"))).EnsureSuccessStatusCode();
        (await client.PutAsJsonAsync("/api/days/2026-01-01", new MoodInput(4, "y"))).EnsureSuccessStatusCode();
        var wallpaper = (await client.GetFromJsonAsync<Wallpaper>("/api/wallpaper"))!;

        Assert.Equal(HttpStatusCode.NoContent, (await client.DeleteAsync("/api/me")).StatusCode);

        Assert.Equal(HttpStatusCode.Unauthorized, (await client.GetAsync("/api/me")).StatusCode);
        Assert.Equal(HttpStatusCode.Unauthorized, (await other.GetAsync("/api/me")).StatusCode);
        using var anonymous = _app.CreateClient();
        Assert.Equal(HttpStatusCode.NotFound, (await anonymous.GetAsync($"/w/{wallpaper.Token}")).StatusCode);
        var partition = Pixels.PartitionOf(session.UserId);
        Assert.Null(await _app.Store.GetAsync(partition, "profile", Pixels.ProfileKey));
        Assert.Empty((await _app.Store.ListStreamsAsync(partition)).Items);
        Assert.DoesNotContain(partition, await AllPartitionsAsync());
        Assert.Empty((await _app.Store.QueryAsync(new IndexQuery("profile", "by-identity") { Equal = Pixels.HashIdentity("dev:" + name) })).Items);

        // The identity is free again: signing in makes a new, empty account.
        var (fresh, again) = await _app.SignInAsync(name);
        Assert.NotEqual(session.UserId, again.UserId);
        Assert.Empty((await fresh.GetFromJsonAsync<YearView>("/api/year?year=2026"))!.Days);
    }

    [Fact]
    public async Task Writes_refused_by_the_read_only_fence_get_503_with_Retry_After_and_succeed_once_it_is_cleared()
    {
        var (client, _) = await _app.SignInAsync(NewName());
        (await client.PutAsJsonAsync("/api/days/2026-03-01", new MoodInput(2, "before"))).EnsureSuccessStatusCode();

        // A JSON store fenced through its directory, from outside the app, as `storage cutover` does; the
        // others through the app's own store (IStoreFence): StoreFactory.SetReadOnlyAsync would open them
        // without the app's index declarations, and the app's instance then refuses every write with
        // IndexDeclarationsChangedException (a 500) instead of the fence's StoreReadOnlyException.
        await SetReadOnlyAsync(true);
        try
        {
            using var refused = await client.PutAsJsonAsync("/api/days/2026-03-01", new MoodInput(4, "fenced"));
            Assert.Equal(HttpStatusCode.ServiceUnavailable, refused.StatusCode);
            Assert.Equal(TimeSpan.FromSeconds(1), refused.Headers.RetryAfter?.Delta);
            Assert.Equal("The store is read-only while it is being moved; try again shortly.", (await refused.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("title").GetString());
            using var signIn = await _app.CreateClient().PostAsJsonAsync("/api/dev/sign-in", new DevSignInInput(NewName()));
            Assert.Equal(HttpStatusCode.ServiceUnavailable, signIn.StatusCode);

            // Nothing was written; reads go on.
            Assert.Equal("before", (await client.GetFromJsonAsync<Mood>("/api/days/2026-03-01"))!.Note);
            Assert.Empty((await client.GetFromJsonAsync<List<HistoryEntry>>("/api/days/2026-03-01/history"))!);
        }
        finally
        {
            await SetReadOnlyAsync(false);
        }

        (await client.PutAsJsonAsync("/api/days/2026-03-01", new MoodInput(4, "after"))).EnsureSuccessStatusCode();
        Assert.Equal(4, (await client.GetFromJsonAsync<Mood>("/api/days/2026-03-01"))!.Level);
        Assert.Equal(["before"], (await client.GetFromJsonAsync<List<HistoryEntry>>("/api/days/2026-03-01/history"))!.Select(h => h.Note));
    }

    [Fact]
    public async Task Health_reports_the_store_healthy()
    {
        using var client = _app.CreateClient();
        using var response = await client.GetAsync("/health");
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("Healthy", await response.Content.ReadAsStringAsync());
    }

    private async Task SetReadOnlyAsync(bool readOnly)
    {
        if (_app.Backend == Backend.Json)
        {
            await StoreFactory.SetReadOnlyAsync(_app.Address, readOnly);
        }
        else
        {
            await ((IStoreFence)_app.Store).SetReadOnlyAsync(readOnly);
        }
    }

    private async Task<List<string>> AllPartitionsAsync()
    {
        var partitions = new List<string>();
        string? token = null;
        do
        {
            var page = await _app.Store.ListPartitionsAsync(new PartitionListOptions { Limit = 1000, ContinuationToken = token });
            partitions.AddRange(page.Items.Select(p => p.Partition));
            token = page.ContinuationToken;
        }
        while (token is not null);
        return partitions;
    }
}

/// <summary>Outside Development there is no development sign-in.</summary>
[Trait("Backend", "Json")]
public sealed class ProductionTests
{
    [Fact]
    public async Task The_development_sign_in_does_not_exist_outside_Development()
    {
        await using var app = await PixelsFactory.CreateAsync(Backend.Json, environment: "Production");
        using var client = app.CreateClient();

        using var signIn = await client.PostAsJsonAsync("/api/dev/sign-in", new DevSignInInput("mallory"));

        Assert.Equal(HttpStatusCode.NotFound, signIn.StatusCode);
        Assert.Empty((await app.Store.QueryAsync(new IndexQuery("profile", "by-identity") { Equal = Pixels.HashIdentity("dev:mallory") })).Items);
        Assert.Equal(HttpStatusCode.OK, (await client.GetAsync("/health")).StatusCode);
        Assert.Equal(HttpStatusCode.Unauthorized, (await client.GetAsync("/api/me")).StatusCode);
    }
}

/// <summary>A PostgreSQL server that stops: the app answers 503 and its health check says Unhealthy, then recovers.</summary>
[Trait("Backend", "Postgres")]
public sealed class UnavailableStoreTests
{
    [Fact]
    public async Task While_the_server_is_down_requests_get_503_and_health_is_unhealthy()
    {
        await using var cluster = await Storage.Testing.Postgres.LocalPostgresCluster.StartAsync();
        await using var app = PixelsFactory.ForAddress(Backend.Postgres, "postgres:" + cluster.ConnectionString, new Dictionary<string, string?>
        {
            ["Storage:RetryBudget"] = "00:00:01",
        });
        var (client, _) = await app.SignInAsync("ann");
        (await client.PutAsJsonAsync("/api/days/2026-01-01", new MoodInput(3, ""))).EnsureSuccessStatusCode();

        await cluster.StopAsync("immediate");

        using var put = await client.PutAsJsonAsync("/api/days/2026-01-02", new MoodInput(4, ""));
        Assert.Equal(HttpStatusCode.ServiceUnavailable, put.StatusCode);
        Assert.Equal("5", put.Headers.RetryAfter?.ToString());
        Assert.Equal("The store is unavailable; try again shortly.", (await put.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("title").GetString());
        Assert.Equal(HttpStatusCode.ServiceUnavailable, (await client.GetAsync("/health")).StatusCode);

        await cluster.StartServerAsync();

        (await client.PutAsJsonAsync("/api/days/2026-01-02", new MoodInput(4, ""))).EnsureSuccessStatusCode();
        Assert.Equal(2, (await client.GetFromJsonAsync<YearView>("/api/year?year=2026"))!.Days.Count);
        Assert.Equal(HttpStatusCode.OK, (await client.GetAsync("/health")).StatusCode);
    }
}
