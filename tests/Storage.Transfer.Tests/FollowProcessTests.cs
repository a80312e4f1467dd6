using Storage.Hosting;
using Storage.Testing;
using static Storage.Conformance.StoreAssert;

namespace Storage.Transfer.Tests;

/// <summary>
/// A follower beside a running app (issue 18): the app — the crash writer's follow-source mode, in
/// another process — writes puts, deletes, batches, appends, increments and partition deletes, while this
/// process follows its store pass after pass (<see cref="StoreFollower.CatchUpAsync"/>) into a new store;
/// once the app has stopped, one more pass makes the copy equal to the source, digest for digest, with the
/// same revision floor.
/// </summary>
public sealed class FollowProcessTests(TransferStores stores) : IClassFixture<TransferStores>
{
    private const int Operations = 400;

    public static TheoryData<string, string> Pairs => new()
    {
        { "json", "memory" },
        { "sqlite", "memory" },
        { "postgres", "sqlite" },
    };

    [Theory]
    [MemberData(nameof(Pairs))]
    public async Task A_follower_in_another_process_copies_a_store_while_its_owner_writes_and_ends_equal(string backend, string destinationBackend)
    {
        var (address, path, schema) = await stores.NewLocationAsync(backend);
        string[] arguments = ["--backend", backend, "--path", path, "--mode", "follow-source", "--seed", "1803", "--operations", Operations.ToString(System.Globalization.CultureInfo.InvariantCulture)];
        using var owner = ChildProcess.Start([ChildProcess.ProgramPath(typeof(FollowProcessTests).Assembly, "CrashWriterPath"), .. arguments, .. schema is null ? Array.Empty<string>() : ["--schema", schema]]);
        Assert.True(await owner.WaitForLineAsync(TimeSpan.FromSeconds(60), "OPEN") is not null, owner.StandardError);

        // A JSON store is owned by the app's process: the follower reads it beside its owner, as a reader.
        var source = await stores.OpenAddressAsync(address, backend == "json" ? o => o.Access = Storage.Json.JsonStoreAccess.Reader : null);
        var destination = await stores.OpenAddressAsync((await stores.NewLocationAsync(destinationBackend)).Address);
        long position = 0;
        var passes = 0;
        var whileWriting = 0;
        while (!owner.HasExited)
        {
            var pass = await StoreFollower.CatchUpAsync(source, destination, position);
            passes++;
            whileWriting += pass.PartitionsCreated + pass.PartitionsUpdated + pass.PartitionsDeleted > 0 ? 1 : 0;
            position = pass.Position;
            await Task.Delay(20);
        }

        Assert.True(await owner.WaitForLineAsync(TimeSpan.FromSeconds(60), "DONE") is not null, $"{owner.StandardError} {string.Join(" | ", owner.Lines)}");
        var last = await StoreFollower.CatchUpAsync(source, destination, position);

        var differences = await ToListAsync(ExportComparison.CompareAsync(((IStoreExport)source).ExportAsync(), ((IStoreExport)destination).ExportAsync()));
        Assert.True(differences.Count == 0, string.Join("; ", differences.Select(d => $"{d.Partition} {d.InSource}/{d.InDestination}: {string.Join(", ", d.Items)}")));
        Assert.Equal(await StoreDigest.ComputeAsync(((IStoreExport)source).ExportAsync()), await StoreDigest.ComputeAsync(((IStoreExport)destination).ExportAsync()));
        Assert.Equal((await ((IStoreExport)source).GetExportInfoAsync()).RevisionFloor, (await ((IStoreExport)destination).GetExportInfoAsync()).RevisionFloor);

        // The follower kept up while the owner wrote (not only at the end), and deletes of partitions reached it.
        Assert.True(whileWriting >= 3, $"{whileWriting} of {passes} passes found changes while the owner wrote.");
        Assert.True((await ((IStoreExport)source).GetExportInfoAsync()).RevisionFloor > 0, "The owner deleted no partition.");
        Assert.Null(await ((IStoreExport)destination).GetPartitionAsync("f00"));
        Assert.True(last.Position >= position);
    }
}
