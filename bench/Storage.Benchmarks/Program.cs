using System.Diagnostics;
using System.Globalization;
using Storage;
using Storage.Benchmarks;
using Storage.Benchmarks.Backends;
using Storage.Benchmarks.Drivers;
using Storage.Benchmarks.Harness;
using Storage.Benchmarks.Scenarios;

BenchOptions options;
try
{
    options = BenchOptions.Parse(args);
}
catch (Exception e) when (e is ArgumentException or FormatException)
{
    Console.Error.WriteLine(e.Message);
    Console.Error.WriteLine(BenchOptions.Usage);
    return 2;
}

if (options.MaxLoad is { } maxLoad)
{
    while (Machine.Load1() > maxLoad)
    {
        Console.Error.WriteLine($"Load average {Machine.LoadAverage()} is above {maxLoad}; waiting for a quieter machine…");
        Thread.Sleep(TimeSpan.FromSeconds(30));
    }
}

Callers.Prepare(Math.Max(16, options.BulkWriters));

// Created by the backends as they need it, and removed at the end unless --dir named it.
var root = options.Directory ?? Path.Combine(Path.GetTempPath(), "storage-bench-" + Guid.NewGuid().ToString("N")[..8]);
var loadAtStart = Machine.LoadAverage();
var started = DateTimeOffset.UtcNow;

var backends = new List<Backend>();
bool Wanted(string name) => options.Backends.Count == 0 || options.Backends.Contains(name, StringComparer.OrdinalIgnoreCase);
if (Wanted("memory"))
{
    backends.Add(new InMemoryBackend());
}

if (Wanted("json"))
{
    backends.Add(new JsonBackend(root, options.JsonDurability));
}

if (Wanted("sqlite"))
{
    backends.Add(new SqliteBackend(root));
}

if (Wanted("postgres"))
{
    var (postgres, problem) = await PostgresBackend.StartAsync();
    if (postgres is not null)
    {
        backends.Add(postgres);
    }
    else if (options.Backends.Count > 0)
    {
        Console.Error.WriteLine("PostgreSQL cannot be measured here: " + problem);
        return 2;
    }
    else
    {
        Console.Error.WriteLine("PostgreSQL skipped: " + problem);
    }
}

Scenario[] scenarios =
[
    new PointReadScenario(missing: false),
    new PointReadScenario(missing: true),
    new ListScenario(),
    new IndexLookupScenario(),
    new ConditionalPutScenario(callers: 1, keys: 1),
    new ConditionalPutScenario(callers: 16, keys: 16),
    new ConditionalPutScenario(callers: 16, keys: 4),
    new BatchScenario(),
    new AppendScenario(),
];

var results = new Results();
try
{
    foreach (var backend in backends.Where(b => b.RawAnswersAsStore))
    {
        await using var subjects = await backend.OpenAsync("agreement", [Data.EmailIndex]);
        var calls = await Agreement.CheckAsync(subjects.Store, subjects.Raw);
        Console.Error.WriteLine($"{backend.Name}: the raw baseline ({backend.RawName}) answered {calls} calls as the store did.");
    }

    foreach (var backend in backends)
    {
        foreach (var scenario in scenarios.Where(s => options.Includes(s.Id)))
        {
            results.Rows.Add(await RunScenarioAsync(backend, scenario));
        }
    }

    if (options.Includes("bulk"))
    {
        foreach (var backend in backends)
        {
            results.Rows.Add(await RunBulkAsync(backend));
        }
    }

    if (options.Only.Contains("export", StringComparer.Ordinal))
    {
        foreach (var backend in backends)
        {
            results.Rows.Add(await RunExportAsync(backend));
        }
    }

    if (options.Only.Contains("archive", StringComparer.Ordinal))
    {
        foreach (var backend in backends)
        {
            results.Rows.AddRange(await RunArchiveAsync(backend));
        }
    }

    if (options.Only.Contains("cutover", StringComparer.Ordinal))
    {
        foreach (var source in backends)
        {
            foreach (var destination in backends.Where(b => b != source))
            {
                results.Rows.Add(await RunCutoverAsync(source, destination));
            }
        }
    }

    if (options.Only.Contains("migrate", StringComparer.Ordinal))
    {
        foreach (var source in backends)
        {
            results.Rows.AddRange(await RunMigrateAsync(source, backends.Where(b => b != source).ToList()));
        }
    }

    if (options.Only.Contains("transfer", StringComparer.Ordinal))
    {
        foreach (var source in backends)
        {
            results.Rows.AddRange(await RunTransferAsync(source, backends.Where(b => b != source).ToList()));
        }
    }
}
finally
{
    foreach (var backend in backends)
    {
        await backend.DisposeAsync();
    }

    if (options.Directory is null && Directory.Exists(root))
    {
        Directory.Delete(root, recursive: true);
    }
}

