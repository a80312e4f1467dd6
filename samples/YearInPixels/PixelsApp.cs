using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Options;
using Storage;
using Storage.Hosting;

namespace YearInPixels;

/// <summary>Builds the web app: services, the store from the <c>Storage</c> section, the endpoints.</summary>
public static class PixelsApp
{
    private const string UserItem = "year-in-pixels.user";

    /// <summary>The <c>Retry-After</c> of a write refused by the read-only fence: a cut-over refuses writes for well under a second, then the app restarts on the new store.</summary>
    internal const string ReadOnlyRetryAfterSeconds = "1";

    /// <summary>Creates the app.</summary>
    /// <param name="args">The command line.</param>
    /// <returns>The app, not started.</returns>
    public static WebApplication Build(string[] args)
    {
        var builder = WebApplication.CreateBuilder(args);
        builder.Services.TryAddSingleton(TimeProvider.System); // the store takes the same clock (AddStorage uses the registered TimeProvider)
        builder.AddStorage(Pixels.DeclareIndexes);
        builder.Services.AddHealthChecks().AddStorage();
        builder.Services.AddProblemDetails();
        builder.Services.Configure<RouteHandlerOptions>(o => o.ThrowOnBadRequest = true); // answered by the middleware below, in every environment
        builder.Services.AddOptions<PixelsOptions>().Bind(builder.Configuration.GetSection("YearInPixels"))
            .Validate(o => o.SessionLifetime > TimeSpan.Zero, "YearInPixels:SessionLifetime must be positive.")
            .ValidateOnStart();
        builder.Services.AddSingleton(sp => sp.GetRequiredService<IOptions<PixelsOptions>>().Value);
        builder.Services.AddSingleton<Pixels>();

        var app = builder.Build();
        app.UseStatusCodePages();
        app.Use(async (http, next) =>
        {
            try
            {
                await next(http);
            }
            catch (BadHttpRequestException e) when (!http.Response.HasStarted)
            {
                // A body that is not JSON, or not of the expected shape: say which, as a 400.
                var detail = e.InnerException is System.Text.Json.JsonException json ? $"{e.Message} {json.Message}" : e.Message;
                await Bad(detail).ExecuteAsync(http);
            }
            catch (StoreReadOnlyException) when (!http.Response.HasStarted)
            {
                // The store's read-only fence is set (`storage cutover` is moving it to another backend):
                // nothing was written; the write succeeds once the app runs on the new store, moments later.
                http.Response.Headers.RetryAfter = ReadOnlyRetryAfterSeconds;
                await Results.Problem(statusCode: StatusCodes.Status503ServiceUnavailable, title: "The store is read-only while it is being moved; try again shortly.").ExecuteAsync(http);
            }
            catch (StorageException e) when (e.IsTransient && !http.Response.HasStarted)
            {
                // The backend is unreachable after its own retries (a PostgreSQL restart, say): say so, and when to come back.
                http.Response.Headers.RetryAfter = "5";
                await Results.Problem(statusCode: StatusCodes.Status503ServiceUnavailable, title: "The store is unavailable; try again shortly.").ExecuteAsync(http);
            }
        });
        app.UseDefaultFiles();
        app.UseStaticFiles();
        app.MapHealthChecks("/health");
        Map(app);
        return app;
    }

