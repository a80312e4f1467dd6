using System.Globalization;
using System.Security.Cryptography;
using System.Text;

namespace Storage.CrashWriter;

/// <summary>
/// The keys the crash writer writes, known to the tests that check its work: a few partitions
/// (one whose file name is escaped, one long enough for the hashed file name), one collection of a
/// few documents each, one sequence each, and (with <c>--streams on</c>) one stream each.
/// </summary>
internal static class CrashKeySpace
{
    public const string Collection = "docs";

    public const string Sequence = "counter";

    public const string Stream = "log";

    public static IReadOnlyList<string> Partitions { get; } = ["p0", "p1", "user/42 Ωmega", "long-" + new string('z', 200)];

    public static IReadOnlyList<string> Keys { get; } = ["k0", "k1", "k2", "k3", "k4", "k5"];
}

/// <summary>What a write of the crash writer does.</summary>
internal enum CrashOpKind
{
    /// <summary>One conditional put.</summary>
    Put,

    /// <summary>A batch of conditional puts to several keys of one partition.</summary>
    Batch,

    /// <summary>A sequence increment.</summary>
    Sequence,

    /// <summary>An append of events to the partition's stream, with the expected version, and perhaps puts in the same batch.</summary>
    Append,
}

/// <summary>One document a write puts: its key and the hash of its value.</summary>
/// <param name="Key">The document key.</param>
/// <param name="ValueHash">See <see cref="CrashLog.HashValue"/>.</param>
internal sealed record CrashDoc(string Key, string ValueHash);

/// <summary>One write of the crash writer.</summary>
/// <param name="Kind">Put, batch, sequence increment or append.</param>
/// <param name="OpId">Unique across every run on a directory (<c>r&lt;run&gt;.&lt;n&gt;</c>).</param>
/// <param name="Partition">The partition key.</param>
/// <param name="Name">The collection (puts, batches, appends) or the sequence name.</param>
/// <param name="Docs">The documents put (empty for a sequence increment).</param>
/// <param name="Delta">The increment of a sequence (0 otherwise).</param>
internal sealed record CrashOp(CrashOpKind Kind, string OpId, string Partition, string Name, IReadOnlyList<CrashDoc> Docs, long Delta)
{
    /// <summary>The events an append adds to <see cref="CrashKeySpace.Stream"/>, in order: each event's id (as <see cref="CrashDoc.Key"/>) and the hash of its data.</summary>
    public IReadOnlyList<CrashDoc> Events { get; init; } = [];
}

/// <summary>A parsed line of the writer's output.</summary>
/// <param name="Tag">BEGIN, ACK, OPEN, READY, LOCKED or ERROR.</param>
/// <param name="Op">The write, for BEGIN and ACK.</param>
/// <param name="Result">For ACK: the version a put, batch or append took, or the sequence's new value.</param>
/// <param name="Text">The line as printed.</param>
internal sealed record CrashLine(string Tag, CrashOp? Op, long Result, string Text);

/// <summary>
/// The crash writer's output protocol, one line per event, shared by the writer and the tests that
/// read it. A write prints <c>BEGIN</c> before it starts and <c>ACK</c> once its task has completed,
/// so a killed writer leaves at most one write in flight (a BEGIN without an ACK). Keys are escaped
/// so every field is one space-free token.
/// </summary>
/// <example>
/// <code>
/// BEGIN put r1.7 p0 docs k3=5d41402abc4b2a76
/// ACK put r1.7 p0 docs 12 k3=5d41402abc4b2a76
/// BEGIN batch r1.8 p1 docs k0=... k4=...
/// ACK batch r1.8 p1 docs 7 k0=... k4=...
/// BEGIN seq r1.9 p2 counter 3
/// ACK seq r1.9 p2 counter 42
/// BEGIN append r1.10 p0 docs k1=... +0193a5c4-...=9f86d081884c7d65
/// ACK append r1.10 p0 docs 13 k1=... +0193a5c4-...=9f86d081884c7d65
/// </code>
/// An append's events are the tokens that start with '+' (keys are escaped, so no key does).
/// </example>
internal static class CrashLog
{
    public const string Begin = "BEGIN";
    public const string Ack = "ACK";
    public const string Open = "OPEN";
    public const string Ready = "READY";
    public const string Locked = "LOCKED";
    public const string Fenced = "FENCED";
    public const string Cleared = "CLEARED";
    public const string Error = "ERROR";

