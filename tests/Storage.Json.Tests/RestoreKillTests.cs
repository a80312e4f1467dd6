using Storage.Conformance;
using Storage.Json.Tests.Infrastructure;

namespace Storage.Json.Tests;

/// <summary>kill -9 during a restore (issue 18): every partition whole or absent; a rerun completes it.</summary>
public sealed class RestoreKillTests
{
    [Fact]
    public async Task A_restore_killed_at_random_moments_leaves_every_partition_whole_or_absent_and_a_rerun_completes_it()
    {
        using var temp = new TempDirectory();
        await RestoreKillCheck.KillAndRerunAsync(
            seed => CrashWriterProcess.Start(temp.Path, "restore", seed),
            async () => await JsonStore.OpenAsync(new JsonStoreOptions { Directory = temp.Path }),
            seed: 18_003);
    }
}
