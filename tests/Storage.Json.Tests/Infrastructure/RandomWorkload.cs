namespace Storage.Json.Tests.Infrastructure;

/// <summary>One write of a random workload. A version conflict is a normal outcome: it is part of the workload.</summary>
/// <param name="Description">What it does, for failure messages.</param>
/// <param name="Run">Runs it.</param>
internal sealed record WorkloadOp(string Description, Func<IStore, Task> Run)
{
    public override string ToString() => Description;
}

/// <summary>Where a random workload's power loss or fault landed, and what broke the rules.</summary>
/// <param name="Landed">"open", "write" or "read" (a snapshot read between writes), or "after" when the run finished first.</param>
/// <param name="Violations">Empty when the store passed.</param>
internal sealed record WorkloadRun(string Landed, IReadOnlyList<string> Violations);

/// <summary>
/// Seeded random sequences of every kind of write — puts with and without conditions and expiry,
/// batches of puts and deletes (some with a stream append), stream appends, deletes, partition
/// deletes, sequence increments — over a few
/// partitions, run once without faults to learn the state after each write, then again with a
/// power loss or an I/O error at a random file-layer call.
/// </summary>
internal sealed class RandomWorkload
{
    private static readonly string[] s_partitions = [FaultScenarios.Alice, FaultScenarios.Bob, FaultScenarios.Odd, FaultScenarios.Long];
    private static readonly string[] s_collections = [FaultScenarios.Notes, "tasks"];
    private static readonly string[] s_keys = ["a", "b", "c", "é/../1"];
    private static readonly string[] s_streams = ["audit", "é/log"];

    private readonly IReadOnlyList<WorkloadOp> _ops;
    private readonly Random _random;
    private readonly int _seed;
    private JsonStore? _store;

    public RandomWorkload(int seed, int length = 12)
    {
        _seed = seed;
        _random = new Random(seed);
        _ops = Enumerable.Range(1, length).Select(NextOp).ToList();
    }

    public static SnapshotScope Scope { get; } = new(s_partitions, s_collections, [FaultScenarios.Ids]);

    /// <summary>
    /// Runs random workloads (seeded, as many as the fault-iterations setting says) until one breaks
    /// a rule, reports where the faults landed, and fails on any violation or when no run landed in
    /// a write (then the test tested nothing).
    /// </summary>
    /// <param name="output">The test's output.</param>
    /// <param name="runOne">Runs one workload with its fault.</param>
    /// <returns>A task that completes when the runs are done.</returns>
    public static async Task RunManyAsync(Xunit.Abstractions.ITestOutputHelper output, Func<RandomWorkload, Task<WorkloadRun>> runOne)
    {
        var seed = TestSettings.Seed(output);
        var iterations = TestSettings.Count(TestSettings.FaultIterationsVariable, 150);
        var random = new Random(seed);
        var violations = new List<string>();
        var landed = new SortedDictionary<string, int>(StringComparer.Ordinal);
        for (var i = 0; i < iterations && violations.Count == 0; i++)
        {
            var workload = new RandomWorkload(random.Next());
            var run = await runOne(workload);
            landed[run.Landed] = landed.GetValueOrDefault(run.Landed) + 1;
            violations.AddRange(run.Violations);
            if (violations.Count > 0)
            {
                output.WriteLine($"Workload:\n{workload}");
            }
        }

        output.WriteLine($"Where it landed: {string.Join(", ", landed.Select(l => $"{l.Value} in {l.Key}"))}");
        Violations.AssertNone(output, violations, seed);
        Assert.True(violations.Count > 0 || landed.GetValueOrDefault("write") > 0, "No run landed in a write, so the test tested nothing.");
    }

    /// <summary>Loses power after a random call (opening the store included) and checks that every acknowledged write survived and none is half there.</summary>
    public async Task<WorkloadRun> PowerLossAtRandomMomentAsync()
    {
        var (states, total) = await ProbeAsync();
        var fs = FaultChecks.NewFileSystem();
        var call = _random.Next(1, total + 1);
        fs.PowerOffAfter(operation: null, call);
        var landed = "after";
        var (acknowledged, inFlight) = await RunUntilFailureAsync(fs, (_, what) => landed = landed == "after" ? what : landed);
        await DisposeAsync(fs);
        fs.SimulatePowerLoss();

        var violations = new List<string>();
        var label = $"seed {_seed}: power loss after call {call}/{total}, {acknowledged} of {_ops.Count} writes acknowledged{(inFlight ? $", '{_ops[acknowledged]}' in flight" : string.Empty)}";
        await FaultChecks.VerifyRestartAsync(fs, Scope, Allowed(states, acknowledged, inFlight), label, followUp: null, violations);
        return new WorkloadRun(landed, violations);
    }