    /// <summary>Exit code after an unexpected error (printed as an ERROR line).</summary>
    public const int ExitError = 2;

    /// <summary>Exit code when the store is locked by another holder.</summary>
    public const int ExitLocked = 3;

    /// <summary>Exit code for bad arguments.</summary>
    public const int ExitUsage = 64;

    /// <summary>A short, stable hash of a value's bytes: the first 16 hex digits of its SHA-256.</summary>
    public static string HashValue(ReadOnlySpan<byte> value) => Convert.ToHexStringLower(SHA256.HashData(value))[..16];

    public static string FormatBegin(CrashOp op) => Format(Begin, op, result: null);

    public static string FormatAck(CrashOp op, long result) => Format(Ack, op, result);

    public static CrashLine Parse(string line)
    {
        var fields = line.Split(' ');
        var tag = fields[0];
        if (tag is not (Begin or Ack))
        {
            return new CrashLine(tag, null, 0, line);
        }

        var kind = fields[1] switch
        {
            "put" => CrashOpKind.Put,
            "batch" => CrashOpKind.Batch,
            "seq" => CrashOpKind.Sequence,
            "append" => CrashOpKind.Append,
            _ => throw new FormatException($"Unknown write kind in '{line}'."),
        };
        var opId = fields[2];
        var partition = Uri.UnescapeDataString(fields[3]);
        var name = fields[4];
        var next = 5;
        long result = 0;
        if (tag == Ack)
        {
            result = long.Parse(fields[next++], CultureInfo.InvariantCulture);
        }

        if (kind == CrashOpKind.Sequence)
        {
            var delta = tag == Begin ? long.Parse(fields[next], CultureInfo.InvariantCulture) : 0;
            return new CrashLine(tag, new CrashOp(kind, opId, partition, name, [], delta), result, line);
        }

        var docs = new List<CrashDoc>();
        var events = new List<CrashDoc>();
        for (var i = next; i < fields.Length; i++)
        {
            var separator = fields[i].LastIndexOf('=');
            if (fields[i].StartsWith('+'))
            {
                events.Add(new CrashDoc(fields[i][1..separator], fields[i][(separator + 1)..]));
            }
            else
            {
                docs.Add(new CrashDoc(Uri.UnescapeDataString(fields[i][..separator]), fields[i][(separator + 1)..]));
            }
        }

        return new CrashLine(tag, new CrashOp(kind, opId, partition, name, docs, 0) { Events = events }, result, line);
    }

    private static string Format(string tag, CrashOp op, long? result)
    {
        var line = new StringBuilder();
        line.Append(tag).Append(' ').Append(op.Kind switch
        {
            CrashOpKind.Put => "put",
            CrashOpKind.Batch => "batch",
            CrashOpKind.Append => "append",
            _ => "seq",
        });
        line.Append(' ').Append(op.OpId).Append(' ').Append(Uri.EscapeDataString(op.Partition)).Append(' ').Append(op.Name);
        if (result is { } value)
        {
            line.Append(' ').Append(value.ToString(CultureInfo.InvariantCulture));
        }

        if (op.Kind == CrashOpKind.Sequence)
        {
            if (result is null)
            {
                line.Append(' ').Append(op.Delta.ToString(CultureInfo.InvariantCulture));
            }

            return line.ToString();
        }

        foreach (var doc in op.Docs)
        {
            line.Append(' ').Append(Uri.EscapeDataString(doc.Key)).Append('=').Append(doc.ValueHash);
        }

        foreach (var e in op.Events)
        {
            line.Append(" +").Append(e.Key).Append('=').Append(e.ValueHash);
        }

        return line.ToString();
    }
}
