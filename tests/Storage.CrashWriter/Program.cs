using System.Globalization;
using System.Text;
using Storage;
using Storage.CrashWriter;
using Storage.Json;
using Storage.Sqlite;

// Usage: Storage.CrashWriter --backend json|sqlite|postgres --path <dir, database file or connection string> [--schema S] [--seed N] [--run R] [--mode loop|single-put|hold-lock|fence-set|fence-clear|restore|follow-source|cutover-app|generations] [--operations N] [--durability full|relaxed] [--streams on|off] [--to-backend B --to-path P [--to-schema S]]
//
//   loop        (default) writes until killed: conditional puts, batches across keys, sequence
//               increments, and with --streams on appends with expected versions (some in a batch
//               with puts); prints BEGIN before and ACK after each write (see CrashLog).
//   single-put  one put, its ACK line, then exits: the process the strace test traces.
//   hold-lock   opens the store, prints READY and holds it until stdin closes.
//   fence-set, fence-clear
//               sets (clears) the store's read-only fence while another process may own and write
//               it — JSON without opening the store, SQLite through a store instance of its own —
//               and prints FENCED (CLEARED) once the call has returned. PostgreSQL (these two modes
//               only): --path is the connection string, --schema the store's schema.
//   restore     restores the 40 partition states RestoreStates.Generate(seed) one after another,
//               printing "RESTORED <partition> <outcome>" once each restore has returned, then DONE.
//   cutover-app writes --operations puts of new keys and appends of new events (ids printed), a
//               millisecond apart, printing "ACK PUT <partition> <key>" / "ACK APPEND <partition> <id>"
//               once each returned; refused by the read-only fence, it prints REFUSED, waits for a line
//               on stdin (the cut-over is done), opens --to-backend/--to-path/--to-schema and retries
//               the write there, then goes on; DONE at the end.
//   generations writes --operations generations (Generations.Batch) to random partitions of
//               CrashKeySpace, printing "STATE <revision> <digest> <partition>" with the export digest
//               of each state once its commit has returned, then DONE: the owner a reader reads beside.
//
// Every line goes out in one write(2) to fd 1 as soon as it is printed, so a line a killed writer
// printed is a line the test reads, and an ACK line is written only after the write's task completed.
var arguments = Arguments.Parse(args);
if (arguments is null)
{
    Console.Error.WriteLine("usage: Storage.CrashWriter --backend json|sqlite|postgres --path <dir, database file or connection string> [--schema S] [--seed N] [--run R] [--mode loop|single-put|hold-lock|fence-set|fence-clear|restore|follow-source|cutover-app|generations] [--operations N] [--durability full|relaxed] [--streams on|off] [--to-backend B --to-path P [--to-schema S]]");
    return CrashLog.ExitUsage;
}

var output = new StreamWriter(Console.OpenStandardOutput(), new UTF8Encoding(false), bufferSize: 64 * 1024) { AutoFlush = true };
void Print(string line) => output.Write(line + "\n");

if (arguments.Mode is "fence-set" or "fence-clear")
{
    var readOnly = arguments.Mode == "fence-set";
    try
    {
        if (arguments.Backend == "json")
        {
            await JsonStore.SetReadOnlyAsync(arguments.Path, readOnly);
        }
        else
        {
            // The setter competes for the write lock with the owner's writers, which SQLite does not queue fairly: wait long.
            await using Store fenced = arguments.Backend == "postgres"
                ? await Storage.Postgres.PostgresStore.OpenAsync(new Storage.Postgres.PostgresStoreOptions { ConnectionString = arguments.Path, Schema = arguments.Schema ?? Storage.Postgres.PostgresStoreOptions.DefaultSchema })
                : await SqliteStore.OpenAsync(new SqliteStoreOptions { Path = arguments.Path, BusyTimeout = TimeSpan.FromSeconds(60) });
            await fenced.SetReadOnlyAsync(readOnly);
        }

        Print(readOnly ? CrashLog.Fenced : CrashLog.Cleared);
        return 0;
    }
    catch (Exception e)
    {
        Print($"{CrashLog.Error} {e.ToString().ReplaceLineEndings(" ")}");
        return CrashLog.ExitError;
    }
}

IStore store;
try
{
    store = await OpenAsync(arguments.Backend, arguments.Path, arguments.Schema, arguments.Durability);
}
catch (StoreLockedException e)
{
    Print($"{CrashLog.Locked} {e.Message.ReplaceLineEndings(" ")}");
    return CrashLog.ExitLocked;
}
catch (Exception e)
{
    Print($"{CrashLog.Error} open failed: {e.ToString().ReplaceLineEndings(" ")}");
    return CrashLog.ExitError;
}

