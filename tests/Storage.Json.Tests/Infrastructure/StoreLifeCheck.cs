namespace Storage.Json.Tests.Infrastructure;

/// <summary>One step of a store's life after it is opened: a write and what it is.</summary>
internal sealed record LifeStep(string Name, Func<IStore, Task> Act);

/// <summary>
/// A store's whole life in one durability mode, from creating its directory onwards — unlike the
/// <see cref="FaultScenarios"/>, whose setup is written durably first — with the power lost after
/// each file-layer step in turn: the store must open, each partition must read at a state it had
/// after some step (with <see cref="DurabilityMode.Full"/>, after the last acknowledged step or the
/// one in flight; with <see cref="DurabilityMode.Relaxed"/>, any earlier one: the last writes may be
/// lost), and listing partitions, purging and writing must work.
/// </summary>
internal static class StoreLifeCheck
{
    /// <summary>The partitions the life writes, each a file of its own (one with a hashed file name).</summary>
    public static IReadOnlyList<string> Partitions { get; } = [FaultScenarios.Alice, FaultScenarios.Long, FaultScenarios.Bob];

    /// <summary>First writes to new partitions, overwrites, a partition delete (which rewrites the manifest), and writes after it.</summary>
    public static IReadOnlyList<LifeStep> Steps { get; } =
    [
        new("first write to a new partition", s => s.PutAsync(FaultScenarios.Alice, FaultScenarios.Notes, "n1", """{"n1":1}""").AsTask()),
        new("first write to a new partition with a hashed file name", s => s.PutAsync(FaultScenarios.Long, FaultScenarios.Notes, "l1", """{"l1":1}""").AsTask()),
        new("overwrite of a partition", s => s.CommitAsync(FaultScenarios.Alice, [
            WriteOperation.Put(FaultScenarios.Notes, "n1", """{"n1":2}""", WriteCondition.MustMatchVersion(1)),
            WriteOperation.Put(FaultScenarios.Notes, "n2", """{"n2":2}"""),
        ]).AsTask()),
        new("first write to another new partition", s => s.PutAsync(FaultScenarios.Bob, FaultScenarios.Notes, "b1", """{"b1":1}""").AsTask()),
        new("sequence increment overwriting it", s => s.IncrementSequenceAsync(FaultScenarios.Bob, FaultScenarios.Ids, 4).AsTask()),
        new("delete of that partition", async s => Assert.True(await s.DeletePartitionAsync(FaultScenarios.Bob))),
        new("overwrite of the hashed partition", s => s.PutAsync(FaultScenarios.Long, FaultScenarios.Notes, "l1", """{"l1":2}""").AsTask()),
        new("delete of a document", s => s.DeleteAsync(FaultScenarios.Alice, FaultScenarios.Notes, "n2").AsTask()),
    ];

    private static SnapshotScope Scope { get; } = new(Partitions, [FaultScenarios.Notes], [FaultScenarios.Ids]);

    /// <summary>
    /// Loses power after every file-layer call of the life (the open that creates the store
    /// included) and once after it, each time with every <paramref name="models"/>, and checks the
    /// restart. <paramref name="createDataDirectory"/>: whether the data directory exists (empty)
    /// before the store is created, or the store creates it.
    /// </summary>
    public static async Task<FaultCheckResult> RunAsync(DurabilityMode durability, bool createDataDirectory, IReadOnlyList<(UnsyncedEntryChanges Entries, int Seed)> models)
    {
        var calls = await ProbeAsync(durability, createDataDirectory);
        var states = await ReferenceStatesAsync(durability, createDataDirectory);
        var violations = new List<string>();
        for (var cut = 0; cut <= calls.Count; cut++)
        {
            foreach (var (entries, seed) in models)
            {
                var fs = FaultChecks.NewFileSystem(createDataDirectory);
                if (cut < calls.Count)
                {
                    fs.PowerOffAfter(operation: null, nth: cut + 1);
                }

                var acknowledged = await LiveAsync(fs, durability);
                fs.SimulatePowerLoss(entries, seed);
                var label = cut < calls.Count
                    ? $"{durability}: power loss after call {cut + 1}/{calls.Count} ({calls[cut]}), after {StepName(acknowledged)}"
                    : $"{durability}: power loss after the last step completed";
                label += $", keeping {entries switch { UnsyncedEntryChanges.Undone => "no", UnsyncedEntryChanges.Kept => "every", _ => $"some (seed {seed})" }} unsynced entry change";
                await VerifyAsync(fs, durability, states, acknowledged, label, violations);
            }
        }

        return new FaultCheckResult(calls, violations);
    }

