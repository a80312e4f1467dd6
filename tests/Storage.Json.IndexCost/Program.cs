// What in-memory indexes cost the JSON backend (docs/json-backend.md, "Secondary indexes").
//
//   dotnet run -c Release --project tests/Storage.Json.IndexCost -- [--dir <path>] [--partitions 10000] [--documents 10]
//
// Creates (once, kept in --dir; default under the temp directory) a store of P partitions x D
// documents of about 200 bytes, then measures, each in a fresh child process so memory figures
// are not mixed up: opening it without indexes (partitions are read lazily), without indexes and
// then reading every partition, and with 3 indexes (a global unique string, an int64, a string
// array); then query costs (with indexes) and put costs (with and without). Not a test and not
// run by CI: numbers depend on the machine.
using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using Storage;
using Storage.Json;

var arguments = Arguments.Parse(args);
if (arguments.Child is { } mode)
{
    await Child.RunAsync(mode, arguments);
    return;
}

Console.WriteLine($"Store: {arguments.Partitions:N0} partitions x {arguments.Documents} documents in {arguments.Directory}");
await Data.EnsureAsync(arguments);
var results = new Dictionary<string, Dictionary<string, double>>(StringComparer.Ordinal);
foreach (var child in new[] { "none", "none-read-all", "indexes" })
{
    results[child] = RunChild(child, arguments);
}

Report.Print(results, arguments);

static Dictionary<string, double> RunChild(string mode, Arguments arguments)
{
    var start = new ProcessStartInfo(Environment.ProcessPath!)
    {
        RedirectStandardOutput = true,
        UseShellExecute = false,
    };
    if (Path.GetFileNameWithoutExtension(Environment.ProcessPath!).Equals("dotnet", StringComparison.Ordinal))
    {
        start.ArgumentList.Add(typeof(Arguments).Assembly.Location);
    }

    foreach (var argument in new[] { "--child", mode, "--dir", arguments.Directory, "--partitions", arguments.Partitions.ToString(CultureInfo.InvariantCulture), "--documents", arguments.Documents.ToString(CultureInfo.InvariantCulture) })
    {
        start.ArgumentList.Add(argument);
    }

    using var process = Process.Start(start)!;
    var output = process.StandardOutput.ReadToEnd();
    process.WaitForExit();
    if (process.ExitCode != 0)
    {
        throw new InvalidOperationException($"The '{mode}' measurement failed:\n{output}");
    }

    var last = output.Split('\n', StringSplitOptions.RemoveEmptyEntries)[^1];
    return JsonSerializer.Deserialize(last, ResultsContext.Default.DictionaryStringDouble)!;
}

internal sealed record Arguments(string Directory, int Partitions, int Documents, string? Child)
{
    public static Arguments Parse(string[] args)
    {
        var directory = Path.Combine(Path.GetTempPath(), "storage-json-indexcost");
        int partitions = 10_000, documents = 10;
        string? child = null;
        for (var i = 0; i + 1 < args.Length; i += 2)
        {
            switch (args[i])
            {
                case "--dir": directory = args[i + 1]; break;
                case "--partitions": partitions = int.Parse(args[i + 1], CultureInfo.InvariantCulture); break;
                case "--documents": documents = int.Parse(args[i + 1], CultureInfo.InvariantCulture); break;
                case "--child": child = args[i + 1]; break;
                default: throw new ArgumentException($"Unknown argument {args[i]}.");
            }
        }

        // The parent names the store by its shape; a child is given that directory as it is.
        return new Arguments(child is null ? Path.Combine(directory, $"{partitions}x{documents}") : directory, partitions, documents, child);
    }
}

internal static class Data
{
    public const string Users = "users";
    public const int Tags = 50;

    public static IReadOnlyList<IndexDefinition> Indexes { get; } =
    [
        new(Users, "email", "email", IndexValueType.String, unique: true, IndexScope.Global),
        new(Users, "age", "age", IndexValueType.Int64),
        new(Users, "tags", "tags", IndexValueType.String),
    ];

    public static string Partition(int p) => $"user-{p:D5}";

    public static string Key(int d) => $"doc-{d:D2}";

    public static string Email(int p, int d, int generation = 0) => $"u{p:D5}.{d:D2}.{generation}@example.com";

    /// <summary>About 200 bytes: an email, an age, three tags and some text.</summary>
    public static string Document(Random random, int p, int d, int generation = 0)
        => $$"""{"email":"{{Email(p, d, generation)}}","age":{{random.Next(100)}},"tags":["tag-{{random.Next(Tags)}}","tag-{{random.Next(Tags)}}","tag-{{random.Next(Tags)}}"],"name":"User {{p}}/{{d}}","note":"{{new string('x', 80 + random.Next(20))}}"}""";

