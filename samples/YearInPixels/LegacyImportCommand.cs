using System.Text.Json;
using Microsoft.Extensions.Options;
using Storage;
using Storage.Hosting;

namespace YearInPixels;

/// <summary>
/// <c>import &lt;data.json&gt; [--execute] [--store &lt;address&gt;]</c>: the legacy file into the store the
/// app is configured with (its <c>Storage</c> section, or <c>--store</c>). A dry run unless
/// <c>--execute</c>; after an executed, verified import the file is renamed <c>data.json.bak</c>.
/// </summary>
public static class LegacyImportCommand
{
    /// <summary>Exit code: everything imported (or already there).</summary>
    public const int Success = 0;

    /// <summary>Exit code: some records were skipped (each reported); the rest is imported.</summary>
    public const int SomeSkipped = 1;

    /// <summary>Exit code: wrong arguments, no file, a file that is not JSON, or a store that cannot be opened.</summary>
    public const int Failed = 2;

    /// <summary>Exit code: after the import the store does not hold what was written.</summary>
    public const int NotVerified = 3;

    private const string Usage = "usage: YearInPixels import <data.json> [--execute] [--store <address>]";

    /// <summary>Runs the command.</summary>
    /// <param name="args">The arguments after <c>import</c>.</param>
    /// <param name="output">Where the report goes.</param>
    /// <param name="error">Where errors go.</param>
    /// <returns>The exit code.</returns>
    public static async Task<int> RunAsync(string[] args, TextWriter output, TextWriter error)
    {
        ArgumentNullException.ThrowIfNull(args);
        ArgumentNullException.ThrowIfNull(output);
        ArgumentNullException.ThrowIfNull(error);
        string? file = null;
        string? store = null;
        var execute = false;
        for (var i = 0; i < args.Length; i++)
        {
            switch (args[i])
            {
                case "--execute":
                    execute = true;
                    break;
                case "--store" when i + 1 < args.Length:
                    store = args[++i];
                    break;
                case var a when a.StartsWith('-') || file is not null:
                    await error.WriteLineAsync($"import: unexpected argument '{a}'.\n{Usage}");
                    return Failed;
                default:
                    file = args[i];
                    break;
            }
        }

        if (file is null)
        {
            await error.WriteLineAsync($"import: name the legacy file.\n{Usage}");
            return Failed;
        }

        file = Resolve(file);
        var alreadyRenamed = false;
        if (!File.Exists(file))
        {
            if (!File.Exists(file + ".bak"))
            {
                await error.WriteLineAsync($"import: {file} does not exist.");
                return Failed;
            }

            // The same command again after an executed import: the file is data.json.bak now; check it again (nothing is written twice).
            alreadyRenamed = true;
            file += ".bak";
        }

        var builder = Host.CreateApplicationBuilder(new HostApplicationBuilderSettings
        {
            ContentRootPath = Directory.GetCurrentDirectory(), // as the app's: json:data is the app's data directory
            EnvironmentName = Environment.GetEnvironmentVariable("ASPNETCORE_ENVIRONMENT"),
            Args = store is null ? [] : [$"--Storage:Address={store}"],
        });
        builder.Logging.ClearProviders(); // the report is the output; failures are printed by the command
        builder.Services.AddSingleton(TimeProvider.System);
        builder.Services.AddOptions<PixelsOptions>().Bind(builder.Configuration.GetSection("YearInPixels"));
        builder.AddStorage(Pixels.DeclareIndexes);
        using var host = builder.Build();
        try
        {
            await host.StartAsync();
        }
        catch (Exception e) when (e is InvalidOperationException or OptionsValidationException or StorageException)
        {
            await error.WriteLineAsync($"import: the store could not be opened: {e.Message}");
            return Failed;
        }

        try
        {
            var address = builder.Configuration["Storage:Address"] is { } a ? StoreAddress.Parse(a).ToString() : "(the Storage section)";
            await output.WriteLineAsync($"{(execute ? "Importing" : "Dry run (nothing is written; add --execute to import)")}: {file} into {address}");
            if (alreadyRenamed)
            {
                await output.WriteLineAsync($"  {Path.GetFileName(file)[..^4]} was imported before and renamed; checking {Path.GetFileName(file)} against the store again.");
            }

            var import = new LegacyImport(host.Services.GetRequiredService<IStore>(), TimeProvider.System, host.Services.GetRequiredService<IOptions<PixelsOptions>>().Value.SessionLifetime);
            ImportReport report;
            try
            {
                report = await import.RunAsync(file, execute, CancellationToken.None);
            }
            catch (JsonException e)
            {
                await error.WriteLineAsync($"import: {file} is not JSON: {e.Message}");
                return Failed;
            }

            var verb = execute ? "written" : "to write";
            await output.WriteLineAsync($"  users:    {report.Users}".Replace("written", verb, StringComparison.Ordinal));
            await output.WriteLineAsync($"  moods:    {report.Moods}".Replace("written", verb, StringComparison.Ordinal));
            await output.WriteLineAsync($"  themes:   {report.Themes}".Replace("written", verb, StringComparison.Ordinal));
            await output.WriteLineAsync($"  sessions: {report.Sessions}".Replace("written", verb, StringComparison.Ordinal));
            if (report.Skipped.Count > 0)
            {
                await output.WriteLineAsync($"Skipped ({report.Skipped.Count}):");
                foreach (var skipped in report.Skipped)
                {
                    await output.WriteLineAsync($"  {skipped.Path}: {skipped.Reason}");
                }
            }

            if (!execute)
            {
                return report.Skipped.Count == 0 ? Success : SomeSkipped;
            }

            if (report.VerificationProblem is not null)
            {
                await error.WriteLineAsync($"import: the store does not hold what was imported: {report.VerificationProblem}. {Path.GetFileName(file)} is left as it is.");
                return NotVerified;
            }

            await output.WriteLineAsync($"Verified: the store holds every valid record of the file ({report.Users.Valid} users, {report.Moods.Valid} moods, {report.Themes.Valid} themes, {report.Sessions.Valid} sessions).");
            if (!alreadyRenamed)
            {
                var backup = file + ".bak";
                if (File.Exists(backup))
                {
                    await output.WriteLineAsync($"{backup} exists already; {file} is left in place.");
                }
                else
                {
                    File.Move(file, backup);
                    await output.WriteLineAsync($"Kept the legacy file as {backup}.");
                }
            }

            return report.Skipped.Count == 0 ? Success : SomeSkipped;
        }
        finally
        {
            await host.StopAsync();
        }
    }

    // `dotnet run --project samples/YearInPixels` runs the app in the project's directory (its content
    // root), so a relative path is first taken from the directory the command was typed in ($PWD).
    private static string Resolve(string file)
    {
        if (Path.IsPathRooted(file))
        {
            return file;
        }

        var shell = Environment.GetEnvironmentVariable("PWD");
        if (!string.IsNullOrEmpty(shell) && Path.IsPathRooted(shell))
        {
            var fromShell = Path.GetFullPath(Path.Combine(shell, file));
            if (File.Exists(fromShell) || File.Exists(fromShell + ".bak"))
            {
                return fromShell;
            }
        }

        return Path.GetFullPath(file);
    }
}
