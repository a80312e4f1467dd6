using System.Globalization;
using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text.Json.Nodes;
using Storage;
using Storage.Hosting;
using Xunit.Abstractions;

namespace YearInPixels.Tests;

/// <summary>
/// The legacy importer on a generated, realistic data.json (users with a year of moods, themes and
/// sessions, and a few bad records): dry run, execute, verify, the file kept as data.json.bak, the
/// re-run a no-op, and the app then serving the imported users with their legacy tokens.
/// </summary>
public sealed class LegacyImportTests(ITestOutputHelper output)
{
    [Theory]
    [InlineData(Backend.Json)]
    [InlineData(Backend.Sqlite)]
    [InlineData(Backend.Postgres)]
    public async Task A_legacy_file_is_imported_verified_kept_as_bak_and_a_rerun_writes_nothing(Backend backend)
    {
        await using var app = await PixelsFactory.CreateAsync(backend);
        var directory = Directory.CreateTempSubdirectory("pixels-legacy-").FullName;
        try
        {
            var seed = Random.Shared.Next();
            output.WriteLine($"seed {seed}");
            var legacy = LegacyFile.Generate(seed, users: 6);
            var file = Path.Combine(directory, "data.json");
            await File.WriteAllTextAsync(file, legacy.Json.ToJsonString());

            // A dry run reports and writes nothing.
            var (code, text) = await ImportAsync(file, app.Address);
            Assert.Equal(LegacyImportCommand.SomeSkipped, code);
            Assert.Contains("Dry run", text, StringComparison.Ordinal);
            Assert.Contains($"  users:    {legacy.Users.Count} valid, {legacy.Users.Count} to write, 0 already in the store, {LegacyFile.BadUsers} skipped", text, StringComparison.Ordinal);
            Assert.Contains($"  moods:    {legacy.MoodCount} valid, {legacy.MoodCount} to write, 0 already in the store, {LegacyFile.BadMoods} skipped", text, StringComparison.Ordinal);
            Assert.True(File.Exists(file));
            Assert.Empty(await PartitionsAsync(app.Address));

            // Executed: written, verified, the file renamed; every bad record reported by its path.
            (code, text) = await ImportAsync(file, app.Address, "--execute");
            output.WriteLine(text);
            Assert.Equal(LegacyImportCommand.SomeSkipped, code);
            Assert.Contains($"  users:    {legacy.Users.Count} valid, {legacy.Users.Count} written, 0 already in the store, {LegacyFile.BadUsers} skipped", text, StringComparison.Ordinal);
            Assert.Contains($"  moods:    {legacy.MoodCount} valid, {legacy.MoodCount} written, 0 already in the store, {LegacyFile.BadMoods} skipped", text, StringComparison.Ordinal);
            Assert.Contains($"  themes:   {legacy.Users.Count - 2} valid, {legacy.Users.Count - 2} written, 0 already in the store, 1 skipped", text, StringComparison.Ordinal);
            Assert.Contains($"  sessions: {legacy.SessionCount} valid, {legacy.SessionCount} written, 0 already in the store, 1 skipped", text, StringComparison.Ordinal);
            foreach (var (path, reason) in legacy.BadRecords)
            {
                Assert.Contains($"  {path}: {reason}", text, StringComparison.Ordinal);
            }

            Assert.Contains("Verified: the store holds every valid record of the file", text, StringComparison.Ordinal);
            Assert.False(File.Exists(file));
            Assert.True(File.Exists(file + ".bak"));
            foreach (var user in legacy.Users)
            {
                Assert.DoesNotContain(user.Sessions[0], text, StringComparison.Ordinal); // bearer tokens never in the report
            }

            var before = await PartitionsAsync(app.Address);
            Assert.Equal(legacy.Users.Count, before.Count);

            // The same command again: nothing written, nothing changed.
            (code, text) = await ImportAsync(file, app.Address, "--execute");
            Assert.Equal(LegacyImportCommand.SomeSkipped, code);
            Assert.Contains("data.json was imported before and renamed", text, StringComparison.Ordinal);
            Assert.Contains($"  moods:    {legacy.MoodCount} valid, 0 written, {legacy.MoodCount} already in the store, {LegacyFile.BadMoods} skipped", text, StringComparison.Ordinal);
            Assert.Contains($"  sessions: {legacy.SessionCount} valid, 0 written, {legacy.SessionCount} already in the store, 1 skipped", text, StringComparison.Ordinal);
            Assert.Equal(before, await PartitionsAsync(app.Address));

            // The app serves the imported users: their legacy bearer tokens and wallpaper addresses work.
            foreach (var user in legacy.Users)
            {
                using var client = app.CreateClient();
                client.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", user.Sessions[^1]);
                var year = (await client.GetFromJsonAsync<YearView>("/api/year?year=2026"))!;
                Assert.Equal(user.Moods.Keys.Order(StringComparer.Ordinal), year.Days.Keys);
                foreach (var (date, mood) in user.Moods)
                {
                    Assert.Equal((mood.Level, mood.Note, mood.UpdatedAt), (year.Days[date].Level, year.Days[date].Note, year.Days[date].UpdatedAt));
                }

                var me = (await client.GetFromJsonAsync<Me>("/api/me"))!;
                Assert.Equal(user.Id, me.UserId);
                Assert.Equal(user.CreatedAt, me.CreatedAt);
                var theme = (await client.GetFromJsonAsync<Theme>("/api/theme"))!;
                Assert.Equal(user.Theme?.Colors ?? Pixels.DefaultTheme(default).Colors, theme.Colors);
                Assert.Equal(HttpStatusCode.OK, (await client.GetAsync($"/w/{user.WallpaperToken}")).StatusCode);
            }
        }
        finally
        {
            Directory.Delete(directory, recursive: true);
        }
    }