string[] header =
[
    $"Command: `dotnet run -c Release --project bench/Storage.Benchmarks --{(args.Length > 0 ? " " + string.Join(' ', args) : string.Empty)}`",
    $"Mode: {(options.Quick ? "quick" : "full")}; {options.Runs} runs of {options.RunLength.TotalSeconds:0.#} s per figure after a {options.Warmup.TotalSeconds:0.#} s warm-up, store and raw runs interleaved; medians (± half the range of the runs); bulk load: {options.BulkDocs:N0} documents of {Data.ValueBytes} bytes in {options.BulkPartitions:N0} partitions, {options.BulkRuns} runs",
    .. Machine.Describe(root),
    .. backends.Select(b => b.Describe()),
    $"Load average (1, 5, 15 min) at start: {loadAtStart}; at end: {Machine.LoadAverage()}; {(DateTimeOffset.UtcNow - started).TotalMinutes:F1} minutes, {started:yyyy-MM-dd HH:mm} UTC",
];
var markdown = Report.Markdown(results, header);
Console.WriteLine(markdown);
if (options.Out is { } outFile)
{
    await File.WriteAllTextAsync(outFile, markdown);
}

return 0;

async Task<Row> RunScenarioAsync(Backend backend, Scenario scenario)
{
    await using var subjects = await backend.OpenAsync(scenario.Id, scenario.Indexes);
    await scenario.SeedAsync(subjects.Store);
    IDriver? raw = scenario.Reads && !subjects.Raw.SupportsReads ? null : subjects.Raw;
    if (raw is not null)
    {
        await scenario.SeedAsync(raw);
    }

    var drivers = raw is null ? new IDriver[] { subjects.Store } : [subjects.Store, raw];
    var series = drivers.Select(d => new Series(d.Name)).ToArray();
    foreach (var driver in drivers)
    {
        await Meter.TimedAsync(scenario.Callers, caller => scenario.CreateWorker(driver, caller), options.Warmup);
    }

    // Interleaved, so that a change in the machine's load touches the store and its baseline alike.
    for (var run = 0; run < options.Runs; run++)
    {
        for (var i = 0; i < drivers.Length; i++)
        {
            series[i].Runs.Add(await Meter.TimedAsync(scenario.Callers, caller => scenario.CreateWorker(drivers[i], caller), options.RunLength));
        }
    }

    var row = new Row(scenario.Id, scenario.Title, scenario.Unit, backend.Name, series[0], raw is null ? null : series[1]);
    for (var i = 0; i < drivers.Length; i++)
    {
        if (scenario.Notes(drivers[i]) is { } note)
        {
            row.Notes.Add($"{(i == 0 ? "store" : "raw")}: {note}");
        }
    }

    Progress(row);
    return row;
}

async Task<Row> RunBulkAsync(Backend backend)
{
    var store = new Series("Storage");
    var raw = new Series(backend.RawName);

    // Warm-up: a small load with each subject, discarded, so that neither pays for compiling the code they share.
    await BulkRunAsync(backend, "bulk-warmup", Math.Max(200, options.BulkPartitions / 20));
    for (var run = 0; run < options.BulkRuns; run++)
    {
        var (storeRun, rawRun) = await BulkRunAsync(backend, "bulk-" + run.ToString(CultureInfo.InvariantCulture), options.BulkPartitions);
        store.Runs.Add(storeRun);
        raw.Runs.Add(rawRun);
    }

    var row = new Row("bulk", $"Bulk load, {options.BulkDocs:N0} documents in {options.BulkPartitions:N0} partitions (docs/s)", "docs/s", backend.Name, store, raw);
    row.Notes.Add($"worst run: peak RSS growth: store {Report.Bytes(store.PeakWorkingSetGrowth ?? 0)}, raw {Report.Bytes(raw.PeakWorkingSetGrowth ?? 0)}; managed heap kept by the open store after the load: {Report.Bytes(store.RetainedHeap ?? 0)}");
    Progress(row);
    return row;
}

// One run on a fresh, empty store and baseline, in a method of its own so that nothing of an
// earlier run is still reachable when the next one measures its memory. The store loads first:
// the raw JSON baseline writes the bytes of the files the store wrote.
async Task<(Run Store, Run Raw)> BulkRunAsync(Backend backend, string label, int partitions)
{
    await using var subjects = await backend.OpenAsync(label);
    var storeRun = await Meter.JobAsync(() => subjects.Store.BulkLoadAsync(Data.Stream("d", partitions, BenchOptions.DocsPerPartition), options.BulkWriters));
    var rawRun = await Meter.JobAsync(() => subjects.Raw.BulkLoadAsync(Data.Stream("d", partitions, BenchOptions.DocsPerPartition), options.BulkWriters));
    return (storeRun, rawRun);
}

