using System.Text;

namespace Storage.Internal;

/// <summary>Validates partition keys, document keys and names, the same way for every backend.</summary>
internal static class Identifiers
{
    /// <summary>Throws <see cref="ArgumentException"/> unless <paramref name="partition"/> is a valid partition key.</summary>
    /// <param name="partition">The partition key.</param>
    /// <param name="paramName">The caller's parameter name.</param>
    public static void ValidatePartitionKey(string partition, string paramName = "partition")
        => ValidateKey(partition, "partition key", StoreLimits.MaxPartitionKeyBytes, paramName);

    /// <summary>Throws <see cref="ArgumentException"/> unless <paramref name="key"/> is a valid document key.</summary>
    /// <param name="key">The document key.</param>
    /// <param name="paramName">The caller's parameter name.</param>
    public static void ValidateDocumentKey(string key, string paramName = "key")
        => ValidateKey(key, "document key", StoreLimits.MaxDocumentKeyBytes, paramName);

    /// <summary>Throws <see cref="ArgumentException"/> unless <paramref name="name"/> is a valid collection or sequence name.</summary>
    /// <param name="name">The name.</param>
    /// <param name="paramName">The caller's parameter name.</param>
    public static void ValidateName(string name, string paramName = "name")
    {
        ArgumentNullException.ThrowIfNull(name, paramName);
        if (!IsValidName(name))
        {
            throw new ArgumentException(ErrorMessages.InvalidName(name), paramName);
        }
    }

    /// <summary>Whether <paramref name="name"/> is a valid collection or sequence name.</summary>
    /// <param name="name">The name.</param>
    /// <returns><see langword="true"/> when valid.</returns>
    public static bool IsValidName(string name)
    {
        if (name.Length is 0 or > StoreLimits.MaxNameLength || !char.IsAsciiLetter(name[0]))
        {
            return false;
        }

        foreach (var c in name)
        {
            if (!char.IsAsciiLetterOrDigit(c) && c is not ('_' or '-' or '.'))
            {
                return false;
            }
        }

        return true;
    }

    /// <summary>Whether <paramref name="partition"/> is a valid partition key.</summary>
    /// <param name="partition">The candidate.</param>
    /// <returns><see langword="true"/> when valid.</returns>
    public static bool IsValidPartitionKey(string partition) => Check(partition, "partition key", StoreLimits.MaxPartitionKeyBytes) is null;

    /// <summary>Whether <paramref name="key"/> is a valid document key.</summary>
    /// <param name="key">The candidate.</param>
    /// <returns><see langword="true"/> when valid.</returns>
    public static bool IsValidDocumentKey(string key) => Check(key, "document key", StoreLimits.MaxDocumentKeyBytes) is null;

    /// <summary>Validates a string that is compared against keys (a prefix or bound), which may be of any length up to the key limit.</summary>
    /// <param name="value">The string.</param>
    /// <param name="what">What it is, for the message.</param>
    /// <param name="paramName">The caller's parameter name.</param>
    public static void ValidateKeyFragment(string value, string what, string paramName)
        => ValidateKey(value, what, StoreLimits.MaxDocumentKeyBytes, paramName);

    private static void ValidateKey(string value, string what, int maxBytes, string paramName)
    {
        ArgumentNullException.ThrowIfNull(value, paramName);
        if (Check(value, what, maxBytes) is { } error)
        {
            throw new ArgumentException(error, paramName);
        }
    }

    private static string? Check(string value, string what, int maxBytes)
    {
        if (value.Length == 0)
        {
            return ErrorMessages.Empty(what);
        }

        for (var i = 0; i < value.Length; i++)
        {
            var c = value[i];
            if (c == '\0')
            {
                return ErrorMessages.ContainsNul(what);
            }

            if (char.IsHighSurrogate(c))
            {
                if (i + 1 < value.Length && char.IsLowSurrogate(value[i + 1]))
                {
                    i++;
                    continue;
                }

                return ErrorMessages.UnpairedSurrogate(what, i);
            }

            if (char.IsLowSurrogate(c))
            {
                return ErrorMessages.UnpairedSurrogate(what, i);
            }
        }

        var bytes = Encoding.UTF8.GetByteCount(value);
        return bytes > maxBytes ? ErrorMessages.TooLong(what, bytes, maxBytes) : null;
    }
}
