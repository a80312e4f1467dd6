using System.Diagnostics.CodeAnalysis;
using System.Text;

namespace Storage.Engine;

/// <summary>
/// Turns a listing's prefix, range and cursor into one half-open range of keys,
/// <c>[Lower, Upper)</c> in code-point order, for backends that scan a key index: SQLite's BINARY
/// collation and PostgreSQL's <c>COLLATE "C"</c> both compare UTF-8 bytes, which is code-point
/// order.
/// </summary>
/// <param name="Lower">The smallest key of the range (inclusive).</param>
/// <param name="Upper">The key above the range (exclusive), or <see langword="null"/> for none.</param>
[Experimental(Experiments.BackendInterface)]
public readonly record struct KeyRange(string Lower, string? Upper)
{
    /// <summary>The smallest key above every key that starts with the same characters: NUL is not allowed in keys, so nothing lies between.</summary>
    private const string SmallestSuffix = "\u0001";

    private const int MaxCodePoint = 0x10FFFF;

    /// <summary>Whether the range holds no key at all.</summary>
    public bool IsEmpty => Upper is not null && StorageKeyComparer.Instance.Compare(Lower, Upper) >= 0;

    /// <summary>Whether <paramref name="key"/> lies in the range.</summary>
    /// <param name="key">A key.</param>
    /// <returns><see langword="true"/> when Lower ≤ key &lt; Upper.</returns>
    public bool Contains(string key)
        => StorageKeyComparer.Instance.Compare(key, Lower) >= 0 && (Upper is null || StorageKeyComparer.Instance.Compare(key, Upper) < 0);

    /// <summary>The range a listing covers: its prefix, bounds and cursor combined.</summary>
    /// <param name="query">The validated listing.</param>
    /// <returns>The half-open range.</returns>
    internal static KeyRange For(ListQuery query)
    {
        ArgumentNullException.ThrowIfNull(query);
        var lower = Max(query.StartKey ?? string.Empty, query.Prefix ?? string.Empty);
        var upper = Min(query.EndKey, query.Prefix is null ? null : PrefixUpperBound(query.Prefix));
        if (query.After is { } after)
        {
            if (query.Descending)
            {
                upper = Min(upper, after);
            }
            else
            {
                lower = Max(lower, after + SmallestSuffix);
            }
        }

        return new KeyRange(lower, upper);
    }

    /// <summary>
    /// The smallest string above every string that starts with <paramref name="prefix"/>: the prefix
    /// with its last code point incremented (skipping the surrogate block), after dropping trailing
    /// U+10FFFF; <see langword="null"/> when the prefix is all U+10FFFF (no string is above it).
    /// </summary>
    /// <param name="prefix">A valid key prefix.</param>
    /// <returns>The bound, or <see langword="null"/>.</returns>
    public static string? PrefixUpperBound(string prefix)
    {
        var runes = new List<Rune>();
        foreach (var rune in prefix.EnumerateRunes())
        {
            runes.Add(rune);
        }

        while (runes.Count > 0 && runes[^1].Value == MaxCodePoint)
        {
            runes.RemoveAt(runes.Count - 1);
        }

        if (runes.Count == 0)
        {
            return null;
        }

        var next = runes[^1].Value + 1;
        runes[^1] = new Rune(next == 0xD800 ? 0xE000 : next);
        var builder = new StringBuilder(prefix.Length + 1);
        foreach (var rune in runes)
        {
            builder.Append(rune.ToString());
        }

        return builder.ToString();
    }

    private static string Max(string a, string b) => StorageKeyComparer.Instance.Compare(a, b) >= 0 ? a : b;

    private static string? Min(string? a, string? b) => a is null ? b : b is null ? a : StorageKeyComparer.Instance.Compare(a, b) <= 0 ? a : b;
}
