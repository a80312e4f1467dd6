// Every test of this assembly belongs to the Sqlite backend: one trait for the whole assembly, so
// `dotnet test --filter Backend=Sqlite` finds them all and no class can forget it.
[assembly: AssemblyTrait("Backend", "Sqlite")]