    public static async Task EnsureAsync(Arguments arguments)
    {
        var done = arguments.Directory + ".done";
        if (File.Exists(done))
        {
            return;
        }

        if (Directory.Exists(arguments.Directory))
        {
            Directory.Delete(arguments.Directory, recursive: true);
        }

        var stopwatch = Stopwatch.StartNew();
        var random = new Random(42);
        await using (var store = JsonStore.Open(new JsonStoreOptions { Directory = arguments.Directory, Durability = DurabilityMode.Relaxed }))
        {
            for (var p = 0; p < arguments.Partitions; p++)
            {
                var batch = Enumerable.Range(0, arguments.Documents).Select(d => WriteOperation.Put(Users, Key(d), Document(random, p, d))).ToList();
                await store.CommitAsync(Partition(p), batch);
            }
        }

        await File.WriteAllTextAsync(done, "done");
        Console.WriteLine($"Created in {stopwatch.Elapsed.TotalSeconds:F1} s.");
    }
}

internal static class Child
{
    private static int s_round;

    public static async Task RunAsync(string mode, Arguments arguments)
    {
        var withIndexes = mode == "indexes";
        var results = new Dictionary<string, double>(StringComparer.Ordinal);

        // JIT the open, the build and the queries on a small store first, so the timed open is the work itself.
        var warmup = Path.Combine(Path.GetTempPath(), "storage-json-indexcost-warmup-" + Environment.ProcessId);
        await using (var small = JsonStore.Open(new JsonStoreOptions { Directory = warmup, Durability = DurabilityMode.Relaxed, Indexes = Data.Indexes }))
        {
            var random = new Random(1);
            for (var p = 0; p < 20; p++)
            {
                await small.CommitAsync(Data.Partition(p), Enumerable.Range(0, 3).Select(d => WriteOperation.Put(Data.Users, Data.Key(d), Data.Document(random, p, d))).ToList());
            }
        }

        await using (var small = JsonStore.Open(new JsonStoreOptions { Directory = warmup, Indexes = withIndexes ? Data.Indexes : [] }))
        {
            for (var p = 0; p < 20; p++)
            {
                await small.GetAsync(Data.Partition(p), Data.Users, Data.Key(0));
            }

            if (withIndexes)
            {
                await QueriesAsync(small, 20, 3, iterations: 200, new Dictionary<string, double>(StringComparer.Ordinal), strict: false);
            }
        }

        Directory.Delete(warmup, recursive: true);
        Settle();
        var heapBefore = GC.GetTotalMemory(forceFullCollection: true);
        var workingSetBefore = WorkingSet();

        var stopwatch = Stopwatch.StartNew();
        var store = JsonStore.Open(new JsonStoreOptions { Directory = arguments.Directory, Durability = DurabilityMode.Relaxed, Indexes = withIndexes ? Data.Indexes : [], LoggerFactory = new ErrorLoggerFactory() });
        results["open_ms"] = stopwatch.Elapsed.TotalMilliseconds;
        if (mode == "none-read-all")
        {
            stopwatch.Restart();
            for (var p = 0; p < arguments.Partitions; p++)
            {
                await store.GetAsync(Data.Partition(p), Data.Users, Data.Key(0));
            }

            results["read_all_ms"] = stopwatch.Elapsed.TotalMilliseconds;
        }

        Settle();
        results["heap_mb"] = (GC.GetTotalMemory(forceFullCollection: true) - heapBefore) / 1048576.0;
        results["working_set_mb"] = (WorkingSet() - workingSetBefore) / 1048576.0;
        results["heap_total_mb"] = GC.GetTotalMemory(forceFullCollection: true) / 1048576.0;
        results["working_set_total_mb"] = WorkingSet() / 1048576.0;
        if (withIndexes)
        {
            foreach (var index in Data.Indexes)
            {
                results[$"entries_{index.Name}"] = await store.CountAsync(new IndexQuery(index.Collection, index.Name));
            }

            await QueriesAsync(store, arguments.Partitions, arguments.Documents, iterations: 2000, results, strict: true);
        }

        if (mode != "none")
        {
            // Two rounds each, alternating, keeping each kind's better median: the disk is noisy.
            for (var round = 0; round < 2; round++)
            {
                await PutsAsync(store, arguments, results, DurabilityMode.Relaxed, 1000);
                await PutsAsync(store, arguments, results, DurabilityMode.Relaxed, 1000, collection: "notes");
            }
        }

        await store.DisposeAsync();
        if (mode != "none")
        {
            store = JsonStore.Open(new JsonStoreOptions { Directory = arguments.Directory, Durability = DurabilityMode.Full, Indexes = withIndexes ? Data.Indexes : [] });
            await PutsAsync(store, arguments, results, DurabilityMode.Full, 100);
            await store.DisposeAsync();
        }

        Console.WriteLine(JsonSerializer.Serialize(results, ResultsContext.Default.DictionaryStringDouble));
    }

