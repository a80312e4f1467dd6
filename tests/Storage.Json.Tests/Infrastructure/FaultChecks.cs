using Microsoft.Extensions.Time.Testing;

namespace Storage.Json.Tests.Infrastructure;

/// <summary>The state before and after a scenario's write, and the file-layer steps the write took, from a run without faults.</summary>
internal sealed record Probe(StoreSnapshot Before, StoreSnapshot After, StoreSnapshot BeforeWithoutAfter, StoreSnapshot AfterWithoutAfter, IReadOnlyList<FileSystemCall> Steps);

/// <summary>What a check went through and what it found.</summary>
/// <param name="Steps">The file-layer steps of the write, each failed or followed by a power loss in turn.</param>
/// <param name="Violations">What broke the rules; empty when the store passed.</param>
internal sealed record FaultCheckResult(IReadOnlyList<FileSystemCall> Steps, IReadOnlyList<string> Violations);

/// <summary>A write acknowledged after a failure, that must be found after every restart.</summary>
internal sealed record FollowUp(string Partition, long Version);

/// <summary>
/// The power-loss and I/O-error checks over a <see cref="FaultInjectingFileSystem"/>. Each returns
/// the violations it found rather than asserting, so a test can also prove that a check catches a
/// broken backend (<see cref="ForgetfulFileSystem"/>).
/// </summary>
internal static class FaultChecks
{
    public const string DataDirectory = "/data/store";

    /// <summary>Every run starts at the same instant, so timestamps compare equal between runs.</summary>
    public static DateTimeOffset Epoch { get; } = new(2025, 1, 2, 3, 4, 5, 678, TimeSpan.Zero);

    /// <summary>A file system with the data directory in place and durable, as a user's existing empty directory is.</summary>
    public static FaultInjectingFileSystem NewFileSystem(bool createDataDirectory = true)
    {
        var fs = new FaultInjectingFileSystem();
        fs.CreateDirectory("/data");
        fs.SyncDirectory("/");
        if (createDataDirectory)
        {
            fs.CreateDirectory(DataDirectory);
            fs.SyncDirectory("/data");
        }

        return fs;
    }

    public static JsonStore Open(Storage.Json.IO.IFileSystem fileSystem, DurabilityMode durability = DurabilityMode.Full)
        => JsonStore.Open(new JsonStoreOptions { Directory = DataDirectory, Durability = durability, TimeProvider = new FakeTimeProvider(Epoch) }, fileSystem);

    /// <summary>
    /// Runs the scenario without faults: the states to compare against and the steps to fail. The
    /// write runs on a freshly opened store, as in every faulty run, so its steps include reading
    /// the partition from disk.
    /// </summary>
    public static async Task<Probe> ProbeAsync(FaultScenario scenario, DurabilityMode durability)
    {
        var (_, _, reference) = await StartAsync(scenario, durability);
        var (before, beforeWithout) = await CaptureBothAsync(reference);
        await reference.DisposeAsync();

        var (fs, _, store) = await StartAsync(scenario, durability);
        var mark = fs.Calls.Count;
        await scenario.Act(store);
        var steps = fs.CallsSince(mark);
        var (after, afterWithout) = await CaptureBothAsync(store);
        await store.DisposeAsync();
        Assert.True(before != after, $"Scenario {scenario.Name} changes nothing, so it tests nothing.");
        Assert.NotEmpty(steps);
        return new Probe(before, after, beforeWithout, afterWithout, steps);
    }

    /// <summary>
    /// Fails each step of the scenario's write in turn (a write step also torn: a prefix written,
    /// then ENOSPC). Each time: the write must raise a <see cref="StorageException"/> carrying the
    /// injected error; the store itself must then show the state before or after the write (never
    /// a mix, partition listing included); the next write to the partition must succeed; and after
    /// a restart — first a clean one, then a power loss — the store opens, every acknowledged write
    /// is there and the failed write is there entirely or not at all.
    /// </summary>
    public static async Task<FaultCheckResult> FailEachStepAsync(FaultScenario scenario)
    {
        var probe = await ProbeAsync(scenario, DurabilityMode.Full);
        var violations = new List<string>();
        for (var i = 0; i < probe.Steps.Count; i++)
        {
            var step = probe.Steps[i];
            if (IsJournalAppend(step))
            {
                // After the commit is durable and published: its failure is not the write's (CursorTests).
                continue;
            }

            int?[] tornLengths = step.Operation == FileSystemOperation.Write ? [null, 10] : [null];
            foreach (var torn in tornLengths)
            {
                var label = $"{scenario.Name}: {(torn is null ? "fault" : "torn write")} at step {i + 1}/{probe.Steps.Count} ({step.Operation} {step.Path})";
                await FailStepAsync(scenario, probe, step, Occurrence(probe.Steps, i), torn, label, violations);
            }
        }

        return new FaultCheckResult(probe.Steps, violations);
    }

