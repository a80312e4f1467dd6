using System.Globalization;
using System.Text.Json;
using System.Text.RegularExpressions;
using Storage;

namespace YearInPixels;

/// <summary>One record of the legacy file that was not imported, by its JSON path, and why.</summary>
/// <param name="Path">Where it is in the file, e.g. <c>$.users["…"].moods["2026-02-30"]</c>.</param>
/// <param name="Reason">Why it was skipped.</param>
public sealed record SkippedRecord(string Path, string Reason);

/// <summary>How many records of each kind a legacy file holds, and what became of them.</summary>
public sealed class ImportCounts
{
    /// <summary>Valid records in the file.</summary>
    public int Valid { get; set; }

    /// <summary>Records written by this run.</summary>
    public int Written { get; set; }

    /// <summary>Records the store already held (an earlier run).</summary>
    public int Present { get; set; }

    /// <summary>Records skipped (each one reported).</summary>
    public int Skipped { get; set; }

    /// <inheritdoc/>
    public override string ToString() => string.Create(CultureInfo.InvariantCulture, $"{Valid} valid, {Written} written, {Present} already in the store, {Skipped} skipped");
}

/// <summary>What an import found, did and verified.</summary>
public sealed class ImportReport
{
    /// <summary>Users (one partition each: profile with identity and wallpaper token).</summary>
    public ImportCounts Users { get; } = new();

    /// <summary>Days with a mood.</summary>
    public ImportCounts Moods { get; } = new();

    /// <summary>Themes.</summary>
    public ImportCounts Themes { get; } = new();

    /// <summary>Bearer sessions (stored by hash, expiring one session lifetime after the import).</summary>
    public ImportCounts Sessions { get; } = new();

    /// <summary>Every record not imported, in file order.</summary>
    public List<SkippedRecord> Skipped { get; } = [];

    /// <summary>After an executed import: what the store was found to hold, or <see langword="null"/>.</summary>
    public string? VerificationProblem { get; set; }
}

/// <summary>
/// Reads the legacy <c>data.json</c> (every user, mood, theme and session in one file) and writes it
/// into the app's store: a partition per user, the identity (<c>apple:&lt;sub&gt;</c>) and session
/// tokens stored hashed. Each bad record is reported by its JSON path and skipped, the rest goes on.
/// Every put is must-not-exist and what the store already holds is left alone, so a second run writes
/// nothing.
/// </summary>
public sealed partial class LegacyImport
{
    private readonly IStore _store;
    private readonly TimeProvider _time;
    private readonly TimeSpan _sessionLifetime;

    /// <summary>Creates an importer.</summary>
    /// <param name="store">The app's store.</param>
    /// <param name="time">The clock (sessions expire one lifetime after the import).</param>
    /// <param name="sessionLifetime">The app's session lifetime.</param>
    public LegacyImport(IStore store, TimeProvider time, TimeSpan sessionLifetime)
    {
        _store = store;
        _time = time;
        _sessionLifetime = sessionLifetime;
    }

    /// <summary>Reads the file, checks every record and, when <paramref name="execute"/>, writes what the store lacks and verifies it.</summary>
    /// <param name="file">The legacy file.</param>
    /// <param name="execute">Write; otherwise only report what would be written.</param>
    /// <param name="cancellationToken">Cancels the work.</param>
    /// <returns>The report.</returns>
    /// <exception cref="JsonException">The file is not JSON at all.</exception>
    public async Task<ImportReport> RunAsync(string file, bool execute, CancellationToken cancellationToken)
    {
        var report = new ImportReport();
        LegacyUser[] users;
        await using (var stream = File.OpenRead(file))
        {
            using var document = await JsonDocument.ParseAsync(stream, cancellationToken: cancellationToken);
            users = Read(document.RootElement, report);
        }

        foreach (var user in users)
        {
            await ImportUserAsync(user, execute, report, cancellationToken);
        }

        if (execute)
        {
            report.VerificationProblem = await VerifyAsync(users, cancellationToken);
        }

        return report;
    }

