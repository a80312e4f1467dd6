using System.Diagnostics;
using System.Globalization;
using Storage;
using Storage.Sqlite;

/// <summary>
/// Not a test: measures what secondary indexes cost on the SQLite backend (put with 0 and 3 indexes,
/// equality lookup, a range page of 100, a count of 10,000 matches, the build at open for 100,000
/// documents) and prints one line per measurement. Times are wall-clock on the machine it runs on.
/// </summary>
internal static class IndexBench
{
    private const int Documents = 100_000;
    private const int Partitions = 100;

    private static readonly IndexDefinition[] s_three =
    [
        new("users", "email", "email", IndexValueType.String, unique: true, IndexScope.Global),
        new("users", "age", "age", IndexValueType.Int64),
        new("users", "group", "group", IndexValueType.String),
    ];

    public static async Task<int> RunAsync(string directory)
    {
        Directory.CreateDirectory(directory);
        using (var connection = new Microsoft.Data.Sqlite.SqliteConnection("Data Source=:memory:"))
        {
            connection.Open();
            Console.WriteLine($"SQLite {connection.ServerVersion}, {Environment.ProcessorCount} cores, {directory}");
        }

        // Puts one at a time (each its own commit), on two files side by side, 0 and 3 indexes, in
        // alternating blocks so both see the same disk weather; the median block is reported.
        foreach (var durability in new[] { DurabilityMode.Full, DurabilityMode.Relaxed })
        {
            var stores = new List<(int Indexes, SqliteStore Store)>();
            foreach (var indexes in new[] { Array.Empty<IndexDefinition>(), s_three })
            {
                var path = Path.Combine(directory, $"puts-{durability}-{indexes.Length}.db");
                Delete(path);
                stores.Add((indexes.Length, SqliteStore.Open(new SqliteStoreOptions { Path = path, Indexes = indexes, Durability = durability })));
            }

            const int Blocks = 10;
            const int PerBlock = 200;
            var times = stores.ToDictionary(s => s.Indexes, _ => (Insert: new List<double>(), Update: new List<double>(), Same: new List<double>()));
            for (var block = 0; block < Blocks; block++)
            {
                foreach (var (count, store) in stores)
                {
                    var first = block * PerBlock;
                    times[count].Insert.Add(await Time(i => store.PutAsync($"p{i % 10}", "users", $"u{i}", Document(i))));
                    times[count].Update.Add(await Time(i => store.PutAsync($"p{i % 10}", "users", $"u{i}", Document(i + 2_000_000))));
                    times[count].Same.Add(await Time(i => store.PutAsync($"p{i % 10}", "users", $"u{i}", Document(i + 2_000_000).Replace("User number", "User no.", StringComparison.Ordinal))));

                    async Task<double> Time(Func<int, ValueTask<long>> put)
                    {
                        var watch = Stopwatch.StartNew();
                        for (var i = first; i < first + PerBlock; i++)
                        {
                            await put(i);
                        }

                        return watch.Elapsed.TotalMilliseconds * 1000 / PerBlock;
                    }
                }
            }

            foreach (var (count, store) in stores)
            {
                var (insert, update, same) = times[count];
                Console.WriteLine(string.Create(
                    CultureInfo.InvariantCulture,
                    $"{durability} durability, {count} indexes, median µs per put of {Blocks} blocks of {PerBlock}: new document {Median(insert):F0}, update changing every indexed value {Median(update):F0}, update keeping them {Median(same):F0}"));
                await store.DisposeAsync();
            }
        }

        // 100,000 documents in 100 partitions, written without indexes, then opened with three.
        var big = Path.Combine(directory, "big.db");
        Delete(big);
        await using (var store = SqliteStore.Open(new SqliteStoreOptions { Path = big, Durability = DurabilityMode.Relaxed }))
        {
            for (var start = 0; start < Documents; start += 500)
            {
                var batch = Enumerable.Range(start, 500).Select(i => WriteOperation.Put("users", $"u{i:D6}", Document(i))).ToList();
                await store.CommitAsync($"p{start / 500 % Partitions:D3}", batch);
            }
        }

        var open = Stopwatch.StartNew();
        await using (var store = SqliteStore.Open(new SqliteStoreOptions { Path = big, Indexes = s_three }))
        {
            Console.WriteLine($"open building 3 indexes over {Documents:N0} documents: {open.Elapsed.TotalMilliseconds:F0} ms");
        }

        open.Restart();
        await using (var store = SqliteStore.Open(new SqliteStoreOptions { Path = big, Indexes = s_three }))
        {
            Console.WriteLine($"open with the same 3 indexes (nothing to build): {open.Elapsed.TotalMilliseconds:F1} ms");
            Console.WriteLine($"file: {new FileInfo(big).Length / 1024.0 / 1024.0:F1} MiB + WAL {new FileInfo(big + "-wal").Length / 1024.0 / 1024.0:F1} MiB");

            var random = new Random(1);
            await Measure("equality lookup (unique email, across partitions)", 10_000, async () =>
            {
                var page = await store.QueryAsync(new IndexQuery("users", "email") { Equal = $"user{random.Next(Documents)}@example.com" });
                Check(page.Items.Count == 1);
            });
            await Measure("equality lookup (group, one partition, limit 10)", 10_000, async () =>
            {
                var page = await store.QueryAsync(new IndexQuery("users", "group") { Equal = $"g{random.Next(10)}", Partition = $"p{random.Next(Partitions):D3}", Limit = 10 });
                Check(page.Items.Count == 10);
            });
            await Measure("range page of 100 (age 20..30, across partitions)", 2_000, async () =>
            {
                var page = await store.QueryAsync(new IndexQuery("users", "age") { From = 20L, To = 30L, Limit = 100 });
                Check(page.Items.Count == 100);
            });
            string? token = null;
            await Measure("range page of 100, next pages (continuation token)", 2_000, async () =>
            {
                var page = await store.QueryAsync(new IndexQuery("users", "age") { From = 20L, To = 30L, Limit = 100, ContinuationToken = token });
                token = page.ContinuationToken;
                Check(page.Items.Count == 100);
            });
            await Measure("count over 10,000 matches (group = g3, across partitions)", 200, async () =>
                Check(await store.CountAsync(new IndexQuery("users", "group") { Equal = "g3" }) == Documents / 10));
            await Measure("count over 10,000 matches (age 10..20)", 200, async () =>
                Check(await store.CountAsync(new IndexQuery("users", "age") { From = 10L, To = 20L }) == Documents / 10));
        }

        return 0;
    }

