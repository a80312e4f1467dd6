using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Time.Testing;
using Storage.Json.IO;
using Storage.Json.Tests.Infrastructure;
using Xunit.Abstractions;

namespace Storage.Json.Tests;

/// <summary>
/// The JSON backend's in-memory indexes under stress and faults: writers of different partitions
/// racing for one global unique value (exactly one wins — and the check catches a store whose
/// reservations do not reserve), failed commits that release their reservations and leave the
/// indexes as they were, crashes and power losses after which open rebuilds the same indexes,
/// queries never seeing half a batch, and corrupt files that fail the open loudly.
/// </summary>
public sealed class IndexTests(ITestOutputHelper output)
{
    /// <summary>How many rounds of the 8-writer race run (each a new value).</summary>
    public const string RaceRoundsVariable = "STORAGE_INDEX_RACE_ROUNDS";

    private const string Users = "users";
    private const int Writers = 8;

    private static IndexDefinition Email => new(Users, "email", "email", IndexValueType.String, unique: true, IndexScope.Global);

    private static IndexDefinition Age => new(Users, "age", "age", IndexValueType.Int64);

    private static IndexDefinition Tags => new(Users, "tags", "tags", IndexValueType.String);

    private static IndexDefinition Handle => new(Users, "handle", "handle", IndexValueType.String, unique: true);

    private static IReadOnlyList<IndexDefinition> All => [Email, Age, Tags, Handle];

    [Fact]
    public async Task Eight_writers_in_eight_partitions_racing_for_one_global_unique_value_exactly_one_wins_every_round()
    {
        using var temp = new TempDirectory();
        await using var store = OpenReal(temp.Path);
        var rounds = TestSettings.Count(RaceRoundsVariable, 300);

        var (violations, doubleWins) = await RaceAsync(store, rounds, stopAtFirstDoubleWin: false);

        output.WriteLine($"{rounds} rounds of {Writers} writers.");
        Violations.AssertNone(output, violations);
        Assert.Equal(0, doubleWins);
    }

    [Fact]
    public async Task The_race_check_catches_a_store_whose_reservations_only_check_and_do_not_reserve()
    {
        using var temp = new TempDirectory();
        await using var store = OpenReal(temp.Path);
        store.Indexes!.BreakReservationsForTests = true;

        var (violations, doubleWins) = await RaceAsync(store, rounds: 300, stopAtFirstDoubleWin: true);

        output.WriteLine(string.Join("\n", violations.Take(3)));
        Assert.True(doubleWins > 0, "300 rounds of the race with broken reservations never let two writers win one value: the race test cannot catch that bug.");
    }

    [Fact]
    public async Task A_commit_that_fails_at_any_step_releases_its_reservations_and_leaves_the_indexes_as_they_were_or_applies_entirely()
    {
        // Alice moves her email a@x -> a2@x and takes c@x in one batch; every step of the write fails in turn.
        var probe = NewFileSystem();
        await SetupAsync(probe);
        await using (var store = OpenFaulty(probe))
        {
            var mark = probe.Calls.Count;
            await MoveAliceAsync(store);
            var steps = probe.CallsSince(mark);
            Assert.NotEmpty(steps);

            var violations = new List<string>();
            for (var i = 0; i < steps.Count; i++)
            {
                if (FaultChecks.IsJournalAppend(steps[i]))
                {
                    // After the commit is durable and published: its failure is not the commit's (CursorTests).
                    continue;
                }

                int?[] torn = steps[i].Operation == FileSystemOperation.Write ? [null, 10] : [null];
                foreach (var tornLength in torn)
                {
                    var label = $"fault{(tornLength is null ? string.Empty : " (torn)")} at step {i + 1}/{steps.Count} ({steps[i].Operation} {steps[i].Path})";
                    await FailStepAsync(steps[i].Operation, Occurrence(steps, i), tornLength, label, violations);
                }
            }

            output.WriteLine(string.Join("\n", steps));
            Violations.AssertNone(output, violations);
        }
    }

