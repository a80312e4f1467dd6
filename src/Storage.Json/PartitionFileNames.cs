using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using Storage.Internal;

namespace Storage.Json;

/// <summary>
/// Maps partition keys to file names, injectively and safely on every filesystem. Modelled on
/// Mercurial's store encoding: bytes of <c>a-z 0-9 _ -</c> stand for themselves and every other
/// byte of the UTF-8 key becomes <c>~xx</c> (lowercase hex), so two keys that differ only in case,
/// normalization or anything else never share a name, even on a case-insensitive filesystem. A
/// fixed prefix means no name is reserved on Windows (CON, NUL.txt) or starts with a dot, and the
/// <c>.json</c> suffix means none ends with a dot or a space. Past a length cap the name takes a
/// hash form — a readable fragment and the SHA-256 of the key — and the real key, stored inside
/// the file, is checked on every read.
/// </summary>
internal static class PartitionFileNames
{
    /// <summary>Prefix of a name that spells its key.</summary>
    public const string DirectPrefix = "p-";

    /// <summary>Prefix of a name that hashes its key.</summary>
    public const string HashedPrefix = "h-";

    /// <summary>Suffix of every partition file.</summary>
    public const string Extension = ".json";

    /// <summary>Suffix of a temporary file, removed on open.</summary>
    public const string TempExtension = ".tmp";

    /// <summary>The longest direct name; a longer encoding takes the hash form. Leaves room for a temp suffix under 255 bytes.</summary>
    public const int MaxDirectNameLength = 200;

    private const int HashedFragmentLength = 96;

    /// <summary>The file name of a partition.</summary>
    /// <param name="partitionKey">A valid partition key.</param>
    /// <returns>The file name (ASCII, at most <see cref="MaxDirectNameLength"/> characters).</returns>
    public static string Encode(string partitionKey)
    {
        var bytes = Encoding.UTF8.GetBytes(partitionKey);
        var body = new StringBuilder(bytes.Length * 3);
        foreach (var b in bytes)
        {
            if (IsSafe(b))
            {
                body.Append((char)b);
            }
            else
            {
                body.Append('~').Append(b.ToString("x2", CultureInfo.InvariantCulture));
            }
        }

        if (DirectPrefix.Length + body.Length + Extension.Length <= MaxDirectNameLength)
        {
            return DirectPrefix + body + Extension;
        }

        // Hash form: h-<readable fragment>-<sha256 hex>.json. The fragment is only for people
        // looking at the directory; it is cut before an escape so it never ends in half of one.
        var cut = HashedFragmentLength;
        if (body[cut - 1] == '~')
        {
            cut--;
        }
        else if (body[cut - 2] == '~')
        {
            cut -= 2;
        }

        return HashedPrefix + body.ToString(0, cut) + "-" + Convert.ToHexStringLower(SHA256.HashData(bytes)) + Extension;
    }

    /// <summary>Whether the name is in the hash form (its key must be read from the file).</summary>
    /// <param name="fileName">A file name.</param>
    /// <returns><see langword="true"/> for a hashed partition file name.</returns>
    public static bool IsHashed(string fileName) => fileName.StartsWith(HashedPrefix, StringComparison.Ordinal) && fileName.EndsWith(Extension, StringComparison.Ordinal);

    /// <summary>Decodes a direct name back to its key.</summary>
    /// <param name="fileName">A file name.</param>
    /// <param name="partitionKey">The key, when the name is a canonical direct name.</param>
    /// <returns><see langword="true"/> when the name decodes and encodes back to itself.</returns>
    public static bool TryDecodeDirect(string fileName, out string partitionKey)
    {
        partitionKey = string.Empty;
        if (!fileName.StartsWith(DirectPrefix, StringComparison.Ordinal) || !fileName.EndsWith(Extension, StringComparison.Ordinal))
        {
            return false;
        }

        // Decoded leniently: a name that is not the canonical encoding of its key fails the check below.
        var body = fileName.AsSpan(DirectPrefix.Length, fileName.Length - DirectPrefix.Length - Extension.Length);
        var bytes = new List<byte>(body.Length);
        for (var i = 0; i < body.Length; i++)
        {
            if (body[i] != '~')
            {
                if (body[i] >= 0x80)
                {
                    return false;
                }

                bytes.Add((byte)body[i]);
            }
            else if (i + 2 < body.Length && byte.TryParse(body.Slice(i + 1, 2), NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture, out var escaped))
            {
                bytes.Add(escaped);
                i += 2;
            }
            else
            {
                return false;
            }
        }

        var raw = bytes.ToArray();
        if (!System.Text.Unicode.Utf8.IsValid(raw))
        {
            return false;
        }

        var key = Encoding.UTF8.GetString(raw);
        if (!Identifiers.IsValidPartitionKey(key) || !string.Equals(Encode(key), fileName, StringComparison.Ordinal))
        {
            return false;
        }

        partitionKey = key;
        return true;
    }

    private static bool IsSafe(byte b) => b is (>= (byte)'a' and <= (byte)'z') or (>= (byte)'0' and <= (byte)'9') or (byte)'_' or (byte)'-';
}
