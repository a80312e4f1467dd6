using System.Globalization;
using System.Text.Json;
using Storage;
using Storage.Sqlite;

// A child process for Storage.Sqlite.Tests. Commands:
//   increment <db> <partition> <count> <key>...
//       Prints "ready", waits for a line on stdin, then does <count> conditional read-modify-write
//       increments of {"n":…} on keys chosen round-robin, retrying each on a version conflict, plus
//       one IncrementSequenceAsync("hits") per increment. Exits 0 when all are done.
//   crash-writer <db> <prefix> <writers>
//       Writes forever from <writers> concurrent tasks until killed. After each write completes it
//       prints "ack <key> <sequence value>"; a printed line is an acknowledged write.
if (args.Length < 1)
{
    Console.Error.WriteLine("usage: increment <db> <partition> <count> <key>... | crash-writer <db> <prefix> <writers>");
    return 2;
}

switch (args[0])
{
    case "increment":
        return await Increment(args[1], args[2], int.Parse(args[3], CultureInfo.InvariantCulture), args[4..]);
    case "crash-writer":
        return await CrashWriter(args[1], args[2], int.Parse(args[3], CultureInfo.InvariantCulture));
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

static async Task<int> CrashWriter(string path, string prefix, int writers)
{
    await using var store = SqliteStore.Open(new SqliteStoreOptions { Path = path });
    var output = Console.Out;
    var gate = new Lock();
    var tasks = Enumerable.Range(0, writers).Select(async w =>
    {
        for (var i = 0; ; i++)
        {
            var key = $"{prefix}-{w}-{i}";
            var value = $$"""{"writer":{{w}},"i":{{i}},"pad":"{{new string('x', i % 7 * 100)}}"}""";
            if (i % 3 == 2)
            {
                // A batch: the document and a marker, all or nothing.
                await store.CommitAsync("crash", [WriteOperation.Put("docs", key, value), WriteOperation.Put("markers", key, "true")]);
            }
            else
            {
                await store.PutAsync("crash", "docs", key, value);
            }

            var sequence = await store.IncrementSequenceAsync("crash", "writes");
            lock (gate)
            {
                output.WriteLine($"ack {key} {sequence}");
                output.Flush();
            }
        }
    }).ToList();
    await Task.WhenAll(tasks);
    return 0;
}
