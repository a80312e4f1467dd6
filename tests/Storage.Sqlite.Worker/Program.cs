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
// (The kill -9 test uses tests/Storage.CrashWriter with --backend sqlite.)
if (args.Length < 1)
{
    Console.Error.WriteLine("usage: increment <db> <partition> <count> <key>... | append <db> <partition> <stream> <count> <name>");
    return 2;
}

switch (args[0])
{
    case "increment":
        return await Increment(args[1], args[2], int.Parse(args[3], CultureInfo.InvariantCulture), args[4..]);
    case "append":
        return await Append(args[1], args[2], args[3], int.Parse(args[4], CultureInfo.InvariantCulture), args[5]);
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
