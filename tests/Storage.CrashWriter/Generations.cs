using System.Globalization;
using System.Text;
using System.Text.Json;

namespace Storage.CrashWriter;

/// <summary>
/// The workload a reader checks while an owner writes it (mode "generations", and the JSON reader
/// tests in process): a partition's generation g is one batch that puts every key of
/// <see cref="CrashKeySpace.Keys"/> with <c>{"gen":g,…}</c> and appends one event <c>{"gen":g}</c>
/// to <see cref="CrashKeySpace.Stream"/>. So a whole state of a partition written only by this workload
/// is: revision g, every document at generation g and version g, and a stream of g events, the last of
/// generation g. A read that mixed two commits breaks one of these.
/// </summary>
internal static class Generations
{
    /// <summary>The line the owner prints after each commit: the partition's exported state, by revision and digest.</summary>
    public const string State = "STATE";

    /// <summary>The owner's last line: every generation is written.</summary>
    public const string Done = "DONE";

    /// <summary>Generation <paramref name="generation"/> of a partition: one batch (documents of random length, so files change size).</summary>
    public static IReadOnlyList<WriteOperation> Batch(long generation, Random random)
    {
        var operations = new List<WriteOperation>();
        foreach (var key in CrashKeySpace.Keys)
        {
            operations.Add(WriteOperation.Put(CrashKeySpace.Collection, key, Encoding.UTF8.GetBytes($"{{\"gen\":{generation},\"pad\":\"{new string('g', random.Next(2000))}\"}}")));
        }

        operations.Add(WriteOperation.Append(CrashKeySpace.Stream, [EventData.Create("generation", $"{{\"gen\":{generation}}}")], ExpectedStreamVersion.Exactly(generation - 1)));
        return operations;
    }

    /// <summary>The generation a document's or an event's JSON carries.</summary>
    public static long Of(ReadOnlyMemory<byte> json)
    {
        using var document = JsonDocument.Parse(json);
        return document.RootElement.GetProperty("gen").GetInt64();
    }

    /// <summary>The owner's line for a state it committed: <c>STATE revision digest partition</c> (the partition last: it may hold spaces).</summary>
    public static string FormatState(PartitionExport state)
        => string.Create(CultureInfo.InvariantCulture, $"{State} {state.Revision} {Convert.ToHexStringLower(ExportDigest.Compute(state))} {state.Partition}");

    /// <summary>Reads an owner's line back.</summary>
    public static (string Partition, long Revision, string Digest) ParseState(string line)
    {
        var parts = line.Split(' ', 4);
        return (parts[3], long.Parse(parts[1], CultureInfo.InvariantCulture), parts[2]);
    }

    /// <summary>
    /// Why <paramref name="state"/> is not a whole state of the workload, or null when it is: its
    /// revision, every document's version and generation, and its stream agree.
    /// </summary>
    public static string? Whole(PartitionExport state)
    {
        var generation = state.Revision;
        if (state.Documents.Count != CrashKeySpace.Keys.Count)
        {
            return $"{state.Documents.Count} documents at revision {generation}";
        }

        foreach (var document in state.Documents)
        {
            if (document.Version != generation || Of(document.Value) != generation)
            {
                return $"document {document.Key} at version {document.Version}, generation {Of(document.Value)}, in the state at revision {generation}";
            }
        }

        var stream = state.Streams.SingleOrDefault();
        if (stream is null || stream.Version != generation || Of(stream.Events[^1].Data) != generation)
        {
            return $"a stream of {stream?.Version} events in the state at revision {generation}";
        }

        return null;
    }
}
