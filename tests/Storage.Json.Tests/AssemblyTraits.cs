// Every test of this assembly belongs to the Json backend: one trait for the whole assembly, so
// `dotnet test --filter Backend=Json` finds them all and no class can forget it.
[assembly: AssemblyTrait("Backend", "Json")]
