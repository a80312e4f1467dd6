using Storage.Testing;

namespace Storage.Tool.Tests;

/// <summary>
/// <c>storage migrate</c> on every ordered pair of JSON, SQLite and PostgreSQL, the built tool run as a
/// process: a dry run writes nothing; <c>--execute</c> copies and verifies (digests equal); a second
/// <c>--execute</c> does no work; <c>verify</c> agrees; a document changed in the copy afterwards is a
/// mismatch naming its partition and key, the destination now holding different data is refused (and
/// repaired by <c>--replace</c>);
/// killed (SIGKILL) in the middle of a copy, the same command run again completes, equal.
/// </summary>
public sealed class MigratePairTests(ToolFixture fixture) : IClassFixture<ToolFixture>
{
    private static readonly string[] s_backends = ["json", "sqlite", "postgres"];

    /// <summary>Every ordered pair.</summary>
    public static TheoryData<string, string> Pairs
    {
        get
        {
            var pairs = new TheoryData<string, string>();
            foreach (var from in s_backends)
            {
                foreach (var to in s_backends.Where(b => b != from))
                {
                    pairs.Add(from, to);
                }
            }

            return pairs;
        }
    }

    /// <summary>The pairs the kill test runs: a subset (each backend once as source and once as destination) unless STORAGE_TOOL_FULL_MATRIX=1.</summary>
    public static TheoryData<string, string> KillPairs =>
        Environment.GetEnvironmentVariable("STORAGE_TOOL_FULL_MATRIX") == "1"
            ? Pairs
            : new TheoryData<string, string> { { "json", "sqlite" }, { "sqlite", "postgres" }, { "postgres", "json" } };

    [Theory]
    [MemberData(nameof(Pairs))]
    public async Task Dry_run_writes_nothing_execute_copies_and_verifies_and_a_second_execute_does_no_work(string from, string to)
    {
        var (source, partitions) = await fixture.SeedAsync(from, 1900 + from.Length * 10 + to.Length);
        var destination = await fixture.NewAddressAsync(to);
        var sourceDigest = await ToolFixture.DigestAsync(source);

        var dry = await ToolFixture.RunAsync("migrate", "--from", source, "--to", destination, "--indexes", fixture.IndexFile, "--json");
        Assert.True(dry.ExitCode == 0, dry.ToString());
        var plan = dry.Event("plan");
        Assert.Equal(partitions, plan.GetProperty("partitions").GetInt64());
        Assert.Equal(partitions, plan.GetProperty("new").GetInt64());
        Assert.False(plan.GetProperty("destinationExists").GetBoolean());
        Assert.DoesNotContain(dry.Events, e => e.GetProperty("event").GetString() == "copied");
        Assert.False(await ExistsAsync(destination), $"The dry run created {destination}.");

        var execute = await ToolFixture.RunAsync("migrate", "--from", source, "--to", destination, "--indexes", fixture.IndexFile, "--execute", "--json");
        Assert.True(execute.ExitCode == 0, execute.ToString());
        Assert.Equal(partitions, execute.Event("copied").GetProperty("created").GetInt64());
        Assert.True(execute.Event("done").GetProperty("verified").GetBoolean());
        Assert.Equal(sourceDigest, execute.Event("done").GetProperty("storeDigest").GetString());
        Assert.Equal(sourceDigest, await ToolFixture.DigestAsync(destination));
        Assert.All(execute.Lines, line => Assert.StartsWith("{", line, StringComparison.Ordinal));

        // Again: all equal, nothing written.
        var again = await ToolFixture.RunAsync("migrate", "--from", source, "--to", destination, "--indexes", fixture.IndexFile, "--execute", "--json");
        Assert.True(again.ExitCode == 0, again.ToString());
        Assert.Equal(0, again.Event("plan").GetProperty("new").GetInt64());
        Assert.Equal(partitions, again.Event("plan").GetProperty("equal").GetInt64());
        Assert.DoesNotContain(again.Events, e => e.GetProperty("event").GetString() == "copied");
        Assert.Equal(0, again.Event("done").GetProperty("created").GetInt64());
        Assert.Equal(0, again.Event("done").GetProperty("replaced").GetInt64());

        var verify = await ToolFixture.RunAsync("verify", source, destination, "--indexes", fixture.IndexFile);
        Assert.True(verify.ExitCode == 0, verify.ToString());
        Assert.Contains(verify.Lines, l => l.StartsWith("Equal:", StringComparison.Ordinal) && l.Contains(sourceDigest, StringComparison.Ordinal));

        // Damage the copy: one document changed through the store.
        await using (var copy = await ToolFixture.OpenAsync(destination))
        {
            await copy.PutAsync("customer-00007", "orders", "o-1", """{"total":-1}""");
        }

        var damagedDigest = await ToolFixture.DigestAsync(destination);
        var damaged = await ToolFixture.RunAsync("verify", source, destination, "--indexes", fixture.IndexFile);
        Assert.True(damaged.ExitCode == 1, damaged.ToString());
        Assert.Contains(damaged.Lines, l => l.Contains("'customer-00007'", StringComparison.Ordinal) && l.Contains("document orders/o-1", StringComparison.Ordinal));
        var damagedJson = await ToolFixture.RunAsync("verify", source, destination, "--indexes", fixture.IndexFile, "--json");
        Assert.Equal(1, damagedJson.ExitCode);
        var mismatch = damagedJson.Event("partition-mismatch");
        Assert.Equal("customer-00007", mismatch.GetProperty("partition").GetString());
        Assert.Contains("document orders/o-1", mismatch.GetProperty("items").EnumerateArray().Select(i => i.GetString()));

        // The destination now holds different data: the dry run says so and a migration is refused, nothing written.
        var conflicting = await ToolFixture.RunAsync("migrate", "--from", source, "--to", destination, "--indexes", fixture.IndexFile, "--json");
        Assert.True(conflicting.ExitCode == 5, conflicting.ToString());
        Assert.Equal(1, conflicting.Event("plan").GetProperty("different").GetInt64());
        var refused = await ToolFixture.RunAsync("migrate", "--from", source, "--to", destination, "--indexes", fixture.IndexFile, "--execute");
        Assert.True(refused.ExitCode == 5, refused.ToString());
        Assert.Contains("customer-00007", refused.StandardError, StringComparison.Ordinal);
        Assert.Equal(damagedDigest, await ToolFixture.DigestAsync(destination));

        // --replace repairs it.
        var repaired = await ToolFixture.RunAsync("migrate", "--from", source, "--to", destination, "--indexes", fixture.IndexFile, "--execute", "--replace", "--json");
        Assert.True(repaired.ExitCode == 0, repaired.ToString());
        Assert.Equal(1, repaired.Event("copied").GetProperty("replaced").GetInt64());
        Assert.Equal(sourceDigest, await ToolFixture.DigestAsync(destination));
    }

