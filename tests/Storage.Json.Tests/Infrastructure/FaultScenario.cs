using System.Text;

namespace Storage.Json.Tests.Infrastructure;

/// <summary>
/// A write to put through every fault: <see cref="Setup"/> builds acknowledged state (with full
/// durability, then the store is reopened), <see cref="Act"/> is the write whose every file-layer
/// step fails or loses power in turn.
/// </summary>
/// <param name="Name">The scenario's name, as theory data.</param>
/// <param name="Partition">The partition the act writes (where the follow-up write goes).</param>
/// <param name="Setup">Writes the state that must survive.</param>
/// <param name="Act">The write under test.</param>
internal sealed record FaultScenario(string Name, string Partition, Func<IStore, Task> Setup, Func<IStore, Task> Act)
{
    public override string ToString() => Name;
}

/// <summary>The writes the fault tests put through every step: one of each kind the store has.</summary>
internal static class FaultScenarios
{
    public const string Alice = "alice";
    public const string Bob = "bob";
    public const string Carol = "carol";

    /// <summary>Escaped in its file name.</summary>
    public const string Odd = "Ü/../x:CON .";

    /// <summary>Long enough for the hashed file name, with the key kept inside the file.</summary>
    public static readonly string Long = "long-" + new string('q', 240);

    public const string Notes = "notes";

    /// <summary>The collection of the follow-up write after a failure.</summary>
    public const string After = "after";

    public const string Ids = "ids";

    /// <summary>A stream of <see cref="Alice"/> with two events after the setup.</summary>
    public const string Audit = "audit";

    public static SnapshotScope Scope { get; } = new([Alice, Bob, Carol, Odd, Long], [Notes, After], [Ids]);

    public static IReadOnlyList<FaultScenario> All { get; } =
    [
        new("put", Alice, Setup, s => s.PutAsync(Alice, Notes, "n1", """{"n1":2}""", WriteCondition.MustMatchVersion(1)).AsTask()),
        new("put-creating-a-partition", Carol, Setup, s => s.PutAsync(Carol, Notes, "c1", """{"c1":1}""", WriteCondition.MustNotExist).AsTask()),
        new("put-to-an-escaped-partition", Odd, Setup, s => s.PutAsync(Odd, Notes, "o1", """{"o1":2}""").AsTask()),
        new("put-to-a-hashed-partition", Long, Setup, s => s.PutAsync(Long, Notes, "l1", """{"l1":2}""").AsTask()),
        new("batch", Alice, Setup, s => s.CommitAsync(Alice, [
            WriteOperation.Put(Notes, "n1", """{"n1":"batch"}""", WriteCondition.MustMatchVersion(1)),
            WriteOperation.Put(Notes, "n3", """{"n3":"batch"}""", WriteCondition.MustNotExist),
            WriteOperation.Delete(Notes, "n2"),
        ]).AsTask()),
        new("partition-delete", Bob, Setup, async s => Assert.True(await s.DeletePartitionAsync(Bob))),
        new("append", Alice, Setup, s => s.CommitAsync(Alice, [WriteOperation.Append(Audit, [Event(3), Event(4, metadata: "null")], ExpectedStreamVersion.Exactly(2))]).AsTask()),
        new("append-creating-a-partition", Carol, Setup, s => s.CommitAsync(Carol, [WriteOperation.Append(Audit, [Event(5)], ExpectedStreamVersion.NoStream)]).AsTask()),
        new("batch-with-appends", Alice, Setup, s => s.CommitAsync(Alice, [
            WriteOperation.Put(Notes, "n1", """{"n1":"with events"}""", WriteCondition.MustMatchVersion(1)),
            WriteOperation.Append(Audit, [Event(6), Event(7)], ExpectedStreamVersion.Exactly(2)),
            WriteOperation.Delete(Notes, "n2"),
            WriteOperation.Append("log", [Event(8)], ExpectedStreamVersion.NoStream),
        ]).AsTask()),
        new("sequence-increment", Alice, Setup, s => s.IncrementSequenceAsync(Alice, Ids, 5).AsTask()),
        new("sequence-increment-creating-a-partition", Carol, Setup, s => s.IncrementSequenceAsync(Carol, Ids).AsTask()),
        new("restore-replacing", Alice, Setup, s => RestoreAsync(s, Alice, RestoreMode.Replace)),
        new("restore-creating-a-partition", Carol, Setup, s => RestoreAsync(s, Carol, RestoreMode.FailIfDifferent)),
    ];

