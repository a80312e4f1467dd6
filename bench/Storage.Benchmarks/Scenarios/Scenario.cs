using System.Collections.Concurrent;
using System.Globalization;
using Storage.Benchmarks.Drivers;

namespace Storage.Benchmarks.Scenarios;

/// <summary>
/// A steady-state workload, written once against <see cref="IDriver"/>: the same code measures the
/// store (every backend) and the raw baseline. Subclasses say how to seed and what one call of one
/// caller does.
/// </summary>
internal abstract class Scenario
{
    /// <summary>A short identifier, used by targets and by <c>--only</c>.</summary>
    public abstract string Id { get; }

    /// <summary>The row title in the table.</summary>
    public abstract string Title { get; }

    /// <summary>Concurrent callers (dedicated threads).</summary>
    public virtual int Callers => 1;

    /// <summary>What the figure counts: "ops/s", or "rows/s" for batches.</summary>
    public virtual string Unit => "ops/s";

    public virtual bool Reads => false;

    /// <summary>The indexes the store is opened with (none but for the index lookup, so no other write pays for one).</summary>
    public virtual IReadOnlyList<IndexDefinition> Indexes => [];

    public abstract ValueTask SeedAsync(IDriver driver);

    /// <summary>Creates the worker of caller <paramref name="caller"/>: one call does some operations and returns how many succeeded.</summary>
    public abstract Func<ValueTask<int>> CreateWorker(IDriver driver, int caller);

    /// <summary>Notes for the table collected while running (conflicts, say), or <see langword="null"/>.</summary>
    public virtual string? Notes(IDriver driver) => null;
}

/// <summary>Point reads of documents that exist (hot: the data set fits in memory), random keys over 10 partitions of 1,000.</summary>
internal sealed class PointReadScenario(bool missing) : Scenario
{
    private const int Partitions = 10;
    private const int PerPartition = 1000;
    private const int Burst = 32;

    public override string Id => missing ? "read-missing" : "read-hot";

    public override string Title => missing ? "Point read of a missing key" : "Point read (hot)";

    public override bool Reads => true;

    public override async ValueTask SeedAsync(IDriver driver)
    {
        for (var p = 0; p < Partitions; p++)
        {
            await driver.SeedAsync(Data.Partition("r", p), Data.Docs(0, PerPartition, p));
        }
    }

    public override Func<ValueTask<int>> CreateWorker(IDriver driver, int caller)
    {
        var random = new Random(caller + 1);
        var targets = Enumerable.Range(0, 4096)
            .Select(_ => (Data.Partition("r", random.Next(Partitions)), missing ? "m" + Data.Key(random.Next(PerPartition))[1..] : Data.Key(random.Next(PerPartition))))
            .ToArray();
        var next = 0;
        return async () =>
        {
            for (var i = 0; i < Burst; i++)
            {
                var (partition, key) = targets[next++ & (targets.Length - 1)];
                if (await driver.GetAsync(partition, key) == missing)
                {
                    throw new InvalidOperationException($"{driver.Name}: {partition}/{key} should {(missing ? "not " : string.Empty)}exist.");
                }
            }

            return Burst;
        };
    }
}

/// <summary>
/// Index lookups: the one document whose unique <c>email</c> matches, found across 10 partitions of
/// 1,000 documents (random e-mails), read with its value and metadata.
/// </summary>
internal sealed class IndexLookupScenario : Scenario
{
    private const int Partitions = 10;
    private const int PerPartition = 1000;
    private const int Burst = 32;

    public override string Id => "index-lookup";

    public override string Title => "Index lookup (unique e-mail, across partitions)";

    public override bool Reads => true;

    public override IReadOnlyList<IndexDefinition> Indexes => [Data.EmailIndex];

    public override async ValueTask SeedAsync(IDriver driver)
    {
        for (var p = 0; p < Partitions; p++)
        {
            await driver.SeedIndexedAsync(Data.Partition("i", p), Data.People(p, PerPartition));
        }
    }

    public override Func<ValueTask<int>> CreateWorker(IDriver driver, int caller)
    {
        var random = new Random(caller + 1);
        var emails = Enumerable.Range(0, 4096).Select(_ => Data.Email(random.Next(Partitions), random.Next(PerPartition))).ToArray();
        var next = 0;
        return async () =>
        {
            for (var i = 0; i < Burst; i++)
            {
                var email = emails[next++ & (emails.Length - 1)];
                if (!await driver.FindByEmailAsync(email))
                {
                    throw new InvalidOperationException($"{driver.Name}: no document has the e-mail {email}.");
                }
            }

            return Burst;
        };
    }
}

/// <summary>A listing of 100 documents by prefix in a partition of 1,000 (ten different prefixes in turn).</summary>
internal sealed class ListScenario : Scenario
{
    private const int PerPartition = 1000;
    private const int Page = 100;
    private static readonly string s_partition = Data.Partition("l", 0);

    public override string Id => "list-100";

    public override string Title => "List 100 documents by prefix";

    public override bool Reads => true;

    public override ValueTask SeedAsync(IDriver driver) => driver.SeedAsync(s_partition, Data.Docs(0, PerPartition));

    public override Func<ValueTask<int>> CreateWorker(IDriver driver, int caller)
    {
        // Keys are k000000…k000999: the prefix k0001 selects k000100…k000199.
        var prefixes = Enumerable.Range(0, PerPartition / Page).Select(i => Data.Key(i * Page)[..5]).ToArray();
        var next = 0;
        return async () =>
        {
            var prefix = prefixes[next++ % prefixes.Length];
            var count = await driver.ListAsync(s_partition, prefix, Page);
            return count == Page ? 1 : throw new InvalidOperationException($"{driver.Name}: listing {prefix} gave {count} documents, not {Page}.");
        };
    }
}

