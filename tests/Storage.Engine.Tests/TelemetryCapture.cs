using System.Collections.Concurrent;
using System.Diagnostics;
using System.Diagnostics.Metrics;

namespace Storage.Engine.Tests;

/// <summary>
/// What a test's stores report, caught through <see cref="MeterListener"/> and
/// <see cref="ActivityListener"/> as an OpenTelemetry SDK would. Listeners see the whole process, so
/// it keeps only the test's own: measurements of meters its <see cref="MeterFactory"/> created (or,
/// with <c>sharedMeter</c>, of the store's own meter in the test's collections), and spans of the
/// trace of the root activity it starts (the test's code runs under it).
/// </summary>
public sealed class TelemetryCapture : IDisposable
{
    private readonly MeterListener _meters = new();
    private readonly ActivityListener _activities;
    private readonly Activity _root;
    private readonly ConcurrentQueue<Measurement> _measurements = new();
    private readonly ConcurrentQueue<Activity> _spans = new();
    private readonly ConcurrentQueue<Instrument> _instruments = new();
    private readonly bool _ownsFactory;

    /// <param name="sharedMeter">Whether to catch the meter stores use without a factory: then only measurements whose collection starts with <paramref name="collectionPrefix"/>.</param>
    /// <param name="collectionPrefix">The test's collections, with a shared meter.</param>
    /// <param name="meterFactory">The factory whose meters to catch, when a store was opened with it before this capture; by default a new one (<see cref="MeterFactory"/>), disposed with the capture.</param>
    public TelemetryCapture(bool sharedMeter = false, string? collectionPrefix = null, TestMeterFactory? meterFactory = null)
    {
        _ownsFactory = meterFactory is null;
        MeterFactory = meterFactory ?? new TestMeterFactory();
        _meters.InstrumentPublished = (instrument, listener) =>
        {
            if (sharedMeter ? instrument.Meter.Scope is null && instrument.Meter.Name == StoreTelemetry.MeterName : instrument.Meter.Scope == MeterFactory)
            {
                _instruments.Enqueue(instrument);
                listener.EnableMeasurementEvents(instrument);
            }
        };
        _meters.SetMeasurementEventCallback<double>((instrument, value, tags, _) =>
        {
            var measurement = new Measurement(instrument, value, tags.ToArray());
            if (collectionPrefix is null || (measurement.Tag("db.collection.name") is string collection && collection.StartsWith(collectionPrefix, StringComparison.Ordinal)))
            {
                _measurements.Enqueue(measurement);
            }
        });
        _meters.Start();

        _root = new Activity("test").SetIdFormat(ActivityIdFormat.W3C).Start();
        var trace = _root.TraceId;
        _activities = new ActivityListener
        {
            ShouldListenTo = source => source.Name == StoreTelemetry.ActivitySourceName,
            Sample = (ref ActivityCreationOptions<ActivityContext> _) => ActivitySamplingResult.AllDataAndRecorded,
            ActivityStopped = activity =>
            {
                if (activity.TraceId == trace)
                {
                    _spans.Enqueue(activity);
                }
            },
        };
        ActivitySource.AddActivityListener(_activities);
    }

    /// <summary>A factory whose meters are this test's; pass it as <see cref="StoreOptions.MeterFactory"/>.</summary>
    public TestMeterFactory MeterFactory { get; }

    /// <summary>The test's root activity: the parent of the spans of the store calls made under it.</summary>
    public Activity Root => _root;

    public IReadOnlyList<Measurement> Measurements => [.. _measurements];

    public IReadOnlyList<Activity> Spans => [.. _spans];

    public IReadOnlyList<Instrument> Instruments => [.. _instruments];

    /// <summary>The one measurement of an operation.</summary>
    public Measurement Measured(string operation) => Assert.Single(_measurements, m => m.Tag("db.operation.name") as string == operation);

    /// <summary>The one span of an operation.</summary>
    public Activity Traced(string operation) => Assert.Single(_spans, s => s.GetTagItem("db.operation.name") as string == operation);

    public void Dispose()
    {
        _activities.Dispose();
        _root.Stop();
        _meters.Dispose();
        if (_ownsFactory)
        {
            MeterFactory.Dispose();
        }
    }

    /// <summary>One value recorded on an instrument, with its attributes.</summary>
    public sealed record Measurement(Instrument Instrument, double Value, KeyValuePair<string, object?>[] Tags)
    {
        public object? Tag(string name) => Tags.FirstOrDefault(t => t.Key == name).Value;
    }

    /// <summary>An <see cref="IMeterFactory"/> as dependency injection gives one: its meters carry it as their scope.</summary>
    public sealed class TestMeterFactory : IMeterFactory
    {
        private readonly ConcurrentQueue<Meter> _meters = new();

        public Meter Create(MeterOptions options)
        {
            var meter = new Meter(new MeterOptions(options.Name) { Version = options.Version, Tags = options.Tags, Scope = this });
            _meters.Enqueue(meter);
            return meter;
        }

        public void Dispose()
        {
            foreach (var meter in _meters)
            {
                meter.Dispose();
            }
        }
    }
}
