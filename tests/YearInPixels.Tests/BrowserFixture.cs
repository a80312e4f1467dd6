using Microsoft.Playwright;

namespace YearInPixels.Tests;

/// <summary>
/// One headless Debian Chromium, driven by Playwright, shared by every browser test (they are one
/// collection, so they run one after another). Playwright never downloads a browser here: its
/// executable path is set to the machine's chromium.
/// </summary>
public sealed class BrowserFixture : IAsyncLifetime
{
    /// <summary>The places a Debian or Ubuntu chromium lives.</summary>
    private static readonly string[] s_candidates = ["/usr/bin/chromium", "/usr/bin/chromium-browser", "/snap/bin/chromium"];

    private IPlaywright? _playwright;

    /// <summary>The browser.</summary>
    public IBrowser Browser { get; private set; } = null!;

    /// <summary>Where screenshots go: <c>artifacts/</c> in the test output directory.</summary>
    public static string ArtifactsDirectory { get; } = Path.Combine(AppContext.BaseDirectory, "artifacts");

    /// <summary>The chromium to drive: <c>CHROMIUM_PATH</c> if set, else the first of the usual places, else a failure saying how to install it.</summary>
    /// <returns>The executable.</returns>
    /// <exception cref="InvalidOperationException">No chromium was found.</exception>
    public static string FindChromium() => FindChromium(Environment.GetEnvironmentVariable("CHROMIUM_PATH"), s_candidates);

    /// <summary>The chromium to drive: <paramref name="configured"/> if set, else the first of <paramref name="candidates"/> that exists.</summary>
    /// <param name="configured">The value of <c>CHROMIUM_PATH</c>.</param>
    /// <param name="candidates">The usual places.</param>
    /// <returns>The executable.</returns>
    /// <exception cref="InvalidOperationException">No chromium was found.</exception>
    public static string FindChromium(string? configured, IReadOnlyList<string> candidates)
    {
        if (!string.IsNullOrEmpty(configured))
        {
            return File.Exists(configured)
                ? configured
                : throw new InvalidOperationException($"CHROMIUM_PATH is '{configured}', which does not exist.");
        }

        return candidates.FirstOrDefault(File.Exists)
            ?? throw new InvalidOperationException(
                "The browser tests need Chromium, and none was found (" + string.Join(", ", candidates) + "). " +
                "Install Debian's package: `sudo apt-get install -y chromium` (.ci/run does this when it is missing), " +
                "or set CHROMIUM_PATH to a Chromium executable.");
    }

    /// <inheritdoc/>
    public async Task InitializeAsync()
    {
        var executable = FindChromium();
        Directory.CreateDirectory(ArtifactsDirectory);
        _playwright = await Playwright.CreateAsync();
        Browser = await _playwright.Chromium.LaunchAsync(new BrowserTypeLaunchOptions
        {
            ExecutablePath = executable,
            Headless = true,
            Args = ["--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking", "--disable-component-update"],
        });
    }

    /// <inheritdoc/>
    public async Task DisposeAsync()
    {
        if (Browser is not null)
        {
            await Browser.DisposeAsync();
        }

        _playwright?.Dispose();
    }
}

/// <summary>The browser tests share one browser and run one after another.</summary>
[CollectionDefinition(Name)]
public sealed class BrowserCollection : ICollectionFixture<BrowserFixture>
{
    /// <summary>The collection's name.</summary>
    public const string Name = "Browser";
}
