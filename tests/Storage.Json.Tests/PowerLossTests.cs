using Storage.Json.Tests.Infrastructure;
using Xunit.Abstractions;

namespace Storage.Json.Tests;

/// <summary>
/// Power loss at every step of every kind of write, simulated by the fault layer (kill -9 keeps the
/// page cache, so only this can catch a missing fsync): every acknowledged write survives, a write in
/// flight is there entirely or not at all, and the store opens with nothing that fails to parse.
/// </summary>
public sealed class PowerLossTests(ITestOutputHelper output)
{
    [Theory]
    [MemberData(nameof(FaultScenarios.Names), MemberType = typeof(FaultScenarios))]
    public async Task Power_loss_after_any_step_of_a_write_keeps_every_acknowledged_write_and_never_half_applies_one(string scenario)
    {
        var result = await FaultChecks.PowerOffAfterEachStepAsync(FaultScenarios.Named(scenario), DurabilityMode.Full);

        Violations.AssertNone(output, result);
    }

    [Theory]
    [MemberData(nameof(FaultScenarios.Names), MemberType = typeof(FaultScenarios))]
    public async Task Power_loss_in_relaxed_mode_may_lose_the_last_write_but_never_half_applies_it(string scenario)
    {
        var result = await FaultChecks.PowerOffAfterEachStepAsync(FaultScenarios.Named(scenario), DurabilityMode.Relaxed);

        Violations.AssertNone(output, result);
    }

    [Fact]
    public async Task The_power_loss_check_catches_a_backend_that_forgets_to_fsync_the_file_before_the_rename()
    {
        var violations = (await FaultChecks.PowerOffAfterEachStepAsync(FaultScenarios.Named("put"), DurabilityMode.Full, ForgottenSyncs.File)).Violations;

        // The renamed file's data never reached the disk: an empty file where the partition was.
        Assert.Contains(violations, v => v.StartsWith("put: power loss after the write completed", StringComparison.Ordinal));
    }

    [Fact]
    public async Task The_power_loss_check_catches_a_backend_that_forgets_to_fsync_the_directory_after_the_rename()
    {
        var violations = (await FaultChecks.PowerOffAfterEachStepAsync(FaultScenarios.Named("put-creating-a-partition"), DurabilityMode.Full, ForgottenSyncs.Directory)).Violations;

        // The rename was never made durable: the acknowledged partition is gone.
        Assert.Contains(violations, v => v.StartsWith("put-creating-a-partition: power loss after the write completed: an acknowledged write is not as acknowledged", StringComparison.Ordinal));
    }

    [Fact]
    public async Task Power_loss_at_any_step_of_creating_a_store_leaves_a_directory_that_opens_empty()
    {
        var probeFs = FaultChecks.NewFileSystem();
        var mark = probeFs.Calls.Count;
        await FaultChecks.Open(probeFs).DisposeAsync();
        var steps = probeFs.CallsSince(mark);
        var violations = new List<string>();

        for (var i = 0; i < steps.Count; i++)
        {
            var fs = FaultChecks.NewFileSystem();
            fs.PowerOffAfter(operation: null, nth: i + 1);
            try
            {
                await FaultChecks.Open(fs).DisposeAsync();
            }
            catch (Exception)
            {
                // The machine died during the open.
            }

            fs.SimulatePowerLoss();
            var label = $"power loss after step {i + 1}/{steps.Count} of creating a store ({steps[i]})";
            await FaultChecks.VerifyRestartAsync(fs, FaultScenarios.Scope, [await EmptyStateAsync()], label, followUp: null, violations);
        }

        Violations.AssertNone(output, violations);
    }

    [Fact]
    public async Task A_store_that_creates_its_own_directory_keeps_its_first_acknowledged_write_through_power_loss()
    {
        // The data directory does not exist yet: its entry in the parent must be made durable too.
        var fs = FaultChecks.NewFileSystem(createDataDirectory: false);
        long version;
        await using (var store = FaultChecks.Open(fs))
        {
            version = await store.PutAsync(FaultScenarios.Alice, FaultScenarios.Notes, "first", """{"first":true}""");
        }

        fs.SimulatePowerLoss();

        Assert.True(
            fs.AllFiles().Contains($"{FaultChecks.DataDirectory}/storage.json"),
            $"After power loss {FaultChecks.DataDirectory} has lost its manifest: the store created the directory but never fsynced its parent (/data), so the directory entry and everything in it were not durable.");
        await using var reopened = FaultChecks.Open(fs);
        var document = await reopened.GetAsync(FaultScenarios.Alice, FaultScenarios.Notes, "first");
        Assert.True(document?.Version == version, $"The first acknowledged write (version {version}) is {(document is null ? "missing" : $"at version {document.Version}")} after power loss.");
    }

    [Fact]
    public async Task Concurrent_writes_to_one_partition_that_are_acknowledged_survive_power_loss()
    {
        var fs = FaultChecks.NewFileSystem();
        var acknowledged = new Dictionary<string, long>();
        await using (var store = FaultChecks.Open(fs))
        {
            var puts = Enumerable.Range(0, 40).Select(i => (Key: $"k{i}", Task: store.PutAsync(FaultScenarios.Alice, FaultScenarios.Notes, $"k{i}", $$"""{"i":{{i}}}""").AsTask())).ToList();
            foreach (var (key, task) in puts)
            {
                acknowledged[key] = await task;
            }
        }

        fs.SimulatePowerLoss();

        await using var reopened = FaultChecks.Open(fs);
        foreach (var (key, version) in acknowledged)
        {
            var document = await reopened.GetAsync(FaultScenarios.Alice, FaultScenarios.Notes, key);
            Assert.True(document?.Version == version, $"{key} (version {version}) was acknowledged but is {(document is null ? "missing" : $"at version {document.Version}")} after power loss.");
        }
    }

    [Fact]
    public async Task Random_workloads_keep_every_acknowledged_write_through_a_power_loss_at_a_random_moment()
    {
        await RandomWorkload.RunManyAsync(output, w => w.PowerLossAtRandomMomentAsync());
    }

    private static async Task<StoreSnapshot> EmptyStateAsync()
    {
        await using var store = FaultChecks.Open(FaultChecks.NewFileSystem());
        return await StoreSnapshot.CaptureAsync(store, FaultScenarios.Scope);
    }
}
