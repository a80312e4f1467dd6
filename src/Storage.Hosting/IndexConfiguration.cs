using Microsoft.Extensions.Configuration;

namespace Storage.Hosting;

/// <summary>
/// Reads secondary index declarations in their one JSON shape: an array of objects with
/// <c>Collection</c>, <c>Name</c>, <c>Path</c> and <c>Type</c> (<c>String</c> or <c>Int64</c>), and
/// optionally <c>Unique</c> (<c>true</c>/<c>false</c>, default false) and <c>Scope</c>
/// (<c>Partition</c> or <c>Global</c>, default Partition). The same shape is the <c>Indexes</c> key of
/// the <c>Storage</c> configuration section and the content of an index file
/// (<c>{ "Indexes": [ … ] }</c>), so an app's settings and a tool read the same declarations.
/// </summary>
/// <example>
/// <code language="json">
/// { "Indexes": [
///   { "Collection": "users", "Name": "by-email", "Path": "email", "Type": "String", "Unique": true, "Scope": "Global" },
///   { "Collection": "orders", "Name": "by-total", "Path": "total.cents", "Type": "Int64" }
/// ] }
/// </code>
/// </example>
/// <seealso href="../../docs/configuration.md#indexes"/>
public static class IndexConfiguration
{
    private static readonly string[] s_keys = ["Collection", "Name", "Path", "Type", "Unique", "Scope"];

    /// <summary>Reads the declarations of a configuration section that holds the array (<c>Storage:Indexes</c>, for instance).</summary>
    /// <param name="indexes">The section of the array.</param>
    /// <returns>The declarations, in the array's order.</returns>
    /// <exception cref="FormatException">A declaration is not valid; the message lists every problem, each with its full key.</exception>
    public static IReadOnlyList<IndexDefinition> Read(IConfigurationSection indexes)
    {
        ArgumentNullException.ThrowIfNull(indexes);
        var errors = new List<string>();
        var read = Read(indexes, indexes.Path, errors);
        return errors.Count == 0 ? read : throw new FormatException(HostingErrors.InvalidOptions(errors));
    }

    /// <summary>Reads the declarations from a JSON file: by default its <c>Indexes</c> key (an index file); give <c>Storage:Indexes</c> to read an app's appsettings.json.</summary>
    /// <param name="path">The JSON file.</param>
    /// <param name="key">The key of the array in the file, ':'-separated.</param>
    /// <returns>The declarations; none when the file does not have the key.</returns>
    /// <exception cref="FileNotFoundException">The file does not exist.</exception>
    /// <exception cref="InvalidDataException">The file is not valid JSON.</exception>
    /// <exception cref="FormatException">A declaration is not valid; the message lists every problem, each with the file and the full key.</exception>
    public static IReadOnlyList<IndexDefinition> ReadFile(string path, string key = "Indexes")
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(path);
        ArgumentException.ThrowIfNullOrWhiteSpace(key);
        var full = System.IO.Path.GetFullPath(path);
        if (!File.Exists(full))
        {
            throw new FileNotFoundException(null, full);
        }

        var configuration = new ConfigurationBuilder().AddJsonFile(full, optional: false, reloadOnChange: false).Build();
        var errors = new List<string>();
        var read = Read(configuration.GetSection(key), key, errors);
        return errors.Count == 0 ? read : throw new FormatException(HostingErrors.InvalidOptions(errors.Select(e => full + ": " + e)));
    }

    /// <summary>Reads the declarations under <paramref name="section"/>, adding a message per problem to <paramref name="errors"/>.</summary>
    internal static List<IndexDefinition> Read(IConfigurationSection section, string path, List<string> errors)
    {
        var read = new List<IndexDefinition>();
        if (section.Value is { Length: > 0 })
        {
            errors.Add(HostingErrors.NotAnObject(path, "an array of index declarations"));
            return read;
        }

        foreach (var item in section.GetChildren())
        {
            var key = StorageConfiguration.KeyOf(path, item.Key);
            if (item.Value is not null || !item.GetChildren().Any())
            {
                errors.Add(HostingErrors.NotAnObject(key, "an object with Collection, Name, Path and Type"));
                continue;
            }

            if (ReadOne(item, key, errors) is { } index)
            {
                read.Add(index);
            }
        }

        return read;
    }

    private static IndexDefinition? ReadOne(IConfigurationSection item, string key, List<string> errors)
    {
        var before = errors.Count;
        foreach (var child in item.GetChildren())
        {
            if (!s_keys.Contains(child.Key, StringComparer.OrdinalIgnoreCase))
            {
                errors.Add(HostingErrors.UnknownKey(StorageConfiguration.KeyOf(key, child.Key), string.Join(", ", s_keys)));
            }
        }

        var collection = Required(item, key, "Collection", "the collection the index covers");
        var name = Required(item, key, "Name", "the index name, unique within the collection");
        var path = Required(item, key, "Path", "the dot-separated property path, for example owner.email");
        var type = item["Type"] is { } typeValue
            ? StorageConfiguration.Enum<IndexValueType>(StorageConfiguration.KeyOf(key, "Type"), typeValue, errors, "String, Int64")
            : Missing<IndexValueType>(StorageConfiguration.KeyOf(key, "Type"), "allowed: String, Int64");
        var unique = item["Unique"] is { } uniqueValue ? StorageConfiguration.Boolean(StorageConfiguration.KeyOf(key, "Unique"), uniqueValue, errors) : false;
        var scope = item["Scope"] is { } scopeValue
            ? StorageConfiguration.Enum<IndexScope>(StorageConfiguration.KeyOf(key, "Scope"), scopeValue, errors, "Partition, Global")
            : IndexScope.Partition;
        if (errors.Count > before || collection is null || name is null || path is null || type is null || unique is null || scope is null)
        {
            return null;
        }

        try
        {
            return new IndexDefinition(collection, name, path, type.Value, unique.Value, scope.Value);
        }
        catch (ArgumentException e)
        {
            // The constructor names its parameter; the key of that parameter is the same word, capitalized.
            var parameter = e.ParamName is { Length: > 0 } p ? char.ToUpperInvariant(p[0]) + p[1..] : null;
            var message = e.ParamName is null ? e.Message : e.Message.Replace($" (Parameter '{e.ParamName}')", string.Empty, StringComparison.Ordinal);
            errors.Add(HostingErrors.InvalidIndex(parameter is null ? key : StorageConfiguration.KeyOf(key, parameter), message));
            return null;
        }

        T? Missing<T>(string missingKey, string allowed)
            where T : struct
        {
            errors.Add(HostingErrors.Missing(missingKey, allowed));
            return null;
        }

        string? Required(IConfigurationSection section, string parent, string field, string what)
        {
            if (section[field] is { Length: > 0 } value)
            {
                return value;
            }

            errors.Add(HostingErrors.Missing(StorageConfiguration.KeyOf(parent, field), "give " + what));
            return null;
        }
    }
}