    [Fact]
    public async Task A_failed_commit_whose_outcome_cannot_be_read_back_keeps_its_reservations_until_a_read_resolves_it()
    {
        var fs = NewFileSystem();
        await SetupAsync(fs);
        await using var store = OpenFaulty(fs);
        var before = await IndexState.QueryAsync(store, All);

        // The rename fails, and so does the read-back right after it: the outcome is unknown.
        fs.InjectFault(FileSystemOperation.Rename);
        fs.InjectFault(FileSystemOperation.ReadAllBytes);
        await Assert.ThrowsAnyAsync<StorageException>(() => MoveAliceAsync(store));

        // The documented caveat: until the outcome is known, c@x stays reserved. Carol's writer tries
        // to read it back itself (the second read from now; the first reads carol's own partition),
        // and that read fails too.
        fs.InjectFault(FileSystemOperation.ReadAllBytes, nth: 2);
        var conflict = await Assert.ThrowsAsync<UniqueConstraintException>(() => store.PutAsync("carol", Users, "me", """{"email":"c@x"}""").AsTask());
        Assert.Equal(IndexValue.Of("c@x"), conflict.Value);

        // A query reads the outcome back (the write did not happen) and gives the reservations back.
        Assert.Equal(before, await IndexState.QueryAsync(store, All));
        await store.PutAsync("carol", Users, "me", """{"email":"c@x"}""");
        await store.PutAsync("carol", Users, "other", """{"email":"a2@x"}""");
        await Assert.ThrowsAsync<UniqueConstraintException>(() => store.PutAsync("carol", Users, "third", """{"email":"a@x"}""").AsTask());
        Assert.Equal(await IndexState.ExpectedAsync(store, All), await IndexState.QueryAsync(store, All));
    }

    [Fact]
    public async Task A_writer_meeting_the_reservation_of_a_failed_commit_reads_its_outcome_back_and_takes_the_value()
    {
        var fs = NewFileSystem();
        await SetupAsync(fs);
        await using var store = OpenFaulty(fs);

        // The rename fails, and so does the read-back right after it: c@x stays reserved by alice's failed commit.
        fs.InjectFault(FileSystemOperation.Rename);
        fs.InjectFault(FileSystemOperation.ReadAllBytes);
        await Assert.ThrowsAnyAsync<StorageException>(() => MoveAliceAsync(store));

        // Carol's writer is not refused a value nobody holds: it reads alice's outcome back (the
        // write did not happen), the reservation goes, and carol takes c@x.
        await store.PutAsync("carol", Users, "me", """{"email":"c@x"}""", WriteCondition.MustNotExist);

        Assert.Equal(["carol"], (await store.QueryAsync(new IndexQuery(Users, "email") { Equal = "c@x" })).Items.Select(m => m.Document.Partition));
        Assert.Equal(await IndexState.ExpectedAsync(store, All), await IndexState.QueryAsync(store, All));
    }

    [Fact]
    public async Task A_writer_racing_a_commit_whose_write_then_fails_waits_for_it_and_takes_the_value_instead_of_being_refused()
    {
        var fs = NewFileSystem();
        var gated = new GatedFileSystem(fs);
        await using var store = OpenFaulty(gated);

        try
        {
            // The winner reserves w@x and is held at the creation of its new file: nothing is visible yet.
            gated.HoldNextCreate(PartitionFileNames.Encode("winner"));
            var winner = Task.Run(() => store.PutAsync("winner", Users, "me", """{"email":"w@x"}""", WriteCondition.MustNotExist).AsTask());
            await gated.WaitUntilHeldAsync();

            // The loser meets the reservation. An increment queued behind it in its partition returns
            // once the loser's batch has been through its partition's commit: it must not be refused
            // for a commit whose outcome is not known.
            var loser = store.PutAsync("loser", Users, "me", """{"email":"w@x"}""", WriteCondition.MustNotExist).AsTask();
            await store.IncrementSequenceAsync("loser", "after");
            Assert.False(loser.IsCompleted, loser.IsFaulted ? $"The loser was refused while the winner's commit was in flight: {loser.Exception!.InnerException!.Message}" : "The loser committed while the winner held the value.");

            // A writer waiting so can be cancelled: it gives up, having written nothing.
            using var cancel = new CancellationTokenSource();
            var impatient = store.PutAsync("impatient", Users, "me", """{"email":"w@x"}""", cancellationToken: cancel.Token).AsTask();
            await store.IncrementSequenceAsync("impatient", "after");
            Assert.False(impatient.IsCompleted);
            await cancel.CancelAsync();
            await Assert.ThrowsAnyAsync<OperationCanceledException>(() => impatient);

            // The winner's write fails before anything reaches its file: its reservation is given back, and the loser wins.
            fs.InjectFault(FileSystemOperation.CreateNew);
            gated.Release();
            await Assert.ThrowsAnyAsync<StorageException>(() => winner);
            await loser;

            Assert.Equal(["loser"], (await store.QueryAsync(new IndexQuery(Users, "email") { Equal = "w@x" })).Items.Select(m => m.Document.Partition));
            Assert.Null(await store.GetAsync("winner", Users, "me"));
            Assert.Null(await store.GetAsync("impatient", Users, "me"));
            Assert.Equal(await IndexState.ExpectedAsync(store, All), await IndexState.QueryAsync(store, All));
        }
        finally
        {
            // A failing assertion must not leave the winner held (the store's dispose waits for it).
            gated.Release();
        }
    }

