namespace Storage.Hosting.Tests;

/// <summary>The one JSON shape of index declarations, read from a file as a tool would.</summary>
public sealed class IndexConfigurationTests
{
    [Fact]
    public void An_index_file_and_an_apps_settings_hold_the_same_shape()
    {
        var directory = Directory.CreateTempSubdirectory("storage-indexes-");
        try
        {
            var file = Path.Combine(directory.FullName, "indexes.json");
            File.WriteAllText(file, """
                { "Indexes": [
                  { "Collection": "users", "Name": "by-email", "Path": "email", "Type": "String", "Unique": true, "Scope": "Global" },
                  { "Collection": "orders", "Name": "by-total", "Path": "total.cents", "Type": "int64" }
                ] }
                """);

            var read = IndexConfiguration.ReadFile(file);

            Assert.Equal(
                [
                    new IndexDefinition("users", "by-email", "email", IndexValueType.String, unique: true, IndexScope.Global),
                    new IndexDefinition("orders", "by-total", "total.cents", IndexValueType.Int64),
                ],
                read);
            var appsettings = Path.Combine(AppContext.BaseDirectory, "appsettings", "json.json");
            Assert.Equal([new IndexDefinition("users", "by-email", "email", IndexValueType.String, unique: true)], IndexConfiguration.ReadFile(appsettings, "Storage:Indexes"));
        }
        finally
        {
            directory.Delete(recursive: true);
        }
    }

    [Fact]
    public void A_bad_declaration_in_a_file_names_the_file_and_the_key()
    {
        var directory = Directory.CreateTempSubdirectory("storage-indexes-");
        try
        {
            var file = Path.Combine(directory.FullName, "indexes.json");
            File.WriteAllText(file, """{ "Indexes": [ { "Collection": "users", "Name": "by-email", "Path": "email" } ] }""");

            var failure = Assert.Throws<FormatException>(() => IndexConfiguration.ReadFile(file));

            Assert.Equal(file + ": Indexes:0:Type is missing; allowed: String, Int64.", failure.Message);
        }
        finally
        {
            directory.Delete(recursive: true);
        }
    }
}