/// <summary>
/// Durable conditional puts (must match the version last seen) in one partition of 100 documents:
/// one caller at a time, or 16 concurrent callers on 16 different keys or on 4 shared keys (where
/// a refused put re-reads the version it was told and tries again; only successful puts count).
/// </summary>
internal sealed class ConditionalPutScenario(int callers, int keys) : Scenario
{
    private const int PerPartition = 100;
    private static readonly string s_partition = Data.Partition("w", 0);
    private readonly ConcurrentDictionary<IDriver, Attempts> _attempts = new();

    public override string Id => callers == 1 ? "put-1" : keys >= callers ? "put-16-distinct" : "put-16-shared";

    public override string Title => callers == 1
        ? "Durable conditional put, one at a time"
        : keys >= callers ? $"{callers} concurrent durable conditional puts, different keys" : $"{callers} concurrent durable conditional puts, {keys} shared keys";

    public override int Callers => callers;

    public override ValueTask SeedAsync(IDriver driver) => driver.SeedAsync(s_partition, Data.Docs(0, PerPartition));

    public override Func<ValueTask<int>> CreateWorker(IDriver driver, int caller)
    {
        var attempts = _attempts.GetOrAdd(driver, _ => new Attempts(callers));
        var key = Data.Key(caller % keys);
        long? known = null;
        var next = caller;
        return async () =>
        {
            known ??= await driver.GetVersionAsync(s_partition, key);
            var outcome = await driver.PutAsync(s_partition, key, Data.Value(next++), known.Value);
            known = outcome.Version;
            if (outcome.Written)
            {
                Interlocked.Increment(ref attempts.Puts);
                Interlocked.Increment(ref attempts.PerCaller[caller]);
                return 1;
            }

            if (keys >= callers)
            {
                throw new InvalidOperationException($"{driver.Name}: a put on a key no one else writes conflicted.");
            }

            Interlocked.Increment(ref attempts.Conflicts);
            return 0;
        };
    }

    public override string? Notes(IDriver driver)
    {
        if (callers == 1 || !_attempts.TryGetValue(driver, out var attempts) || attempts.Puts == 0)
        {
            return null;
        }

        // Fairness: callers that never got a put through were starved by the others.
        var served = attempts.PerCaller.Count(n => n > 0);
        var share = 100.0 * attempts.Conflicts / (attempts.Puts + attempts.Conflicts);
        var conflicts = keys >= callers ? string.Empty : $"{(share is > 0 and < 1 ? "<1" : share.ToString("F0", CultureInfo.InvariantCulture))}% of attempts conflicted, ";
        return $"{conflicts}{served} of {callers} callers got puts through";
    }

    private sealed class Attempts(int callers)
    {
        public long Puts;
        public long Conflicts;
        public readonly long[] PerCaller = new long[callers];
    }
}

/// <summary>A batch of 100 unconditional puts replacing the 100 documents of a partition, one durable commit per batch.</summary>
internal sealed class BatchScenario : Scenario
{
    private const int Size = 100;
    private static readonly string s_partition = Data.Partition("b", 0);

    public override string Id => "batch-100";

    public override string Title => "Batch of 100 puts (rows/s)";

    public override string Unit => "rows/s";

    public override ValueTask SeedAsync(IDriver driver) => driver.SeedAsync(s_partition, Data.Docs(0, Size));

    public override Func<ValueTask<int>> CreateWorker(IDriver driver, int caller)
    {
        var batches = Enumerable.Range(1, 4).Select(seed => Data.Docs(0, Size, seed)).ToArray();
        var next = 0;
        return async () =>
        {
            await driver.PutBatchAsync(s_partition, batches[next++ & 3]);
            return Size;
        };
    }
}

/// <summary>
/// One caller appends one 200-byte event at a time, durably, at the version it expects (optimistic
/// concurrency), to 100 streams of 10 events, each in a partition of its own, in turn: each commit
/// is one event, and a partition grows slowly (the JSON backend rewrites its partition's file).
/// </summary>
internal sealed class AppendScenario : Scenario
{
    private const int Streams = 100;
    private const int Seeded = 10;
    private const string Stream = "orders";

    // Each driver's stream versions, kept across runs (one caller, so no locking).
    private readonly ConcurrentDictionary<IDriver, long[]> _versions = new();

    public override string Id => "append-1";

    public override string Title => "Durable stream append (one event, expected version), one at a time";

    public override async ValueTask SeedAsync(IDriver driver)
    {
        var versions = _versions.GetOrAdd(driver, _ => new long[Streams]);
        for (var s = 0; s < Streams; s++)
        {
            for (var e = 0; e < Seeded; e++)
            {
                await AppendAsync(driver, versions, s);
            }
        }
    }

    public override Func<ValueTask<int>> CreateWorker(IDriver driver, int caller)
    {
        var versions = _versions[driver];
        var next = 0;
        return async () =>
        {
            await AppendAsync(driver, versions, next++ % Streams);
            return 1;
        };
    }

    private static async ValueTask AppendAsync(IDriver driver, long[] versions, int stream)
    {
        if (!await driver.AppendAsync(Data.Partition("e", stream), Stream, Data.Value(stream + (int)versions[stream]), versions[stream]))
        {
            throw new InvalidOperationException($"{driver.Name}: an append to a stream no one else writes conflicted.");
        }

        versions[stream]++;
    }
}
