using Storage.Json.Tests.Infrastructure;
using Xunit.Abstractions;

namespace Storage.Json.Tests;

/// <summary>
/// Power loss on a file system that may make a create, rename or delete durable without a sync of
/// its directory, and before the data of the file it names — as ext4 and XFS do, and as the fault
/// layer's <see cref="UnsyncedEntryChanges.Kept"/> and <see cref="UnsyncedEntryChanges.SomeKept"/>
/// model. A store in either durability mode must open afterwards with every partition readable at
/// a state it committed (with <see cref="DurabilityMode.Relaxed"/>, possibly an earlier one).
/// </summary>
public sealed class DirectoryEntryPowerLossTests(ITestOutputHelper output)
{
    /// <summary>Every scenario, with every unsynced entry change kept, and with a random subset (an <see cref="UnsyncedEntryChanges"/> name: the enum is internal).</summary>
    public static TheoryData<string, string> ScenariosKeepingEntries
    {
        get
        {
            var data = new TheoryData<string, string>();
            foreach (var scenario in FaultScenarios.All)
            {
                data.Add(scenario.Name, nameof(UnsyncedEntryChanges.Kept));
                data.Add(scenario.Name, nameof(UnsyncedEntryChanges.SomeKept));
            }

            return data;
        }
    }

    [Theory]
    [MemberData(nameof(ScenariosKeepingEntries))]
    public async Task Relaxed_mode_power_loss_keeping_unsynced_entry_changes_after_any_step_of_a_write_never_leaves_an_empty_file(string scenario, string entries)
    {
        var result = await PowerOffAfterEachStepAsync(scenario, DurabilityMode.Relaxed, Enum.Parse<UnsyncedEntryChanges>(entries));

        Violations.AssertNone(output, result);
    }

    [Theory]
    [MemberData(nameof(ScenariosKeepingEntries))]
    public async Task Full_mode_power_loss_keeping_unsynced_entry_changes_after_any_step_of_a_write_keeps_every_acknowledged_write(string scenario, string entries)
    {
        var result = await PowerOffAfterEachStepAsync(scenario, DurabilityMode.Full, Enum.Parse<UnsyncedEntryChanges>(entries));

        Violations.AssertNone(output, result);
    }

    [Fact]
    public async Task Relaxed_mode_power_loss_that_keeps_a_partition_delete_keeps_the_revision_floor_raised_before_it()
    {
        // The delete and the manifest's rename are entry changes of two directories: without the
        // floor made durable first, a random subset keeps the delete alone often enough for 16 seeds.
        var result = await PowerOffAfterEachStepAsync("partition-delete", DurabilityMode.Relaxed, UnsyncedEntryChanges.SomeKept, seeds: 16);

        Violations.AssertNone(output, result);
    }

    [Theory]
    [InlineData(DurabilityMode.Relaxed, true)]
    [InlineData(DurabilityMode.Relaxed, false)]
    [InlineData(DurabilityMode.Full, true)]
    [InlineData(DurabilityMode.Full, false)]
    public async Task Power_loss_at_any_moment_of_a_store_s_life_from_its_creation_leaves_a_store_that_opens_with_every_partition_at_a_committed_state(DurabilityMode durability, bool createDataDirectory)
    {
        var seed = TestSettings.Seed(output);
        var seeds = TestSettings.Count(TestSettings.PowerLossSeedsVariable, ciDefault: 3);
        List<(UnsyncedEntryChanges, int)> models = [(UnsyncedEntryChanges.Undone, 0), (UnsyncedEntryChanges.Kept, 0)];
        models.AddRange(Enumerable.Range(0, seeds).Select(i => (UnsyncedEntryChanges.SomeKept, unchecked(seed + i))));

        var result = await StoreLifeCheck.RunAsync(durability, createDataDirectory, models);

        output.WriteLine($"{result.Steps.Count} calls, each followed by a power loss in {models.Count} ways:");
        foreach (var step in result.Steps)
        {
            output.WriteLine($"  {step}");
        }

        Violations.AssertNone(output, result.Violations, seed);
    }

    /// <summary>
    /// The power-loss check of one scenario, with a random subset of entry changes kept tried with
    /// <paramref name="seeds"/> seeds: every scenario's act follows the same setup, so with one seed
    /// its steps' changes would meet the same few random choices in every scenario.
    /// </summary>
    private static async Task<FaultCheckResult> PowerOffAfterEachStepAsync(string scenario, DurabilityMode durability, UnsyncedEntryChanges entries, int seeds = 4)
    {
        var violations = new List<string>();
        IReadOnlyList<FileSystemCall> steps = [];
        for (var i = 0; i < (entries == UnsyncedEntryChanges.SomeKept ? seeds : 1); i++)
        {
            var result = await FaultChecks.PowerOffAfterEachStepAsync(FaultScenarios.Named(scenario), durability, entries: entries, seed: i * 1000);
            violations.AddRange(result.Violations);
            steps = result.Steps;
        }

        return new FaultCheckResult(steps, violations);
    }
}