    private LegacyUser[] Read(JsonElement root, ImportReport report)
    {
        if (root.ValueKind != JsonValueKind.Object)
        {
            report.Skipped.Add(new("$", "the file must hold one JSON object with \"users\" and \"sessions\"."));
            return [];
        }

        var users = new List<LegacyUser>();
        var byId = new Dictionary<string, LegacyUser>(StringComparer.Ordinal);
        var identities = new HashSet<string>(StringComparer.Ordinal);
        var tokens = new HashSet<string>(StringComparer.Ordinal);
        if (!root.TryGetProperty("users", out var usersElement) || usersElement.ValueKind != JsonValueKind.Object)
        {
            report.Skipped.Add(new("$.users", "missing or not an object of users by id."));
        }
        else
        {
            foreach (var property in usersElement.EnumerateObject())
            {
                var path = $"$.users{Member(property.Name)}";
                var user = ReadUser(property.Name, property.Value, path, report);
                if (user is null)
                {
                    report.Users.Skipped++;
                    continue;
                }

                string? duplicate = byId.ContainsKey(user.Id) ? "another user of the file has this id."
                    : !identities.Add(user.Identity) ? $"{path}.apple_sub: another user of the file has this apple_sub."
                    : !tokens.Add(user.WallpaperToken) ? $"{path}.wallpaper_token: another user of the file has this token."
                    : null;
                if (duplicate is not null)
                {
                    report.Skipped.Add(new(path, duplicate));
                    report.Users.Skipped++;
                    continue;
                }

                byId[user.Id] = user;
                users.Add(user);
                report.Users.Valid++;
                report.Moods.Valid += user.Moods.Count;
                report.Themes.Valid += user.Theme is null ? 0 : 1;
            }
        }

        if (root.TryGetProperty("sessions", out var sessions))
        {
            if (sessions.ValueKind != JsonValueKind.Object)
            {
                report.Skipped.Add(new("$.sessions", "not an object of user ids by bearer token."));
            }
            else
            {
                foreach (var session in sessions.EnumerateObject())
                {
                    // The path names the session by its hash: a bearer token never goes into a report.
                    var path = $"$.sessions[sha256:{Pixels.HashToken(session.Name)[..12]}…]";
                    string? problem = session.Name.Length is 0 or > 200 ? "the token is empty or longer than 200 characters."
                        : session.Value.ValueKind != JsonValueKind.String ? "the value must be the user's id, a string."
                        : !Guid.TryParse(session.Value.GetString(), out var id) ? $"'{Shorten(session.Value.GetString()!)}' is not a user id."
                        : !byId.TryGetValue(id.ToString("D"), out var owner) ? $"its user {id:D} is not in the file or was skipped."
                        : null;
                    if (problem is not null)
                    {
                        report.Skipped.Add(new(path, problem));
                        report.Sessions.Skipped++;
                        continue;
                    }

                    byId[Guid.Parse(session.Value.GetString()!).ToString("D")].SessionHashes.Add(Pixels.HashToken(session.Name));
                    report.Sessions.Valid++;
                }
            }
        }

        return [.. users];
    }