    private static async Task QueriesAsync(IStore store, int partitions, int documents, int iterations, Dictionary<string, double> results, bool strict)
    {
        var random = new Random(7);
        void Check(bool condition)
        {
            if (strict && !condition)
            {
                throw new InvalidOperationException("A query returned something unexpected.");
            }
        }


        // An equality lookup on the global unique index (across every partition).
        results["query_equal_unique_us"] = await MedianAsync(iterations, async () =>
        {
            var p = random.Next(partitions);
            var page = await store.QueryAsync(new IndexQuery(Data.Users, "email") { Equal = Data.Email(p, random.Next(documents)) });
            Check(page.Items.Count <= 1);
        });

        // A page of 100 of an integer range across partitions, from a random start.
        results["query_range_page100_us"] = await MedianAsync(iterations, async () =>
        {
            var from = random.Next(90);
            var page = await store.QueryAsync(new IndexQuery(Data.Users, "age") { From = (long)from, To = from + 10L, Limit = 100 });
            Check(page.Items.Count > 0);
        });

        // The same page, descending and continued from a token.
        var token = (await store.QueryAsync(new IndexQuery(Data.Users, "age") { From = 40L, To = 60L, Limit = 100, Descending = true })).ContinuationToken;
        results["query_range_next_page100_desc_us"] = await MedianAsync(iterations, async () =>
        {
            var page = await store.QueryAsync(new IndexQuery(Data.Users, "age") { From = 40L, To = 60L, Limit = 100, Descending = true, ContinuationToken = token });
            Check(page.Items.Count == 100);
        });

        // Counts: one tag (about 6% of the documents), an age range (20%), everything.
        results["count_tag_us"] = await MedianAsync(iterations, async () => Check(await store.CountAsync(new IndexQuery(Data.Users, "tags") { Equal = $"tag-{random.Next(Data.Tags)}" }) > 0));
        results["count_range_us"] = await MedianAsync(iterations, async () => Check(await store.CountAsync(new IndexQuery(Data.Users, "age") { From = 40L, To = 60L }) > 0));
        results["count_all_tags_us"] = await MedianAsync(iterations / 4, async () => Check(await store.CountAsync(new IndexQuery(Data.Users, "tags")) > 0));

        // In one partition.
        results["query_partition_tag_us"] = await MedianAsync(iterations, async () =>
            await store.QueryAsync(new IndexQuery(Data.Users, "tags") { Equal = $"tag-{random.Next(Data.Tags)}", Partition = Data.Partition(random.Next(partitions)) }));
    }

    private static async Task PutsAsync(IStore store, Arguments arguments, Dictionary<string, double> results, DurabilityMode durability, int count, string collection = Data.Users)
    {
        // Every put replaces a document with new values for every index (a new email too).
        var random = new Random(11 + s_round);
        var generation = (durability == DurabilityMode.Full ? 2_000_000 : 1_000_000) + (10_000 * s_round++);
        var targets = Enumerable.Range(0, count).Select(_ => (P: random.Next(arguments.Partitions), D: random.Next(arguments.Documents))).ToList();
        foreach (var (p, _) in targets)
        {
            await store.GetAsync(Data.Partition(p), Data.Users, Data.Key(0)); // loaded, as with indexes
        }

        var i = 0;
        var name = $"put_{durability.ToString().ToLowerInvariant()}{(collection == Data.Users ? string.Empty : "_unindexed")}_us";
        var median = await MedianAsync(count, async () =>
        {
            var (p, d) = targets[i++];
            await store.PutAsync(Data.Partition(p), collection, Data.Key(d), Data.Document(random, p, d, generation + i));
        });
        results[name] = results.TryGetValue(name, out var earlier) ? Math.Min(earlier, median) : median;
    }

    private static async Task<double> MedianAsync(int iterations, Func<Task> action)
    {
        var times = new double[iterations];
        for (var i = 0; i < iterations; i++)
        {
            var start = Stopwatch.GetTimestamp();
            await action();
            times[i] = Stopwatch.GetElapsedTime(start).TotalMicroseconds;
        }

        Array.Sort(times);
        return times[iterations / 2];
    }

