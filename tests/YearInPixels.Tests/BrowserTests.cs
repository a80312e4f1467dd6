using System.Text.RegularExpressions;
using Microsoft.Playwright;
using Xunit.Abstractions;

namespace YearInPixels.Tests;

[Collection(BrowserCollection.Name)]
[Trait("Backend", "Json")]
public sealed class JsonBrowserTests(BrowserFixture browser, ITestOutputHelper output) : BrowserTests(browser, output, Backend.Json);

[Collection(BrowserCollection.Name)]
[Trait("Backend", "Sqlite")]
public sealed class SqliteBrowserTests(BrowserFixture browser, ITestOutputHelper output) : BrowserTests(browser, output, Backend.Sqlite);

[Collection(BrowserCollection.Name)]
[Trait("Backend", "Postgres")]
public sealed class PostgresBrowserTests(BrowserFixture browser, ITestOutputHelper output) : BrowserTests(browser, output, Backend.Postgres);

/// <summary>
/// The page in a real headless Chromium against the app served by Kestrel on a loopback port, on
/// one backend: what a person does, end to end. Screenshots of the year and the wallpaper are kept
/// in the test output's <c>artifacts/</c>.
/// </summary>
public abstract class BrowserTests(BrowserFixture browser, ITestOutputHelper output, Backend backend)
{
    private const string Year = "2026";