    public static IEnumerable<object[]> Names => All.Select(s => new object[] { s.Name });

    public static FaultScenario Named(string name) => All.Single(s => s.Name == name);

    private static async Task Setup(IStore store)
    {
        await store.PutAsync(Alice, Notes, "n1", """{"n1":1}""");
        await store.PutAsync(Alice, Notes, "n2", """{"n2":1,"big":12345678901234567890}""");
        await store.IncrementSequenceAsync(Alice, Ids, 3);
        await store.PutAsync(Bob, Notes, "b1", """{"b1":1}""");
        await store.IncrementSequenceAsync(Bob, Ids);
        await store.PutAsync(Odd, Notes, "o1", """{"o1":1}""");
        await store.PutAsync(Long, Notes, "l1", """{"l1":1}""");
        await store.CommitAsync(Alice, [WriteOperation.Append(Audit, [Event(1, metadata: """{"by":"setup"}"""), Event(2)], ExpectedStreamVersion.NoStream)]);
        await store.PutAsync(Alice, Notes, "gone", """{"gone":1}""");
        await store.DeleteAsync(Alice, Notes, "gone");
    }

    /// <summary>
    /// Restores a fixed state into <paramref name="partition"/>: documents (one of them expired), a
    /// tombstone, a sequence and a stream with their revisions, at revision 40 — above what the setup
    /// leaves, so a write after it continues above every revision the partition had.
    /// </summary>
    private static async Task RestoreAsync(IStore store, string partition, RestoreMode mode)
    {
        var at = FaultChecks.Epoch;
        var state = new PartitionExport(
            partition,
            revision: 40,
            oldestResumable: 3,
            [
                new StoredDocument(partition, Notes, "n1", """{"n1":"restored","big":12345678901234567890}"""u8.ToArray(), 38, at.AddHours(-3), at.AddHours(-1), null),
                new StoredDocument(partition, Notes, "r1", """{"r1":[1,2.50,"x"]}"""u8.ToArray(), 12, at.AddHours(-2), at.AddHours(-2), at.AddDays(1)),
                new StoredDocument(partition, Notes, "lapsed", """{"lapsed":1}"""u8.ToArray(), 13, at.AddHours(-2), at.AddHours(-2), at.AddMinutes(-1)),
                new StoredDocument(partition, After, "a1", "[]"u8.ToArray(), 39, at.AddMinutes(-30), at.AddMinutes(-30), null),
            ],
            [new ExportedTombstone(Notes, "n2", 37, at.AddMinutes(-40))],
            [new ExportedSequence(Ids, 17, 40)],
            [new ExportedStream(Audit, [Restored(partition, 1, 3, "null"), Restored(partition, 2, 30, null)])]);
        await ((IStoreRestore)store).RestorePartitionAsync(state, mode);
    }

    private static StoredEvent Restored(string partition, int version, long revision, string? metadata)
        => new(partition, Audit, version, revision, new Guid($"00000000-0000-7000-9000-{version:D12}"), "restored", Encoding.UTF8.GetBytes($$"""{"v":{{version}}}"""), metadata is null ? ReadOnlyMemory<byte>.Empty : Encoding.UTF8.GetBytes(metadata), FaultChecks.Epoch.AddMinutes(-50 + version));

    /// <summary>An event with a fixed id, so every run of a scenario writes the same bytes.</summary>
    public static EventData Event(int n, string? metadata = null)
        => EventData.Create("noted", $$"""{"n":{{n}},"pad":"{{new string('e', 40 * n)}}"}""", metadata, new Guid($"00000000-0000-7000-8000-{n:D12}"));
}
