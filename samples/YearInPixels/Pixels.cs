using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using Storage;

namespace YearInPixels;

/// <summary>
/// The app's data on one <see cref="IStore"/>: a partition per user (<c>user:{id}</c>) holding the
/// profile, the sessions, the moods, the theme and one history stream per day. Identities, wallpaper
/// tokens and sessions are found across users through global unique indexes, so deleting the
/// partition deletes every record of the user at once.
/// </summary>
public sealed class Pixels
{
    /// <summary>The key of the profile document.</summary>
    public const string ProfileKey = "me";

    /// <summary>The key of the theme document.</summary>
    public const string ThemeKey = "theme";

    private const int WriteAttempts = 8;

    private readonly IStore _store;
    private readonly TimeProvider _time;
    private readonly PixelsOptions _options;

    /// <summary>Creates the app's data access.</summary>
    /// <param name="store">The store (from <c>AddStorage</c>).</param>
    /// <param name="time">The clock (the store's too).</param>
    /// <param name="options">The session lifetime.</param>
    public Pixels(IStore store, TimeProvider time, PixelsOptions options)
    {
        _store = store;
        _time = time;
        _options = options;
    }

    /// <summary>The indexes the app needs, declared in code so that a configuration switching backend cannot drop them.</summary>
    public static IReadOnlyList<IndexDefinition> Indexes { get; } =
    [
        new IndexDefinition("profile", "by-identity", "identity", IndexValueType.String, unique: true, IndexScope.Global),
        new IndexDefinition("profile", "by-wallpaper", "wallpaperToken", IndexValueType.String, unique: true, IndexScope.Global),
        new IndexDefinition("sessions", "by-hash", "hash", IndexValueType.String, unique: true, IndexScope.Global),
    ];

    /// <summary>Declares <see cref="Indexes"/> in a store's options (the app's and the importer's).</summary>
    /// <param name="options">The options from the <c>Storage</c> section.</param>
    public static void DeclareIndexes(Storage.Hosting.StorageOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        foreach (var index in Indexes)
        {
            options.Indexes.Add(index);
        }
    }

    /// <summary>The partition of a user.</summary>
    /// <param name="userId">The user's id.</param>
    /// <returns><c>user:{id}</c>.</returns>
    public static string PartitionOf(string userId) => "user:" + userId;

    /// <summary>The history stream of a day.</summary>
    /// <param name="date">The day, <c>yyyy-MM-dd</c>.</param>
    /// <returns><c>history/{date}</c>.</returns>
    public static string HistoryStreamOf(string date) => "history/" + date;

    /// <summary>The stored form of a sign-in identity: SHA-256, hex.</summary>
    /// <param name="identity">The identity, e.g. <c>dev:alice</c> or <c>apple:000123.abc</c>.</param>
    /// <returns>64 lowercase hex digits.</returns>
    public static string HashIdentity(string identity) => Sha256Hex("year-in-pixels/identity/" + identity);

    /// <summary>The stored form of a bearer token: SHA-256, hex.</summary>
    /// <param name="token">The token.</param>
    /// <returns>64 lowercase hex digits.</returns>
    public static string HashToken(string token) => Sha256Hex(token);

