// Every test of this assembly belongs to the Json backend, so `dotnet test --filter Backend=Json` finds
// them all, including a class that forgets its own [Trait].
[assembly: AssemblyTrait("Backend", "Json")]