    [Fact]
    public async Task A_person_signs_in_keeps_moods_themes_the_wallpaper_rotates_it_outlives_a_session_and_deletes_the_account()
    {
        await using var app = await PixelsFactory.CreateAsync(backend);
        var baseAddress = app.StartKestrel();
        await using var context = await browser.Browser.NewContextAsync(new BrowserNewContextOptions
        {
            BaseURL = baseAddress.ToString(),
            ViewportSize = new ViewportSize { Width = 1100, Height = 1100 },
        });
        context.SetDefaultTimeout(30_000); // generous: CI runs other test assemblies beside this one on two cores
        Assertions.SetDefaultExpectTimeout(30_000);
        var page = await context.NewPageAsync();
        var name = "browser-" + backend.ToString().ToLowerInvariant();

        // Sign in.
        await page.GotoAsync($"/?year={Year}");
        await SignInAsync(page, name);
        await Assertions.Expect(page.Locator("#year-title")).ToHaveTextAsync(Year);

        // Set two days; the grid and the counts show them.
        await SetDayAsync(page, "2026-01-03", 4, "a good day");
        await SetDayAsync(page, "2026-02-14", 2, "meh");
        await SetDayAsync(page, "2026-01-03", 5, "even better"); // the 4 goes into the history
        await Assertions.Expect(page.Locator("#day-history li")).ToHaveTextAsync(new Regex("^4: a good day"));

        // Reload: everything comes back from the store.
        await page.ReloadAsync();
        await Assertions.Expect(Day(page, "2026-01-03")).ToHaveAttributeAsync("data-level", "5");
        await Assertions.Expect(Day(page, "2026-02-14")).ToHaveAttributeAsync("data-level", "2");
        await Assertions.Expect(Day(page, "2026-03-01")).ToHaveAttributeAsync("data-level", "0");
        await Assertions.Expect(page.Locator("#counts li[data-level='5']")).ToHaveTextAsync("5: 1");
        await Assertions.Expect(page.Locator("#counts li[data-level='2']")).ToHaveTextAsync("2: 1");
        await Day(page, "2026-01-03").ClickAsync();
        await Assertions.Expect(page.Locator("#day-note")).ToHaveValueAsync("even better");
        await Assertions.Expect(page.Locator("#day-history li")).ToHaveCountAsync(1);
        await ScreenshotAsync(page, "year");

        // Change the theme: circles, and level 5 in a new colour, seen in the grid and in the wallpaper.
        await page.Locator("#theme-shape").SelectOptionAsync("circle");
        await page.Locator("#theme-spacing").SelectOptionAsync("large");
        await page.Locator("#theme-color-5").FillAsync("#123456");
        await page.Locator("#theme-save").ClickAsync();
        await Assertions.Expect(page.Locator("#status")).ToHaveTextAsync("Theme saved.");
        await Assertions.Expect(Day(page, "2026-01-03")).ToHaveCSSAsync("background-color", "rgb(18, 52, 86)");

        var oldWallpaper = await page.Locator("#wallpaper-link").GetAttributeAsync("href");
        Assert.Matches("^/w/[A-Za-z0-9_-]{22,}$", oldWallpaper);
        var wallpaper = await context.NewPageAsync();
        await wallpaper.SetViewportSizeAsync(460, 1140); // the whole SVG (large spacing) in the screenshot
        var response = await wallpaper.GotoAsync($"{oldWallpaper}?year={Year}");
        Assert.Equal(200, response!.Status);
        await Assertions.Expect(wallpaper.Locator("svg")).ToHaveAttributeAsync("data-shape", "circle");
        await Assertions.Expect(wallpaper.Locator("circle[data-date='2026-01-03']")).ToHaveAttributeAsync("fill", "#123456");
        await ScreenshotAsync(wallpaper, "wallpaper", fullPage: false); // a bare SVG document has no page to measure

        // Rotate the token: the old address fails at once, the new one shows the same year.
        await page.Locator("#wallpaper-rotate").ClickAsync();
        await Assertions.Expect(page.Locator("#wallpaper-link")).Not.ToHaveAttributeAsync("href", oldWallpaper!);
        var newWallpaper = await page.Locator("#wallpaper-link").GetAttributeAsync("href");
        Assert.Equal(404, (await wallpaper.GotoAsync(oldWallpaper!))!.Status);
        Assert.Equal(200, (await wallpaper.GotoAsync($"{newWallpaper}?year={Year}"))!.Status);
        await Assertions.Expect(wallpaper.Locator("circle[data-date='2026-02-14']")).ToHaveAttributeAsync("fill", "#fc8d59");

        // The session ends with the app's clock: the page asks to sign in again, the moods are kept.
        app.Time.Advance(TimeSpan.FromDays(31));
        await page.ReloadAsync();
        await Assertions.Expect(page.Locator("#sign-in")).ToBeVisibleAsync();
        await Assertions.Expect(page.Locator("#status")).ToHaveTextAsync("Your session has ended; sign in again.");
        await SignInAsync(page, name);
        await Assertions.Expect(Day(page, "2026-01-03")).ToHaveAttributeAsync("data-level", "5");

        // Delete the account: signed out, the wallpaper gone, the same name starts from nothing.
        page.Dialog += (_, dialog) => dialog.AcceptAsync();
        await page.Locator("#delete-account").ClickAsync();
        await Assertions.Expect(page.Locator("#status")).ToHaveTextAsync("Your account is deleted.");
        await Assertions.Expect(page.Locator("#sign-in")).ToBeVisibleAsync();
        Assert.Equal(404, (await wallpaper.GotoAsync(newWallpaper!))!.Status);
        await SignInAsync(page, name);
        await Assertions.Expect(Day(page, "2026-01-03")).ToHaveAttributeAsync("data-level", "0");
        await Assertions.Expect(page.Locator("#counts li[data-level='5']")).ToHaveTextAsync("5: 0");
    }

    private static ILocator Day(IPage page, string date) => page.Locator($"#grid [data-date='{date}']");

    private static async Task SignInAsync(IPage page, string name)
    {
        await Assertions.Expect(page.Locator("#sign-in")).ToBeVisibleAsync();
        await page.Locator("#sign-in-name").FillAsync(name);
        await page.GetByRole(AriaRole.Button, new() { Name = "Sign in" }).ClickAsync();
        await Assertions.Expect(page.Locator("#app")).ToBeVisibleAsync();
    }

    private static async Task SetDayAsync(IPage page, string date, int level, string note)
    {
        await Day(page, date).ClickAsync();
        await Assertions.Expect(page.Locator("#day-date")).ToHaveTextAsync(date);
        await page.Locator($"input[name=level][value='{level}']").CheckAsync();
        await page.Locator("#day-note").FillAsync(note);
        await page.Locator("#day-save").ClickAsync();
        await Assertions.Expect(Day(page, date)).ToHaveAttributeAsync("data-level", level.ToString(System.Globalization.CultureInfo.InvariantCulture));
    }