try
{
    await using (store)
    {
        switch (arguments.Mode)
        {
            case "hold-lock":
                Print(CrashLog.Ready);
                while (Console.In.ReadLine() is not null)
                {
                }

                break;

            case "restore":
                foreach (var state in Storage.Conformance.RestoreStates.Generate(arguments.Seed, 40))
                {
                    var outcome = await ((IStoreRestore)store).RestorePartitionAsync(state);
                    Print($"RESTORED {state.Partition} {outcome}");
                }

                Print("DONE");
                break;

            case "follow-source":
                Print($"{CrashLog.Open} {arguments.Path}");
                var done = await FollowSource.RunAsync(store, arguments.Seed, arguments.Operations);
                Print($"DONE {done}");
                break;

            case "cutover-app":
                Print($"{CrashLog.Open} {arguments.Path}");
                var app = new CutoverApp(store, arguments.Seed, Print, () => OpenAsync(arguments.ToBackend!, arguments.ToPath!, arguments.ToSchema, arguments.Durability));
                await app.RunAsync(arguments.Operations);
                break;

            case "generations":
                var random = new Random(arguments.Seed);
                var generations = new Dictionary<string, long>(StringComparer.Ordinal);
                for (var i = 0; i < arguments.Operations; i++)
                {
                    var partition = CrashKeySpace.Partitions[random.Next(CrashKeySpace.Partitions.Count)];
                    var generation = generations[partition] = generations.GetValueOrDefault(partition) + 1;
                    await store.CommitAsync(partition, Generations.Batch(generation, random));

                    // This process is the only writer: the partition's state now is the one just committed.
                    Print(Generations.FormatState((await ((IStoreExport)store).ExportPartitionAsync(partition))!));
                }

                Print(Generations.Done);
                break;

            case "single-put":
                await new Writer(store, arguments, Print).PutAsync("strace", "k", "{\"single\":true}");
                break;

            default:
                Print($"{CrashLog.Open} {arguments.Path}");
                await new Writer(store, arguments, Print).LoopAsync();
                break;
        }
    }

    return 0;
}
catch (Exception e)
{
    Print($"{CrashLog.Error} {e.ToString().ReplaceLineEndings(" ")}");
    return CrashLog.ExitError;
}

static async Task<IStore> OpenAsync(string backend, string path, string? schema, DurabilityMode durability) => backend switch
{
    "json" => JsonStore.Open(new JsonStoreOptions { Directory = path, Durability = durability }),
    "sqlite" => SqliteStore.Open(new SqliteStoreOptions { Path = path, Durability = durability }),
    "postgres" => await Storage.Postgres.PostgresStore.OpenAsync(new Storage.Postgres.PostgresStoreOptions { ConnectionString = path, Schema = schema ?? Storage.Postgres.PostgresStoreOptions.DefaultSchema }),
    _ => throw new ArgumentException($"Unknown backend '{backend}'."),
};

/// <summary>The command line.</summary>
internal sealed record Arguments(string Backend, string Path, int Seed, string Run, string Mode, DurabilityMode Durability, bool Streams)
{
    /// <summary>The PostgreSQL store's schema.</summary>
    public string? Schema { get; init; }

    /// <summary>The cutover-app mode: the backend, path and schema of the store it switches to once its writes are refused and the test says so.</summary>
    public string? ToBackend { get; init; }

    /// <inheritdoc cref="ToBackend"/>
    public string? ToPath { get; init; }

    /// <inheritdoc cref="ToBackend"/>
    public string? ToSchema { get; init; }

    /// <summary>How many operations the follow-source mode runs (generations: how many generations it writes).</summary>
    public int Operations { get; init; } = 500;

