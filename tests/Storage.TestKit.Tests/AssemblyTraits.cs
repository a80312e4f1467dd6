// Every test of this assembly belongs to the reference model: one trait for the whole assembly, so
// `dotnet test --filter Backend=Reference` finds them all and no class can forget it.
[assembly: AssemblyTrait("Backend", "Reference")]