    /// <summary>
    /// Loses power right after each step of the scenario's write in turn, and once after the write
    /// completed. Each time the store must open, nothing may fail to parse, and the state must be
    /// the one before or the one after the write — the one after if the write was acknowledged
    /// (with <see cref="DurabilityMode.Full"/>); and a write to the scenario's partition then takes a
    /// version above every revision the partition had durably before (a partition deleted by the
    /// write starts above the revision floor). <paramref name="forget"/> breaks the file layer
    /// during the write, to prove the check catches a backend that forgets an fsync;
    /// <paramref name="entries"/> says what the power loss does with entry changes never synced
    /// (with <see cref="UnsyncedEntryChanges.SomeKept"/>, step i uses seed <paramref name="seed"/> + i).
    /// </summary>
    public static async Task<FaultCheckResult> PowerOffAfterEachStepAsync(FaultScenario scenario, DurabilityMode durability, ForgottenSyncs forget = ForgottenSyncs.None, UnsyncedEntryChanges entries = UnsyncedEntryChanges.Undone, int seed = 0)
    {
        var probe = await ProbeAsync(scenario, durability);
        var violations = new List<string>();
        for (var i = 0; i <= probe.Steps.Count; i++)
        {
            var label = i < probe.Steps.Count
                ? $"{scenario.Name}: power loss after step {i + 1}/{probe.Steps.Count} ({probe.Steps[i].Operation} {probe.Steps[i].Path})"
                : $"{scenario.Name}: power loss after the write completed";
            label += entries == UnsyncedEntryChanges.Undone ? string.Empty : $" keeping {(entries == UnsyncedEntryChanges.Kept ? "all" : $"some (seed {seed + i})")} unsynced entry changes";
            var (fs, layer, store) = await StartAsync(scenario, durability);
            if (i < probe.Steps.Count)
            {
                fs.PowerOffAfter(probe.Steps[i].Operation, Occurrence(probe.Steps, i));
            }

            layer.Forget = forget;
            var acknowledged = false;
            try
            {
                await scenario.Act(store);
                acknowledged = true;
            }
            catch (Exception) when (i < probe.Steps.Count)
            {
                // Unacknowledged: the write may be there or not, never in part.
            }

            layer.Forget = ForgottenSyncs.None;
            await DisposeOrCrashAsync(fs, store);
            fs.SimulatePowerLoss(entries, seed + i);
            StoreSnapshot[] allowed = acknowledged && durability == DurabilityMode.Full ? [probe.After] : [probe.Before, probe.After];
            await VerifyRestartAsync(fs, FaultScenarios.Scope, allowed, label, followUp: null, violations, durability);
            await VerifyNoVersionReusedAsync(fs, scenario.Partition, probe.Before.Revision(scenario.Partition), label, violations, durability);
        }

        return new FaultCheckResult(probe.Steps, violations);
    }