    private static void Settle()
    {
        for (var i = 0; i < 3; i++)
        {
            GC.Collect(GC.MaxGeneration, GCCollectionMode.Forced, blocking: true, compacting: true);
            GC.WaitForPendingFinalizers();
        }
    }

    private static long WorkingSet()
    {
        using var process = Process.GetCurrentProcess();
        process.Refresh();
        return process.WorkingSet64;
    }
}

internal static class Report
{
    public static void Print(Dictionary<string, Dictionary<string, double>> results, Arguments arguments)
    {
        var bytes = Directory.GetFiles(Path.Combine(arguments.Directory, "partitions")).Sum(f => new FileInfo(f).Length);
        Console.WriteLine($"Partition files: {bytes / 1048576.0:F1} MiB on disk.");
        Console.WriteLine();
        Console.WriteLine("| open | time | managed heap after GC (added by the store) | working set (added) |");
        Console.WriteLine("|---|---|---|---|");
        foreach (var (mode, label) in new[] { ("none", "no indexes (partitions read lazily)"), ("none-read-all", "no indexes, then every partition read"), ("indexes", "3 indexes (every partition read at open)") })
        {
            var r = results[mode];
            var time = mode == "none-read-all" ? $"{r["open_ms"]:F0} ms + {r["read_all_ms"]:F0} ms reading" : $"{r["open_ms"]:F0} ms";
            Console.WriteLine($"| {label} | {time} | {r["heap_mb"]:F1} MiB | {r["working_set_mb"]:F1} MiB |");
        }

        var indexed = results["indexes"];
        Console.WriteLine();
        Console.WriteLine($"Entries: email {indexed["entries_email"]:N0}, age {indexed["entries_age"]:N0}, tags {indexed["entries_tags"]:N0}.");
        Console.WriteLine();
        Console.WriteLine("| query (3 indexes, median) | time |");
        Console.WriteLine("|---|---|");
        foreach (var (key, label) in new[]
        {
            ("query_equal_unique_us", "equality on the global unique index, all partitions"),
            ("query_range_page100_us", "page of 100 of an int64 range, all partitions"),
            ("query_range_next_page100_desc_us", "next page of 100 (token), descending"),
            ("count_tag_us", "count of one tag (~6% of documents)"),
            ("count_range_us", "count of an int64 range (~20%)"),
            ("count_all_tags_us", "count of a whole index (tags: 3 entries a document)"),
            ("query_partition_tag_us", "equality in one partition"),
        })
        {
            Console.WriteLine($"| {label} | {indexed[key]:F1} µs |");
        }

        var plain = results["none-read-all"];
        Console.WriteLine();
        Console.WriteLine("| put replacing a document (median) | no indexes | 3 indexes |");
        Console.WriteLine("|---|---|---|");
        Console.WriteLine($"| Relaxed durability | {plain["put_relaxed_us"]:F0} µs | {indexed["put_relaxed_us"]:F0} µs |");
        Console.WriteLine($"| Relaxed, to a collection without indexes | {plain["put_relaxed_unindexed_us"]:F0} µs | {indexed["put_relaxed_unindexed_us"]:F0} µs |");
        Console.WriteLine($"| Full durability | {plain["put_full_us"]:F0} µs | {indexed["put_full_us"]:F0} µs |");
    }
}

/// <summary>Prints the store's log lines (the index builds) to standard error.</summary>
internal sealed class ErrorLoggerFactory : Microsoft.Extensions.Logging.ILoggerFactory
{
    public Microsoft.Extensions.Logging.ILogger CreateLogger(string categoryName) => new Logger();

    public void AddProvider(Microsoft.Extensions.Logging.ILoggerProvider provider)
    {
    }

    public void Dispose()
    {
    }

    private sealed class Logger : Microsoft.Extensions.Logging.ILogger
    {
        public IDisposable? BeginScope<TState>(TState state)
            where TState : notnull => null;

        public bool IsEnabled(Microsoft.Extensions.Logging.LogLevel logLevel) => true;

        public void Log<TState>(Microsoft.Extensions.Logging.LogLevel logLevel, Microsoft.Extensions.Logging.EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
            => Console.Error.WriteLine("  log: " + formatter(state, exception));
    }
}

[System.Text.Json.Serialization.JsonSerializable(typeof(Dictionary<string, double>))]
internal sealed partial class ResultsContext : System.Text.Json.Serialization.JsonSerializerContext;