    [Fact]
    public async Task A_purge_inside_a_group_commit_splits_its_decisions_yet_the_batches_after_it_see_the_ones_before()
    {
        var time = new FakeTimeProvider(FaultChecks.Epoch);
        var fs = NewFileSystem();
        var gated = new GatedFileSystem(fs);
        await using var store = OpenFaulty(gated, time);
        await store.PutAsync("p", Users, "old", """{"email":"o@x","handle":"h"}""", expiresAt: time.GetUtcNow().AddMinutes(1));
        time.Advance(TimeSpan.FromMinutes(2));

        Task first, put, purge, taken, delete, retaken;
        try
        {
            // A commit of the partition is held at its file write; the requests behind it make one group.
            gated.HoldNextCreate(PartitionFileNames.Encode("p"));
            first = Task.Run(() => store.IncrementSequenceAsync("p", "s").AsTask());
            await gated.WaitUntilHeldAsync();
            put = await Queue(() => store.PutAsync("p", Users, "b", """{"email":"v@x","handle":"h"}""").AsTask(), 1);
            purge = await Queue(() => store.PurgeExpiredAsync().AsTask(), 2);
            taken = await Queue(() => store.PutAsync("p", Users, "c", """{"email":"v@x"}""").AsTask(), 3);
            delete = await Queue(() => store.DeleteAsync("p", Users, "b").AsTask(), 4);
            retaken = await Queue(() => store.PutAsync("p", Users, "d", """{"email":"v@x","handle":"h"}""").AsTask(), 5);
        }
        finally
        {
            gated.Release();
        }

        await first;
        var putVersion = await (Task<long>)put;
        Assert.Equal(1, await (Task<long>)purge);
        var refused = await Assert.ThrowsAsync<UniqueConstraintException>(() => taken);
        Assert.Equal("email", refused.Index);
        Assert.True(await (Task<bool>)delete);
        Assert.Equal(putVersion + 2, await (Task<long>)retaken);

        Assert.Null(await store.GetAsync("p", Users, "b"));
        Assert.Null(await store.GetAsync("p", Users, "c"));
        Assert.Equal(["d"], (await store.QueryAsync(new IndexQuery(Users, "email") { Equal = "v@x" })).Items.Select(m => m.Document.Key));
        Assert.Equal(await IndexState.ExpectedAsync(store, All), await IndexState.QueryAsync(store, All));
        var changes = await store.ReadChangesAsync("p", afterRevision: putVersion);
        Assert.Equal([(putVersion + 1, "b"), (putVersion + 2, "d")], changes.Items.Select(c => (c.Revision, c.Key!)));

        async Task<Task> Queue(Func<Task> request, int waiting)
        {
            var task = request();
            while (store.WaitingRequests("p") < waiting)
            {
                await Task.Yield();
            }

            return task;
        }
    }

