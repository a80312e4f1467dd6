// Every test of this assembly belongs to the Postgres backend, so `dotnet test --filter Backend=Postgres` finds
// them all, including a class that forgets its own [Trait].
[assembly: AssemblyTrait("Backend", "Postgres")]