    private static void Map(WebApplication app)
    {
        if (app.Environment.IsDevelopment())
        {
            // In place of Sign in with Apple: any name signs in as "dev:<name>". Only in Development.
            app.MapPost("/api/dev/sign-in", async (DevSignInInput? input, Pixels pixels, CancellationToken ct) =>
            {
                var name = input?.Name?.Trim();
                if (string.IsNullOrEmpty(name) || name.Length > 100)
                {
                    return Bad("name is missing or longer than 100 characters.");
                }

                return Results.Ok(await pixels.SignInAsync("dev:" + name, ct));
            });
        }

        var api = app.MapGroup("/api").AddEndpointFilter(RequireSession);

        api.MapGet("/me", (HttpContext http) =>
        {
            var user = UserOf(http);
            return Results.Ok(new Me(user.Profile.Id, WallpaperUrl(http, user.Profile.WallpaperToken), user.Profile.CreatedAt));
        });

        api.MapPost("/sign-out", async (HttpContext http, Pixels pixels, CancellationToken ct) =>
        {
            var user = UserOf(http);
            await pixels.SignOutAsync(user.Profile.Id, user.SessionHash, ct);
            return Results.NoContent();
        });

        api.MapDelete("/me", async (HttpContext http, Pixels pixels, CancellationToken ct) =>
        {
            await pixels.DeleteAccountAsync(UserOf(http).Profile.Id, ct);
            return Results.NoContent();
        });

        api.MapGet("/year", async (string? year, HttpContext http, Pixels pixels, TimeProvider time, CancellationToken ct) =>
        {
            if (!Validation.TryYear(year, time.GetUtcNow(), out var y, out var error))
            {
                return Bad(error!);
            }

            var days = await pixels.GetYearAsync(UserOf(http).Profile.Id, y, ct);
            return Results.Ok(new YearView(y, days, Pixels.CountLevels(days.Values)));
        });

        api.MapGet("/year/counts", async (string? year, HttpContext http, Pixels pixels, TimeProvider time, CancellationToken ct) =>
        {
            if (!Validation.TryYear(year, time.GetUtcNow(), out var y, out var error))
            {
                return Bad(error!);
            }

            var days = await pixels.GetYearAsync(UserOf(http).Profile.Id, y, ct);
            return Results.Ok(new YearCounts(y, Pixels.CountLevels(days.Values), days.Count));
        });

        api.MapGet("/days/{date}", async (string date, HttpContext http, Pixels pixels, CancellationToken ct) =>
        {
            if (!Validation.TryDate(date, out var error))
            {
                return Bad(error!);
            }

            var mood = await pixels.GetDayAsync(UserOf(http).Profile.Id, date, ct);
            return mood is null ? Results.NotFound() : Results.Ok(mood);
        });

        api.MapPut("/days/{date}", async (string date, MoodInput? input, HttpContext http, Pixels pixels, CancellationToken ct) =>
        {
            if (!Validation.TryDate(date, out var error) || !Validation.TryMood(input, out error))
            {
                return Bad(error!);
            }

            return Results.Ok(await pixels.SetDayAsync(UserOf(http).Profile.Id, date, input!.Level!.Value, input.Note ?? string.Empty, ct));
        });

        api.MapGet("/days/{date}/history", async (string date, HttpContext http, Pixels pixels, CancellationToken ct) =>
        {
            if (!Validation.TryDate(date, out var error))
            {
                return Bad(error!);
            }

            return Results.Ok(await pixels.GetHistoryAsync(UserOf(http).Profile.Id, date, ct));
        });

        api.MapGet("/theme", async (HttpContext http, Pixels pixels, CancellationToken ct)
            => Results.Ok(await pixels.GetThemeAsync(UserOf(http).Profile.Id, ct)));

        api.MapPut("/theme", async (ThemeInput? input, HttpContext http, Pixels pixels, CancellationToken ct) =>
        {
            if (!Validation.TryTheme(input, out var errors))
            {
                return Bad(string.Join(" ", errors));
            }

            var theme = new Theme(input!.Shape!, input.Spacing!, [.. input.Colors!.Select(c => c.ToLowerInvariant())], default);
            return Results.Ok(await pixels.SetThemeAsync(UserOf(http).Profile.Id, theme, ct));
        });

        api.MapGet("/wallpaper", (HttpContext http) =>
        {
            var token = UserOf(http).Profile.WallpaperToken;
            return Results.Ok(new Wallpaper(token, WallpaperUrl(http, token)));
        });

        api.MapPost("/wallpaper/rotate", async (HttpContext http, Pixels pixels, CancellationToken ct) =>
        {
            var token = await pixels.RotateWallpaperTokenAsync(UserOf(http).Profile.Id, ct);
            return token is null ? Results.Unauthorized() : Results.Ok(new Wallpaper(token, WallpaperUrl(http, token)));
        });

        // The wallpaper, without signing in: the token is the secret. Never cached, so a rotation is seen at once.
        app.MapGet("/w/{token}", async (string token, string? year, HttpContext http, Pixels pixels, TimeProvider time, CancellationToken ct) =>
        {
            http.Response.Headers.CacheControl = "no-store";
            if (token.Length > 100)
            {
                return Results.NotFound();
            }

            var profile = await pixels.FindByWallpaperTokenAsync(token, ct);
            if (profile is null)
            {
                return Results.NotFound();
            }

            if (!Validation.TryYear(year, time.GetUtcNow(), out var y, out var error))
            {
                return Bad(error!);
            }

            var days = await pixels.GetYearAsync(profile.Id, y, ct);
            var theme = await pixels.GetThemeAsync(profile.Id, ct);
            return Results.Text(WallpaperSvg.Render(y, days, theme), "image/svg+xml");
        });
    }

    private static async ValueTask<object?> RequireSession(EndpointFilterInvocationContext context, EndpointFilterDelegate next)
    {
        var http = context.HttpContext;
        var header = http.Request.Headers.Authorization.ToString();
        const string Scheme = "Bearer ";
        if (!header.StartsWith(Scheme, StringComparison.OrdinalIgnoreCase) || header.Length - Scheme.Length is < 1 or > 200)
        {
            return Results.Problem(statusCode: StatusCodes.Status401Unauthorized, title: "Sign in first (Authorization: Bearer <token>).");
        }

        var pixels = http.RequestServices.GetRequiredService<Pixels>();
        var user = await pixels.AuthenticateAsync(header[Scheme.Length..].Trim(), http.RequestAborted);
        if (user is null)
        {
            return Results.Problem(statusCode: StatusCodes.Status401Unauthorized, title: "The session has ended or is unknown; sign in again.");
        }

        http.Items[UserItem] = user.Value;
        return await next(context);
    }

    private static (Profile Profile, string SessionHash) UserOf(HttpContext http) => ((Profile, string))http.Items[UserItem]!;

    private static string WallpaperUrl(HttpContext http, string token) => $"{http.Request.Scheme}://{http.Request.Host}/w/{token}";

    private static IResult Bad(string message) => Results.Problem(statusCode: StatusCodes.Status400BadRequest, title: "Bad request", detail: message);
}
