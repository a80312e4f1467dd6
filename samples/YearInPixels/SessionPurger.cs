using Microsoft.Extensions.Options;
using Storage;

namespace YearInPixels;

/// <summary>
/// Purges expired documents (the sessions) every <see cref="PixelsOptions.PurgeInterval"/> with the
/// store's own <see cref="IStore.PurgeExpiredAsync"/>: an expired session is invisible the moment it
/// expires (the library's expiry); this only reclaims its space.
/// </summary>
public sealed partial class SessionPurger : BackgroundService
{
    private readonly IServiceProvider _services;
    private readonly TimeProvider _time;
    private readonly PixelsOptions _options;
    private readonly ILogger<SessionPurger> _logger;
    private long _runs;
    private long _purged;

    /// <summary>Creates the purger.</summary>
    /// <param name="services">The services, to resolve the store in <see cref="ExecuteAsync"/>: a hosted service is built before the host opens the store, so it cannot take <see cref="IStore"/> in its constructor.</param>
    /// <param name="time">The clock whose ticks drive the purges.</param>
    /// <param name="options">The interval.</param>
    /// <param name="logger">Logs each purge that removed something.</param>
    public SessionPurger(IServiceProvider services, TimeProvider time, IOptions<PixelsOptions> options, ILogger<SessionPurger> logger)
    {
        _services = services;
        _time = time;
        _options = options.Value;
        _logger = logger;
    }

    /// <summary>How many purges have completed.</summary>
    public long Runs => Interlocked.Read(ref _runs);

    /// <summary>How many documents the purges removed.</summary>
    public long Purged => Interlocked.Read(ref _purged);

    /// <inheritdoc/>
    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        var store = _services.GetRequiredService<IStore>();
        using var timer = new PeriodicTimer(_options.PurgeInterval, _time);
        try
        {
            while (await timer.WaitForNextTickAsync(stoppingToken))
            {
                try
                {
                    var purged = await store.PurgeExpiredAsync(stoppingToken);
                    Interlocked.Add(ref _purged, purged);
                    if (purged > 0)
                    {
                        LogPurged(purged);
                    }
                }
                catch (StorageException e) when (e.IsTransient)
                {
                    LogPurgeFailed(e); // the next tick tries again
                }

                Interlocked.Increment(ref _runs);
            }
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
        }
    }

    [LoggerMessage(1, LogLevel.Information, "Purged {Count} expired documents.")]
    private partial void LogPurged(long count);

    [LoggerMessage(2, LogLevel.Warning, "Purging expired documents failed; the next interval tries again.")]
    private partial void LogPurgeFailed(Exception exception);
}