    /// <summary>
    /// Opens the store again on <paramref name="fs"/> and checks what it shows: it opens, nothing
    /// fails to parse, no temp file is left, the state in <paramref name="scope"/> is one of
    /// <paramref name="allowed"/> (one state: every write was acknowledged; two: the last one was
    /// in flight, so it is there entirely or not at all), and a <paramref name="followUp"/> write is there.
    /// </summary>
    public static async Task VerifyRestartAsync(FaultInjectingFileSystem fs, SnapshotScope scope, IReadOnlyList<StoreSnapshot> allowed, string label, FollowUp? followUp, List<string> violations, DurabilityMode durability = DurabilityMode.Full)
    {
        JsonStore store;
        try
        {
            store = Open(fs, durability);
        }
        catch (Exception e)
        {
            violations.Add($"{label}: the store does not open afterwards: {e.GetType().Name}: {e.Message}");
            return;
        }

        try
        {
            var leftovers = fs.AllFiles().Where(f => f.EndsWith(PartitionFileNames.TempExtension, StringComparison.Ordinal)).ToList();
            if (leftovers.Count > 0)
            {
                violations.Add($"{label}: temp files left after open: {string.Join(", ", leftovers)}");
            }

            var actual = await StoreSnapshot.CaptureAsync(store, scope);
            if (allowed.Count == 1 && actual != allowed[0])
            {
                violations.Add($"{label}: an acknowledged write is not as acknowledged:\n{actual.Diff(allowed[0])}");
            }
            else if (!allowed.Contains(actual))
            {
                violations.Add($"{label}: the state is neither the one before nor the one after the write in flight (a partial write, or a lost acknowledged one). Against after:\n{actual.Diff(allowed[^1])}\nAgainst before:\n{actual.Diff(allowed[0])}");
            }

            if (followUp is not null)
            {
                var document = await store.GetAsync(followUp.Partition, FaultScenarios.After, "probe");
                if (document?.Version != followUp.Version || document.GetJsonText() != FollowUpJson)
                {
                    violations.Add($"{label}: the write acknowledged after the failure (version {followUp.Version}) is {(document is null ? "missing" : StoreSnapshot.Describe(document))}");
                }
            }
        }
        catch (Exception e)
        {
            violations.Add($"{label}: reading the store afterwards failed: {e.GetType().Name}: {e.Message}");
        }
        finally
        {
            await DisposeOrCrashAsync(fs, store);
        }
    }

    /// <summary>
    /// Opens the store again and writes to <paramref name="partition"/>: the write must take a version
    /// above <paramref name="durableRevision"/>, the partition's revision in a state that was durable
    /// — even if the partition has been deleted since, since versions never repeat in a partition.
    /// (A store that does not open is reported by <see cref="VerifyRestartAsync"/>.)
    /// </summary>
    public static async Task VerifyNoVersionReusedAsync(FaultInjectingFileSystem fs, string partition, long durableRevision, string label, List<string> violations, DurabilityMode durability = DurabilityMode.Full)
    {
        JsonStore store;
        try
        {
            store = Open(fs, durability);
        }
        catch (Exception)
        {
            return;
        }

        try
        {
            var version = await store.PutAsync(partition, FaultScenarios.After, "version-probe", FollowUpJson);
            if (version <= durableRevision)
            {
                violations.Add($"{label}: a write to {partition} took version {version}, which the partition had already used (it was at revision {durableRevision}): the revision floor was lost");
            }
        }
        catch (Exception e)
        {
            violations.Add($"{label}: a write to {partition} after the restart failed: {e.GetType().Name}: {e.Message}");
        }
        finally
        {
            await DisposeOrCrashAsync(fs, store);
        }
    }

    /// <summary>Whether <paramref name="exception"/> or one of its inner exceptions is an <see cref="IOException"/> with <paramref name="errno"/>.</summary>
    public static bool CarriesErrno(Exception? exception, int errno)
    {
        for (var e = exception; e is not null; e = e.InnerException)
        {
            if (e is IOException io && io.HResult == errno)
            {
                return true;
            }

            if (e is AggregateException aggregate && aggregate.InnerExceptions.Any(inner => CarriesErrno(inner, errno)))
            {
                return true;
            }
        }

        return false;
    }

    /// <summary>The error check every failed call must pass: a <see cref="StorageException"/> carrying the injected errno.</summary>
    public static string? ExplainWrongError(Exception? thrown, int errno) => thrown switch
    {
        null => "it succeeded although the file layer failed",
        StorageException when CarriesErrno(thrown, errno) => null,
        StorageException => $"the {thrown.GetType().Name} does not carry the IOException (errno {errno}) as an inner exception: {thrown}",
        _ => $"it raised {thrown.GetType().Name} instead of a StorageException: {thrown.Message}",
    };

    /// <summary>Whether a step is the append of the store-wide cursor's record to its journal (named by the path its handle was created at).</summary>
    public static bool IsJournalAppend(FileSystemCall step)
        => step.Operation == FileSystemOperation.Write && Path.GetFileName(step.Path).StartsWith(ChangeJournal.FileName, StringComparison.Ordinal);