    [Fact]
    public async Task A_commit_whose_directory_fsync_fails_keeps_the_values_it_gave_up_until_the_partitions_next_durable_commit()
    {
        var fs = NewFileSystem();
        await SetupAsync(fs);
        await using (var store = OpenFaulty(fs))
        {
            fs.InjectFault(FileSystemOperation.SyncDirectory);
            await Assert.ThrowsAnyAsync<StorageException>(() => MoveAliceAsync(store));

            // The file holds the new state (reads show it), but a power loss could bring the old one back.
            Assert.Equal("""{"email":"a2@x","age":3,"tags":["t2"]}""", (await store.GetAsync("alice", Users, "me"))!.GetJsonText());
            Assert.Equal(await IndexState.ExpectedAsync(store, All), await IndexState.QueryAsync(store, All));
            await Assert.ThrowsAsync<UniqueConstraintException>(() => store.PutAsync("carol", Users, "me", """{"email":"a@x"}""").AsTask());
        }

        // Power loss: whichever state alice comes back in, no value has two holders, so the store opens.
        fs.SimulatePowerLoss();
        await using (var store = OpenFaulty(fs))
        {
            Assert.Equal(await IndexState.ExpectedAsync(store, All), await IndexState.QueryAsync(store, All));
            await MoveAliceAsync(store);

            // The next durable commit of alice releases a@x.
            await store.PutAsync("carol", Users, "me", """{"email":"a@x"}""");
        }

        fs.SimulatePowerLoss();
        await using (var store = OpenFaulty(fs))
        {
            Assert.Equal(await IndexState.ExpectedAsync(store, All), await IndexState.QueryAsync(store, All));
            Assert.Equal(["carol"], (await store.QueryAsync(new IndexQuery(Users, "email") { Equal = "a@x" })).Items.Select(m => m.Document.Partition));
        }
    }

    [Fact]
    public async Task Power_loss_at_any_step_of_a_commit_leaves_a_store_that_opens_with_indexes_matching_its_documents()
    {
        var probe = NewFileSystem();
        await SetupAsync(probe);
        IReadOnlyList<FileSystemCall> steps;
        await using (var store = OpenFaulty(probe))
        {
            var mark = probe.Calls.Count;
            await MoveAliceAsync(store);
            steps = probe.CallsSince(mark);
        }

        var violations = new List<string>();
        for (var i = 0; i <= steps.Count; i++)
        {
            var label = i < steps.Count ? $"power loss after step {i + 1}/{steps.Count} ({steps[i].Operation} {steps[i].Path})" : "power loss after the commit";
            var fs = NewFileSystem();
            await SetupAsync(fs);
            var acknowledged = false;
            var store = OpenFaulty(fs);
            if (i < steps.Count)
            {
                fs.PowerOffAfter(steps[i].Operation, Occurrence(steps, i));
            }

            try
            {
                await MoveAliceAsync(store);
                acknowledged = true;
            }
            catch (StorageException)
            {
                // The machine died during the write.
            }

            await FaultChecks.DisposeOrCrashAsync(fs, store);
            fs.SimulatePowerLoss();
            try
            {
                await using var reopened = OpenFaulty(fs);
                var email = (await reopened.GetAsync("alice", Users, "me"))!.GetJsonText();
                if (acknowledged && !email.Contains("a2@x", StringComparison.Ordinal))
                {
                    violations.Add($"{label}: the acknowledged commit is gone: {email}");
                }

                var expected = await IndexState.ExpectedAsync(reopened, All);
                var actual = await IndexState.QueryAsync(reopened, All);
                if (!expected.SequenceEqual(actual))
                {
                    violations.Add($"{label}: the indexes do not match the documents:\n  expected {string.Join("\n           ", expected)}\n  actual   {string.Join("\n           ", actual)}");
                }
            }
            catch (Exception e)
            {
                violations.Add($"{label}: the store does not open or read: {e}");
            }
        }

        Violations.AssertNone(output, violations);
    }