    /// <summary>
    /// Fails a random call (opening the store included) with its kind's usual errno and checks that
    /// the operation that made it raised a <see cref="StorageException"/> carrying the error, and
    /// that after a clean restart and after a power loss every acknowledged write is there and the
    /// failed one is there entirely or not at all.
    /// </summary>
    public async Task<WorkloadRun> FaultAtRandomCallAsync()
    {
        var (states, total) = await ProbeAsync();
        var fs = FaultChecks.NewFileSystem();
        var mark = fs.Calls.Count;
        var call = _random.Next(1, total + 1);
        fs.InjectFault(operation: null, call);
        var violations = new List<string>();
        var landed = "after";
        var (acknowledged, inFlight) = await RunUntilFailureAsync(fs, (thrown, what) =>
        {
            landed = what;
            var failed = fs.Calls[mark + call - 1];
            if (FaultChecks.ExplainWrongError(thrown, Errno.DefaultFault(failed.Operation, failed.Path).HResult) is { } wrong)
            {
                violations.Add($"seed {_seed}: fault at call {call}/{total} ({failed}) during a {what}: {wrong}");
            }
        });
        await DisposeAsync(fs);

        var label = $"seed {_seed}: fault at call {call}/{total}, {acknowledged} of {_ops.Count} writes acknowledged{(inFlight ? $", '{_ops[acknowledged]}' failed" : string.Empty)}";
        var allowed = Allowed(states, acknowledged, inFlight);
        await FaultChecks.VerifyRestartAsync(fs, Scope, allowed, $"{label}, then a clean restart", followUp: null, violations);
        fs.SimulatePowerLoss();
        await FaultChecks.VerifyRestartAsync(fs, Scope, allowed, $"{label}, then a power loss", followUp: null, violations);
        return new WorkloadRun(landed, violations);
    }

    public override string ToString() => string.Join("\n", _ops.Select((op, i) => $"{i + 1}. {op}"));

    /// <summary>The state after each prefix of the workload (index 0: empty), and how many file-layer calls the whole run takes.</summary>
    private async Task<(IReadOnlyList<StoreSnapshot> States, int Calls)> ProbeAsync()
    {
        var fs = FaultChecks.NewFileSystem();
        var mark = fs.Calls.Count;
        var states = new List<StoreSnapshot>();
        await using (var store = FaultChecks.Open(fs))
        {
            states.Add(await StoreSnapshot.CaptureAsync(store, Scope));
            foreach (var op in _ops)
            {
                await op.Run(store);
                states.Add(await StoreSnapshot.CaptureAsync(store, Scope));
            }
        }

        return (states, fs.Calls.Count - mark);
    }

    /// <summary>
    /// Runs the workload as the probe did (same snapshots, so the same calls) until a write fails.
    /// A failed snapshot read is reported to <paramref name="failure"/> ("read") and the workload
    /// goes on; a failed open or write is reported ("open", "write") and ends the run.
    /// </summary>
    private async Task<(int Acknowledged, bool InFlight)> RunUntilFailureAsync(FaultInjectingFileSystem fs, Action<Exception, string> failure)
    {
        _store = null;
        try
        {
            _store = FaultChecks.Open(fs);
        }
        catch (Exception e)
        {
            failure(e, "open");
            return (0, false);
        }

        await CaptureAsync();
        for (var i = 0; i < _ops.Count; i++)
        {
            try
            {
                await _ops[i].Run(_store);
            }
            catch (Exception e)
            {
                failure(e, "write");
                return (i, true);
            }

            await CaptureAsync();
        }

        return (_ops.Count, false);

        async Task CaptureAsync()
        {
            try
            {
                await StoreSnapshot.CaptureAsync(_store, Scope);
            }
            catch (Exception e)
            {
                failure(e, "read");
            }
        }
    }