    /// <summary>A new secret: <paramref name="bytes"/> random bytes from <see cref="RandomNumberGenerator"/>, base64url.</summary>
    /// <param name="bytes">At least 16 (128 bits).</param>
    /// <returns>The token.</returns>
    public static string NewToken(int bytes = 32)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(bytes, 16);
        return Base64Url(RandomNumberGenerator.GetBytes(bytes));
    }

    /// <summary>The default theme: squares, medium spacing, red to green.</summary>
    /// <param name="at">Its time.</param>
    /// <returns>The theme.</returns>
    public static Theme DefaultTheme(DateTimeOffset at) => new("square", "medium", ["#d73027", "#fc8d59", "#fee08b", "#91cf60", "#1a9850"], at);

    /// <summary>The user with this identity, created when there is none; then a new session for them.</summary>
    /// <param name="identity">The identity (hashed before it is stored or looked up).</param>
    /// <param name="cancellationToken">Cancels the calls.</param>
    /// <returns>The bearer token (shown once), the user's id and the session's expiry.</returns>
    public async Task<SignedIn> SignInAsync(string identity, CancellationToken cancellationToken)
    {
        var identityHash = HashIdentity(identity);
        var userId = await FindOrCreateUserAsync(identityHash, cancellationToken);
        var token = NewToken(32);
        var hash = HashToken(token);
        var now = Now();
        var expiresAt = now + _options.SessionLifetime;
        await Sessions(userId).PutAsync(hash, new Session(hash, now), WriteCondition.MustNotExist, expiresAt, cancellationToken);
        return new SignedIn(token, userId, expiresAt);
    }

    private async Task<string> FindOrCreateUserAsync(string identityHash, CancellationToken cancellationToken)
    {
        for (var attempt = 0; ; attempt++)
        {
            var existing = await FindByIndexAsync("by-identity", identityHash, cancellationToken);
            if (existing is not null)
            {
                return existing.Id;
            }

            var id = Guid.NewGuid().ToString("D");
            var now = Now();
            try
            {
                await Profiles(id).PutAsync(ProfileKey, new Profile(id, identityHash, NewToken(24), now, now), WriteCondition.MustNotExist, cancellationToken: cancellationToken);
                return id;
            }
            catch (UniqueConstraintException) when (attempt < WriteAttempts)
            {
                // Another request created this identity's user first (or, improbably, the random
                // wallpaper token was taken): nothing was written; look the holder up again.
            }
        }
    }

    /// <summary>The user of a bearer token, or <see langword="null"/> when the session is unknown, expired or its user deleted.</summary>
    /// <param name="token">The bearer token.</param>
    /// <param name="cancellationToken">Cancels the calls.</param>
    /// <returns>The user's profile and the session's hash.</returns>
    public async Task<(Profile Profile, string SessionHash)?> AuthenticateAsync(string token, CancellationToken cancellationToken)
    {
        var hash = HashToken(token);
        var page = await _store.QueryAsync(new IndexQuery("sessions", "by-hash") { Equal = hash, Limit = 1 }, cancellationToken);
        if (page.Items.Count == 0)
        {
            return null; // unknown, or expired: an expired document is invisible to queries
        }

        var profile = await _store.GetAsync(page.Items[0].Document.Partition, "profile", ProfileKey, StoreJson.Default.Profile, cancellationToken);
        return profile is null ? null : (profile.Value, hash);
    }

    /// <summary>Ends a session.</summary>
    /// <param name="userId">Its user.</param>
    /// <param name="sessionHash">Its hash.</param>
    /// <param name="cancellationToken">Cancels the call.</param>
    /// <returns>A task.</returns>
    public async Task SignOutAsync(string userId, string sessionHash, CancellationToken cancellationToken)
        => await Sessions(userId).DeleteAsync(sessionHash, cancellationToken: cancellationToken);

    /// <summary>Deletes the user's partition: profile (identity, wallpaper token), sessions, moods, history and theme, in one step.</summary>
    /// <param name="userId">The user.</param>
    /// <param name="cancellationToken">Cancels the call.</param>
    /// <returns>Whether there was anything to delete.</returns>
    public async Task<bool> DeleteAccountAsync(string userId, CancellationToken cancellationToken)
        => await _store.DeletePartitionAsync(PartitionOf(userId), cancellationToken);

    /// <summary>The moods of a year.</summary>
    /// <param name="userId">The user.</param>
    /// <param name="year">The year.</param>
    /// <param name="cancellationToken">Cancels the calls.</param>
    /// <returns>Each day with a mood, in date order.</returns>
    public async Task<SortedDictionary<string, Mood>> GetYearAsync(string userId, int year, CancellationToken cancellationToken)
    {
        var days = new SortedDictionary<string, Mood>(StringComparer.Ordinal);
        var prefix = year.ToString("D4", CultureInfo.InvariantCulture) + "-";
        await foreach (var day in Moods(userId).ListAllAsync(new ListOptions { Prefix = prefix, Limit = 400 }, cancellationToken))
        {
            days[day.Key] = day.Value;
        }

        return days;
    }

    /// <summary>The number of days at each level in a set of moods.</summary>
    /// <param name="days">The moods.</param>
    /// <returns><c>"1"</c> to <c>"5"</c>, each with its count (0 included).</returns>
    public static Dictionary<string, int> CountLevels(IEnumerable<Mood> days)
    {
        var counts = Enumerable.Range(1, 5).ToDictionary(l => l.ToString(CultureInfo.InvariantCulture), _ => 0, StringComparer.Ordinal);
        foreach (var mood in days)
        {
            counts[mood.Level.ToString(CultureInfo.InvariantCulture)]++;
        }

        return counts;
    }

    /// <summary>One day's mood.</summary>
    /// <param name="userId">The user.</param>
    /// <param name="date">The day.</param>
    /// <param name="cancellationToken">Cancels the call.</param>
    /// <returns>The mood, or <see langword="null"/>.</returns>
    public async Task<Mood?> GetDayAsync(string userId, string date, CancellationToken cancellationToken)
        => (await Moods(userId).GetAsync(date, cancellationToken))?.Value;

    /// <summary>
    /// Sets a day's mood. The earlier value, if any, is appended to the day's history stream in the
    /// same atomic batch, and the put is conditional on the version read: two requests racing on one
    /// day both land, one after the other, and neither earlier value is lost from the history.
    /// </summary>
    /// <param name="userId">The user.</param>
    /// <param name="date">The day.</param>
    /// <param name="level">1 to 5.</param>
    /// <param name="note">The note.</param>
    /// <param name="cancellationToken">Cancels the calls.</param>
    /// <returns>The stored mood.</returns>
    public async Task<Mood> SetDayAsync(string userId, string date, int level, string note, CancellationToken cancellationToken)
    {
        var moods = Moods(userId);
        for (var attempt = 1; ; attempt++)
        {
            var current = await moods.GetAsync(date, cancellationToken);
            var mood = new Mood(level, note, Now());
            var operations = new List<WriteOperation>(2);
            if (current is null)
            {
                operations.Add(moods.Put(date, mood, WriteCondition.MustNotExist));
            }
            else
            {
                operations.Add(moods.Put(date, mood, WriteCondition.MustMatchVersion(current.Version)));
                operations.Add(WriteOperation.Append(HistoryStreamOf(date), [EventData.Create("mood.replaced", current.Value, StoreJson.Default.Mood)]));
            }

            try
            {
                await moods.CommitAsync(operations, cancellationToken);
                return mood;
            }
            catch (VersionConflictException) when (attempt < WriteAttempts)
            {
                // Another request changed the day since it was read: read it again, so that its
                // value goes into the history too.
            }
        }
    }

    /// <summary>The earlier values of a day, newest first.</summary>
    /// <param name="userId">The user.</param>
    /// <param name="date">The day.</param>
    /// <param name="cancellationToken">Cancels the call.</param>
    /// <returns>Up to 100 entries.</returns>
    public async Task<IReadOnlyList<HistoryEntry>> GetHistoryAsync(string userId, string date, CancellationToken cancellationToken)
    {
        var page = await _store.ReadStreamAsync(PartitionOf(userId), HistoryStreamOf(date), new ReadStreamOptions { Backwards = true, Limit = 100 }, cancellationToken);
        return [.. page.Items.Select(e => e.Deserialize(StoreJson.Default.Mood) is { } m ? new HistoryEntry(m.Level, m.Note, m.UpdatedAt, e.CommittedAt) : null).OfType<HistoryEntry>()];
    }

    /// <summary>The user's theme, or the default one.</summary>
    /// <param name="userId">The user.</param>
    /// <param name="cancellationToken">Cancels the call.</param>
    /// <returns>The theme.</returns>
    public async Task<Theme> GetThemeAsync(string userId, CancellationToken cancellationToken)
        => (await Themes(userId).GetAsync(ThemeKey, cancellationToken))?.Value ?? DefaultTheme(DateTimeOffset.UnixEpoch);

    /// <summary>Sets the user's theme (the whole theme: the last write wins, as a form that is saved whole should).</summary>
    /// <param name="userId">The user.</param>
    /// <param name="theme">The validated theme.</param>
    /// <param name="cancellationToken">Cancels the call.</param>
    /// <returns>The stored theme.</returns>
    public async Task<Theme> SetThemeAsync(string userId, Theme theme, CancellationToken cancellationToken)
    {
        var stored = theme with { UpdatedAt = Now() };
        await Themes(userId).PutAsync(ThemeKey, stored, cancellationToken: cancellationToken);
        return stored;
    }

    /// <summary>Gives the user a new wallpaper token: the old address stops working with this commit.</summary>
    /// <param name="userId">The user.</param>
    /// <param name="cancellationToken">Cancels the calls.</param>
    /// <returns>The new token, or <see langword="null"/> when the user no longer exists.</returns>
    public async Task<string?> RotateWallpaperTokenAsync(string userId, CancellationToken cancellationToken)
    {
        var profiles = Profiles(userId);
        for (var attempt = 1; ; attempt++)
        {
            var current = await profiles.GetAsync(ProfileKey, cancellationToken);
            if (current is null)
            {
                return null;
            }

            var token = NewToken(24);
            try
            {
                await profiles.PutAsync(ProfileKey, current.Value with { WallpaperToken = token, UpdatedAt = Now() }, WriteCondition.MustMatchVersion(current.Version), cancellationToken: cancellationToken);
                return token;
            }
            catch (StorageException e) when (e is VersionConflictException or UniqueConstraintException && attempt < WriteAttempts)
            {
                // A concurrent rotation (or, improbably, a token already taken): read again and retry.
            }
        }
    }

    /// <summary>The profile that holds a wallpaper token.</summary>
    /// <param name="token">The token.</param>
    /// <param name="cancellationToken">Cancels the call.</param>
    /// <returns>The profile, or <see langword="null"/>.</returns>
    public Task<Profile?> FindByWallpaperTokenAsync(string token, CancellationToken cancellationToken)
        => FindByIndexAsync("by-wallpaper", token, cancellationToken);

    private async Task<Profile?> FindByIndexAsync(string index, string value, CancellationToken cancellationToken)
    {
        var page = await _store.QueryAsync(new IndexQuery("profile", index) { Equal = value, Limit = 1 }, cancellationToken);
        return page.Items.Count == 0 ? null : page.Items[0].Document.Deserialize(StoreJson.Default.Profile);
    }

    internal DocumentCollection<Profile> Profiles(string userId) => _store.GetCollection(PartitionOf(userId), "profile", StoreJson.Default.Profile);

    internal DocumentCollection<Session> Sessions(string userId) => _store.GetCollection(PartitionOf(userId), "sessions", StoreJson.Default.Session);

    internal DocumentCollection<Mood> Moods(string userId) => _store.GetCollection(PartitionOf(userId), "moods", StoreJson.Default.Mood);

    internal DocumentCollection<Theme> Themes(string userId) => _store.GetCollection(PartitionOf(userId), "theme", StoreJson.Default.Theme);

    // The store keeps times to the millisecond; the values in documents match them.
    private DateTimeOffset Now()
    {
        var now = _time.GetUtcNow();
        return now.AddTicks(-(now.Ticks % TimeSpan.TicksPerMillisecond));
    }

    private static string Sha256Hex(string text) => Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(text)));

    private static string Base64Url(byte[] bytes) => System.Buffers.Text.Base64Url.EncodeToString(bytes);
}

/// <summary>The app's settings (section <c>YearInPixels</c>).</summary>
public sealed class PixelsOptions
{
    /// <summary>How long a session lasts (30 days by default).</summary>
    public TimeSpan SessionLifetime { get; set; } = TimeSpan.FromDays(30);
}
