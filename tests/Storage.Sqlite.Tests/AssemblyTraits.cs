// Every test of this assembly belongs to the Sqlite backend, so `dotnet test --filter Backend=Sqlite` finds
// them all, including a class that forgets its own [Trait].
[assembly: AssemblyTrait("Backend", "Sqlite")]
