using System.Diagnostics;
using System.Diagnostics.Metrics;
using System.Text;

namespace Storage.Engine.Tests;

/// <summary>
/// The engine's traces and metrics, the same for every backend: OpenTelemetry's database client
/// conventions (docs/observability.md), no partition key unless the application opts in, no value
/// ever, and no measurement of a call whose arguments are refused.
/// </summary>
/// <remarks>
/// Listeners see the whole process, and whether one is attached decides which path a call takes: the
/// classes of these tests share one collection, so that no other test's listener is attached while a
/// test relies on nothing listening.
/// </remarks>
[Collection("Telemetry")]
public abstract class TelemetryTests<TStores>(TStores stores) : IClassFixture<TStores>
    where TStores : Stores
{
    private const string Partition = "alice@example.com";
    private const string Collection = "orders";

    [Fact]
    public async Task The_duration_histogram_has_the_conventions_name_unit_and_buckets()
    {
        using var capture = new TelemetryCapture();
        await using var store = stores.Open(o => o.MeterFactory = capture.MeterFactory);

        await store.GetAsync(Partition, Collection, "k1");

        var instrument = Assert.IsType<Histogram<double>>(Assert.Single(capture.Instruments));
        Assert.Equal("db.client.operation.duration", instrument.Name);
        Assert.Equal("s", instrument.Unit);
        Assert.Equal("Duration of database client operations.", instrument.Description);
        Assert.Equal(StoreTelemetry.MeterName, instrument.Meter.Name);
        Assert.Equal([0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 10], instrument.Advice?.HistogramBucketBoundaries);
    }

    [Fact]
    public async Task A_point_read_is_one_client_span_and_one_measurement_with_the_database_attributes_and_no_partition()
    {
        using var capture = new TelemetryCapture();
        await using var store = stores.Open(o => o.MeterFactory = capture.MeterFactory);
        var started = Stopwatch.GetTimestamp();

        await store.GetAsync(Partition, Collection, "k1");

        var elapsed = Stopwatch.GetElapsedTime(started).TotalSeconds;
        var measured = capture.Measured("get");
        Assert.InRange(measured.Value, 0, elapsed);
        Assert.Equal(
            [("db.collection.name", Collection), ("db.operation.name", "get"), ("db.system.name", stores.SystemName)],
            measured.Tags.Select(t => (t.Key, t.Value as string)).OrderBy(t => t.Key, StringComparer.Ordinal));

        var span = capture.Traced("get");
        Assert.Equal(StoreTelemetry.ActivitySourceName, span.Source.Name);
        Assert.Equal($"get {Collection}", span.DisplayName);
        Assert.Equal(ActivityKind.Client, span.Kind);
        Assert.Equal(capture.Root.SpanId, span.ParentSpanId);
        Assert.Equal(ActivityStatusCode.Unset, span.Status);
        Assert.Equal(
            [("db.collection.name", Collection), ("db.operation.name", "get"), ("db.system.name", stores.SystemName)],
            span.TagObjects.Select(t => (t.Key, t.Value as string)).OrderBy(t => t.Key, StringComparer.Ordinal));

        // The caller's activity is current again once the call returns.
        Assert.Same(capture.Root, Activity.Current);
    }

    [Fact]
    public async Task A_version_conflict_sets_error_type_on_the_span_and_the_measurement()
    {
        using var capture = new TelemetryCapture();
        await using var store = stores.Open(o => o.MeterFactory = capture.MeterFactory);
        var version = await store.PutAsync(Partition, Collection, "k1", """{"n":1}""", WriteCondition.MustNotExist);

        await Assert.ThrowsAsync<VersionConflictException>(async () => await store.PutAsync(Partition, Collection, "k1", """{"n":2}""", WriteCondition.MustMatchVersion(version + 1)));

        var measurements = capture.Measurements.Where(m => m.Tag("db.operation.name") as string == "put").ToList();
        Assert.Equal(2, measurements.Count);
        Assert.Null(measurements[0].Tag("error.type"));
        Assert.Equal("Storage.VersionConflictException", measurements[1].Tag("error.type"));

        var spans = capture.Spans.Where(s => s.OperationName == $"put {Collection}").ToList();
        Assert.Equal(2, spans.Count);
        Assert.Equal(ActivityStatusCode.Unset, spans[0].Status);
        Assert.Null(spans[0].GetTagItem("error.type"));
        Assert.Equal(ActivityStatusCode.Error, spans[1].Status);
        Assert.Equal("Storage.VersionConflictException", spans[1].GetTagItem("error.type"));

        // The stored value is unchanged.
        Assert.Equal("""{"n":1}""", (await store.GetAsync(Partition, Collection, "k1"))!.GetJsonText());
    }

    [Fact]
    public async Task The_partition_key_is_on_spans_only_when_the_application_opts_in_and_never_on_metrics()
    {
        using var capture = new TelemetryCapture();
        await using (var store = stores.Open(o => o.MeterFactory = capture.MeterFactory))
        {
            await store.GetAsync(Partition, Collection, "default");
        }

        await using (var store = stores.Open(o => { o.MeterFactory = capture.MeterFactory; o.TracePartitionKeys = true; }))
        {
            await store.GetAsync(Partition, Collection, "opted-in");
        }

        var spans = capture.Spans;
        Assert.Equal(2, spans.Count);
        Assert.Null(spans[0].GetTagItem("storage.partition"));
        Assert.Equal(Partition, spans[1].GetTagItem("storage.partition"));
        Assert.All(capture.Measurements, m => Assert.DoesNotContain(m.Tags, t => t.Value as string == Partition));
    }

    [Fact]
    public async Task Keys_and_values_are_never_recorded_even_with_partition_keys_opted_in()
    {
        using var capture = new TelemetryCapture();
        await using var store = stores.Open(o => { o.MeterFactory = capture.MeterFactory; o.TracePartitionKeys = true; });
        const string Key = "secret-key-4711";
        const string Value = """{"card":"4111-1111"}""";

        await store.PutAsync(Partition, Collection, Key, Value);
        await store.GetAsync(Partition, Collection, Key);
        await store.ListAsync(Partition, Collection, new ListOptions { Prefix = "secret" });
        await Assert.ThrowsAsync<VersionConflictException>(async () => await store.PutAsync(Partition, Collection, Key, Value, WriteCondition.MustNotExist));

        var recorded = capture.Spans.SelectMany(s => s.TagObjects.Select(t => t.Value?.ToString()).Append(s.DisplayName).Append(s.StatusDescription))
            .Concat(capture.Measurements.SelectMany(m => m.Tags.Select(t => t.Value?.ToString())))
            .Where(v => v is not null)
            .ToList();
        Assert.Equal(4, capture.Spans.Count);
        Assert.Equal(4, capture.Measurements.Count);
        Assert.DoesNotContain(recorded, v => v!.Contains(Key, StringComparison.Ordinal) || v.Contains("4111", StringComparison.Ordinal) || v.Contains("secret", StringComparison.Ordinal));
    }

    [Fact]
    public async Task A_batch_is_named_by_its_one_operation_or_commit_with_its_size_and_shared_collection()
    {
        using var capture = new TelemetryCapture();
        await using var store = stores.Open(o => o.MeterFactory = capture.MeterFactory);

        await store.CommitAsync(Partition, [WriteOperation.Put(Collection, "a", "1"), WriteOperation.Put(Collection, "b", "2")]);
        await store.CommitAsync(Partition, [WriteOperation.Put(Collection, "c", "3"), WriteOperation.Put("other", "a", "4"), WriteOperation.Delete(Collection, "a")]);
        await store.DeleteAsync(Partition, Collection, "b");
        await store.AppendAsync(Partition, "stream-1", [EventData.Create("created", "{}")]);

        var spans = capture.Spans;
        Assert.Equal([$"commit {Collection}", "commit", $"delete {Collection}", "append"], spans.Select(s => s.DisplayName));
        Assert.Equal(new object?[] { 2, 3, null, null }, spans.Select(s => s.GetTagItem("db.operation.batch.size")));
        Assert.Equal([Collection, null, Collection, null], spans.Select(s => s.GetTagItem("db.collection.name") as string));
        Assert.Equal(
            [("commit", Collection), ("commit", null), ("delete", Collection), ("append", null)],
            capture.Measurements.Select(m => (m.Tag("db.operation.name") as string, m.Tag("db.collection.name") as string)));
    }

    [Fact]
    public async Task Every_store_operation_is_measured_and_traced_once_under_its_name()
    {
        using var capture = new TelemetryCapture();
        await using var store = stores.Open(o =>
        {
            o.MeterFactory = capture.MeterFactory;
            o.Indexes = [new IndexDefinition(Collection, "by_total", "total", IndexValueType.Int64)];
        });
        var query = new IndexQuery(Collection, "by_total") { Partition = Partition, From = 1 };

        await store.PutAsync(Partition, Collection, "k1", """{"total":3}""");
        await store.GetAsync(Partition, Collection, "k1");
        await store.CommitAsync(Partition, [WriteOperation.Put(Collection, "k2", """{"total":4}"""), WriteOperation.Delete(Collection, "k1")]);
        await store.DeleteAsync(Partition, Collection, "k2");
        await store.AppendAsync(Partition, "s1", [EventData.Create("created", "{}")]);
        await store.ListAsync(Partition, Collection);
        await store.IncrementSequenceAsync(Partition, "next_id");
        await store.GetSequenceAsync(Partition, "next_id");
        await store.ListPartitionsAsync();
        await store.ReadStreamAsync(Partition, "s1");
        await store.ListStreamsAsync(Partition);
        await store.ReadChangesAsync(Partition, 0);
        await store.QueryAsync(query);
        await store.CountAsync(query);
        await store.ImportAsync(Partitions(new ImportedPartition("bob", [WriteOperation.Put(Collection, "k1", """{"total":1}""")])));
        await store.PurgeExpiredAsync();
        await store.DeletePartitionAsync(Partition);
        var info = await store.GetExportInfoAsync();
        var bob = (await store.ExportPartitionAsync("bob"))!;
        await store.RestorePartitionAsync(bob);
        await store.RaiseRevisionFloorAsync(1);
        await store.RestoreAsync(info, store.ExportAsync());
        await store.GetPartitionAsync("bob");
        await store.ReadChangedPartitionsAsync(0);
        await store.ApplyChangesAsync("bob", 0, new ChangePage([], 0, false));
        await store.ApplyPartitionDeleteAsync("gone", 1);
        await store.SetReadOnlyAsync(false);
        await store.IsReadOnlyAsync();

        string[] expected =
        [
            "put", "get", "commit", "delete", "append", "list", "increment_sequence", "get_sequence", "list_partitions",
            "read_stream", "list_streams", "read_changes", "query", "count", "import", "purge_expired", "delete_partition",
            "get_export_info", "export_partition", "restore_partition", "raise_revision_floor",
            "export_partition", "restore_partition", "restore", "get_partition", "read_changed_partitions", "apply_changes",
            "apply_partition_delete", "set_read_only", "is_read_only",
        ];
        Assert.Equal(expected, capture.Measurements.Select(m => m.Tag("db.operation.name") as string));
        Assert.Equal(expected, capture.Spans.Select(s => s.GetTagItem("db.operation.name") as string));
        Assert.All(capture.Measurements, m => Assert.Equal(stores.SystemName, m.Tag("db.system.name")));
        Assert.All(capture.Spans, s => Assert.Equal(ActivityKind.Client, s.Kind));
        // A whole restore's partitions (their export reads and restores) are traced inside its span; every other call is a child of the caller's.
        var restore = capture.Traced("restore");
        Assert.Equal(
            [("export_partition", restore.SpanId), ("restore_partition", restore.SpanId)],
            capture.Spans.Where(s => s.ParentSpanId != capture.Root.SpanId).Select(s => ((string)s.GetTagItem("db.operation.name")!, s.ParentSpanId)));
        Assert.Equal(capture.Root.SpanId, restore.ParentSpanId);
        Assert.Equal(Collection, capture.Traced("query").GetTagItem("db.collection.name"));
        Assert.Null(capture.Traced("list_partitions").GetTagItem("db.collection.name"));
    }

    [Fact]
    public async Task A_call_whose_arguments_are_refused_is_neither_measured_nor_traced()
    {
        using var capture = new TelemetryCapture();
        await using var store = stores.Open(o => o.MeterFactory = capture.MeterFactory);

        await Assert.ThrowsAsync<ArgumentException>(async () => await store.GetAsync(Partition, "not a name", "k1"));
        await Assert.ThrowsAsync<ArgumentException>(async () => await store.CommitAsync(Partition, []));

        Assert.Empty(capture.Measurements);
        Assert.Empty(capture.Spans);
    }

    [Fact]
    public async Task A_call_on_a_disposed_store_is_measured_with_its_error_type()
    {
        using var capture = new TelemetryCapture();
        var store = stores.Open(o => o.MeterFactory = capture.MeterFactory);
        await store.DisposeAsync();

        await Assert.ThrowsAsync<ObjectDisposedException>(async () => await store.GetAsync(Partition, Collection, "k1"));

        Assert.Equal("System.ObjectDisposedException", capture.Measured("get").Tag("error.type"));
        Assert.Equal(ActivityStatusCode.Error, capture.Traced("get").Status);
    }

    [Fact]
    public async Task Without_a_meter_factory_the_store_measures_on_its_own_meter_named_after_the_library()
    {
        var collection = "shared-" + Guid.NewGuid().ToString("N")[..8];
        using var capture = new TelemetryCapture(sharedMeter: true, collectionPrefix: collection);
        await using var store = stores.Open();

        await store.GetAsync(Partition, collection, "k1");

        var measured = capture.Measured("get");
        Assert.Equal(StoreTelemetry.MeterName, measured.Instrument.Meter.Name);
        Assert.Equal("db.client.operation.duration", measured.Instrument.Name);
        Assert.Equal(stores.SystemName, measured.Tag("db.system.name"));
    }

    [Fact]
    public async Task A_store_whose_meter_nobody_listens_to_still_traces()
    {
        using var capture = new TelemetryCapture();
        using var unobserved = new TelemetryCapture.TestMeterFactory();
        await using var store = stores.Open(o => o.MeterFactory = unobserved);

        await store.GetAsync(Partition, Collection, "k1");

        Assert.Empty(capture.Measurements);
        Assert.Equal(stores.SystemName, capture.Traced("get").GetTagItem("db.system.name"));
    }

    [Fact]
    public async Task A_call_made_while_nothing_listens_is_not_observed_even_when_a_listener_arrives_before_it_ends()
    {
        // The call waits inside the store (in its clock) while the listeners attach: had it entered the
        // observation anyway, its end would record a duration for the meter that is listened to by then.
        var clock = new GatedClock();
        using var meters = new TelemetryCapture.TestMeterFactory();
        await using var store = stores.Open(o =>
        {
            o.MeterFactory = meters;
            o.TimeProvider = clock;
        });
        using var caller = new Activity("caller").Start();

        clock.Close();
        var call = Task.Run(async () => await store.GetAsync(Partition, Collection, "k1"));
        await clock.Entered.WaitAsync(TimeSpan.FromSeconds(30));
        using var capture = new TelemetryCapture(meterFactory: meters);
        clock.Open();
        await call;

        Assert.Empty(capture.Measurements);
        Assert.Empty(capture.Spans);

        // The capture sees the store: the next call, made while it listens, is observed.
        await store.GetAsync(Partition, Collection, "k2");
        Assert.Equal(Collection, capture.Measured("get").Tag("db.collection.name"));
        Assert.Equal(caller.TraceId, capture.Traced("get").TraceId);
    }

    private static async IAsyncEnumerable<ImportedPartition> Partitions(params ImportedPartition[] partitions)
    {
        foreach (var partition in partitions)
        {
            await Task.Yield();
            yield return partition;
        }
    }
}

[Trait("Backend", "Memory")]
public sealed class MemoryTelemetryTests(MemoryStores stores) : TelemetryTests<MemoryStores>(stores);

[Trait("Backend", "Sqlite")]
public sealed class SqliteTelemetryTests(SqliteStores stores) : TelemetryTests<SqliteStores>(stores);

/// <summary>A clock that, once closed, holds the next call that reads it until it is opened (the store is then inside an operation).</summary>
internal sealed class GatedClock : TimeProvider
{
    private readonly ManualResetEventSlim _open = new(initialState: true);
    private TaskCompletionSource _entered = new(TaskCreationOptions.RunContinuationsAsynchronously);

    /// <summary>Completes when a call reads the closed clock.</summary>
    public Task Entered => _entered.Task;

    public void Close()
    {
        _entered = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        _open.Reset();
    }

    public void Open() => _open.Set();

    public override DateTimeOffset GetUtcNow()
    {
        if (!_open.IsSet)
        {
            _entered.TrySetResult();
            _open.Wait(TimeSpan.FromSeconds(30));
        }

        return base.GetUtcNow();
    }
}