    public static Arguments? Parse(string[] args)
    {
        var values = new Dictionary<string, string>(StringComparer.Ordinal);
        for (var i = 0; i + 1 < args.Length; i += 2)
        {
            if (!args[i].StartsWith("--", StringComparison.Ordinal))
            {
                return null;
            }

            values[args[i][2..]] = args[i + 1];
        }

        if (args.Length % 2 != 0 || !values.TryGetValue("backend", out var backend) || !values.TryGetValue("path", out var path))
        {
            return null;
        }

        var seed = values.TryGetValue("seed", out var s) ? int.Parse(s, CultureInfo.InvariantCulture) : Environment.TickCount;
        var mode = values.GetValueOrDefault("mode", "loop");
        DurabilityMode? durability = values.GetValueOrDefault("durability", "full") switch
        {
            "full" => DurabilityMode.Full,
            "relaxed" => DurabilityMode.Relaxed,
            _ => null,
        };
        var streams = values.GetValueOrDefault("streams", "off");
        if (mode is not ("loop" or "single-put" or "hold-lock" or "fence-set" or "fence-clear" or "restore" or "follow-source" or "cutover-app" or "generations") || durability is null || streams is not ("on" or "off"))
        {
            return null;
        }

        // PostgreSQL sets the fence and is a source to follow; the crash and strace modes need a local file.
        if (mode == "cutover-app" && !(values.ContainsKey("to-backend") && values.ContainsKey("to-path")))
        {
            return null;
        }

        if (backend == "postgres" && mode is not ("fence-set" or "fence-clear" or "follow-source" or "cutover-app"))
        {
            return null;
        }

        return new Arguments(backend, path, seed, values.GetValueOrDefault("run", seed.ToString(CultureInfo.InvariantCulture)), mode, durability.Value, streams == "on")
        {
            Schema = values.GetValueOrDefault("schema"),
            Operations = values.TryGetValue("operations", out var o) ? int.Parse(o, CultureInfo.InvariantCulture) : 500,
            ToBackend = values.GetValueOrDefault("to-backend"),
            ToPath = values.GetValueOrDefault("to-path"),
            ToSchema = values.GetValueOrDefault("to-schema"),
        };
    }
}

/// <summary>Writes and reports each write before it starts and after it is acknowledged.</summary>
internal sealed class Writer(IStore store, Arguments arguments, Action<string> print)
{
    private readonly Random _random = new(arguments.Seed);
    private readonly Dictionary<(string Partition, string Key), long> _versions = [];
    private readonly Dictionary<string, long> _streamVersions = new(StringComparer.Ordinal);
    private long _counter;

    /// <summary>Writes until killed. Every put is conditional on the version this writer last saw, so a lost write shows up as a conflict too.</summary>
    public async Task LoopAsync()
    {
        foreach (var partition in CrashKeySpace.Partitions)
        {
            foreach (var key in CrashKeySpace.Keys)
            {
                if (await store.GetAsync(partition, CrashKeySpace.Collection, key) is { } document)
                {
                    _versions[(partition, key)] = document.Version;
                }
            }

            if (arguments.Streams)
            {
                _streamVersions[partition] = (await store.ReadStreamAsync(partition, CrashKeySpace.Stream, new ReadStreamOptions { Backwards = true, Limit = 1 })).StreamVersion;
            }
        }

        while (true)
        {
            var partition = CrashKeySpace.Partitions[_random.Next(CrashKeySpace.Partitions.Count)];
            var dice = _random.Next(arguments.Streams ? 13 : 10);
            if (dice >= 10)
            {
                var keys = _random.Next(2) == 0 ? [] : CrashKeySpace.Keys.OrderBy(_ => _random.Next()).Take(_random.Next(1, 3)).ToList();
                await CommitAsync(CrashOpKind.Append, partition, keys, _random.Next(1, 4));
            }
            else if (dice < 5)
            {
                await CommitAsync(CrashOpKind.Put, partition, [CrashKeySpace.Keys[_random.Next(CrashKeySpace.Keys.Count)]]);
            }
            else if (dice < 8)
            {
                var keys = CrashKeySpace.Keys.OrderBy(_ => _random.Next()).Take(_random.Next(2, 6)).ToList();
                await CommitAsync(CrashOpKind.Batch, partition, keys);
            }
            else
            {
                var op = new CrashOp(CrashOpKind.Sequence, NextOpId(), partition, CrashKeySpace.Sequence, [], _random.Next(1, 4));
                print(CrashLog.FormatBegin(op));
                var value = await store.IncrementSequenceAsync(partition, CrashKeySpace.Sequence, op.Delta);
                print(CrashLog.FormatAck(op, value));
            }
        }
    }

    /// <summary>One unconditional put, then its ACK line.</summary>
    public async Task PutAsync(string partition, string key, string json)
    {
        var value = Encoding.UTF8.GetBytes(json);
        var op = new CrashOp(CrashOpKind.Put, NextOpId(), partition, CrashKeySpace.Collection, [new CrashDoc(key, CrashLog.HashValue(value))], 0);
        print(CrashLog.FormatBegin(op));
        var version = await store.PutAsync(partition, CrashKeySpace.Collection, key, value);
        print(CrashLog.FormatAck(op, version));
    }

