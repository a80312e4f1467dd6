using System.Diagnostics;
using System.Diagnostics.Metrics;

namespace Storage;

/// <summary>
/// The names under which every store reports traces and metrics, the same for every backend and
/// following OpenTelemetry's database conventions: one <see cref="ActivitySource"/> (a client span
/// per <see cref="IStore"/> call) and one <see cref="Meter"/> (the histogram
/// <c>db.client.operation.duration</c>, in seconds). Subscribe with
/// <c>AddSource(StoreTelemetry.ActivitySourceName)</c> and <c>AddMeter(StoreTelemetry.MeterName)</c>.
/// </summary>
/// <seealso href="../../docs/observability.md"/>
public static class StoreTelemetry
{
    /// <summary>The name of the stores' <see cref="ActivitySource"/>.</summary>
    public const string ActivitySourceName = "Storage";

    /// <summary>The name of the stores' <see cref="Meter"/>.</summary>
    public const string MeterName = "Storage";
}
