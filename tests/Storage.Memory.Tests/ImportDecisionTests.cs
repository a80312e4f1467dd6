using Storage.Engine;
using Xunit;

namespace Storage.Memory.Tests;

/// <summary>
/// A bulk import's partition is applied as its puts are, without a must-not-exist copy of each, only
/// when no put finds a live document before the writer changed anything; otherwise it is applied as
/// must-not-exist puts and fails as they do.
/// </summary>
public sealed class ImportDecisionTests
{
    private static readonly DateTimeOffset s_now = DateTimeOffset.UnixEpoch.AddDays(1);

    private static readonly ImportedPartition s_import = new("p", [WriteOperation.Put("c", "a", "1"), WriteOperation.Put("c", "b", "2")]);

    [Fact]
    public void Puts_into_a_partition_that_does_not_exist_need_no_conditions()
    {
        var (writer, state) = Writer(exists: false);
        Assert.True(ImportValidator.NoneLive(s_import.Puts, writer, state));
    }

    [Fact]
    public void An_expired_document_under_an_imported_key_needs_no_condition()
    {
        var (writer, state) = Writer(exists: true, ("b", s_now));
        Assert.True(ImportValidator.NoneLive(s_import.Puts, writer, state));
    }

    [Fact]
    public void A_live_document_under_an_imported_key_keeps_the_conditions_and_fails_the_partition()
    {
        var (writer, state) = Writer(exists: true, ("b", null));
        Assert.False(ImportValidator.NoneLive(s_import.Puts, writer, state));

        var write = PendingWrite.Import(s_import, [null, null]);
        Assert.False(write.Apply(writer, state));
        var conflict = Assert.IsType<VersionConflictException>(write.Error);
        Assert.Equal((WriteCondition.MustNotExist, 1, "b"), (conflict.Condition, conflict.OperationIndex, conflict.Key));
        Assert.False(writer.HasChanges);
    }

    [Fact]
    public void After_an_earlier_write_of_the_same_writer_the_conditions_are_kept()
    {
        var reads = new PartitionReads();
        reads.AddBatch(s_import.Puts);
        var state = new PartitionState("p", reads);
        var writer = new PartitionWriter(state, s_now);
        writer.ApplyBatch([WriteOperation.Put("c", "a", "0")]);
        Assert.False(ImportValidator.NoneLive(s_import.Puts, writer, state));

        var write = PendingWrite.Import(s_import, [null, null]);
        Assert.False(write.Apply(writer, state));
        Assert.Equal("a", Assert.IsType<VersionConflictException>(write.Error).Key);
    }

    [Fact]
    public void An_import_without_live_documents_writes_every_put_as_created()
    {
        var (writer, state) = Writer(exists: false);
        var write = PendingWrite.Import(s_import, [null, null]);
        Assert.True(write.Apply(writer, state));
        var result = Assert.IsType<CommitResult>(write.Result);
        Assert.All(result.Outcomes, o => Assert.False(o.Existed));
        Assert.Equal(2, writer.Upserts().Count());
    }

    private static (PartitionWriter Writer, PartitionState State) Writer(bool exists, params (string Key, DateTimeOffset? ExpiresAt)[] stored)
    {
        var reads = new PartitionReads();
        reads.AddBatch(s_import.Puts);
        var state = new PartitionState("p", reads) { Exists = exists, Revision = exists ? 1 : 0 };
        foreach (var (key, expiresAt) in stored)
        {
            state.Documents[new DocumentId("c", key)] = new DocumentRow(1, s_now.AddHours(-2), expiresAt);
        }

        return (new PartitionWriter(state, s_now), state);
    }
}
