using System.Collections.Concurrent;
using System.Diagnostics;
using System.Diagnostics.Metrics;
using Microsoft.Extensions.DependencyInjection;

namespace Storage.Hosting.Tests;

/// <summary>
/// A hosted store reports through the host: its meter comes from the host's <see cref="IMeterFactory"/>
/// (so an app's metrics pipeline, and <c>MetricCollector</c> in its tests, see the store's meter as
/// the container's), and the telemetry options set in code reach the store.
/// </summary>
public sealed class HostedTelemetryTests
{
    [Fact]
    public async Task The_store_measures_on_the_meter_factory_registered_in_the_services()
    {
        await using var app = await TestHost.StartAsync("memory");
        var factory = app.Services.GetRequiredService<IMeterFactory>();
        var operations = new ConcurrentQueue<string?>();
        using var listener = new MeterListener
        {
            // Only meters of this host's factory: a store measuring on the library's own meter is not caught.
            InstrumentPublished = (instrument, l) =>
            {
                if (instrument.Meter.Scope == factory && instrument.Meter.Name == StoreTelemetry.MeterName)
                {
                    l.EnableMeasurementEvents(instrument);
                }
            },
        };
        listener.SetMeasurementEventCallback<double>((instrument, value, tags, _) =>
        {
            foreach (var tag in tags)
            {
                if (tag.Key == "db.operation.name")
                {
                    operations.Enqueue(tag.Value as string);
                }
            }
        });
        listener.Start();

        await app.Store.GetAsync("alice", "orders", "k1");

        Assert.Equal(["get"], operations);
    }

    [Fact]
    public async Task Partition_keys_traced_when_the_options_callback_opts_in()
    {
        await using var app = await TestHost.StartAsync(null, new Dictionary<string, string?> { ["Storage:Backend"] = "memory" }, builder =>
            builder.Services.AddKeyedStorage("traced", o =>
            {
                o.Backend = StoreBackend.Memory;
                o.TracePartitionKeys = true;
            }));
        using var root = new Activity("test").Start();
        var spans = new ConcurrentQueue<Activity>();
        using var listener = new ActivityListener
        {
            ShouldListenTo = source => source.Name == StoreTelemetry.ActivitySourceName,
            Sample = (ref ActivityCreationOptions<ActivityContext> _) => ActivitySamplingResult.AllDataAndRecorded,
            ActivityStopped = activity =>
            {
                if (activity.TraceId == root.TraceId)
                {
                    spans.Enqueue(activity);
                }
            },
        };
        ActivitySource.AddActivityListener(listener);

        await app.Services.GetRequiredKeyedService<IStore>("traced").GetAsync("alice", "orders", "k1");
        await app.Store.GetAsync("bob", "orders", "k1");

        Assert.Equal(
            ["alice", null],
            spans.Select(s => s.GetTagItem("storage.partition") as string));
    }
}
