using Storage.Engine;
using Xunit;

namespace Storage.Memory.Tests;

/// <summary>
/// The writer's change views are structs a backend may also make empty itself (<c>cond ? writer.Deletes() : []</c>,
/// as PostgreSQL's write path does for a partition without tombstones): such a view must enumerate as empty.
/// </summary>
public sealed class ChangeViewTests
{
    [Fact]
    public void An_empty_or_default_view_enumerates_nothing()
    {
        PartitionWriter.Changes<DocumentId> empty = [];
        Assert.Empty(empty);
        Assert.Empty(default(PartitionWriter.Changes<(DocumentId Id, long Revision)>));

        var count = 0;
        foreach (var id in empty)
        {
            count++;
        }

        Assert.Equal(0, count);
    }

    [Fact]
    public void A_writer_that_wrote_nothing_has_empty_views()
    {
        var writer = new PartitionWriter(new PartitionState("p", new PartitionReads()), DateTimeOffset.UnixEpoch);
        Assert.Empty(writer.Upserts());
        Assert.Empty(writer.Deletes());
        Assert.Empty(writer.TombstoneDeletes());
    }
}