    /// <summary>The calls of a life without faults, the open's first.</summary>
    private static async Task<IReadOnlyList<FileSystemCall>> ProbeAsync(DurabilityMode durability, bool createDataDirectory)
    {
        var fs = FaultChecks.NewFileSystem(createDataDirectory);
        var mark = fs.Calls.Count;
        await using (var store = FaultChecks.Open(fs, durability))
        {
            foreach (var step in Steps)
            {
                await step.Act(store);
            }
        }

        return fs.CallsSince(mark);
    }

    /// <summary>The store's state after the open (index 0) and after each step (index i: Steps[i - 1]), as a clean reopen shows it.</summary>
    private static async Task<List<StoreSnapshot>> ReferenceStatesAsync(DurabilityMode durability, bool createDataDirectory)
    {
        var fs = FaultChecks.NewFileSystem(createDataDirectory);
        var states = new List<StoreSnapshot>();
        foreach (var step in Steps.Prepend(null))
        {
            await using (var store = FaultChecks.Open(fs, durability))
            {
                if (step is not null)
                {
                    await step.Act(store);
                }
            }

            await using var reopened = FaultChecks.Open(fs, durability);
            states.Add(await StoreSnapshot.CaptureAsync(reopened, Scope));
        }

        return states;
    }

    /// <summary>
    /// Creates the store and runs the steps until the machine dies (or all of them); the process
    /// dies with it. Returns the last step completed: -1 (not even the open), 0 (the open), i (Steps[i - 1]).
    /// </summary>
    private static async Task<int> LiveAsync(FaultInjectingFileSystem fs, DurabilityMode durability)
    {
        JsonStore store;
        try
        {
            store = FaultChecks.Open(fs, durability);
        }
        catch (Exception) when (fs.IsPoweredOff)
        {
            return -1;
        }

        var completed = 0;
        try
        {
            foreach (var step in Steps)
            {
                await step.Act(store);
                completed++;
            }
        }
        catch (Exception) when (fs.IsPoweredOff)
        {
            // The machine died during this step; nothing after it runs.
        }

        await FaultChecks.DisposeOrCrashAsync(fs, store);
        return completed;
    }

    private static async Task VerifyAsync(FaultInjectingFileSystem fs, DurabilityMode durability, List<StoreSnapshot> states, int acknowledged, string label, List<string> violations)
    {
        JsonStore store;
        try
        {
            store = FaultChecks.Open(fs, durability);
        }
        catch (Exception e)
        {
            violations.Add($"{label}: the store does not open afterwards: {e.GetType().Name}: {e.Message}");
            return;
        }

        try
        {
            StoreSnapshot actual;
            try
            {
                actual = await StoreSnapshot.CaptureAsync(store, Scope);
            }
            catch (Exception e)
            {
                violations.Add($"{label}: reading the store (partition listing included) failed: {e.GetType().Name}: {e.Message}");
                return;
            }

            // Full: the state after the last acknowledged step, or after the one in flight. Relaxed: any state since the store was created.
            var last = Math.Min(acknowledged + 1, Steps.Count);
            var first = durability == DurabilityMode.Full ? Math.Max(0, acknowledged) : 0;
            foreach (var partition in Partitions)
            {
                var allowed = states.Skip(first).Take(last - first + 1).Select(s => s.Of(partition)).ToList();
                var state = actual.Of(partition);
                if (!allowed.Contains(state))
                {
                    violations.Add($"{label}: {partition} is at none of the states it had after {StepName(first)} to {StepName(last)}. Against the last:\n{state.Diff(allowed[^1])}");
                }
            }

            try
            {
                await store.PurgeExpiredAsync();
                foreach (var partition in Partitions)
                {
                    await store.PutAsync(partition, FaultScenarios.After, "probe", """{"after":true}""");
                }
            }
            catch (Exception e)
            {
                violations.Add($"{label}: purging or writing afterwards failed: {e.GetType().Name}: {e.Message}");
            }
        }
        finally
        {
            await FaultChecks.DisposeOrCrashAsync(fs, store);
        }
    }

    private static string StepName(int index) => index switch
    {
        < 0 => "nothing (the open creating the store was in flight)",
        0 => "the open creating the store",
        _ => $"step {index} ({Steps[index - 1].Name})",
    };
}
