using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;

namespace Storage.Hosting;

/// <summary>
/// Purges each registered store whose options set <see cref="StorageOptions.PurgeInterval"/>, every interval on
/// the store's clock, while the host runs: one loop per store, each purge awaited before the next interval
/// starts. A failure is logged and the loop goes on; stopping the host ends the loops.
/// </summary>
internal sealed partial class StoragePurger(IServiceProvider services, IEnumerable<StoreRegistration> registrations) : BackgroundService
{
    private readonly ILogger _logger = services.GetService<ILoggerFactory>()?.CreateLogger<StoragePurger>() ?? (ILogger)NullLogger.Instance;

    /// <inheritdoc/>
    protected override Task ExecuteAsync(CancellationToken stoppingToken)
    {
        var monitor = services.GetRequiredService<IOptionsMonitor<StorageOptions>>();
        var loops = new List<Task>();
        foreach (var registration in registrations)
        {
            var options = monitor.Get(registration.Name);
            if (options.PurgeInterval is { } interval)
            {
                loops.Add(PurgeEveryAsync(services.GetRequiredKeyedService<StoreHolder>(registration.Name), interval, options.TimeProvider, stoppingToken));
            }
        }

        return Task.WhenAll(loops);
    }

    private async Task PurgeEveryAsync(StoreHolder holder, TimeSpan interval, TimeProvider time, CancellationToken stoppingToken)
    {
        while (!stoppingToken.IsCancellationRequested)
        {
            try
            {
                await Task.Delay(interval, time, stoppingToken).ConfigureAwait(false);
                if (holder.Current is { } store)
                {
                    var purged = await store.PurgeExpiredAsync(stoppingToken).ConfigureAwait(false);
                    Purged(_logger, holder.Registration.Display, purged);
                }
            }
            catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
            {
                return;
            }
            catch (Exception e) when (e is StorageException or ObjectDisposedException or InvalidOperationException)
            {
                PurgeFailed(_logger, e, holder.Registration.Display, interval);
            }
        }
    }

    [LoggerMessage(EventId = 300, Level = LogLevel.Debug, Message = "Purged {Store}: {Purged} expired documents removed (and the tombstones past their retention).")]
    private static partial void Purged(ILogger logger, string store, long purged);

    [LoggerMessage(EventId = 301, Level = LogLevel.Warning, Message = "Purging {Store} failed; trying again in {Interval}.")]
    private static partial void PurgeFailed(ILogger logger, Exception exception, string store, TimeSpan interval);
}
