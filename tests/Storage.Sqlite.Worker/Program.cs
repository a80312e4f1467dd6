using System.Globalization;
using System.Text.Json;
using Storage;
using Storage.Sqlite;

// A child process for Storage.Sqlite.Tests. Commands:
//   increment <db> <partition> <count> <key>...
//       Prints "ready", waits for a line on stdin, then does <count> conditional read-modify-write
//       increments of {"n":…} on keys chosen round-robin (with a little think time between the read
//       and the write), retrying each on a version conflict, plus one IncrementSequenceAsync("hits")
//       per increment. Prints "done conflicts=<retries>" and exits 0 when all are done.
//   append <db> <partition> <stream> <count> <name>
//       Prints "ready", waits for a line on stdin, then appends <count> events {"writer":<name>,"i":…}
//       one at a time to one stream, each with the expected version it just read (and a little think
//       time between the read and the append); on a version conflict it reads again and re-sends the
//       same event (same id). Prints "done conflicts=<retries>" and exits 0 when all are appended.
//   unique <db> <rounds> <partition>
//       Opens the store with one global unique index (users.email), prints "ready", then for each
//       round r waits for a line on stdin, checks that race-<r>@example.com is free (a query), waits
//       a moment (an application's check-then-act), and puts users/r<r> = {"email":"race-<r>@example.com"}
//       in its partition. Prints "won <r> free=<0|1>" or "lost <r> free=<0|1>" (UniqueConstraintException
//       for that value), and "done" at the end.
//   import <db> <partitions> <documents>
//       Opens the store with one global unique index (users.email), prints "ready", then imports
//       <partitions> partitions i000000… of <documents> users each (key u<n>, {"email":"<partition>-<n>@x"})
//       in one ImportAsync, and prints "done". The import test kills it in the middle.
//   bench-indexes <directory>
//       Not a test: measures index costs on files in <directory> and prints them (see docs/sqlite-backend.md).
//       Run it in Release: dotnet run -c Release --project tests/Storage.Sqlite.Worker -- bench-indexes /tmp/bench
// (The kill -9 test uses tests/Storage.CrashWriter with --backend sqlite.)
if (args.Length < 1)
{
    Console.Error.WriteLine("usage: increment <db> <partition> <count> <key>... | append <db> <partition> <stream> <count> <name> | unique <db> <rounds> <partition> | import <db> <partitions> <documents> | bench-indexes <directory>");
    return 2;
}

switch (args[0])
{
    case "increment":
        return await Increment(args[1], args[2], int.Parse(args[3], CultureInfo.InvariantCulture), args[4..]);
    case "append":
        return await Append(args[1], args[2], args[3], int.Parse(args[4], CultureInfo.InvariantCulture), args[5]);
    case "unique":
        return await Unique(args[1], int.Parse(args[2], CultureInfo.InvariantCulture), args[3]);
    case "import":
        return await Import(args[1], int.Parse(args[2], CultureInfo.InvariantCulture), int.Parse(args[3], CultureInfo.InvariantCulture));
    case "bench-indexes":
        return await IndexBench.RunAsync(args[1]);
    default:
        Console.Error.WriteLine($"unknown command {args[0]}");
        return 2;
}

static async Task<int> Increment(string path, string partition, int count, string[] keys)
{
    await using var store = SqliteStore.Open(new SqliteStoreOptions { Path = path, BusyTimeout = TimeSpan.FromSeconds(60) });
    Console.WriteLine("ready");
    Console.ReadLine();
    var conflicts = 0;
    for (var i = 0; i < count; i++)
    {
        var key = keys[i % keys.Length];
        while (true)
        {
            var current = await store.GetAsync(partition, "counters", key);
            var n = current is null ? 0 : JsonDocument.Parse(current.Value).RootElement.GetProperty("n").GetInt64();
            var condition = current is null ? WriteCondition.MustNotExist : WriteCondition.MustMatchVersion(current.Version);

            // Think time between the read and the conditional write, as an application has: the other process may write meanwhile.
            Thread.Sleep(i % 3);
            try
            {
                await store.PutAsync(partition, "counters", key, $$"""{"n":{{n + 1}}}""", condition);
                break;
            }
            catch (VersionConflictException)
            {
                conflicts++;
            }
        }

        await store.IncrementSequenceAsync(partition, "hits");
    }

    Console.WriteLine($"done conflicts={conflicts}");
    return 0;
}

