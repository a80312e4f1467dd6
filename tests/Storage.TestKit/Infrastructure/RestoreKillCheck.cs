using Storage.Testing;

namespace Storage.Conformance;

/// <summary>
/// The check after a process restoring <see cref="RestoreStates"/> was killed: every partition is whole
/// (its export equals its state) or absent, and every partition the process acknowledged is whole.
/// </summary>
public static class RestoreKillCheck
{
    /// <summary>The line the crash writer prints once a partition's restore has returned: the prefix, the partition, the outcome.</summary>
    public const string Restored = "RESTORED";

    /// <summary>The line the crash writer prints once every partition is restored.</summary>
    public const string Done = "DONE";

    /// <summary>How many partitions the crash writer restores.</summary>
    public const int Count = 40;

    private static readonly TimeSpan s_timeout = TimeSpan.FromMinutes(2);

    /// <summary>
    /// Starts a process restoring <see cref="RestoreStates"/> into one store, kills it (SIGKILL) a few
    /// times at random moments mid-restore — each time checking that every partition is whole or absent
    /// and every acknowledged one whole — then lets a last run complete it: the partitions already whole
    /// are <see cref="RestoreOutcome.Unchanged"/>, and every partition ends whole.
    /// </summary>
    /// <param name="startRestore">Starts the crash writer in mode <c>restore</c> with the seed, on the store.</param>
    /// <param name="open">Opens the store in this process.</param>
    /// <param name="seed">The seed of the states and of the kill moments.</param>
    /// <returns>A task.</returns>
    public static async Task KillAndRerunAsync(Func<int, ChildProcess> startRestore, Func<Task<IStore>> open, int seed)
    {
        var states = RestoreStates.Generate(seed, Count);
        var random = new Random(seed);
        var whole = 0;
        var interrupted = 0;
        for (var round = 0; round < 4; round++)
        {
            using (var child = startRestore(seed))
            {
                // The rerun reports the partitions already whole first (Unchanged), then restores on.
                var target = Math.Min(Count - 10, whole + 1 + random.Next(6));
                var line = await child.WaitForLineAsync(s_timeout, $"{Restored} {states[target - 1].Partition} ");
                Assert.True(line is not null, "The writer did not get far enough: " + child.StandardError);
                // At most a few milliseconds: a partition's restore takes about that long, and at least ten
                // partitions are still to come, so the kill lands mid-restore, often mid-partition.
                await Task.Delay(random.Next(4));
                child.Kill();
                interrupted += child.Lines.Contains(Done) ? 0 : 1;

                var store = await open();
                await using (store.ConfigureAwait(false))
                {
                    var now = await WholeOrAbsentAsync(store, states, child.Lines);
                    Assert.True(now >= target, $"Round {round}: {now} partitions whole, {target} acknowledged.");
                    whole = now;
                }
            }
        }

        Assert.True(interrupted > 0, "No kill landed before the restore finished.");
        using (var last = startRestore(seed))
        {
            Assert.True(await last.WaitForLineAsync(s_timeout, Done) is not null, "The rerun did not complete: " + last.StandardError);
            Assert.Equal(whole, last.Lines.Count(l => l.StartsWith(Restored + " ", StringComparison.Ordinal) && l.EndsWith(" " + nameof(RestoreOutcome.Unchanged), StringComparison.Ordinal)));
        }

        var reopened = await open();
        await using (reopened.ConfigureAwait(false))
        {
            Assert.Equal(Count, await WholeOrAbsentAsync(reopened, states, []));
        }
    }

    /// <summary>Checks the store after a kill.</summary>
    /// <param name="store">The store, opened again.</param>
    /// <param name="states">What the process was restoring.</param>
    /// <param name="lines">The lines the process printed before it was killed.</param>
    /// <returns>How many partitions are whole.</returns>
    public static async Task<int> WholeOrAbsentAsync(IStore store, IReadOnlyList<PartitionExport> states, IReadOnlyList<string> lines)
    {
        var export = Assert.IsAssignableFrom<IStoreExport>(store);
        var acknowledged = lines.Where(l => l.StartsWith(Restored + " ", StringComparison.Ordinal)).Select(l => l.Split(' ')[1]).ToHashSet(StringComparer.Ordinal);
        var whole = 0;
        foreach (var state in states)
        {
            var stored = await export.ExportPartitionAsync(state.Partition);
            if (stored is null)
            {
                Assert.False(acknowledged.Contains(state.Partition), $"Partition {state.Partition} was acknowledged as restored but is absent.");
                continue;
            }

            var differences = ExportComparison.Compare(state, stored);
            Assert.True(differences.Count == 0, $"Partition {state.Partition} is neither whole nor absent: {string.Join(", ", differences)}.");
            whole++;
        }

        return whole;
    }
}