    private static LegacyUser? ReadUser(string key, JsonElement value, string path, ImportReport report)
    {
        string? problem = null;
        if (!Guid.TryParseExact(key, "D", out var id))
        {
            problem = $"'{Shorten(key)}' is not a user id (a UUID such as 1b4e28ba-2fa1-11d2-883f-0016d3cca427).";
        }
        else if (value.ValueKind != JsonValueKind.Object)
        {
            problem = "a user must be an object.";
        }

        if (problem is not null)
        {
            report.Skipped.Add(new(path, problem));
            return null;
        }

        var sub = ReadString(value, "apple_sub", path, report, s => s.Length is > 0 and <= 500 ? null : "must be 1 to 500 characters.");
        var token = ReadString(value, "wallpaper_token", path, report, s => TokenPattern().IsMatch(s) ? null : "must be 1 to 100 letters, digits, '-' or '_'.");
        var createdAt = ReadTime(value, "created_at", path, report);
        var updatedAt = ReadTime(value, "updated_at", path, report);
        if (sub is null || token is null || createdAt is null || updatedAt is null)
        {
            return null;
        }

        var user = new LegacyUser(id.ToString("D"), Pixels.HashIdentity("apple:" + sub), token, createdAt.Value, updatedAt.Value);
        if (value.TryGetProperty("moods", out var moods))
        {
            if (moods.ValueKind != JsonValueKind.Object)
            {
                report.Skipped.Add(new($"{path}.moods", "must be an object of moods by date."));
            }
            else
            {
                foreach (var day in moods.EnumerateObject())
                {
                    var mood = ReadMood(day, $"{path}.moods{Member(day.Name)}", report);
                    if (mood is not null)
                    {
                        user.Moods[day.Name] = mood;
                    }
                    else
                    {
                        report.Moods.Skipped++;
                    }
                }
            }
        }

        if (value.TryGetProperty("theme", out var theme) && theme.ValueKind != JsonValueKind.Null)
        {
            user.Theme = ReadTheme(theme, $"{path}.theme", report);
            report.Themes.Skipped += user.Theme is null ? 1 : 0;
        }

        return user;
    }

    private static Mood? ReadMood(JsonProperty day, string path, ImportReport report)
    {
        if (!Validation.TryDate(day.Name, out var error))
        {
            report.Skipped.Add(new(path, error!));
            return null;
        }

        if (day.Value.ValueKind != JsonValueKind.Object)
        {
            report.Skipped.Add(new(path, "a mood must be an object with level, note and updated_at."));
            return null;
        }

        if (!day.Value.TryGetProperty("level", out var levelElement) || !levelElement.TryGetInt32(out var level) || level is < 1 or > 5)
        {
            report.Skipped.Add(new($"{path}.level", $"{Describe(day.Value, "level")}; it must be a whole number from 1 to 5."));
            return null;
        }

        var note = string.Empty;
        if (day.Value.TryGetProperty("note", out var noteElement) && noteElement.ValueKind != JsonValueKind.Null)
        {
            if (noteElement.ValueKind != JsonValueKind.String || noteElement.GetString()!.Length > Validation.MaxNoteLength)
            {
                report.Skipped.Add(new($"{path}.note", $"must be a string of at most {Validation.MaxNoteLength} characters."));
                return null;
            }

            note = noteElement.GetString()!;
        }

        var updatedAt = ReadTime(day.Value, "updated_at", path, report);
        return updatedAt is null ? null : new Mood(level, note, updatedAt.Value);
    }

    private static Theme? ReadTheme(JsonElement theme, string path, ImportReport report)
    {
        if (theme.ValueKind != JsonValueKind.Object)
        {
            report.Skipped.Add(new(path, "a theme must be an object with shape, spacing, colors and updated_at."));
            return null;
        }

        List<string>? colors = null;
        if (theme.TryGetProperty("colors", out var colorsElement) && colorsElement.ValueKind == JsonValueKind.Array)
        {
            colors = [.. colorsElement.EnumerateArray().Select(c => c.ValueKind == JsonValueKind.String ? c.GetString()! : c.GetRawText())];
        }

        var input = new ThemeInput(StringOrNull(theme, "shape"), StringOrNull(theme, "spacing"), colors);
        if (!Validation.TryTheme(input, out var errors))
        {
            report.Skipped.Add(new(path, string.Join(" ", errors)));
            return null;
        }

        var updatedAt = ReadTime(theme, "updated_at", path, report);
        return updatedAt is null ? null : new Theme(input.Shape!, input.Spacing!, [.. colors!.Select(c => c.ToLowerInvariant())], updatedAt.Value);
    }