    [Fact]
    public async Task Reopening_after_a_crash_or_a_power_loss_rebuilds_the_same_indexes()
    {
        var seed = TestSettings.Seed(output);
        var random = new Random(seed);
        var time = new FakeTimeProvider(FaultChecks.Epoch);
        var fs = NewFileSystem();
        var store = OpenFaulty(fs, time);
        string[] partitions = ["p0", "p1", "P1", "p/2", "p3", "\U0001F600"];
        for (var i = 0; i < 400; i++)
        {
            var partition = partitions[random.Next(partitions.Length)];
            var key = $"k{random.Next(12)}";
            var email = random.Next(3) == 0 ? string.Empty : $"\"email\":\"e{random.Next(40)}@x\",";
            var json = $$"""{{{email}}"age":{{random.Next(-5, 5)}},"tags":["t{{random.Next(4)}}","t{{random.Next(4)}}"],"handle":"h{{random.Next(6)}}"}""";
            try
            {
                switch (random.Next(10))
                {
                    case 0:
                        await store.DeleteAsync(partition, Users, key);
                        break;
                    case 1:
                        await store.PutAsync(partition, Users, key, json, expiresAt: time.GetUtcNow().AddMinutes(random.Next(1, 5)));
                        break;
                    case 2:
                        await store.CommitAsync(partition, [WriteOperation.Put(Users, key, json), WriteOperation.Delete(Users, $"k{random.Next(12)}x")]);
                        break;
                    case 3 when i % 50 == 0:
                        await store.DeletePartitionAsync(partition);
                        break;
                    case 4 when i % 40 == 0:
                        time.Advance(TimeSpan.FromMinutes(2));
                        await store.PurgeExpiredAsync();
                        break;
                    default:
                        await store.PutAsync(partition, Users, key, json);
                        break;
                }
            }
            catch (UniqueConstraintException)
            {
                // Values collide on purpose.
            }
        }

        var state = await IndexState.QueryAsync(store, All);
        Assert.Equal(await IndexState.ExpectedAsync(store, All), state);
        Assert.True(state.Count > 100, $"The workload left only {state.Count} index lines. {TestSettings.Replay(seed)}");

        fs.SimulateProcessCrash();
        await using (var reopened = OpenFaulty(fs, time))
        {
            Assert.Equal(state, await IndexState.QueryAsync(reopened, All));
        }

        fs.SimulatePowerLoss();
        await using (var reopened = OpenFaulty(fs, time))
        {
            Assert.Equal(state, await IndexState.QueryAsync(reopened, All));
        }
    }

    [Fact]
    public async Task Queries_never_see_half_of_a_batch_while_writers_commit()
    {
        using var temp = new TempDirectory();
        await using var store = OpenReal(temp.Path);
        string[] partitions = ["a", "b", "c"];
        foreach (var partition in partitions)
        {
            await store.CommitAsync(partition, [WriteOperation.Put(Users, "x", """{"tags":["token"],"age":0}"""), WriteOperation.Put(Users, "y", """{"tags":[],"age":0}""")]);
        }

        // Each batch moves the token from one document to the other and raises both ages: a query
        // sees one holder per partition, whose document holds the token, and ages that agree.
        using var stop = new CancellationTokenSource(TimeSpan.FromSeconds(1.5));
        var writers = partitions.Select(partition => Task.Run(async () =>
        {
            for (var n = 1; !stop.IsCancellationRequested; n++)
            {
                var (holder, other) = n % 2 == 0 ? ("x", "y") : ("y", "x");
                await store.CommitAsync(partition, [
                    WriteOperation.Put(Users, holder, $$"""{"tags":["token"],"age":{{n}}}"""),
                    WriteOperation.Put(Users, other, $$"""{"tags":[],"age":{{n}}}"""),
                ]);
            }
        })).ToList();

        var reads = 0;
        var violations = new List<string>();
        while (!stop.IsCancellationRequested && violations.Count < 5)
        {
            var page = await store.QueryAsync(new IndexQuery(Users, "tags") { Equal = "token" });
            var count = await store.CountAsync(new IndexQuery(Users, "tags") { Equal = "token" });
            if (page.Items.Count != partitions.Length || count != partitions.Length)
            {
                violations.Add($"{page.Items.Count} holders and a count of {count}, not one per partition: {string.Join(", ", page.Items.Select(m => m.Document.Partition + "/" + m.Document.Key))}");
            }

            foreach (var match in page.Items.Where(m => !m.Document.GetJsonText().Contains("token", StringComparison.Ordinal)))
            {
                violations.Add($"{match.Document.Partition}/{match.Document.Key} matched 'token' but its document is {match.Document.GetJsonText()}");
            }

            foreach (var partition in partitions)
            {
                var ages = (await store.QueryAsync(new IndexQuery(Users, "age") { Partition = partition })).Items.Select(m => m.Value.AsInt64).ToList();
                if (ages.Count != 2 || ages[0] != ages[1])
                {
                    violations.Add($"partition {partition}: ages {string.Join(", ", ages)} come from different batches");
                }
            }

            reads++;
        }

        await Task.WhenAll(writers);
        output.WriteLine($"{reads} rounds of queries.");
        Violations.AssertNone(output, violations);
        Assert.True(reads > 10, $"Only {reads} rounds of queries ran.");
    }