    private async Task ScreenshotAsync(IPage page, string what, bool fullPage = true)
    {
        var path = Path.Combine(BrowserFixture.ArtifactsDirectory, $"{backend.ToString().ToLowerInvariant()}-{what}.png");
        await page.ScreenshotAsync(new PageScreenshotOptions { Path = path, FullPage = fullPage });
        output.WriteLine($"Screenshot of the {what}: {path}");
    }
}

public sealed class ChromiumLookupTests
{
    [Fact]
    public void Without_chromium_the_browser_tests_fail_saying_how_to_install_it()
    {
        var missing = Path.Combine(Path.GetTempPath(), "no-chromium-" + Guid.NewGuid().ToString("N"));

        var e = Assert.Throws<InvalidOperationException>(() => BrowserFixture.FindChromium(null, [missing]));

        Assert.Equal(
            $"The browser tests need Chromium, and none was found ({missing}). Install Debian's package: `sudo apt-get install -y chromium` " +
            "(.ci/run does this when it is missing), or set CHROMIUM_PATH to a Chromium executable.",
            e.Message);
        Assert.Contains("does not exist", Assert.Throws<InvalidOperationException>(() => BrowserFixture.FindChromium(missing, [])).Message, StringComparison.Ordinal);
        Assert.Equal("/bin/sh", BrowserFixture.FindChromium(null, [missing, "/bin/sh"]));
    }
}

/// <summary>A save clicked while the store is fenced (a cut-over under way) is kept: the page retries it after Retry-After.</summary>
[Collection(BrowserCollection.Name)]
[Trait("Backend", "Json")]
public sealed class FencedSaveBrowserTests(BrowserFixture browser)
{
    [Fact]
    public async Task A_save_refused_with_503_is_retried_after_Retry_After_until_it_lands()
    {
        await using var app = await PixelsFactory.CreateAsync(Backend.Json);
        var baseAddress = app.StartKestrel();
        await using var context = await browser.Browser.NewContextAsync(new BrowserNewContextOptions { BaseURL = baseAddress.ToString() });
        context.SetDefaultTimeout(30_000);
        Assertions.SetDefaultExpectTimeout(30_000);
        var page = await context.NewPageAsync();
        var refusals = 0;
        page.Response += (_, response) =>
        {
            if (response.Status == 503)
            {
                Interlocked.Increment(ref refusals);
            }
        };
        await page.GotoAsync("/?year=2026");
        await page.Locator("#sign-in-name").FillAsync("fenced");
        await page.GetByRole(AriaRole.Button, new() { Name = "Sign in" }).ClickAsync();
        await Assertions.Expect(page.Locator("#app")).ToBeVisibleAsync();
        var day = page.Locator("#grid [data-date='2026-04-01']");
        await Assertions.Expect(day).ToHaveAttributeAsync("data-level", "0"); // signed in, the year drawn

        // The store fenced through its directory, as `storage cutover` does while the app runs.
        await Storage.Hosting.StoreFactory.SetReadOnlyAsync(app.Address, true);
        await day.ClickAsync();
        await page.Locator("input[name=level][value='3']").CheckAsync();
        await page.Locator("#day-note").FillAsync("clicked during the cut-over");
        await page.Locator("#day-save").ClickAsync();
        await Assertions.Expect(page.Locator("#status")).ToHaveTextAsync("The store is busy for a moment; saving again in 1 s…");
        await Task.Delay(1500); // at least one retry, refused again
        Assert.True(Volatile.Read(ref refusals) >= 2, $"{refusals} refusals: the page did not retry the save");
        await Assertions.Expect(day).ToHaveAttributeAsync("data-level", "0");

        await Storage.Hosting.StoreFactory.SetReadOnlyAsync(app.Address, false);

        await Assertions.Expect(day).ToHaveAttributeAsync("data-level", "3");
        await Assertions.Expect(page.Locator("#status")).ToHaveTextAsync("");
        var profile = (await app.Store.QueryAsync(new Storage.IndexQuery("profile", "by-identity") { Equal = Pixels.HashIdentity("dev:fenced") })).Items.Single();
        var stored = await app.Store.GetAsync(profile.Document.Partition, "moods", "2026-04-01");
        Assert.Contains("clicked during the cut-over", stored!.GetJsonText(), StringComparison.Ordinal);
    }
}
