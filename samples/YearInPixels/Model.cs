using System.Text.Json.Serialization;

namespace YearInPixels;

/// <summary>The user's profile, key <c>me</c> in the collection <c>profile</c> of the user's partition.</summary>
/// <param name="Id">The user's id (a UUID), also in the partition key <c>user:{id}</c>.</param>
/// <param name="Identity">The SHA-256 of the sign-in identity (<c>dev:…</c>, <c>apple:…</c>), hex: unique across users (a global unique index).</param>
/// <param name="WallpaperToken">The secret of the wallpaper address <c>/w/{token}</c>: unique across users (a global unique index).</param>
/// <param name="CreatedAt">When the account was created (kept from the legacy file on import).</param>
/// <param name="UpdatedAt">When the profile last changed.</param>
public sealed record Profile(string Id, string Identity, string WallpaperToken, DateTimeOffset CreatedAt, DateTimeOffset UpdatedAt);

/// <summary>A bearer session, key = its <see cref="Hash"/> in the collection <c>sessions</c>; the document expires with the session.</summary>
/// <param name="Hash">The SHA-256 of the bearer token, hex (the token itself is never stored).</param>
/// <param name="CreatedAt">When the session was opened.</param>
public sealed record Session(string Hash, DateTimeOffset CreatedAt);

/// <summary>One day's mood, key <c>yyyy-MM-dd</c> in the collection <c>moods</c>.</summary>
/// <param name="Level">1 (worst) to 5 (best).</param>
/// <param name="Note">A short note, possibly empty.</param>
/// <param name="UpdatedAt">When it was set.</param>
public sealed record Mood(int Level, string Note, DateTimeOffset UpdatedAt);

/// <summary>The user's theme, key <c>theme</c> in the collection <c>theme</c>.</summary>
/// <param name="Shape">square, rounded or circle.</param>
/// <param name="Spacing">none, small, medium or large.</param>
/// <param name="Colors">Five colours <c>#rrggbb</c>, for levels 1 to 5.</param>
/// <param name="UpdatedAt">When it was set.</param>
public sealed record Theme(string Shape, string Spacing, IReadOnlyList<string> Colors, DateTimeOffset UpdatedAt);

/// <summary>The body of <c>PUT /api/days/{date}</c>.</summary>
public sealed record MoodInput(int? Level, string? Note);

/// <summary>The body of <c>PUT /api/theme</c>.</summary>
public sealed record ThemeInput(string? Shape, string? Spacing, IReadOnlyList<string>? Colors);

/// <summary>The body of <c>POST /api/dev/sign-in</c>.</summary>
public sealed record DevSignInInput(string? Name);

/// <summary>The answer to a sign-in.</summary>
public sealed record SignedIn(string Token, string UserId, DateTimeOffset ExpiresAt);

/// <summary>The signed-in user.</summary>
public sealed record Me(string UserId, string WallpaperUrl, DateTimeOffset CreatedAt);

/// <summary>The wallpaper address.</summary>
public sealed record Wallpaper(string Token, string Url);

/// <summary>A year: each day that has a mood, and the number of days at each level.</summary>
public sealed record YearView(int Year, IReadOnlyDictionary<string, Mood> Days, IReadOnlyDictionary<string, int> Counts);

/// <summary>The number of days at each level (<c>"1"</c> to <c>"5"</c>) in a year.</summary>
public sealed record YearCounts(int Year, IReadOnlyDictionary<string, int> Counts, int Total);

/// <summary>An earlier value of a day, newest first, with when it was replaced.</summary>
public sealed record HistoryEntry(int Level, string Note, DateTimeOffset UpdatedAt, DateTimeOffset ReplacedAt);

/// <summary>The values the app stores, serialized through source-generated metadata.</summary>
[JsonSerializable(typeof(Profile))]
[JsonSerializable(typeof(Session))]
[JsonSerializable(typeof(Mood))]
[JsonSerializable(typeof(Theme))]
[JsonSerializable(typeof(string))]
[JsonSourceGenerationOptions(PropertyNamingPolicy = JsonKnownNamingPolicy.CamelCase)]
internal sealed partial class StoreJson : JsonSerializerContext;
