using System.Diagnostics;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.HealthChecks;

namespace Storage.Hosting;

/// <summary>When a store's health check reports Degraded or Unhealthy.</summary>
public sealed class StoreHealthCheckOptions
{
    /// <summary>A read slower than this is <see cref="HealthStatus.Degraded"/>. Defaults to 1 second.</summary>
    public TimeSpan DegradedAfter { get; set; } = TimeSpan.FromSeconds(1);

    /// <summary>
    /// A read with no answer after this is <see cref="HealthStatus.Unhealthy"/> (a PostgreSQL store
    /// would otherwise retry for its whole retry budget). Defaults to 5 seconds.
    /// </summary>
    public TimeSpan Timeout { get; set; } = TimeSpan.FromSeconds(5);
}

/// <summary>Health checks of the stores <c>AddStorage</c> registered.</summary>
/// <seealso href="../../docs/configuration.md#health-checks"/>
public static class StorageHealthCheckExtensions
{
    /// <summary>The name of the default store's check; a keyed store's is this, ':' and its name.</summary>
    public const string CheckName = "storage";

    /// <summary>
    /// Adds a health check per store: one read through the store itself (a document that need not
    /// exist; no new connection), <see cref="HealthStatus.Healthy"/> when it answers within
    /// <see cref="StoreHealthCheckOptions.DegradedAfter"/>, <see cref="HealthStatus.Degraded"/> when
    /// slower, and the failure status (Unhealthy by default) when it fails, does not answer within
    /// <see cref="StoreHealthCheckOptions.Timeout"/>, or the store is not open.
    /// </summary>
    /// <param name="builder">The health checks.</param>
    /// <param name="storeName">The store to check: "" for the default store, a keyed store's name, or <see langword="null"/> for every store registered so far.</param>
    /// <param name="configure">Sets the thresholds; <see langword="null"/> for the defaults.</param>
    /// <param name="failureStatus">The status of a failed check; <see langword="null"/> for Unhealthy.</param>
    /// <param name="tags">Tags for filtering checks (readiness probes, for instance).</param>
    /// <returns><paramref name="builder"/>.</returns>
    /// <exception cref="InvalidOperationException">No such store is registered (call <c>AddStorage</c> first).</exception>
    public static IHealthChecksBuilder AddStorage(this IHealthChecksBuilder builder, string? storeName = null, Action<StoreHealthCheckOptions>? configure = null, HealthStatus? failureStatus = null, IEnumerable<string>? tags = null)
    {
        ArgumentNullException.ThrowIfNull(builder);
        var registered = builder.Services.Select(d => d.ImplementationInstance).OfType<StoreRegistration>().Select(r => r.Name).ToList();
        if (storeName is not null && !registered.Contains(storeName) || registered.Count == 0)
        {
            throw new InvalidOperationException(HostingErrors.NotRegistered(storeName ?? string.Empty));
        }

        var options = new StoreHealthCheckOptions();
        configure?.Invoke(options);
        foreach (var name in storeName is null ? registered : [storeName])
        {
            builder.Add(new HealthCheckRegistration(
                name.Length == 0 ? CheckName : CheckName + ":" + name,
                provider => new StoreHealthCheck(provider.GetRequiredKeyedService<StoreHolder>(name), options),
                failureStatus,
                tags));
        }

        return builder;
    }
}

/// <summary>One read through the store: a missing document of a reserved-looking partition, so the answer is small and nothing is created.</summary>
internal sealed class StoreHealthCheck(StoreHolder holder, StoreHealthCheckOptions options) : IHealthCheck
{
    /// <summary>What the check reads: a key that no app is expected to use; reading it creates nothing.</summary>
    internal const string ProbePartition = "storage-health", ProbeCollection = "probe", ProbeKey = "probe";

    /// <inheritdoc/>
    public async Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default)
    {
        var failure = context.Registration.FailureStatus;
        if (holder.Current is not { } store)
        {
            return new HealthCheckResult(failure, HostingErrors.HealthNotOpen);
        }

        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(options.Timeout);
        var started = Stopwatch.GetTimestamp();
        try
        {
            await store.GetAsync(ProbePartition, ProbeCollection, ProbeKey, timeout.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            return new HealthCheckResult(failure, HostingErrors.HealthTimedOut(options.Timeout));
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            return new HealthCheckResult(failure, HostingErrors.HealthFailed(e.GetType().Name), e);
        }

        var elapsed = Stopwatch.GetElapsedTime(started);
        var data = new Dictionary<string, object> { ["elapsedMs"] = elapsed.TotalMilliseconds };
        return elapsed > options.DegradedAfter
            ? HealthCheckResult.Degraded(HostingErrors.HealthSlow(elapsed, options.DegradedAfter), data: data)
            : HealthCheckResult.Healthy(HostingErrors.HealthOk(elapsed), data);
    }
}