    private async Task ImportUserAsync(LegacyUser user, bool execute, ImportReport report, CancellationToken cancellationToken)
    {
        var partition = Pixels.PartitionOf(user.Id);
        var path = $"$.users{Member(user.Id)}";
        var existing = await _store.GetAsync(partition, "profile", Pixels.ProfileKey, StoreJson.Default.Profile, cancellationToken);
        if (existing is not null && (existing.Value.Identity != user.Identity || existing.Value.WallpaperToken != user.WallpaperToken))
        {
            report.Skipped.Add(new(path, "the store holds this user with another apple_sub or wallpaper_token (changed since an earlier import?); the store's is kept."));
            SkipUser(user, report);
            return;
        }

        var presentMoods = new HashSet<string>(StringComparer.Ordinal);
        await foreach (var mood in _store.ListAllAsync(partition, "moods", new ListOptions { Limit = 1000 }, cancellationToken))
        {
            presentMoods.Add(mood.Key);
        }

        var themePresent = await _store.GetAsync(partition, "theme", Pixels.ThemeKey, cancellationToken) is not null;
        var sessionsPresent = new HashSet<string>(StringComparer.Ordinal);
        foreach (var hash in user.SessionHashes)
        {
            if (await _store.GetAsync(partition, "sessions", hash, cancellationToken) is not null)
            {
                sessionsPresent.Add(hash);
            }
        }

        var now = _time.GetUtcNow();
        var operations = new List<WriteOperation>();
        if (existing is null)
        {
            operations.Add(WriteOperation.Put("profile", Pixels.ProfileKey, Serialize(new Profile(user.Id, user.Identity, user.WallpaperToken, user.CreatedAt, user.UpdatedAt), StoreJson.Default.Profile), WriteCondition.MustNotExist));
        }

        foreach (var (date, mood) in user.Moods)
        {
            if (!presentMoods.Contains(date))
            {
                operations.Add(WriteOperation.Put("moods", date, Serialize(mood, StoreJson.Default.Mood), WriteCondition.MustNotExist));
            }
        }

        if (user.Theme is not null && !themePresent)
        {
            operations.Add(WriteOperation.Put("theme", Pixels.ThemeKey, Serialize(user.Theme, StoreJson.Default.Theme), WriteCondition.MustNotExist));
        }

        foreach (var hash in user.SessionHashes.Where(h => !sessionsPresent.Contains(h)))
        {
            operations.Add(WriteOperation.Put("sessions", hash, Serialize(new Session(hash, now), StoreJson.Default.Session), WriteCondition.MustNotExist, now + _sessionLifetime));
        }

        var newMoods = user.Moods.Keys.Count(d => !presentMoods.Contains(d));
        var newTheme = user.Theme is not null && !themePresent ? 1 : 0;
        var newSessions = user.SessionHashes.Count - sessionsPresent.Count;
        if (execute && operations.Count > 0)
        {
            try
            {
                // The first batch holds the profile, so a user whose identity or token is taken writes nothing.
                foreach (var chunk in operations.Chunk(StoreLimits.MaxBatchOperations))
                {
                    await _store.CommitAsync(partition, chunk, cancellationToken);
                }
            }
            catch (UniqueConstraintException e)
            {
                var field = e.Index == "by-identity" ? "apple_sub" : "wallpaper_token";
                report.Skipped.Add(new($"{path}.{field}", $"another user in the store already has this {field}; the user is not imported."));
                SkipUser(user, report);
                return;
            }
        }

        report.Users.Written += existing is null ? 1 : 0;
        report.Users.Present += existing is null ? 0 : 1;
        report.Moods.Written += newMoods;
        report.Moods.Present += user.Moods.Count - newMoods;
        report.Themes.Written += newTheme;
        report.Themes.Present += user.Theme is null ? 0 : 1 - newTheme;
        report.Sessions.Written += newSessions;
        report.Sessions.Present += sessionsPresent.Count;
    }

    private static void SkipUser(LegacyUser user, ImportReport report)
    {
        report.Users.Skipped++;
        report.Moods.Skipped += user.Moods.Count;
        report.Themes.Skipped += user.Theme is null ? 0 : 1;
        report.Sessions.Skipped += user.SessionHashes.Count;
    }