    [Fact]
    public async Task Wrong_arguments_and_a_file_that_is_not_json_fail_with_code_2()
    {
        var directory = Directory.CreateTempSubdirectory("pixels-legacy-").FullName;
        try
        {
            var broken = Path.Combine(directory, "data.json");
            await File.WriteAllTextAsync(broken, """{"users": {""");
            var store = "json:" + Path.Combine(directory, "store");

            Assert.Equal((LegacyImportCommand.Failed, string.Empty), (await ImportAsync(Path.Combine(directory, "missing.json"), store)) with { Output = string.Empty });
            var (code, text) = await ImportAsync(broken, store, "--execute");
            Assert.Equal(LegacyImportCommand.Failed, code);
            Assert.Contains("is not JSON", text, StringComparison.Ordinal);
            Assert.True(File.Exists(broken));
            Assert.Equal(LegacyImportCommand.Failed, (await ImportAsync(broken, store, "--force")).Code);
        }
        finally
        {
            Directory.Delete(directory, recursive: true);
        }
    }

    private static async Task<(int Code, string Output)> ImportAsync(string file, string store, params string[] more)
    {
        using var output = new StringWriter(CultureInfo.InvariantCulture);
        var code = await LegacyImportCommand.RunAsync([file, "--store", store, .. more], output, output);
        return (code, output.ToString());
    }

    private static async Task<List<PartitionInfo>> PartitionsAsync(string address)
    {
        await using var store = await StoreFactory.OpenAsync(address, Pixels.DeclareIndexes);
        return [.. (await store.ListPartitionsAsync(new PartitionListOptions { Limit = 1000 })).Items];
    }
}

/// <summary>A generated legacy data.json: users with most days of 2026, themes, sessions, and known bad records.</summary>
public sealed class LegacyFile
{
    /// <summary>Bad users in every generated file.</summary>
    public const int BadUsers = 2;

    /// <summary>Bad moods in every generated file.</summary>
    public const int BadMoods = 3;

    private LegacyFile(JsonObject json) => Json = json;

    /// <summary>The file's content.</summary>
    public JsonObject Json { get; }

    /// <summary>The valid users.</summary>
    public List<User> Users { get; } = [];

    /// <summary>The bad records: path and reason, as the importer reports them.</summary>
    public List<(string Path, string Reason)> BadRecords { get; } = [];

    /// <summary>Valid moods in all.</summary>
    public int MoodCount => Users.Sum(u => u.Moods.Count);

    /// <summary>Valid sessions in all.</summary>
    public int SessionCount => Users.Sum(u => u.Sessions.Count);

