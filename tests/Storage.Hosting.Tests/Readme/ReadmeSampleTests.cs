using System.Text.RegularExpressions;
using Storage.Sqlite;

namespace Storage.Hosting.Tests.Readme;

/// <summary>The README shows the appsettings file and the code of this folder word for word, and that code runs.</summary>
public sealed partial class ReadmeSampleTests
{
    private static readonly string s_here = Path.Combine(FindRoot(), "tests", "Storage.Hosting.Tests", "Readme");

    [Fact]
    public void The_README_shows_the_appsettings_and_the_code_of_the_sample_word_for_word()
    {
        var readme = File.ReadAllText(Path.Combine(FindRoot(), "README.md"));
        var section = readme.IndexOf("## Choose a backend in appsettings", StringComparison.Ordinal);
        Assert.True(section >= 0, "README.md has no '## Choose a backend in appsettings' section.");

        var json = Block("json").Match(readme, section);
        var code = Block("csharp").Match(readme, section);
        Assert.True(json.Success && code.Success, "The section needs a ```json and a ```csharp block.");

        Assert.Equal(Normalize(File.ReadAllText(Path.Combine(s_here, "appsettings.json"))), Normalize(json.Groups["code"].Value));
        var sample = File.ReadAllText(Path.Combine(s_here, "ReadmeSample.cs"));
        var region = Region().Match(sample);
        Assert.True(region.Success);
        Assert.Equal(Normalize(region.Groups["code"].Value), Normalize(code.Groups["code"].Value));
    }

    [Fact]
    public async Task The_sample_stores_a_document_in_the_backend_its_appsettings_choose()
    {
        var root = Directory.CreateTempSubdirectory("storage-readme-");
        try
        {
            File.Copy(Path.Combine(s_here, "appsettings.json"), Path.Combine(root.FullName, "appsettings.json"));

            await ReadmeSample.RunAsync(["--contentRoot", root.FullName, "--environment", "Production"]);

            await using var store = await SqliteStore.OpenAsync(new SqliteStoreOptions { Path = Path.Combine(root.FullName, "app.db") });
            Assert.Equal("""{"email":"alice@example.com"}""", (await store.GetAsync("alice", "users", "alice"))!.GetJsonText());
        }
        finally
        {
            root.Delete(recursive: true);
        }
    }

    private static Regex Block(string language) => new("```" + language + @"\n(?<code>.*?)```", RegexOptions.Singleline);

    [GeneratedRegex(@"#region readme\n(?<code>.*?)\s*#endregion", RegexOptions.Singleline)]
    private static partial Regex Region();

    /// <summary>Each line trimmed, blank lines at the ends dropped: the README is not indented like a method body.</summary>
    private static string Normalize(string text)
        => string.Join('\n', text.ReplaceLineEndings("\n").Split('\n').Select(l => l.Trim())).Trim();

    private static string FindRoot()
    {
        for (var directory = new DirectoryInfo(AppContext.BaseDirectory); directory is not null; directory = directory.Parent)
        {
            if (File.Exists(Path.Combine(directory.FullName, "Storage.sln")))
            {
                return directory.FullName;
            }
        }

        throw new InvalidOperationException("Storage.sln not found above " + AppContext.BaseDirectory);
    }
}
