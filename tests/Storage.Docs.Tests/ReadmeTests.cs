using System.Diagnostics;
using System.Reflection;
using System.Text.RegularExpressions;
using Storage.Testing;

namespace Storage.Docs.Tests;

/// <summary>
/// The README's code is a program of this repository (samples/Storage.Taste): these tests check that
/// the README shows it word for word, and run it in an empty directory to check that it does what the
/// README says it does.
/// </summary>
public sealed partial class ReadmeTests
{
    private static readonly string s_root = Metadata("RepositoryRoot");

    [Fact]
    public void The_taste_in_the_README_is_the_taste_sample_word_for_word()
    {
        var readme = File.ReadAllText(Path.Combine(s_root, "README.md"));
        var section = readme.IndexOf("## A taste", StringComparison.Ordinal);
        Assert.True(section >= 0, "README.md has no '## A taste' section.");
        var block = CSharpBlock().Match(readme, section);
        Assert.True(block.Success, "README.md's '## A taste' section has no ```csharp block.");

        var sample = File.ReadAllText(Path.Combine(s_root, "samples", "Storage.Taste", "Program.cs"));

        Assert.Equal(Normalize(sample), Normalize(block.Groups["code"].Value));
    }

    [Fact]
    public async Task The_taste_runs_in_a_new_directory_and_prints_the_conflict_and_the_typed_read_of_the_raw_batch()
    {
        var directory = Directory.CreateTempSubdirectory("storage-taste-");
        try
        {
            var (exitCode, output, errors) = await RunAsync(directory.FullName);

            Assert.True(exitCode == 0, $"The taste exited with {exitCode}: {errors}");
            Assert.Equal(
                [
                    "expected 1, found 2",
                    "Mood { Label = tired, Score = 4 }",
                    """2026-11-23 v2: {"label":"calm","score":6}""",
                    """2026-11-24 v3: {"label":"tired","score":4}""",
                ],
                output);

            // It wrote where it said: a JSON store in ./data of its working directory.
            Assert.True(File.Exists(Path.Combine(directory.FullName, "data", "storage.json")));
        }
        finally
        {
            directory.Delete(recursive: true);
        }
    }

    private static async Task<(int ExitCode, string[] Output, string Errors)> RunAsync(string workingDirectory)
    {
        var start = new ProcessStartInfo(ChildProcess.DotnetHost)
        {
            WorkingDirectory = workingDirectory,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        start.ArgumentList.Add(Metadata("TastePath"));
        using var process = Process.Start(start)!;
        using var timeout = new CancellationTokenSource(TimeSpan.FromMinutes(2));
        var output = process.StandardOutput.ReadToEndAsync(timeout.Token);
        var errors = process.StandardError.ReadToEndAsync(timeout.Token);
        await process.WaitForExitAsync(timeout.Token);
        var lines = (await output).Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        return (process.ExitCode, lines, await errors);
    }

    private static string Metadata(string key)
        => typeof(ReadmeTests).Assembly.GetCustomAttributes<AssemblyMetadataAttribute>().Single(a => a.Key == key).Value
            ?? throw new InvalidOperationException($"No {key} stamped into the test assembly.");

    private static string Normalize(string code) => code.ReplaceLineEndings("\n").Trim();

    [GeneratedRegex(@"```csharp\n(?<code>.*?)```", RegexOptions.Singleline)]
    private static partial Regex CSharpBlock();
}
