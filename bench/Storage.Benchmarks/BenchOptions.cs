using System.Globalization;

namespace Storage.Benchmarks;

/// <summary>The command line. Full mode is the default; <c>--quick</c> finishes in under 6 minutes on 2 cores (about 1½ of them for the memory backend).</summary>
internal sealed record BenchOptions
{
    public const string Usage = """
        dotnet run -c Release --project bench/Storage.Benchmarks -- [options]

          --quick              3 runs of 1 s per figure, bulk load of 100,000 documents (under 6 minutes)
                               (default, full mode: 5 runs of 3 s, bulk load of 1,000,000 documents in 10,000 partitions)
          --backends LIST      memory,json,sqlite,postgres (default: every backend that can run here)
          --only LIST          scenario ids: read-hot,read-missing,list-100,index-lookup,put-1,put-16-distinct,put-16-shared,batch-100,append-1,bulk
                               (and export, transfer, archive: opt-in, run only when listed; transfer moves the bulk
                               load from each backend into each other by export + restore; cutover measures, for
                               each ordered pair, how long a live writer's writes are refused by StoreCutover)
          --runs N             measured runs per figure (median reported)
          --seconds S          length of one run
          --warmup S           warm-up per subject before the runs
          --bulk-docs N        documents in the bulk load (100 per partition)
          --bulk-writers N     concurrent callers of a store without IBulkImport, and of the raw JSON baseline (default 8)
          --dir PATH           where the data goes (default: a new directory under the system temp directory)
          --out FILE           also write the markdown table to FILE
          --max-load X         wait (polling every 30 s) until the 1-minute load average is at most X before starting
          --json-durability D  full (default) or relaxed: the JSON store's DurabilityMode (relaxed: its raw baseline
                               skips the directory fsync too, as the store does)
        Environment: STORAGE_BENCH_POSTGRES=<Npgsql connection string> to measure an existing PostgreSQL server.
        """;

    public bool Quick { get; init; }

    public IReadOnlyList<string> Backends { get; init; } = [];

    public IReadOnlyList<string> Only { get; init; } = [];

    public int Runs { get; init; } = 5;

    public TimeSpan RunLength { get; init; } = TimeSpan.FromSeconds(3);

    public TimeSpan Warmup { get; init; } = TimeSpan.FromSeconds(2);

    public int BulkDocs { get; init; } = 1_000_000;

    public int BulkRuns { get; init; } = 3;

    public int BulkWriters { get; init; } = 8;

    public string? Directory { get; init; }

    public string? Out { get; init; }

    public double? MaxLoad { get; init; }

    public DurabilityMode JsonDurability { get; init; } = DurabilityMode.Full;

    public const int DocsPerPartition = 100;

    public int BulkPartitions => Math.Max(1, BulkDocs / DocsPerPartition);

    public bool Includes(string scenarioId) => Only.Count == 0 || Only.Contains(scenarioId, StringComparer.Ordinal);

    public static BenchOptions Parse(string[] args)
    {
        var options = args.Contains("--quick", StringComparer.Ordinal)
            ? new BenchOptions { Quick = true, Runs = 3, RunLength = TimeSpan.FromSeconds(1), Warmup = TimeSpan.FromSeconds(0.5), BulkDocs = 100_000, BulkRuns = 3 }
            : new BenchOptions();
        for (var i = 0; i < args.Length; i++)
        {
            string Value() => i + 1 < args.Length ? args[++i] : throw new ArgumentException($"{args[i]} needs a value.");
            double Number() => double.Parse(Value(), NumberStyles.Float, CultureInfo.InvariantCulture);
            IReadOnlyList<string> List() => Value().Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
            options = args[i] switch
            {
                "--quick" => options,
                "--backends" => options with { Backends = List() },
                "--only" => options with { Only = List() },
                "--runs" => (int)Number() is var runs ? options with { Runs = runs, BulkRuns = runs } : options,
                "--seconds" => options with { RunLength = TimeSpan.FromSeconds(Number()) },
                "--warmup" => options with { Warmup = TimeSpan.FromSeconds(Number()) },
                "--bulk-docs" => options with { BulkDocs = (int)Number() },
                "--bulk-writers" => options with { BulkWriters = (int)Number() },
                "--dir" => options with { Directory = Value() },
                "--out" => options with { Out = Value() },
                "--max-load" => options with { MaxLoad = Number() },
                "--json-durability" => options with { JsonDurability = Durability(Value()) },
                _ => throw new ArgumentException($"Unknown option {args[i]}.\n\n{Usage}"),
            };
        }

        return options;
    }

    private static DurabilityMode Durability(string text) => text switch
    {
        "full" => DurabilityMode.Full,
        "relaxed" => DurabilityMode.Relaxed,
        _ => throw new ArgumentException($"--json-durability must be full or relaxed, not '{text}'."),
    };
}
