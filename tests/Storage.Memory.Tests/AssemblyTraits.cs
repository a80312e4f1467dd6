// Every test of this assembly belongs to the Memory backend: one trait for the whole assembly, so
// `dotnet test --filter Backend=Memory` finds them all and no class can forget it.
[assembly: AssemblyTrait("Backend", "Memory")]
