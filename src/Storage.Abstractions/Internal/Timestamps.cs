using System.Diagnostics.CodeAnalysis;

namespace Storage.Internal;

/// <summary>The millisecond-precision UTC timestamps every backend stores.</summary>
[Experimental(Experiments.BackendInterface)]
public static class Timestamps
{
    /// <summary>The time now, from <paramref name="time"/>, truncated to milliseconds in UTC.</summary>
    /// <param name="time">The store's clock.</param>
    /// <returns>The truncated time.</returns>
    public static DateTimeOffset Now(TimeProvider time)
    {
        ArgumentNullException.ThrowIfNull(time);
        return Truncate(time.GetUtcNow());
    }

    /// <summary>Truncates to whole milliseconds and converts to UTC.</summary>
    /// <param name="value">The time.</param>
    /// <returns>The truncated UTC time.</returns>
    public static DateTimeOffset Truncate(DateTimeOffset value) => DateTimeOffset.FromUnixTimeMilliseconds(value.ToUnixTimeMilliseconds());

    /// <summary>Checks an expiry's range and truncates it.</summary>
    /// <param name="expiresAt">The expiry, or <see langword="null"/>.</param>
    /// <param name="paramName">The caller's parameter name.</param>
    /// <returns>The truncated expiry.</returns>
    internal static DateTimeOffset? ValidateExpiry(DateTimeOffset? expiresAt, string paramName)
    {
        if (expiresAt is not { } value)
        {
            return null;
        }

        if (value < StoreLimits.MinExpiry || value > StoreLimits.MaxExpiry)
        {
            throw new ArgumentOutOfRangeException(paramName, value, ErrorMessages.InvalidExpiry(value));
        }

        return Truncate(value);
    }

    /// <summary>Whether a document with this expiry is invisible at <paramref name="now"/>.</summary>
    /// <param name="expiresAt">The document's expiry.</param>
    /// <param name="now">The store's clock.</param>
    /// <returns><see langword="true"/> when the expiry is at or before now.</returns>
    public static bool IsExpired(DateTimeOffset? expiresAt, DateTimeOffset now) => expiresAt is { } e && e <= now;

    /// <summary>The expiry rule (<see cref="IsExpired"/>) in SQL: a condition true for a live row.</summary>
    /// <param name="expiresAt">The expiry column (NULL: never expires).</param>
    /// <param name="now">The parameter or expression holding the store's clock, in the column's type.</param>
    /// <returns>The condition, parenthesized.</returns>
    internal static string LiveSql(string expiresAt, string now) => $"({expiresAt} IS NULL OR {expiresAt} > {now})";

    /// <summary>The expiry rule (<see cref="IsExpired"/>) in SQL: a condition true for an expired row.</summary>
    /// <param name="expiresAt">The expiry column.</param>
    /// <param name="now">The parameter or expression holding the store's clock, in the column's type.</param>
    /// <returns>The condition.</returns>
    internal static string ExpiredSql(string expiresAt, string now) => $"{expiresAt} <= {now}";

    /// <summary>
    /// The tombstone rule, for every backend: a purge at <paramref name="now"/> drops the tombstones
    /// deleted at or before the returned cutoff, those whose deletion time plus the retention is at or
    /// before now.
    /// </summary>
    /// <param name="now">The store's clock.</param>
    /// <param name="retention">How long tombstones are kept (zero or more).</param>
    /// <returns>The cutoff, or <see langword="null"/> when the retention reaches back past year 1 and no tombstone can be dropped.</returns>
    public static DateTimeOffset? TombstoneCutoff(DateTimeOffset now, TimeSpan retention)
        => now.UtcTicks - DateTimeOffset.MinValue.UtcTicks >= retention.Ticks ? now - retention : null;

    /// <summary>
    /// <see cref="TombstoneCutoff"/> in the milliseconds since the Unix epoch that SQL backends store:
    /// a tombstone goes when its deletion time, in those milliseconds, is at or before it.
    /// </summary>
    /// <param name="now">The store's clock.</param>
    /// <param name="retention">How long tombstones are kept (zero or more).</param>
    /// <returns>The cutoff (rounded down, as stored times are whole milliseconds), or <see cref="long.MinValue"/> when no tombstone can be dropped.</returns>
    internal static long TombstoneCutoffMilliseconds(DateTimeOffset now, TimeSpan retention)
        => TombstoneCutoff(now, retention) is { } cutoff ? cutoff.ToUnixTimeMilliseconds() : long.MinValue;
}