    [Fact]
    public async Task A_corrupt_partition_file_fails_an_open_with_indexes_as_reading_it_fails_without_and_releases_the_lock()
    {
        using var temp = new TempDirectory();
        await using (var store = OpenReal(temp.Path))
        {
            await store.PutAsync("alice", Users, "me", """{"email":"a@x"}""");
            await store.PutAsync("bob", Users, "me", """{"email":"b@x"}""");
        }

        var path = Path.Combine(temp.Path, "partitions", PartitionFileNames.Encode("bob"));
        var bytes = await File.ReadAllBytesAsync(path);
        var at = Array.LastIndexOf(bytes, (byte)'b');
        bytes[at] = (byte)'c';
        await File.WriteAllBytesAsync(path, bytes);

        var atOpen = Assert.Throws<CorruptDataException>(() => OpenReal(temp.Path));

        await using (var withoutIndexes = JsonStore.Open(new JsonStoreOptions { Directory = temp.Path }))
        {
            var onRead = await Assert.ThrowsAsync<CorruptDataException>(() => withoutIndexes.GetAsync("bob", Users, "me").AsTask());
            Assert.Equal(onRead.Message, atOpen.Message);
            Assert.Equal(path, atOpen.Location);
        }

        Assert.Equal(bytes, await File.ReadAllBytesAsync(path));
    }

    [Fact]
    public async Task A_partition_file_whose_key_cannot_be_read_fails_an_open_with_indexes()
    {
        using var temp = new TempDirectory();
        var hashed = "long/" + new string('h', 220);
        await using (var store = OpenReal(temp.Path))
        {
            await store.PutAsync(hashed, Users, "me", """{"email":"a@x"}""");
        }

        var path = Directory.GetFiles(Path.Combine(temp.Path, "partitions")).Single();
        await File.WriteAllTextAsync(path, "{}");

        var e = Assert.Throws<CorruptDataException>(() => OpenReal(temp.Path));

        Assert.Equal(path, e.Location);
        await using var withoutIndexes = JsonStore.Open(new JsonStoreOptions { Directory = temp.Path });
        Assert.Equal(e.Message, (await Assert.ThrowsAsync<CorruptDataException>(() => withoutIndexes.GetAsync(hashed, Users, "me").AsTask())).Message);
        Assert.Equal(path, (await Assert.ThrowsAsync<CorruptDataException>(() => withoutIndexes.ListPartitionsAsync().AsTask())).Location);
    }