// Export with digests of a store holding the bulk load's documents (issue 18): the store's read side only, no baseline yet.
async Task<Row> RunExportAsync(Backend backend)
{
    await using var subjects = await backend.OpenAsync("export");
    await subjects.Store.BulkLoadAsync(Data.Stream("d", options.BulkPartitions, BenchOptions.DocsPerPartition), options.BulkWriters);
    var store = new Series("Storage");
    await Meter.JobAsync(() => subjects.Store.ExportAsync());
    for (var run = 0; run < options.BulkRuns; run++)
    {
        store.Runs.Add(await Meter.JobAsync(() => subjects.Store.ExportAsync()));
    }

    var row = new Row("export", $"Export with digests, {options.BulkDocs:N0} documents in {options.BulkPartitions:N0} partitions (docs/s)", "docs/s", backend.Name, store, null);
    row.Notes.Add($"worst run: peak RSS growth {Report.Bytes(store.PeakWorkingSetGrowth ?? 0)}");
    Progress(row);
    return row;
}

// The portable archive (issue 18): written from a store holding the bulk load's documents into a file, against the
// export with digests alone (what the archive adds: encoding, gzip, the file); then restored from the file into a fresh
// store of the same backend (a verifying pass, then the restore), with no baseline.
async Task<IEnumerable<Row>> RunArchiveAsync(Backend backend)
{
    Directory.CreateDirectory(root);
    var path = Path.Combine(root, $"archive-{backend.Name}.stgz");
    long bytes, encoded;
    var write = new Series("Storage");
    var export = new Series("export alone");
    await using (var subjects = await backend.OpenAsync("archive"))
    {
        await subjects.Store.BulkLoadAsync(Data.Stream("d", options.BulkPartitions, BenchOptions.DocsPerPartition), options.BulkWriters);
        await Meter.JobAsync(() => subjects.Store.ExportAsync());
        (_, encoded, bytes) = await subjects.Store.ArchiveAsync(path);
        for (var run = 0; run < options.BulkRuns; run++)
        {
            export.Runs.Add(await Meter.JobAsync(() => subjects.Store.ExportAsync()));
            write.Runs.Add(await Meter.JobAsync(async () => (await subjects.Store.ArchiveAsync(path)).Documents));
        }
    }

    var title = $"{options.BulkDocs:N0} documents in {options.BulkPartitions:N0} partitions, {Report.Bytes(encoded)} encoded, {Report.Bytes(bytes)} archive (docs/s)";
    var writeRow = new Row("archive-write", $"Archive write to a file vs export with digests, {title}", "docs/s", backend.Name, write, export);
    writeRow.Notes.Add($"{encoded / 1e6 / (options.BulkDocs / write.OpsPerSecond):F1} MB/s encoded, {bytes / 1e6 / (options.BulkDocs / write.OpsPerSecond):F1} MB/s compressed written; worst run: peak RSS growth {Report.Bytes(write.PeakWorkingSetGrowth ?? 0)}");
    Progress(writeRow);

    var restore = new Series("Storage");
    try
    {
        for (var run = 0; run < options.BulkRuns; run++)
        {
            await using var destination = await backend.OpenAsync($"archive-restore-{run}");
            restore.Runs.Add(await Meter.JobAsync(() => destination.Store.RestoreArchiveAsync(path)));
        }
    }
    catch (Exception e) when (e is NotImplementedException or NotSupportedException)
    {
        Console.Error.WriteLine($"[{DateTimeOffset.Now:HH:mm:ss}] {backend.Name,-10} archive-restore  skipped: {e.Message}");
        return [writeRow];
    }

    var restoreRow = new Row("archive-restore", $"Archive restore from a file into an empty store, {title}", "docs/s", backend.Name, restore, null);
    restoreRow.Notes.Add($"{encoded / 1e6 / (options.BulkDocs / restore.OpsPerSecond):F1} MB/s encoded restored (read twice: verified, then restored); worst run: peak RSS growth {Report.Bytes(restore.PeakWorkingSetGrowth ?? 0)}");
    Progress(restoreRow);
    return [writeRow, restoreRow];
}

