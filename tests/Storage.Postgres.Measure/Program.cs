using System.Diagnostics;
using System.Globalization;
using Storage;
using Storage.Postgres;
using Storage.Testing.Postgres;

// Index costs of the PostgreSQL backend, measured against the test server. Numbers are wall-clock
// means over many sequential calls from one client (one round trip each, no concurrency).
var server = await PostgresTestServer.GetAsync();
Console.WriteLine($"server: {server.Source}");
IndexDefinition[] three =
[
    new("users", "email", "email", IndexValueType.String, unique: true, IndexScope.Global),
    new("users", "group", "group", IndexValueType.String),
    new("users", "age", "age", IndexValueType.Int64),
];

string Json(int n) => string.Create(CultureInfo.InvariantCulture, $$"""{"email":"u{{n}}@example.com","group":"g{{n % 10}}","age":{{n % 1000}},"name":"user number {{n}}","bio":"{{new string('x', 200)}}"}""");

async Task<PostgresStore> OpenAsync(string schema, IndexDefinition[] indexes)
    => await PostgresStore.OpenAsync(new PostgresStoreOptions { ConnectionString = server.ConnectionString, Schema = schema, Indexes = indexes });

async Task<double> TimeAsync(int count, Func<int, Task> action)
{
    for (var i = 0; i < Math.Min(200, count / 10); i++)
    {
        await action(-1 - i); // warm-up
    }

    var watch = Stopwatch.StartNew();
    for (var i = 0; i < count; i++)
    {
        await action(i);
    }

    return watch.Elapsed.TotalMicroseconds / count;
}

var schemas = new List<string>();
try
{
    // 1. Put cost: new documents, then overwrites that change every indexed value, one put at a time.
    // Relaxed durability takes the WAL flush (fsync) out of each commit, which dominates with Full.
    const int Puts = 3000;
    foreach (var durability in new[] { DurabilityMode.Full, DurabilityMode.Relaxed })
    {
        foreach (var (label, indexes) in new[] { ("0 indexes", Array.Empty<IndexDefinition>()), ("3 indexes", three), ("0 indexes", Array.Empty<IndexDefinition>()), ("3 indexes", three) })
        {
            var schema = PostgresTestServer.NewSchemaName("measureput");
            schemas.Add(schema);
            await using var store = await PostgresStore.OpenAsync(new PostgresStoreOptions { ConnectionString = server.ConnectionString, Schema = schema, Indexes = indexes, Durability = durability });
            var insert = await TimeAsync(Puts, i => store.PutAsync($"p{i % 100}", "users", $"k{i}", Json(i)).AsTask());
            var update = await TimeAsync(Puts, i => store.PutAsync($"p{i % 100}", "users", $"k{i}", Json(i + 1_000_003)).AsTask());
            var same = await TimeAsync(Puts, i => store.PutAsync($"p{i % 100}", "users", $"k{i}", Json(i + 1_000_003)).AsTask());
            Console.WriteLine($"put ({durability}), {label}: new document {insert:F0} µs, overwrite changing every indexed value {update:F0} µs, overwrite keeping them {same:F0} µs");
        }
    }

    // 2. 100,000 documents in 1,000 partitions, written without indexes, then opened with three: the build.
    var big = PostgresTestServer.NewSchemaName("measurebuild");
    schemas.Add(big);
    await using (var loader = await OpenAsync(big, []))
    {
        var load = Stopwatch.StartNew();
        for (var p = 0; p < 1000; p++)
        {
            await loader.CommitAsync($"p{p:D4}", [.. Enumerable.Range(0, 100).Select(k => WriteOperation.Put("users", $"k{k:D3}", Json((p * 100) + k)))]);
        }

        Console.WriteLine($"loaded 100,000 documents in {load.Elapsed.TotalSeconds:F1} s");
    }

    var open = Stopwatch.StartNew();
    await using (var unchanged = await OpenAsync(big, []))
    {
        Console.WriteLine($"open without index changes: {open.Elapsed.TotalMilliseconds:F0} ms");
    }

    open.Restart();
    await using var indexed = await OpenAsync(big, three);
    Console.WriteLine($"open building 3 indexes over 100,000 documents (300,000 entries): {open.Elapsed.TotalSeconds:F2} s");

    open.Restart();
    await using (var again = await OpenAsync(big, three))
    {
        Console.WriteLine($"open again, same declarations: {open.Elapsed.TotalMilliseconds:F0} ms");
    }

    // 3. Reads on the 100,000 documents.
    var random = new Random(42);
    var equality = await TimeAsync(2000, async _ =>
    {
        var page = await indexed.QueryAsync(new IndexQuery("users", "email") { Equal = $"u{random.Next(100_000)}@example.com" });
        if (page.Items.Count != 1)
        {
            throw new InvalidOperationException("expected one match");
        }
    });
    Console.WriteLine($"equality lookup (unique email, 1 match with its document): {equality:F0} µs");

    var range = await TimeAsync(1000, async _ =>
    {
        var from = random.Next(900);
        var page = await indexed.QueryAsync(new IndexQuery("users", "age") { From = (long)from, To = from + 50L, Limit = 100 });
        if (page.Items.Count != 100)
        {
            throw new InvalidOperationException("expected a full page");
        }
    });
    Console.WriteLine($"range page of 100 (age, with documents): {range:F0} µs");

    var partitionRange = await TimeAsync(1000, async _ =>
    {
        var page = await indexed.QueryAsync(new IndexQuery("users", "age") { Partition = $"p{random.Next(1000):D4}", From = 0L, Limit = 100 });
        if (page.Items.Count != 100)
        {
            throw new InvalidOperationException("expected a full page");
        }
    });
    Console.WriteLine($"range page of 100 in one partition: {partitionRange:F0} µs");

    var count = await TimeAsync(500, async _ =>
    {
        if (await indexed.CountAsync(new IndexQuery("users", "group") { Equal = $"g{random.Next(10)}" }) != 10_000)
        {
            throw new InvalidOperationException("expected 10,000 matches");
        }
    });
    Console.WriteLine($"count of 10,000 matches: {count:F0} µs");
}
finally
{
    foreach (var schema in schemas)
    {
        await server.DropSchemaAsync(schema);
    }
}