    // Ten groups and a hundred ages, so a group matches 10% of the documents and ten ages too.
    private static string Document(int i) => string.Create(
        CultureInfo.InvariantCulture,
        $$"""{"email":"user{{i}}@example.com","age":{{i % 100}},"group":"g{{i % 10}}","name":"User number {{i}}","tags":["a","b"]}""");

    private static double Median(List<double> values) => values.Order().ElementAt(values.Count / 2);

    private static async Task Measure(string what, int times, Func<Task> action)
    {
        for (var i = 0; i < Math.Min(times / 10, 100); i++)
        {
            await action();
        }

        var watch = Stopwatch.StartNew();
        for (var i = 0; i < times; i++)
        {
            await action();
        }

        Report(what, watch.Elapsed, times);
    }

    private static void Report(string what, TimeSpan elapsed, int times)
        => Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"{what}: {elapsed.TotalMilliseconds * 1000 / times:F1} µs each ({times} in {elapsed.TotalMilliseconds:F0} ms)"));

    private static void Check(bool condition)
    {
        if (!condition)
        {
            throw new InvalidOperationException("The benchmark read an unexpected result.");
        }
    }

    private static void Delete(string path)
    {
        foreach (var file in new[] { path, path + "-wal", path + "-shm" })
        {
            File.Delete(file);
        }
    }
}