    [Fact]
    public async Task Open_reads_no_partition_without_indexes_and_every_partition_with_them_logging_the_builds()
    {
        var fs = NewFileSystem();
        await using (var store = OpenFaulty(fs, indexes: []))
        {
            foreach (var partition in new[] { "a", "b", "c" })
            {
                await store.PutAsync(partition, Users, "me", $$"""{"email":"{{partition}}@x"}""");
            }
        }

        var reads = fs.CallCount(FileSystemOperation.ReadAllBytes);
        await using (OpenFaulty(fs, indexes: []))
        {
            Assert.Equal(reads + 2, fs.CallCount(FileSystemOperation.ReadAllBytes)); // the manifest and the cursor's journal
        }

        var logs = new ListLoggerFactory();
        reads = fs.CallCount(FileSystemOperation.ReadAllBytes);
        await using (var store = JsonStore.Open(new JsonStoreOptions { Directory = FaultChecks.DataDirectory, TimeProvider = new FakeTimeProvider(FaultChecks.Epoch), Indexes = All, LoggerFactory = logs }, fs))
        {
            Assert.Equal(reads + 2 + 3, fs.CallCount(FileSystemOperation.ReadAllBytes));
            Assert.Equal(3, await store.CountAsync(new IndexQuery(Users, "email")));
        }

        Assert.Contains(logs.Lines, l => l.StartsWith("Building index users.email (in memory at open)", StringComparison.Ordinal));
        Assert.Contains(logs.Lines, l => l.StartsWith("Built index users.email: 3 documents, 3 entries", StringComparison.Ordinal));
        Assert.Equal(All.Count * 2, logs.Lines.Count);
    }

    private static async Task<(List<string> Violations, int DoubleWins)> RaceAsync(JsonStore store, int rounds, bool stopAtFirstDoubleWin)
    {
        var violations = new List<string>();
        var doubleWins = 0;
        for (var round = 0; round < rounds && violations.Count < 10; round++)
        {
            var value = $"race-{round}@x";
            var key = $"r{round}";
            var outcomes = new string?[Writers];
            using var start = new ManualResetEventSlim();
            var threads = Enumerable.Range(0, Writers).Select(w => new Thread(() =>
            {
                start.Wait();
                try
                {
                    store.PutAsync($"w{w}", Users, key, $$"""{"email":"{{value}}"}""").AsTask().GetAwaiter().GetResult();
                    outcomes[w] = null;
                }
                catch (UniqueConstraintException)
                {
                    outcomes[w] = "conflict";
                }
                catch (Exception e)
                {
                    outcomes[w] = e.ToString();
                }
            })).ToList();
            threads.ForEach(t => t.Start());
            start.Set();
            threads.ForEach(t => t.Join());

            var winners = Enumerable.Range(0, Writers).Where(w => outcomes[w] is null).ToList();
            violations.AddRange(outcomes.Where(o => o is not null and not "conflict").Select(o => $"round {round}: a writer failed: {o}"));
            var holders = (await store.QueryAsync(new IndexQuery(Users, "email") { Equal = value })).Items.Select(m => m.Document.Partition).ToList();
            if (winners.Count != 1 || holders.Count != 1 || holders[0] != $"w{winners[0]}" || await store.CountAsync(new IndexQuery(Users, "email") { Equal = value }) != 1)
            {
                violations.Add($"round {round}: winners {string.Join(", ", winners.Select(w => $"w{w}"))}; the index names {string.Join(", ", holders)}");
            }

            for (var w = 0; w < Writers; w++)
            {
                if (outcomes[w] is "conflict" && await store.GetAsync($"w{w}", Users, key) is not null)
                {
                    violations.Add($"round {round}: w{w} got a conflict but its document was written");
                }
            }

            if (winners.Count > 1)
            {
                doubleWins++;
                if (stopAtFirstDoubleWin)
                {
                    break;
                }
            }
        }

        return (violations, doubleWins);
    }

