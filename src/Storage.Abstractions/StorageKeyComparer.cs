namespace Storage;

/// <summary>
/// Orders strings by Unicode code point — the order of their UTF-8 bytes — which is the key order
/// of every backend. It differs from <see cref="StringComparer.Ordinal"/> (UTF-16 code units) for
/// characters above U+FFFF, which sort after U+E000–U+FFFF here.
/// </summary>
public sealed class StorageKeyComparer : IComparer<string>, IEqualityComparer<string>
{
    private StorageKeyComparer()
    {
    }

    /// <summary>The comparer.</summary>
    public static StorageKeyComparer Instance { get; } = new();

    /// <inheritdoc/>
    public int Compare(string? x, string? y)
    {
        if (ReferenceEquals(x, y))
        {
            return 0;
        }

        if (x is null)
        {
            return -1;
        }

        if (y is null)
        {
            return 1;
        }

        var length = Math.Min(x.Length, y.Length);
        var i = x.AsSpan(0, length).CommonPrefixLength(y.AsSpan(0, length));
        if (i == length)
        {
            return x.Length.CompareTo(y.Length);
        }

        return Fixup(x[i]).CompareTo(Fixup(y[i]));
    }

    /// <inheritdoc/>
    public bool Equals(string? x, string? y) => string.Equals(x, y, StringComparison.Ordinal);

    /// <inheritdoc/>
    public int GetHashCode(string obj) => StringComparer.Ordinal.GetHashCode(obj);

    // At the first differing UTF-16 unit, surrogates (U+D800–U+DFFF, which encode code points above
    // U+FFFF) must sort after U+E000–U+FFFF: move E000–FFFF down and the surrogates up.
    private static int Fixup(char c) => c >= 0xE000 ? c - 0x800 : c >= 0xD800 ? c + 0x2000 : c;
}