    /// <summary>Disposes the store; if that fails, the process is as good as dead: crash it.</summary>
    public static async Task DisposeOrCrashAsync(FaultInjectingFileSystem fs, IStore store)
    {
        try
        {
            await store.DisposeAsync();
        }
        catch (Exception)
        {
            fs.SimulateProcessCrash();
        }
    }

    private const string FollowUpJson = """{"after":true}""";

    private static async Task FailStepAsync(FaultScenario scenario, Probe probe, FileSystemCall step, int occurrence, int? torn, string label, List<string> violations)
    {
        var (fs, _, store) = await StartAsync(scenario, DurabilityMode.Full);
        var errno = Errno.DefaultFault(step.Operation, step.Path).HResult;
        fs.InjectFault(step.Operation, occurrence, tornLength: torn);
        Exception? thrown = null;
        try
        {
            await scenario.Act(store);
        }
        catch (Exception e)
        {
            thrown = e;
        }

        if (ExplainWrongError(thrown, errno) is { } wrong)
        {
            violations.Add($"{label}: {wrong}");
        }

        // The store's own view right after the failure is all or nothing too.
        try
        {
            var (now, _) = await CaptureBothAsync(store);
            if (now != probe.Before && now != probe.After)
            {
                violations.Add($"{label}: right after the failure the store shows neither the state before nor the one after the write. Against after:\n{now.Diff(probe.After)}\nAgainst before:\n{now.Diff(probe.Before)}");
            }
        }
        catch (Exception e)
        {
            violations.Add($"{label}: reading the store right after the failure failed: {e.GetType().Name}: {e.Message}");
        }

        // The store keeps working: the next write to the partition succeeds, reads back, and is durable.
        FollowUp? followUp = null;
        try
        {
            var version = await store.PutAsync(scenario.Partition, FaultScenarios.After, "probe", FollowUpJson);
            var document = await store.GetAsync(scenario.Partition, FaultScenarios.After, "probe");
            if (document?.Version != version || document.GetJsonText() != FollowUpJson)
            {
                violations.Add($"{label}: the write after the failure reads back as {(document is null ? "missing" : StoreSnapshot.Describe(document))}");
            }

            followUp = new FollowUp(scenario.Partition, version);
        }
        catch (Exception e)
        {
            violations.Add($"{label}: the next write after the failure failed: {e.GetType().Name}: {e.Message}");
        }

        await DisposeOrCrashAsync(fs, store);
        var scope = FaultScenarios.Scope.Without(FaultScenarios.After);
        StoreSnapshot[] allowed = [probe.BeforeWithoutAfter, probe.AfterWithoutAfter];
        await VerifyRestartAsync(fs, scope, allowed, $"{label}, then a clean restart", followUp, violations);
        fs.SimulatePowerLoss();
        await VerifyRestartAsync(fs, scope, allowed, $"{label}, then a power loss", followUp, violations);
    }

    /// <summary>A store on a new file system with the scenario's setup written durably, then reopened with <paramref name="durability"/>.</summary>
    private static async Task<(FaultInjectingFileSystem Fs, ForgetfulFileSystem Layer, JsonStore Store)> StartAsync(FaultScenario scenario, DurabilityMode durability)
    {
        var fs = NewFileSystem();
        var layer = new ForgetfulFileSystem(fs);
        await using (var setup = Open(layer))
        {
            await scenario.Setup(setup);
        }

        return (fs, layer, Open(layer, durability));
    }

    private static async Task<(StoreSnapshot Full, StoreSnapshot WithoutAfter)> CaptureBothAsync(IStore store)
        => (await StoreSnapshot.CaptureAsync(store, FaultScenarios.Scope), await StoreSnapshot.CaptureAsync(store, FaultScenarios.Scope.Without(FaultScenarios.After)));

    /// <summary>Which call of its kind step <paramref name="index"/> is, counting from the write's first step (1-based).</summary>
    private static int Occurrence(IReadOnlyList<FileSystemCall> steps, int index)
        => steps.Take(index + 1).Count(s => s.Operation == steps[index].Operation);
}