    private static async Task FailStepAsync(FileSystemOperation operation, int occurrence, int? tornLength, string label, List<string> violations)
    {
        var fs = NewFileSystem();
        await SetupAsync(fs);
        var store = OpenFaulty(fs);
        try
        {
            var before = await IndexState.QueryAsync(store, All);
            fs.InjectFault(operation, occurrence, tornLength: tornLength);
            var thrown = await Record.ExceptionAsync(() => MoveAliceAsync(store));
            if (thrown is not StorageException)
            {
                violations.Add($"{label}: the commit {(thrown is null ? "succeeded" : $"raised {thrown.GetType().Name}")} instead of a StorageException");
                return;
            }

            var happened = (await store.GetAsync("alice", Users, "me"))!.GetJsonText().Contains("a2@x", StringComparison.Ordinal);
            var now = await IndexState.QueryAsync(store, All);
            if (!now.SequenceEqual(await IndexState.ExpectedAsync(store, All)))
            {
                violations.Add($"{label}: the indexes do not match the documents: {string.Join(" | ", now)}");
            }

            if (!happened && !now.SequenceEqual(before))
            {
                violations.Add($"{label}: the commit failed and did not happen, but the indexes changed: {string.Join(" | ", now)}");
            }

            // What the failed commit took is free again unless it happened; a@x stays alice's either way
            // (if it happened, until alice's next durable commit).
            await ExpectTakeAsync(store, "c@x", canTake: !happened, label, violations);
            await ExpectTakeAsync(store, "a2@x", canTake: !happened, label, violations);
            await ExpectTakeAsync(store, "a@x", canTake: false, label, violations);

            await store.DisposeAsync();
            fs.SimulatePowerLoss();
            store = OpenFaulty(fs);
            var reopened = await IndexState.QueryAsync(store, All);
            if (!reopened.SequenceEqual(await IndexState.ExpectedAsync(store, All)))
            {
                violations.Add($"{label}: after a power loss the indexes do not match the documents: {string.Join(" | ", reopened)}");
            }
        }
        catch (Exception e)
        {
            violations.Add($"{label}: {e}");
        }
        finally
        {
            await FaultChecks.DisposeOrCrashAsync(fs, store);
        }
    }

    private static async Task ExpectTakeAsync(IStore store, string email, bool canTake, string label, List<string> violations)
    {
        var key = "take-" + email;
        try
        {
            await store.PutAsync("carol", Users, key, $$"""{"email":"{{email}}"}""");
            if (!canTake)
            {
                violations.Add($"{label}: carol could take {email}, which must still be held");
            }
        }
        catch (UniqueConstraintException)
        {
            if (canTake)
            {
                violations.Add($"{label}: carol could not take {email}: the failed commit did not release it");
            }
        }
    }

    private static async Task SetupAsync(FaultInjectingFileSystem fs)
    {
        await using var store = OpenFaulty(fs);
        await store.PutAsync("alice", Users, "me", """{"email":"a@x","age":1,"tags":["t"]}""");
        await store.PutAsync("bob", Users, "me", """{"email":"b@x","age":2,"handle":"bob"}""");
    }

    private static Task MoveAliceAsync(IStore store) => store.CommitAsync("alice", [
        WriteOperation.Put(Users, "me", """{"email":"a2@x","age":3,"tags":["t2"]}"""),
        WriteOperation.Put(Users, "other", """{"email":"c@x","handle":"h"}"""),
    ]).AsTask();

    private static FaultInjectingFileSystem NewFileSystem() => FaultChecks.NewFileSystem();

    private static JsonStore OpenFaulty(IFileSystem fs, TimeProvider? time = null, IReadOnlyList<IndexDefinition>? indexes = null)
        => JsonStore.Open(new JsonStoreOptions { Directory = FaultChecks.DataDirectory, TimeProvider = time ?? new FakeTimeProvider(FaultChecks.Epoch), Indexes = indexes ?? All }, fs);

    private static JsonStore OpenReal(string directory)
        => JsonStore.Open(new JsonStoreOptions { Directory = directory, Indexes = All, Durability = DurabilityMode.Relaxed });

    /// <summary>Which call of its kind step <paramref name="index"/> is, counting from the write's first step (1-based).</summary>
    private static int Occurrence(IReadOnlyList<FileSystemCall> steps, int index)
        => steps.Take(index + 1).Count(s => s.Operation == steps[index].Operation);

    /// <summary>Collects formatted log lines.</summary>
    private sealed class ListLoggerFactory : ILoggerFactory
    {
        public List<string> Lines { get; } = [];

        public ILogger CreateLogger(string categoryName) => new ListLogger(Lines);

        public void AddProvider(ILoggerProvider provider)
        {
        }

        public void Dispose()
        {
        }

        private sealed class ListLogger(List<string> lines) : ILogger
        {
            public IDisposable? BeginScope<TState>(TState state)
                where TState : notnull => null;

            public bool IsEnabled(LogLevel logLevel) => true;

            public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
            {
                lock (lines)
                {
                    lines.Add(formatter(state, exception));
                }
            }
        }
    }
}