    /// <summary>Generates a file.</summary>
    /// <param name="seed">The random seed (printed by the test).</param>
    /// <param name="users">How many valid users.</param>
    /// <returns>The file and what it should import.</returns>
    public static LegacyFile Generate(int seed, int users)
    {
        var random = new Random(seed);
        string[] notes = ["", "ok", "walked by the sea 🌊", "\"quoted\" and \\ backslash", "Zürich, café, naïve", "long day at work", "雨"];
        var usersJson = new JsonObject();
        var sessions = new JsonObject();
        var file = new LegacyFile(new JsonObject { ["users"] = usersJson, ["sessions"] = sessions });
        for (var u = 0; u < users; u++)
        {
            var id = new Guid(random.GetItems<byte>(Enumerable.Range(0, 256).Select(b => (byte)b).ToArray(), 16)).ToString("D");
            var created = new DateTimeOffset(2025, 1 + u, 1, 8, 0, 0, TimeSpan.Zero);
            var user = new User(id, $"{random.Next(100000, 999999)}.{Guid.NewGuid():N}.{u}", $"wp{u}{Guid.NewGuid():N}", created);
            var moods = new JsonObject();
            for (var day = new DateOnly(2026, 1, 1); day.Year == 2026; day = day.AddDays(1))
            {
                if (random.NextDouble() < 0.15)
                {
                    continue; // a day without a mood
                }

                var date = day.ToString("yyyy-MM-dd", CultureInfo.InvariantCulture);
                var mood = new Mood(random.Next(1, 6), notes[random.Next(notes.Length)], new DateTimeOffset(day.ToDateTime(new TimeOnly(21, random.Next(60))), TimeSpan.Zero));
                user.Moods[date] = mood;
                moods[date] = new JsonObject { ["level"] = mood.Level, ["note"] = mood.Note, ["updated_at"] = mood.UpdatedAt.ToString("yyyy-MM-dd'T'HH:mm:ss'Z'", CultureInfo.InvariantCulture) };
            }

            var userJson = new JsonObject
            {
                ["apple_sub"] = user.AppleSub,
                ["wallpaper_token"] = user.WallpaperToken,
                ["created_at"] = created.ToString("O", CultureInfo.InvariantCulture),
                ["updated_at"] = created.AddDays(3).ToString("O", CultureInfo.InvariantCulture),
                ["moods"] = moods,
            };
            if (u != 1)
            {
                string[] colors = [.. Enumerable.Range(0, 5).Select(_ => "#" + random.Next(0x1000000).ToString("x6", CultureInfo.InvariantCulture))];
                user.Theme = new Theme(u % 2 == 0 ? "rounded" : "circle", "small", colors, created);
                userJson["theme"] = new JsonObject { ["shape"] = user.Theme.Shape, ["spacing"] = "small", ["colors"] = new JsonArray([.. colors.Select(c => (JsonNode)c)]), ["updated_at"] = "2026-01-01T00:00:00Z" };
            }

            for (var s = 0; s < 2; s++)
            {
                var token = Convert.ToHexStringLower(random.GetItems<byte>(Enumerable.Range(0, 256).Select(b => (byte)b).ToArray(), 20));
                user.Sessions.Add(token);
                sessions[token] = id;
            }

            usersJson[id] = userJson;
            file.Users.Add(user);
        }

        // Bad records, each reported by its path; the rest of its user is imported.
        var first = file.Users[0];
        var firstMoods = (JsonObject)usersJson[first.Id]!["moods"]!;
        firstMoods["2026-02-30"] = new JsonObject { ["level"] = 3, ["note"] = "", ["updated_at"] = "2026-03-01T00:00:00Z" };
        file.BadRecords.Add(($"$.users[\"{first.Id}\"].moods[\"2026-02-30\"]", "'2026-02-30' is not a date; write it as yyyy-MM-dd, for example 2026-01-03."));
        var badLevelDate = first.Moods.Keys.First();
        first.Moods.Remove(badLevelDate);
        firstMoods[badLevelDate] = new JsonObject { ["level"] = 9, ["note"] = "too happy", ["updated_at"] = "2026-01-01T00:00:00Z" };
        file.BadRecords.Add(($"$.users[\"{first.Id}\"].moods[\"{badLevelDate}\"].level", "level is 9; it must be a whole number from 1 to 5."));
        var second = file.Users[2];
        var badTimeDate = second.Moods.Keys.Last();
        second.Moods.Remove(badTimeDate);
        ((JsonObject)usersJson[second.Id]!["moods"]!)[badTimeDate] = new JsonObject { ["level"] = 2, ["updated_at"] = "yesterday" };
        file.BadRecords.Add(($"$.users[\"{second.Id}\"].moods[\"{badTimeDate}\"].updated_at", "updated_at is \"yesterday\"; it must be an ISO-8601 time such as 2026-01-03T08:00:00Z."));
        var third = file.Users[3];
        ((JsonObject)usersJson[third.Id]!["theme"]!)["colors"] = new JsonArray("#000000", "#111111", "#222222", "#333333");
        third.Theme = null;
        file.BadRecords.Add(($"$.users[\"{third.Id}\"].theme", "colors must hold exactly 5 colours (one per level), not 4."));
        usersJson["not-a-uuid"] = new JsonObject { ["apple_sub"] = "x", ["wallpaper_token"] = "y" };
        file.BadRecords.Add(("$.users[\"not-a-uuid\"]", "'not-a-uuid' is not a user id (a UUID such as 1b4e28ba-2fa1-11d2-883f-0016d3cca427)."));
        var noSub = Guid.NewGuid().ToString("D");
        usersJson[noSub] = new JsonObject { ["wallpaper_token"] = "abc", ["created_at"] = "2026-01-01T00:00:00Z", ["updated_at"] = "2026-01-01T00:00:00Z" };
        file.BadRecords.Add(($"$.users[\"{noSub}\"].apple_sub", "apple_sub is missing; it must be a string."));
        var orphan = Guid.NewGuid().ToString("D");
        sessions["orphan-session-token-0123456789"] = orphan;
        file.BadRecords.Add(($"$.sessions[sha256:{Pixels.HashToken("orphan-session-token-0123456789")[..12]}…]", $"its user {orphan} is not in the file or was skipped."));
        return file;
    }

    /// <summary>A valid legacy user.</summary>
    public sealed class User(string id, string appleSub, string wallpaperToken, DateTimeOffset createdAt)
    {
        public string Id { get; } = id;

        public string AppleSub { get; } = appleSub;

        public string WallpaperToken { get; } = wallpaperToken;

        public DateTimeOffset CreatedAt { get; } = createdAt;

        public SortedDictionary<string, Mood> Moods { get; } = new(StringComparer.Ordinal);

        public Theme? Theme { get; set; }

        public List<string> Sessions { get; } = [];
    }
}
