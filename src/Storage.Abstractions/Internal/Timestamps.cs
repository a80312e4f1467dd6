namespace Storage.Internal;

/// <summary>The millisecond-precision UTC timestamps every backend stores.</summary>
internal static class Timestamps
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
    public static DateTimeOffset? ValidateExpiry(DateTimeOffset? expiresAt, string paramName)
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
}
