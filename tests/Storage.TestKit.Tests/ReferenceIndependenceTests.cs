using System.Reflection;
using System.Text.RegularExpressions;
using Storage.Conformance.Reference;

namespace Storage.Conformance;

/// <summary>
/// The reference model stays independent of the engine: it is the oracle of the differential runs,
/// and an oracle that shared the engine's code would test the engine against itself. So no source file
/// of the model (tests/Storage.TestKit/Reference) may import the <c>Storage.Engine</c> namespace or name
/// one of its types — found by reflection, so a type added to the engine is covered at once.
/// </summary>
public sealed class ReferenceIndependenceTests
{
    private const string EngineNamespace = "Storage.Engine";

    [Fact]
    public void The_reference_model_names_nothing_of_the_engine()
    {
        var sources = Directory.GetFiles(ReferenceSources(), "*.cs", SearchOption.AllDirectories);
        var engineTypes = EngineTypeNames();

        var uses = (
            from file in sources
            from line in File.ReadLines(file).Select((text, i) => (Text: text, Number: i + 1))
            from name in engineTypes.Append(EngineNamespace)
            where Regex.IsMatch(line.Text, $@"\b{Regex.Escape(name)}\b", RegexOptions.CultureInvariant)
            select $"{Path.GetFileName(file)}:{line.Number}: {name}").ToList();

        Assert.Contains(sources, f => Path.GetFileName(f) == "ReferenceStore.cs");
        Assert.True(uses.Count == 0, $"The reference model uses the engine it is the oracle for:\n{string.Join('\n', uses)}");
    }

    [Fact]
    public void The_engine_type_names_the_check_looks_for_are_found()
    {
        var names = EngineTypeNames();

        // A few that the model once used, to prove the reflection finds them (internal types included).
        Assert.Contains("ListQuery", names);
        Assert.Contains("AppendPlan", names);
        Assert.Contains("IndexQueryPlan", names);
        Assert.Contains("BatchImport", names);
        Assert.DoesNotContain(names, n => typeof(IStore).Assembly.GetType("Storage." + n) is not null);
    }

    // The top-level types of the engine's namespace, as source names them (without generic arity).
    private static List<string> EngineTypeNames()
    {
        var engine = Assembly.Load(EngineNamespace);
        return [.. engine.GetTypes()
            .Where(t => t.Namespace == EngineNamespace && !t.IsNested && !t.Name.Contains('<', StringComparison.Ordinal))
            .Select(t => t.Name.Split('`')[0])
            .Distinct(StringComparer.Ordinal)];
    }

    private static string ReferenceSources()
        => typeof(ReferenceStore).Assembly.GetCustomAttributes<AssemblyMetadataAttribute>().Single(a => a.Key == "ReferenceSources").Value!;
}