// Export + restore from one backend into each other (issue 18): against the destination's own bulk
// import of the same documents, in the same run (target: at least 0.5 ×), runs interleaved.
async Task<List<Row>> RunTransferAsync(Backend sourceBackend, IReadOnlyList<Backend> destinations)
{
    await using var source = await sourceBackend.OpenAsync("transfer-source");
    await source.Store.BulkLoadAsync(Data.Stream("d", options.BulkPartitions, BenchOptions.DocsPerPartition), options.BulkWriters);
    var rows = new List<Row>();
    foreach (var destination in destinations)
    {
        var transfer = new Series("export + restore");
        var bulk = new Series("bulk import");
        await TransferRunAsync(destination, source.Store, "transfer-warmup", transfer: null, bulk: null);
        for (var run = 0; run < options.BulkRuns; run++)
        {
            await TransferRunAsync(destination, source.Store, "transfer-" + run.ToString(CultureInfo.InvariantCulture), transfer, bulk);
        }

        var row = new Row("transfer", $"Export + restore {sourceBackend.Name} → {destination.Name}, {options.BulkDocs:N0} documents in {options.BulkPartitions:N0} partitions (docs/s; baseline: the destination's bulk import)", "docs/s", destination.Name, transfer, bulk);
        row.Notes.Add($"worst run: peak RSS growth: transfer {Report.Bytes(transfer.PeakWorkingSetGrowth ?? 0)}, bulk import {Report.Bytes(bulk.PeakWorkingSetGrowth ?? 0)}");
        Progress(row);
        rows.Add(row);
    }

    return rows;
}

// The storage tool's `migrate --execute` (issue 19), run as a process as a user runs it — plan, copy, verify —
// from a store holding the bulk load into an empty store of another backend; against the destination's
// own bulk import of the same documents in this process, runs interleaved (target: at least 0.5 ×). The
// tool's peak resident set (VmHWM) is noted (target: under 300 MiB).
async Task<List<Row>> RunMigrateAsync(Backend sourceBackend, IReadOnlyList<Backend> destinations)
{
    await using var source = await sourceBackend.OpenAsync("migrate-source");
    await source.Store.BulkLoadAsync(Data.Stream("d", options.BulkPartitions, BenchOptions.DocsPerPartition), options.BulkWriters);

    // The tool opens the store itself (a JSON store has one owner).
    await source.Store.DisposeAsync();
    var rows = new List<Row>();
    foreach (var destination in destinations)
    {
        var migrate = new Series("storage migrate --execute");
        var bulk = new Series("bulk import");
        var peaks = new List<long>();
        var copies = new List<double>();
        for (var run = -1; run < options.BulkRuns; run++)
        {
            var label = "migrate-" + (run < 0 ? "warmup" : run.ToString(CultureInfo.InvariantCulture));
            await using (var copy = await destination.OpenAsync(label))
            {
                // Created empty, then left to the tool.
                await copy.Store.DisposeAsync();
                var (seconds, peak, copySeconds) = await ToolRun.MigrateAsync(sourceBackend.Address("migrate-source"), destination.Address(label));
                if (run >= 0)
                {
                    migrate.Runs.Add(new Run(options.BulkDocs, seconds, 0, 0, peak));
                    peaks.Add(peak);
                    copies.Add(copySeconds / seconds);
                }
            }

            await using (var loaded = await destination.OpenAsync(label + "-bulk"))
            {
                var result = await Meter.JobAsync(() => loaded.Store.BulkLoadAsync(Data.Stream("d", options.BulkPartitions, BenchOptions.DocsPerPartition), options.BulkWriters));
                if (run >= 0)
                {
                    bulk.Runs.Add(result);
                }
            }
        }

        var row = new Row("migrate", $"storage migrate --execute {sourceBackend.Name} → {destination.Name}, {options.BulkDocs:N0} documents in {options.BulkPartitions:N0} partitions (docs/s, the whole command: plan, copy, verify; baseline: the destination's bulk import)", "docs/s", destination.Name, migrate, bulk);
        row.Notes.Add($"the tool's peak resident set: {string.Join(", ", peaks.Select(p => Report.Bytes(p)))} (target under 300 MiB); the copy took {string.Join(", ", copies.Select(c => c.ToString("P0", CultureInfo.InvariantCulture)))} of the command's time");
        Progress(row);
        rows.Add(row);
    }

    return rows;
}

