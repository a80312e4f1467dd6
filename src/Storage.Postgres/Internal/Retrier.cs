using System.Diagnostics;
using Microsoft.Extensions.Logging;
using Npgsql;

namespace Storage.Postgres.Internal;

/// <summary>
/// Runs an attempt again while it fails transiently (classified by SQLSTATE and exception type),
/// with exponential backoff and jitter, until the retry budget is spent; then raises
/// <see cref="StoreUnavailableException"/> with the last failure inside. Any other driver failure
/// becomes a <see cref="StorageException"/> at once. Every attempt must be safe to repeat: reads are,
/// and writes resolve an earlier attempt's unknown outcome before they apply anything.
/// </summary>
internal sealed class Retrier(TimeSpan budget, string server, ILogger logger, Action onConnectionLoss)
{
    private static readonly TimeSpan s_firstDelay = TimeSpan.FromMilliseconds(20);
    private static readonly TimeSpan s_maxDelay = TimeSpan.FromSeconds(1);

    public async ValueTask<T> RunAsync<TState, T>(string operation, TState state, Func<TState, CancellationToken, ValueTask<T>> attempt, CancellationToken cancellationToken)
    {
        var started = Stopwatch.GetTimestamp();
        for (var attempts = 1; ; attempts++)
        {
            try
            {
                return await attempt(state, cancellationToken).ConfigureAwait(false);
            }
            catch (NpgsqlException e) when (!cancellationToken.IsCancellationRequested)
            {
                if (!PostgresErrors.IsTransient(e))
                {
                    throw PostgresErrors.Unexpected(operation, server, e);
                }

                if (PostgresErrors.IsConnectionLoss(e))
                {
                    // The server went away: the pool's idle connections to it are dead too.
                    onConnectionLoss();
                }

                var elapsed = Stopwatch.GetElapsedTime(started);
                if (elapsed >= budget)
                {
                    Log.GaveUp(logger, operation, attempts, (long)elapsed.TotalMilliseconds, PostgresErrors.Code(e));
                    throw new StoreUnavailableException(PostgresErrors.Unavailable(operation, server, attempts, elapsed, e), e);
                }

                var delay = Backoff(attempts);
                if (delay > budget - elapsed)
                {
                    delay = budget - elapsed;
                }

                Log.Retrying(logger, PostgresErrors.Code(e), operation, attempts, (long)delay.TotalMilliseconds);
                await Task.Delay(delay, cancellationToken).ConfigureAwait(false);
            }
        }
    }

    private static TimeSpan Backoff(int attempt)
    {
        var exponential = s_firstDelay.TotalMilliseconds * Math.Pow(2, Math.Min(attempt - 1, 10));
        var capped = Math.Min(exponential, s_maxDelay.TotalMilliseconds);

        // Full jitter in [capped/2, capped]: writers that failed together do not retry together.
        return TimeSpan.FromMilliseconds((capped / 2) + (Random.Shared.NextDouble() * capped / 2));
    }
}