    /// <summary>Puts <paramref name="keys"/> (conditional on the versions this writer last saw) and, for an append, <paramref name="eventCount"/> events expecting the stream version it last saw — all in one batch.</summary>
    private async Task CommitAsync(CrashOpKind kind, string partition, IReadOnlyList<string> keys, int eventCount = 0)
    {
        var opId = NextOpId();
        var operations = new List<WriteOperation>();
        var docs = new List<CrashDoc>();
        foreach (var key in keys)
        {
            // The padding makes files of varying size, so a kill lands in a write more often.
            var value = Encoding.UTF8.GetBytes($"{{\"op\":\"{opId}\",\"key\":\"{key}\",\"pad\":\"{new string('x', _random.Next(4000))}\"}}");
            var condition = _versions.TryGetValue((partition, key), out var version) ? WriteCondition.MustMatchVersion(version) : WriteCondition.MustNotExist;
            operations.Add(WriteOperation.Put(CrashKeySpace.Collection, key, value, condition));
            docs.Add(new CrashDoc(key, CrashLog.HashValue(value)));
        }

        var events = new List<EventData>();
        var eventDocs = new List<CrashDoc>();
        for (var i = 0; i < eventCount; i++)
        {
            var data = Encoding.UTF8.GetBytes($"{{\"op\":\"{opId}\",\"i\":{i},\"pad\":\"{new string('e', _random.Next(3000))}\"}}");
            var e = EventData.Create("Crashed", data);
            events.Add(e);
            eventDocs.Add(new CrashDoc(e.Id.ToString("D"), CrashLog.HashValue(data)));
        }

        if (events.Count > 0)
        {
            operations.Add(WriteOperation.Append(CrashKeySpace.Stream, events, ExpectedStreamVersion.Exactly(_streamVersions.GetValueOrDefault(partition))));
        }

        var op = new CrashOp(kind, opId, partition, CrashKeySpace.Collection, docs, 0) { Events = eventDocs };
        print(CrashLog.FormatBegin(op));
        var result = await store.CommitAsync(partition, operations);
        foreach (var key in keys)
        {
            _versions[(partition, key)] = result.Revision;
        }

        if (events.Count > 0)
        {
            _streamVersions[partition] = _streamVersions.GetValueOrDefault(partition) + events.Count;
        }

        print(CrashLog.FormatAck(op, result.Revision));
    }

    private string NextOpId() => $"r{arguments.Run}.{++_counter}";
}

/// <summary>
/// The follow-source mode: the app a follower in another process copies while it writes — puts, deletes,
/// batches, appends, increments and partition deletes over a few partitions, a millisecond or two apart.
/// No expiry and no purge, so the follower's copy must end equal to the store, digest for digest.
/// </summary>
internal static class FollowSource
{
    public static async Task<int> RunAsync(IStore store, int seed, int operations)
    {
        var random = new Random(seed);
        string Partition() => $"f{random.Next(12):D2}";
        string Key() => $"k{random.Next(8)}";
        for (var i = 0; i < operations; i++)
        {
            var partition = Partition();
            var value = $"{{\"op\":{i},\"seed\":{seed}}}";
            switch (random.Next(20))
            {
                case < 8:
                    await store.PutAsync(partition, "docs", Key(), value);
                    break;
                case < 10:
                    await store.DeleteAsync(partition, "docs", Key());
                    break;
                case < 12:
                    await store.CommitAsync(partition, [WriteOperation.Put("docs", Key() + "a", System.Text.Encoding.UTF8.GetBytes(value)), WriteOperation.Put("other", Key(), System.Text.Encoding.UTF8.GetBytes(value))]);
                    break;
                case < 15:
                    await store.AppendAsync(partition, "log", [EventData.Create("happened", System.Text.Encoding.UTF8.GetBytes(value))]);
                    break;
                case < 18:
                    await store.IncrementSequenceAsync(partition, "n");
                    break;
                default:
                    await store.DeletePartitionAsync(partition);
                    break;
            }

            await Task.Delay(random.Next(3));
        }

        // One partition ends deleted for good, so a follower must carry a delete that nothing writes over.
        await store.PutAsync("f00", "docs", "last", "{}");
        await store.DeletePartitionAsync("f00");
        return operations;
    }
}
