using System.Text;

namespace Storage.Json.Tests.Infrastructure;

/// <summary>
/// Random valid partition keys aimed at file-name encodings: every Unicode plane, path separators
/// and dots, Windows device names in any case with extensions, keys at the byte limit, case and
/// normalization twins of earlier keys, and keys that look like encoded names.
/// </summary>
internal sealed class RandomKeys(Random random)
{
    private static readonly string[] s_tokens = ["/", "\\", ":", ".", "..", " ", "~", "-", "_", "a", "A", "z", "Z", "0", "%", "*", "?", "\"", "<", ">", "|", "\t", "\n", "\u007f", "$", "p-", "h-", ".json", ".tmp", "~2f", "~41"];
    private static readonly string[] s_devices = ["CON", "PRN", "AUX", "NUL", "COM0", "COM1", "COM9", "LPT1", "LPT9", "CONIN$", "CONOUT$", "CLOCK$"];
    private static readonly string[] s_extensions = ["", ".", ".txt", ".json", " ", " .", ".tar.gz", ":stream", "..", ". ", "¹"];
    private readonly List<string> _earlier = [];

    public string Next()
    {
        var key = random.Next(8) switch
        {
            0 or 1 => AnyPlanes(random.Next(1, 24)),
            2 => Tokens(),
            3 => Device(),
            4 => AtTheLimit(),
            5 when _earlier.Count > 0 => Twin(_earlier[random.Next(_earlier.Count)]),
            6 => "é" + Tokens() + "e\u0301",
            _ => Tokens() + AnyPlanes(random.Next(1, 4)),
        };
        key = FitToLimit(key);
        Storage.Internal.Identifiers.ValidatePartitionKey(key);
        _earlier.Add(key);
        return key;
    }

    private string AnyPlanes(int length)
    {
        var builder = new StringBuilder();
        for (var i = 0; i < length; i++)
        {
            // Planes 0 (BMP), 1 (SMP), 2 (SIP), 3 (TIP), 14 (SSP), 15-16 (private use); no NUL, no surrogates.
            int[] planes = [0, 0, 0, 1, 1, 2, 3, 14, 15, 16];
            var plane = planes[random.Next(planes.Length)];
            int codePoint;
            do
            {
                codePoint = (plane << 16) | random.Next(0x10000);
            }
            while (codePoint == 0 || (codePoint >= 0xD800 && codePoint <= 0xDFFF));

            builder.Append(char.ConvertFromUtf32(codePoint));
        }

        return builder.ToString();
    }

    private string Tokens()
    {
        var builder = new StringBuilder();
        var count = random.Next(1, 16);
        for (var i = 0; i < count; i++)
        {
            builder.Append(s_tokens[random.Next(s_tokens.Length)]);
        }

        return builder.ToString();
    }

    private string Device()
    {
        var device = s_devices[random.Next(s_devices.Length)];
        var cased = new string(device.Select(c => random.Next(2) == 0 ? char.ToLowerInvariant(c) : c).ToArray());
        return cased + s_extensions[random.Next(s_extensions.Length)];
    }

    /// <summary>A key of 150 to 256 UTF-8 bytes, of characters of one to four bytes.</summary>
    private string AtTheLimit()
    {
        string[] pieces = ["a", "A", "~", "é", "€", "😀", "\U00020000", "-"];
        var target = random.Next(150, StoreLimits.MaxPartitionKeyBytes + 1);
        var builder = new StringBuilder();
        while (true)
        {
            var piece = pieces[random.Next(pieces.Length)];
            if (Encoding.UTF8.GetByteCount(builder + piece) > target)
            {
                return builder.Length > 0 ? builder.ToString() : "a";
            }

            builder.Append(piece);
        }
    }

    /// <summary>The same key in another case, or with its last character dropped or doubled: the neighbours most likely to collide.</summary>
    private string Twin(string key) => random.Next(4) switch
    {
        0 => key.ToUpperInvariant(),
        1 => key.ToLowerInvariant(),
        2 => key.Length > 1 && !char.IsSurrogate(key[^1]) ? key[..^1] : key + "x",
        _ => key + (char.IsLowSurrogate(key[^1]) ? key[^2..] : key[^1..]),
    };

    private static string FitToLimit(string key)
    {
        while (Encoding.UTF8.GetByteCount(key) > StoreLimits.MaxPartitionKeyBytes)
        {
            key = key[..(char.IsLowSurrogate(key[^1]) ? ^2 : ^1)];
        }

        return key.Length == 0 ? "k" : key;
    }
}
