using System.Text;

namespace Storage.Conformance;

/// <summary>Keys, values and instants shared by the suites.</summary>
public static class TestData
{
    /// <summary>The collection a test uses when it needs only one.</summary>
    public const string Collection = "items";

    /// <summary>A second collection, to prove collections are separate.</summary>
    public const string OtherCollection = "other";

    /// <summary>A clock start with sub-millisecond ticks, so truncation to milliseconds shows.</summary>
    public static DateTimeOffset Start { get; } = new DateTimeOffset(2030, 1, 2, 3, 4, 5, 678, TimeSpan.Zero).AddTicks(9_123);

    /// <summary>
    /// Valid keys that trip up file systems (case folding, reserved names, separators, trailing dot
    /// and space), Unicode normalization and UTF-16 ordering. Each is also a valid partition key.
    /// </summary>
    public static IReadOnlyList<string> TrickyKeys { get; } =
    [
        "Alice", "alice", "ALICE",
        "../x", "a/b", "a\\b", "/", "\\",
        "CON", "con", "nul.txt", "NUL", "aux", "COM1", "LPT1.txt",
        ".", "..", "...", "a", "a.", "a ", " a", "a:b", "a*b?", "a|b<>\"",
        "caf\u00e9", "cafe\u0301",
        "😀", "\U00010000", "\U0010FFFF", "\uE000", "\uFFFD", "\uFF21", "\u00a0",
        "%2e%2e", "~1", "a\tb", "a\nb", "\u0001",
    ];

    /// <summary>300-character keys (DESIGN.md: valid keys that must be stored safely), as partition and as document keys.</summary>
    public static IReadOnlyList<string> LongKeys { get; } =
    [
        new string('k', 300),
        new string('K', 300),
        string.Concat(Enumerable.Repeat("😀", 100)),
    ];

    /// <summary>
    /// Strings that are no valid key, by a label. Theories take the label, not the string: the test
    /// runner's serialization of theory data would replace an unpaired surrogate with U+FFFD.
    /// </summary>
    public static IReadOnlyDictionary<string, string> InvalidKeys { get; } = new Dictionary<string, string>
    {
        ["empty"] = string.Empty,
        ["NUL alone"] = "\0",
        ["NUL inside"] = "a\0b",
        ["NUL at the end"] = "ab\0",
        ["high surrogate alone"] = "\uD83D",
        ["low surrogate alone"] = "\uDE00",
        ["high surrogate inside"] = "a\uD83Db",
        ["low surrogate inside"] = "a\uDE00b",
        ["reversed surrogate pair"] = "\uDE00\uD83D",
        ["high surrogate at the end"] = "ab\uD83D",
        ["valid pair then low surrogate"] = "\uD83D\uDE00\uDE00",
    };

    /// <summary>The labels of <see cref="InvalidKeys"/>, for theories.</summary>
    public static TheoryData<string> InvalidKeyLabels { get; } = [.. InvalidKeys.Keys];

    /// <summary>The message a key validation gives for one of <see cref="InvalidKeys"/>.</summary>
    /// <param name="key">The invalid key.</param>
    /// <param name="what">What the key is ("partition key", "document key", "prefix", …).</param>
    /// <returns>The message from <see cref="Internal.ErrorMessages"/>.</returns>
    public static string InvalidKeyMessage(string key, string what)
    {
        if (key.Length == 0)
        {
            return Internal.ErrorMessages.Empty(what);
        }

        if (key.Contains('\0', StringComparison.Ordinal))
        {
            return Internal.ErrorMessages.ContainsNul(what);
        }

        for (var i = 0; i < key.Length; i++)
        {
            if (char.IsSurrogatePair(key, i))
            {
                i++;
            }
            else if (char.IsSurrogate(key[i]))
            {
                return Internal.ErrorMessages.UnpairedSurrogate(what, i);
            }
        }

        throw new ArgumentException("The key is valid.", nameof(key));
    }

    /// <summary>Strings that are no valid collection or sequence name.</summary>
    public static TheoryData<string> InvalidNames { get; } = new()
    {
        string.Empty,
        "1abc",
        "_abc",
        "-abc",
        ".abc",
        "a b",
        "a/b",
        "a\\b",
        "caf\u00e9",
        "a\0",
        "a:b",
        "😀",
        new string('n', StoreLimits.MaxNameLength + 1),
    };

    /// <summary>Collection and sequence names that are valid.</summary>
    public static TheoryData<string> ValidNames { get; } = new()
    {
        "a",
        "Z",
        "moods",
        "Moods",
        "a-b_c.d",
        "a1",
        "a..",
        new string('n', StoreLimits.MaxNameLength),
    };

    /// <summary>A readable, deterministic event id: <c>00000000-0000-0000-0000-00000000000n</c>.</summary>
    /// <param name="n">The number in the id; at least 1.</param>
    /// <returns>The id.</returns>
    public static Guid Id(int n) => n >= 1 ? new Guid(0, 0, 0, 0, 0, 0, 0, (byte)(n >> 24), (byte)(n >> 16), (byte)(n >> 8), (byte)n) : throw new ArgumentOutOfRangeException(nameof(n));

    /// <summary>An event with id <see cref="Id"/>(<paramref name="n"/>) and data <c>{"n":n}</c> unless given.</summary>
    /// <param name="n">The event's number.</param>
    /// <param name="type">The type name.</param>
    /// <param name="json">The data, or <see langword="null"/> for <c>{"n":n}</c>.</param>
    /// <param name="metadata">The metadata, or <see langword="null"/> for none.</param>
    /// <returns>The event.</returns>
    public static EventData NewEvent(int n, string type = "happened", string? json = null, string? metadata = null)
        => EventData.Create(type, json ?? $$"""{"n":{{n}}}""", metadata, Id(n));

    /// <summary>Events numbered <paramref name="first"/> to <paramref name="first"/> + <paramref name="count"/> - 1.</summary>
    /// <param name="first">The first event's number.</param>
    /// <param name="count">How many.</param>
    /// <returns>The events.</returns>
    public static EventData[] NewEvents(int first, int count) => [.. Enumerable.Range(first, count).Select(n => NewEvent(n))];

    /// <summary>UTF-8 bytes of a string.</summary>
    /// <param name="text">The string.</param>
    /// <returns>Its UTF-8 bytes.</returns>
    public static byte[] Utf8(string text) => Encoding.UTF8.GetBytes(text);

    /// <summary>A string of <paramref name="unit"/> repeated until it is exactly <paramref name="bytes"/> UTF-8 bytes, after an ASCII head that pads the remainder.</summary>
    /// <param name="unit">A character (or surrogate pair) to repeat.</param>
    /// <param name="bytes">The UTF-8 length wanted.</param>
    /// <returns>The string.</returns>
    public static string OfUtf8Length(string unit, int bytes)
    {
        var unitBytes = Encoding.UTF8.GetByteCount(unit);
        var result = new string('x', bytes % unitBytes) + string.Concat(Enumerable.Repeat(unit, bytes / unitBytes));
        return Encoding.UTF8.GetByteCount(result) == bytes ? result : throw new InvalidOperationException("Length arithmetic is wrong.");
    }

    /// <summary>A JSON string value of exactly <paramref name="bytes"/> UTF-8 bytes, quotes included.</summary>
    /// <param name="bytes">The size wanted; at least 2.</param>
    /// <returns>The JSON bytes.</returns>
    public static byte[] JsonStringOfSize(int bytes)
    {
        var value = new byte[bytes];
        value.AsSpan().Fill((byte)'a');
        value[0] = (byte)'"';
        value[^1] = (byte)'"';
        return value;
    }
}