    private async Task DisposeAsync(FaultInjectingFileSystem fs)
    {
        if (_store is not null)
        {
            await FaultChecks.DisposeOrCrashAsync(fs, _store);
        }
    }

    private static StoreSnapshot[] Allowed(IReadOnlyList<StoreSnapshot> states, int acknowledged, bool inFlight)
        => inFlight ? [states[acknowledged], states[acknowledged + 1]] : [states[acknowledged]];

    private WorkloadOp NextOp(int index)
    {
        var partition = Pick(s_partitions);
        var collection = Pick(s_collections);
        var key = Pick(s_keys);
        var value = $$"""{"op":{{index}},"pad":"{{new string('x', _random.Next(300))}}"}""";
        var expiresAt = _random.Next(10) == 0 ? FaultChecks.Epoch.AddDays(1) : (DateTimeOffset?)null;
        var dice = _random.Next(100);
        if (dice < 30)
        {
            return Write($"put {partition}/{collection}/{key}", partition, WriteOperation.Put(collection, key, value, expiresAt: expiresAt));
        }

        if (dice < 40)
        {
            return Write($"put {partition}/{collection}/{key} if absent", partition, WriteOperation.Put(collection, key, value, WriteCondition.MustNotExist, expiresAt));
        }

        if (dice < 50)
        {
            var version = _random.Next(1, 9);
            return Write($"put {partition}/{collection}/{key} if version {version}", partition, WriteOperation.Put(collection, key, value, WriteCondition.MustMatchVersion(version), expiresAt));
        }

        if (dice < 70)
        {
            var targets = s_collections.SelectMany(c => s_keys.Select(k => (Collection: c, Key: k))).OrderBy(_ => _random.Next()).Take(_random.Next(2, 5)).ToList();
            var operations = targets.Select(t => _random.Next(3) == 0
                ? WriteOperation.Delete(t.Collection, t.Key)
                : WriteOperation.Put(t.Collection, t.Key, value)).ToList();
            if (_random.Next(3) == 0)
            {
                operations.Insert(_random.Next(operations.Count + 1), NextAppend(index));
            }

            return Write($"batch of {operations.Count} in {partition}{(operations.Any(o => o.Kind == WriteOperationKind.Append) ? " with an append" : string.Empty)}", partition, [.. operations]);
        }

        if (dice < 80)
        {
            return Write($"delete {partition}/{collection}/{key}", partition, WriteOperation.Delete(collection, key));
        }

        if (dice < 85)
        {
            return new WorkloadOp($"delete partition {partition}", async store => await store.DeletePartitionAsync(partition));
        }

        if (dice < 93)
        {
            var append = NextAppend(index);
            return Write($"append {append.Events.Count} to {partition}/{append.Stream} expecting {append.ExpectedVersion}", partition, append);
        }

        var delta = _random.Next(1, 4);
        return new WorkloadOp($"increment {partition}/{FaultScenarios.Ids} by {delta}", async store => await store.IncrementSequenceAsync(partition, FaultScenarios.Ids, delta));
    }

    /// <summary>An append of 1–3 events with ids from the seed (so a retry of an earlier append is recognized the same way in every run).</summary>
    private WriteOperation NextAppend(int index)
    {
        var events = Enumerable.Range(0, _random.Next(1, 4)).Select(i =>
        {
            var id = new byte[16];
            _random.NextBytes(id);
            id[0] |= 1;
            return EventData.Create("op" + index, $$"""{"op":{{index}},"event":{{i}},"pad":"{{new string('y', _random.Next(200))}}"}""", _random.Next(3) == 0 ? """{"meta":true}""" : null, new Guid(id));
        }).ToList();
        var expected = _random.Next(3) switch
        {
            0 => ExpectedStreamVersion.Any,
            1 => ExpectedStreamVersion.NoStream,
            _ => ExpectedStreamVersion.Exactly(_random.Next(1, 7)),
        };
        return WriteOperation.Append(Pick(s_streams), events, expected);
    }

    private static WorkloadOp Write(string description, string partition, params WriteOperation[] operations) => new(description, async store =>
    {
        try
        {
            await store.CommitAsync(partition, operations);
        }
        catch (VersionConflictException)
        {
            // A condition that does not hold is an outcome of the workload, the same in every run.
        }
    });

    private T Pick<T>(IReadOnlyList<T> items) => items[_random.Next(items.Count)];
}
