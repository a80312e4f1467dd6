using System.Reflection;

namespace Storage.Conformance;

/// <summary>
/// Fails when a backend forgets a conformance suite: every abstract suite class of the kit (an
/// abstract generic test class over a <see cref="StoreFixture"/>) needs a concrete class for every
/// backend fixture of the binding's assembly, tagged with that backend's <c>Backend</c> trait (on the
/// class, or on the assembly: <c>[assembly: AssemblyTrait("Backend", …)]</c>; the class's wins).
/// Found by reflection, so a new suite or a new backend cannot be left out silently.
/// </summary>
/// <typeparam name="TFixture">The backend's fixture.</typeparam>
public abstract class ComplianceTestBase<TFixture>
    where TFixture : StoreFixture
{
    private const string BackendTrait = "Backend";
    private static readonly Type[] s_kitTypes = typeof(StoreFixture).Assembly.GetTypes();
    private static readonly Type[] s_types = typeof(TFixture).Assembly.GetTypes();

    [Fact]
    public void Every_suite_has_a_test_class_for_this_backend()
    {
        var missing = Suites().Where(suite => !ClassesOf(suite, typeof(TFixture)).Any()).Select(suite => suite.Name).ToList();

        Assert.True(missing.Count == 0, $"{typeof(TFixture).Name} has no test class for: {string.Join(", ", missing)}.");
    }

    [Fact]
    public void Every_test_class_of_this_backend_carries_the_same_backend_trait()
    {
        var classes = Suites().SelectMany(suite => ClassesOf(suite, typeof(TFixture))).ToList();
        var traits = classes.ToDictionary(c => c, BackendOf);

        Assert.All(traits, t => Assert.False(string.IsNullOrEmpty(t.Value), $"{t.Key.Name} has no [Trait(\"{BackendTrait}\", …)]."));
        Assert.Single(traits.Values.Distinct(StringComparer.Ordinal));
    }

    [Fact]
    public void Every_backend_fixture_has_a_compliance_class_and_its_own_trait()
    {
        var fixtures = s_types.Where(t => !t.IsAbstract && t.IsSubclassOf(typeof(StoreFixture))).ToList();

        var backends = fixtures.ToDictionary(f => f, f => ClassesOf(typeof(ComplianceTestBase<>), f).Select(BackendOf).SingleOrDefault());

        Assert.Contains(typeof(TFixture), fixtures);
        Assert.All(backends, b => Assert.False(string.IsNullOrEmpty(b.Value), $"{b.Key.Name} has no tagged compliance class."));
        Assert.Equal(backends.Count, backends.Values.Distinct(StringComparer.Ordinal).Count());
    }

    // Abstract generic test classes whose one type parameter is a store fixture, holding tests.
    private static IEnumerable<Type> Suites() => s_kitTypes.Where(t =>
        t.IsAbstract
        && t.IsGenericTypeDefinition
        && t.GetGenericArguments() is [var parameter]
        && parameter.GetGenericParameterConstraints().Contains(typeof(StoreFixture))
        && t.GetMethods(BindingFlags.Public | BindingFlags.Instance | BindingFlags.DeclaredOnly).Any(m => m.IsDefined(typeof(FactAttribute), inherit: true)));

    private static IEnumerable<Type> ClassesOf(Type suite, Type fixture)
    {
        var closed = suite.MakeGenericType(fixture);
        return s_types.Where(t => !t.IsAbstract && t.IsClass && t.IsSubclassOf(closed));
    }

    private static string? BackendOf(Type type) => BackendOf(type.GetCustomAttributesData(), typeof(TraitAttribute))
        ?? BackendOf(type.Assembly.GetCustomAttributesData(), typeof(AssemblyTraitAttribute));

    private static string? BackendOf(IEnumerable<CustomAttributeData> attributes, Type traitType) => attributes
        .Where(a => a.AttributeType == traitType && (string?)a.ConstructorArguments[0].Value == BackendTrait)
        .Select(a => (string?)a.ConstructorArguments[1].Value)
        .SingleOrDefault();
}
