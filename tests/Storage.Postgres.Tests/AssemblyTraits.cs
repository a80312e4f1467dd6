// Every test of this assembly belongs to the Postgres backend: one trait for the whole assembly, so
// `dotnet test --filter Backend=Postgres` finds them all and no class can forget it.
[assembly: AssemblyTrait("Backend", "Postgres")]