    private async Task<string?> VerifyAsync(IEnumerable<LegacyUser> users, CancellationToken cancellationToken)
    {
        var problems = new List<string>();
        foreach (var user in users)
        {
            var partition = Pixels.PartitionOf(user.Id);
            var profile = await _store.GetAsync(partition, "profile", Pixels.ProfileKey, StoreJson.Default.Profile, cancellationToken);
            if (profile is null || profile.Value.Identity != user.Identity)
            {
                continue; // skipped and reported (identity taken by another user)
            }

            var moods = 0;
            await foreach (var mood in _store.ListAllAsync(partition, "moods", new ListOptions { Limit = 1000 }, cancellationToken))
            {
                moods += user.Moods.ContainsKey(mood.Key) ? 1 : 0;
            }

            if (moods != user.Moods.Count)
            {
                problems.Add($"user {user.Id}: {moods} of {user.Moods.Count} moods in the store");
            }

            if (user.Theme is not null && await _store.GetAsync(partition, "theme", Pixels.ThemeKey, cancellationToken) is null)
            {
                problems.Add($"user {user.Id}: no theme in the store");
            }

            foreach (var hash in user.SessionHashes)
            {
                if (await _store.GetAsync(partition, "sessions", hash, cancellationToken) is null)
                {
                    problems.Add($"user {user.Id}: a session is missing");
                }
            }
        }

        return problems.Count == 0 ? null : string.Join("; ", problems.Take(20));
    }

    private static string? ReadString(JsonElement owner, string name, string path, ImportReport report, Func<string, string?> check)
    {
        if (!owner.TryGetProperty(name, out var element) || element.ValueKind != JsonValueKind.String)
        {
            report.Skipped.Add(new($"{path}.{name}", $"{Describe(owner, name)}; it must be a string."));
            return null;
        }

        var problem = check(element.GetString()!);
        if (problem is not null)
        {
            report.Skipped.Add(new($"{path}.{name}", problem));
            return null;
        }

        return element.GetString();
    }

    private static DateTimeOffset? ReadTime(JsonElement owner, string name, string path, ImportReport report)
    {
        if (owner.TryGetProperty(name, out var element) && element.ValueKind == JsonValueKind.String
            && DateTimeOffset.TryParse(element.GetString(), CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal | DateTimeStyles.AdjustToUniversal, out var time))
        {
            return time;
        }

        report.Skipped.Add(new($"{path}.{name}", $"{Describe(owner, name)}; it must be an ISO-8601 time such as 2026-01-03T08:00:00Z."));
        return null;
    }

    private static string? StringOrNull(JsonElement owner, string name)
        => owner.TryGetProperty(name, out var element) && element.ValueKind == JsonValueKind.String ? element.GetString() : null;

    private static string Describe(JsonElement owner, string name)
        => owner.TryGetProperty(name, out var element) ? $"{name} is {Shorten(element.GetRawText())}" : $"{name} is missing";

    private static string Member(string name) => "[" + JsonSerializer.Serialize(name, StoreJson.Default.String) + "]";

    private static string Shorten(string text) => text.Length <= 40 ? text : text[..40] + "…";

    private static byte[] Serialize<T>(T value, System.Text.Json.Serialization.Metadata.JsonTypeInfo<T> typeInfo) => JsonSerializer.SerializeToUtf8Bytes(value, typeInfo);

    [GeneratedRegex("^[A-Za-z0-9_-]{1,100}$", RegexOptions.CultureInvariant)]
    private static partial Regex TokenPattern();

    private sealed class LegacyUser(string id, string identity, string wallpaperToken, DateTimeOffset createdAt, DateTimeOffset updatedAt)
    {
        public string Id { get; } = id;

        public string Identity { get; } = identity;

        public string WallpaperToken { get; } = wallpaperToken;

        public DateTimeOffset CreatedAt { get; } = createdAt;

        public DateTimeOffset UpdatedAt { get; } = updatedAt;

        public SortedDictionary<string, Mood> Moods { get; } = new(StringComparer.Ordinal);

        public Theme? Theme { get; set; }

        public List<string> SessionHashes { get; } = [];
    }
}