    [Theory]
    [MemberData(nameof(KillPairs))]
    public async Task A_migration_killed_in_the_middle_completes_when_run_again(string from, string to)
    {
        // Large enough that the copy is still going when its first partition is seen: a JSON destination
        // writes a file per partition (600 partitions), SQLite is faster (1,500), and PostgreSQL restores
        // new partitions in groups of about 10,000 documents, one transaction each (1,500 partitions with
        // about 50,000 documents make several).
        var (source, partitions) = await fixture.SeedAsync(from, 1950 + from.Length, bulkPartitions: to == "json" ? 600 : 1500, extraOrders: to == "postgres" ? 30 : 0);
        var destination = await fixture.NewAddressAsync(to);
        var sourceDigest = await ToolFixture.DigestAsync(source);
        string[] command = ["migrate", "--from", source, "--to", destination, "--indexes", fixture.IndexFile, "--execute", "--json"];

        using (var first = ToolFixture.Start(command))
        {
            Assert.True(await first.WaitForLineAsync(TimeSpan.FromMinutes(2), """{"event":"plan""") is not null, first.StandardError);
            await WaitForPartitionsAsync(destination, TimeSpan.FromMinutes(1));
            Assert.False(first.HasExited, "The copy ended before it could be killed: seed a larger source.");
            first.Kill();
        }

        var rerun = await ToolFixture.RunAsync(command);
        Assert.True(rerun.ExitCode == 0, rerun.ToString());
        var plan = rerun.Event("plan");
        Assert.Equal(partitions, plan.GetProperty("new").GetInt64() + plan.GetProperty("equal").GetInt64());
        Assert.Equal(0, plan.GetProperty("different").GetInt64());
        Assert.True(plan.GetProperty("equal").GetInt64() > 0 && plan.GetProperty("new").GetInt64() > 0, $"Killed at {plan}: not in the middle of the copy.");
        Assert.True(rerun.Event("done").GetProperty("verified").GetBoolean());
        Assert.Equal(sourceDigest, await ToolFixture.DigestAsync(destination));
    }

