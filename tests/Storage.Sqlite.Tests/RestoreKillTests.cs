using System.Globalization;
using Storage.Conformance;

namespace Storage.Sqlite.Tests;

/// <summary>kill -9 during a restore (issue 18): every partition whole or absent; a rerun completes it.</summary>
public sealed class RestoreKillTests
{
    [Fact]
    public async Task A_restore_killed_at_random_moments_leaves_every_partition_whole_or_absent_and_a_rerun_completes_it()
    {
        using var database = new TestDatabase();
        await RestoreKillCheck.KillAndRerunAsync(
            seed => TestPrograms.CrashWriter("--backend", "sqlite", "--path", database.Path, "--mode", "restore", "--seed", seed.ToString(CultureInfo.InvariantCulture)),
            async () => await SqliteStore.OpenAsync(database.Options()),
            seed: 18_004);
    }
}