// The cut-over window (issue 19): a store holding the bulk load, copied into a new store of another backend
// (a pass of the follower from 0); then one writer puts into random partitions, a few milliseconds apart (an
// app's pace: a follower copies each changed partition whole), two more passes, then StoreCutover. The figure is the time writes were refused (the fence set until the copy was
// verified), median of the runs; the writer's puts per second while it ran are noted.
async Task<Row> RunCutoverAsync(Backend sourceBackend, Backend destinationBackend)
{
    const int CutoverWriterPause = 5; // ms between a writer's puts
    var windows = new Series("cut-over");
    var notes = new List<string>();
    for (var run = 0; run < Math.Max(5, options.BulkRuns); run++)
    {
        var label = "cutover-" + run.ToString(CultureInfo.InvariantCulture);
        await using var source = await sourceBackend.OpenAsync(label);
        await using var destination = await destinationBackend.OpenAsync(label + "-copy");
        await source.Store.BulkLoadAsync(Data.Stream("d", options.BulkPartitions, BenchOptions.DocsPerPartition), options.BulkWriters);
        var position = (await StoreFollower.CatchUpAsync(source.Store.Store, destination.Store.Store)).Position;

        using var stop = new CancellationTokenSource();
        var random = new Random(run);
        long written = 0, refused = 0;
        var started = Stopwatch.GetTimestamp();
        var writer = Task.Run(async () =>
        {
            while (!stop.IsCancellationRequested)
            {
                try
                {
                    await source.Store.Store.PutAsync(Data.Partition("d", random.Next(options.BulkPartitions)), "docs", Data.Key(random.Next(BenchOptions.DocsPerPartition * 2)), Data.Value(random.Next()));
                    written++;
                    await Task.Delay(CutoverWriterPause);
                }
                catch (StoreReadOnlyException)
                {
                    refused++;
                    await Task.Delay(1);
                }
            }
        });

        for (var pass = 0; pass < 2; pass++)
        {
            await Task.Delay(200);
            position = (await StoreFollower.CatchUpAsync(source.Store.Store, destination.Store.Store, position)).Position;
        }

        var result = await StoreCutover.RunAsync(source.Store.Store, destination.Store.Store, position);
        await stop.CancelAsync();
        await writer;
        if (!result.Succeeded)
        {
            throw new InvalidOperationException($"The cut-over {sourceBackend.Name} → {destinationBackend.Name} was not verified: {string.Join(", ", result.Differences.Select(d => d.Partition))}");
        }

        // One "operation" per second of window: the figure printed is 1 / window; the note has the windows themselves.
        windows.Runs.Add(new Run(1, result.WritesRefusedFor.TotalSeconds, 0, 0));
        notes.Add($"{result.WritesRefusedFor.TotalMilliseconds:F0} ms ({result.PartitionsVerified:N0} partitions verified, {written / Stopwatch.GetElapsedTime(started).TotalSeconds:N0} puts/s before)");
    }

    var median = windows.Runs.Select(r => r.Seconds).Order().ElementAt(windows.Runs.Count / 2);
    var row = new Row("cutover", $"Cut-over {sourceBackend.Name} → {destinationBackend.Name} under a live writer, {options.BulkDocs:N0} documents in {options.BulkPartitions:N0} partitions (1 / seconds writes were refused)", "1/s", destinationBackend.Name, windows, null);
    row.Notes.Add($"median window {median * 1000:F0} ms (target under 5 s); runs: {string.Join("; ", notes)}");
    Progress(row);
    return row;
}

// One run into fresh, empty destinations: the transfer, then the bulk import of the same documents.
async Task TransferRunAsync(Backend destination, StoreDriver source, string label, Series? transfer, Series? bulk)
{
    await using (var copy = await destination.OpenAsync(label))
    {
        var run = await Meter.JobAsync(() => copy.Store.RestoreFromAsync(source));
        transfer?.Runs.Add(run);
    }

    await using (var loaded = await destination.OpenAsync(label + "-bulk"))
    {
        var run = await Meter.JobAsync(() => loaded.Store.BulkLoadAsync(Data.Stream("d", options.BulkPartitions, BenchOptions.DocsPerPartition), options.BulkWriters));
        bulk?.Runs.Add(run);
    }
}

void Progress(Row row)
    => Console.Error.WriteLine($"[{DateTimeOffset.Now:HH:mm:ss}] {row.Backend,-10} {row.ScenarioId,-16} store {Report.Figure(row.Store),-18} raw {(row.Raw is null ? "—" : Report.Figure(row.Raw)),-18} ratio {row.Ratio?.ToString("F2", CultureInfo.InvariantCulture) ?? "—",-5} cpu µs/op {Report.Micros(row.Store)} vs {(row.Raw is null ? "—" : Report.Micros(row.Raw))}  B/op {Report.Bytes(row.Store.BytesPerOp)} vs {(row.Raw is null ? "—" : Report.Bytes(row.Raw.BytesPerOp))}  load {Machine.LoadAverage()}");