static async Task<int> Unique(string path, int rounds, string partition)
{
    IndexDefinition email = new("users", "email", "email", IndexValueType.String, unique: true, IndexScope.Global);
    await using var store = SqliteStore.Open(new SqliteStoreOptions { Path = path, BusyTimeout = TimeSpan.FromSeconds(60), Indexes = [email] });
    Console.WriteLine("ready");
    for (var round = 0; round < rounds; round++)
    {
        if (Console.ReadLine() is null)
        {
            return 3;
        }

        var value = $"race-{round}@example.com";
        var free = await store.CountAsync(new IndexQuery("users", "email") { Equal = value }) == 0 ? 1 : 0;
        Thread.Sleep(5);
        try
        {
            await store.PutAsync(partition, "users", $"r{round}", $$"""{"email":{{JsonSerializer.Serialize(value)}}}""");
            Console.WriteLine($"won {round} free={free}");
        }
        catch (UniqueConstraintException e) when (e.Value == IndexValue.Of(value) && e.Index == "email")
        {
            Console.WriteLine($"lost {round} free={free}");
        }
    }

    Console.WriteLine("done");
    return 0;
}

static async Task<int> Import(string path, int partitions, int documents)
{
    IndexDefinition email = new("users", "email", "email", IndexValueType.String, unique: true, IndexScope.Global);
    await using var store = SqliteStore.Open(new SqliteStoreOptions { Path = path, BusyTimeout = TimeSpan.FromSeconds(60), Indexes = [email] });
    Console.WriteLine("ready");
    var result = await store.ImportAsync(Generate(partitions, documents));
    Console.WriteLine($"done {result.Partitions} {result.Documents}");
    return 0;

    static async IAsyncEnumerable<ImportedPartition> Generate(int partitions, int documents)
    {
        for (var p = 0; p < partitions; p++)
        {
            var partition = "i" + p.ToString("D6", CultureInfo.InvariantCulture);
            var puts = new WriteOperation[documents];
            for (var n = 0; n < documents; n++)
            {
                puts[n] = WriteOperation.Put("users", "u" + n.ToString(CultureInfo.InvariantCulture), $$"""{"email":"{{partition}}-{{n}}@x"}""");
            }

            yield return new ImportedPartition(partition, puts);
        }

        await Task.CompletedTask;
    }
}

static async Task<int> Append(string path, string partition, string stream, int count, string name)
{
    await using var store = SqliteStore.Open(new SqliteStoreOptions { Path = path, BusyTimeout = TimeSpan.FromSeconds(60) });
    Console.WriteLine("ready");
    Console.ReadLine();
    var conflicts = 0;
    for (var i = 0; i < count; i++)
    {
        var e = EventData.Create("Appended", $$"""{"writer":{{JsonSerializer.Serialize(name)}},"i":{{i}}}""");
        while (true)
        {
            var version = (await store.ReadStreamAsync(partition, stream, new ReadStreamOptions { Backwards = true, Limit = 1 })).StreamVersion;

            // Think time between the read and the append: the other processes may append meanwhile.
            Thread.Sleep(i % 3);
            try
            {
                await store.AppendAsync(partition, stream, [e], ExpectedStreamVersion.Exactly(version));
                break;
            }
            catch (VersionConflictException)
            {
                conflicts++;
            }
        }
    }

    Console.WriteLine($"done conflicts={conflicts}");
    return 0;
}