    [Fact]
    public async Task A_source_written_during_the_copy_is_compared_partition_by_partition_and_the_change_is_reported()
    {
        // The copy digests the source as it reads it; the verification trusts that digest only if the source's
        // cursor did not move. Here the app writes a partition the copy has already written.
        var (source, _) = await fixture.SeedAsync("sqlite", 1995, bulkPartitions: 600, extraOrders: 40);
        var destination = await fixture.NewAddressAsync("json");
        using var run = ToolFixture.Start("migrate", "--from", source, "--to", destination, "--indexes", fixture.IndexFile, "--execute", "--json");
        Assert.True(await run.WaitForLineAsync(TimeSpan.FromMinutes(1), """{"event":"plan""") is not null, run.StandardError);
        var copied = await WaitForPartitionsAsync(destination, TimeSpan.FromMinutes(1));
        await using (var app = await ToolFixture.OpenAsync(source))
        {
            await app.PutAsync(copied, "orders", "written-during-the-copy", """{"total":1}""");
        }

        Assert.True(await run.WaitForExitAsync(TimeSpan.FromMinutes(2)));
        Assert.True(run.ExitCode == 1, $"exit {run.ExitCode}: {string.Join('\n', run.Lines)} {run.StandardError}");
        var mismatch = Assert.Single(run.Lines, l => l.Contains("\"event\":\"partition-mismatch\"", StringComparison.Ordinal));
        Assert.Contains($"\"partition\":\"{copied}\"", mismatch, StringComparison.Ordinal);
        Assert.Contains("document orders/written-during-the-copy", mismatch, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Ctrl_C_stops_a_migration_with_exit_6_and_the_same_command_resumes_it()
    {
        var (source, _) = await fixture.SeedAsync("sqlite", 1990, bulkPartitions: 600, extraOrders: 40);
        var destination = await fixture.NewAddressAsync("json");
        var sourceDigest = await ToolFixture.DigestAsync(source);
        string[] command = ["migrate", "--from", source, "--to", destination, "--indexes", fixture.IndexFile, "--execute"];

        using (var first = ToolFixture.Start(command))
        {
            // Stopped once the plan is printed, as the copy starts: waiting for its first partition instead let a
            // quiet machine finish the whole copy before the signal arrived (exit 0).
            Assert.True(await first.WaitForLineAsync(TimeSpan.FromMinutes(1), "Plan, per partition:") is not null, first.StandardError);
            // SIGTERM, which the tool handles as Ctrl+C: a test run in the background (as CI may run it) inherits
            // SIGINT ignored, as shells set it for background jobs, and .NET then leaves it ignored.
            using (var signal = System.Diagnostics.Process.Start("kill", ["-s", "TERM", first.Id.ToString(System.Globalization.CultureInfo.InvariantCulture)]))
            {
                await signal.WaitForExitAsync();
            }

            Assert.True(await first.WaitForExitAsync(TimeSpan.FromMinutes(1)), "Ctrl+C did not stop the tool.");
            Assert.True(first.ExitCode == 6, $"exit {first.ExitCode}: {first.StandardError}");
            Assert.Contains("Interrupted", first.StandardError, StringComparison.Ordinal);
            Assert.DoesNotContain("   at ", first.StandardError, StringComparison.Ordinal);
        }

        var rerun = await ToolFixture.RunAsync(command);
        Assert.True(rerun.ExitCode == 0, rerun.ToString());
        Assert.Equal(sourceDigest, await ToolFixture.DigestAsync(destination));
    }

    /// <summary>Waits until the copy has written a partition into <paramref name="address"/> (read beside the tool: a JSON store as a reader).</summary>
    private static async Task<string> WaitForPartitionsAsync(string address, TimeSpan timeout)
    {
        var deadline = DateTime.UtcNow + timeout;
        while (DateTime.UtcNow < deadline)
        {
            try
            {
                // A SQL store opened with the tool's index declarations, so the tool's writes go on.
                await using var store = address.StartsWith("json:", StringComparison.Ordinal)
                    ? await Hosting.StoreFactory.OpenAsync(address, o => o.Access = Json.JsonStoreAccess.Reader)
                    : await ToolFixture.OpenAsync(address);
                while (DateTime.UtcNow < deadline)
                {
                    if ((await store.ListPartitionsAsync()).Items is [var first, ..])
                    {
                        return first.Partition;
                    }

                    await Task.Delay(20);
                }
            }
            catch (StorageException)
            {
                // Not created yet (a JSON directory without its manifest).
                await Task.Delay(20);
            }
        }

        Assert.Fail($"No partition reached {address} in {timeout}.");
        return string.Empty;
    }

    private static async Task<bool> ExistsAsync(string address)
    {
        if (address.StartsWith("json:", StringComparison.Ordinal))
        {
            return Directory.Exists(address["json:".Length..]);
        }

        if (address.StartsWith("sqlite:", StringComparison.Ordinal))
        {
            return File.Exists(address["sqlite:".Length..]);
        }

        var schemaAt = address.LastIndexOf(";Schema=", StringComparison.Ordinal);
        await using var dataSource = Npgsql.NpgsqlDataSource.Create(address["postgres:".Length..schemaAt]);
        await using var command = dataSource.CreateCommand("SELECT count(*) FROM information_schema.schemata WHERE schema_name = $1");
        command.Parameters.AddWithValue(address[(schemaAt + ";Schema=".Length)..]);
        return (long)(await command.ExecuteScalarAsync())! > 0;
    }
}
