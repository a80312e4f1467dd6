using Microsoft.Extensions.Time.Testing;
using Storage.Conformance.Reference;
using Storage.Internal;
using static Storage.Conformance.StoreAssert;
using static Storage.Conformance.TestData;

namespace Storage.Conformance;

/// <summary>
/// The change feed: puts, tombstones, appends and sequence changes after a revision, compacted, in
/// a fixed order, a whole commit at a time; truncation when tombstones were dropped or the
/// partition was deleted; and no change missed by a reader that polls while writers write.
/// </summary>
/// <typeparam name="TFixture">The backend's fixture.</typeparam>
public abstract class ChangeFeedTests<TFixture>(TFixture fixture) : StoreTestBase<TFixture>(fixture)
    where TFixture : StoreFixture
{
    private static readonly TimeSpan s_retention = TimeSpan.FromHours(1);

    // ---- What each change carries --------------------------------------------------------------

    [Fact]
    public async Task Put_appears_with_its_revision_and_the_document_as_stored()
    {
        var store = await CreateStoreAsync();
        await store.PutAsync("p", Collection, "a", """{"b":1,"a":1.0}""");
        await store.PutAsync("p", OtherCollection, "caf\u00e9", "\"\\u00e9\"", expiresAt: DateTimeOffset.UtcNow.AddDays(1));

        var page = await store.ReadChangesAsync("p", 0);

        Assert.Equal(["1 put items/a {\"b\":1,\"a\":1.0}", "2 put other/caf\u00e9 \"\\u00e9\""], page.Items.Select(Describe));
        Assert.Equal(2, page.LastRevision);
        Assert.False(page.HasMore);
        var first = page.Items[0];
        Assert.Equal(ChangeKind.Put, first.Kind);
        Assert.Equal(Collection, first.Collection);
        Assert.Equal("a", first.Key);
        Assert.Null(first.Event);
        Assert.Null(first.SequenceName);
        Assert.Equal(0, first.SequenceValue);
        SameDocument((await store.GetAsync("p", Collection, "a"))!, first.Document);
        SameDocument((await store.GetAsync("p", OtherCollection, "caf\u00e9"))!, page.Items[1].Document);
        Assert.Equal(page.Items[1].Revision, page.Items[1].Document!.Version);
    }

    [Fact]
    public async Task Put_of_an_updated_document_carries_its_first_creation_time()
    {
        var time = new FakeTimeProvider(Start);
        var store = await CreateStoreAsync(time);
        await store.PutAsync("p", Collection, "a", "1");
        time.Advance(TimeSpan.FromMinutes(5));
        await store.PutAsync("p", Collection, "a", "2");

        var change = Assert.Single((await store.ReadChangesAsync("p", 0)).Items);

        Assert.Equal(Timestamps.Truncate(Start), change.Document!.CreatedAt);
        Assert.Equal(Timestamps.Truncate(time.GetUtcNow()), change.Document.UpdatedAt);
        SameDocument((await store.GetAsync("p", Collection, "a"))!, change.Document);
    }

    [Fact]
    public async Task Delete_appears_as_a_tombstone_with_its_revision()
    {
        var store = await CreateStoreAsync();
        await store.PutAsync("p", Collection, "a", "1");
        await store.PutAsync("p", Collection, "b", "1");
        Assert.True(await store.DeleteAsync("p", Collection, "a"));

        var page = await store.ReadChangesAsync("p", 0);

        Assert.Equal(["2 put items/b 1", "3 delete items/a"], page.Items.Select(Describe));
        var tombstone = page.Items[1];
        Assert.Equal(ChangeKind.Delete, tombstone.Kind);
        Assert.Equal(Collection, tombstone.Collection);
        Assert.Equal("a", tombstone.Key);
        Assert.Null(tombstone.Document);
        Assert.Null(tombstone.Event);
        Assert.Null(tombstone.SequenceName);
        Assert.Equal(3, page.LastRevision);
    }

    [Fact]
    public async Task Delete_that_changes_nothing_leaves_no_tombstone()
    {
        var time = new FakeTimeProvider(Start);
        var store = await CreateStoreAsync(time);
        await store.PutAsync("p", Collection, "a", "1");
        await store.PutAsync("p", Collection, "expiring", "1", expiresAt: time.GetUtcNow().AddSeconds(1));
        time.Advance(TimeSpan.FromSeconds(1));

        Assert.False(await store.DeleteAsync("p", Collection, "missing"));
        Assert.False(await store.DeleteAsync("p", Collection, "expiring"));
        Assert.False(await store.DeleteAsync("p", OtherCollection, "a"));

        var page = await store.ReadChangesAsync("p", 0);
        Assert.Equal(["1 put items/a 1", "2 put items/expiring 1"], page.Items.Select(Describe));
        Assert.Equal(2, page.LastRevision);
    }

    [Fact]
    public async Task Delete_of_a_missing_or_expired_document_in_a_changing_batch_leaves_no_tombstone()
    {
        var time = new FakeTimeProvider(Start);
        var store = await CreateStoreAsync(time);
        await store.PutAsync("p", Collection, "expiring", "1", expiresAt: time.GetUtcNow().AddSeconds(1));
        await store.PutAsync("p", Collection, "a", "1");
        time.Advance(TimeSpan.FromSeconds(1));

        var result = await store.CommitAsync("p", [WriteOperation.Delete(Collection, "missing"), WriteOperation.Put(Collection, "b", "1"), WriteOperation.Delete(Collection, "expiring"), WriteOperation.Append("s", [NewEvent(1)])]);

        Assert.Equal([new(false, null), new(false, 3), new(false, null), new(false, 1)], result.Outcomes);
        Assert.Equal(["3 put items/b 1", "3 append s#1 happened"], (await store.ReadChangesAsync("p", 2)).Items.Select(Describe));
        Assert.Equal(["1 put items/expiring 1", "2 put items/a 1", "3 put items/b 1", "3 append s#1 happened"], (await store.ReadChangesAsync("p", 0)).Items.Select(Describe));
    }

    [Fact]
    public async Task Appends_appear_as_their_events_with_every_field()
    {
        var time = new FakeTimeProvider(Start);
        var store = await CreateStoreAsync(time);
        await store.AppendAsync("p", "s", [NewEvent(1, "first", """{"x":1.0}""", """{"m":true}"""), NewEvent(2)]);
        time.Advance(TimeSpan.FromSeconds(2));
        await store.AppendAsync("p", "s", [NewEvent(3, "third")]);

        var page = await store.ReadChangesAsync("p", 0);

        Assert.Equal(["1 append s#1 first", "1 append s#2 happened", "2 append s#3 third"], page.Items.Select(Describe));
        var stored = await ReadAllEventsAsync(store, "p", "s");
        for (var i = 0; i < stored.Count; i++)
        {
            Assert.Equal(ChangeKind.Append, page.Items[i].Kind);
            Assert.Null(page.Items[i].Collection);
            Assert.Null(page.Items[i].Key);
            Assert.Null(page.Items[i].Document);
            SameEvent(stored[i], page.Items[i].Event);
        }

        Event(page.Items[0].Event, "p", "s", 1, 1, NewEvent(1, "first", """{"x":1.0}""", """{"m":true}"""), Timestamps.Truncate(Start));
        Assert.True(page.Items[1].Event!.Metadata.IsEmpty);
    }

    [Fact]
    public async Task Sequence_appears_once_with_its_latest_value_at_the_revision_of_its_last_increment()
    {
        var store = await CreateStoreAsync();
        await store.IncrementSequenceAsync("p", "b", 3);
        await store.IncrementSequenceAsync("p", "a");
        await store.PutAsync("p", Collection, "k", "1");
        await store.IncrementSequenceAsync("p", "b", 4);

        var page = await store.ReadChangesAsync("p", 0);

        Assert.Equal(["2 sequence a=1", "3 put items/k 1", "4 sequence b=7"], page.Items.Select(Describe));
        var sequence = page.Items[2];
        Assert.Equal(ChangeKind.Sequence, sequence.Kind);
        Assert.Equal("b", sequence.SequenceName);
        Assert.Equal(7, sequence.SequenceValue);
        Assert.Null(sequence.Collection);
        Assert.Null(sequence.Key);
        Assert.Null(sequence.Document);
        Assert.Null(sequence.Event);
        Assert.Equal(["4 sequence b=7"], (await store.ReadChangesAsync("p", 3)).Items.Select(Describe));
    }

    [Fact]
    public async Task Rejected_writes_appear_nowhere()
    {
        var store = await CreateStoreAsync();
        await store.PutAsync("p", Collection, "k", "1");
        await store.IncrementSequenceAsync("p", "seq", long.MaxValue);

        await Assert.ThrowsAsync<OverflowException>(async () => await store.IncrementSequenceAsync("p", "seq"));
        await Assert.ThrowsAsync<VersionConflictException>(async () => await store.CommitAsync("p", [WriteOperation.Put(Collection, "x", "1"), WriteOperation.Append("s", [NewEvent(1)]), WriteOperation.Put(Collection, "k", "2", WriteCondition.MustNotExist)]));
        await Assert.ThrowsAsync<VersionConflictException>(async () => await store.CommitAsync("p", [WriteOperation.Delete(Collection, "k"), WriteOperation.Append("s", [NewEvent(1)], ExpectedStreamVersion.Exactly(1))]));
        await ThrowsArgumentAsync(async () => await store.CommitAsync("p", [WriteOperation.Delete(Collection, "k"), WriteOperation.Append("s", [NewEvent(1)]), WriteOperation.Append("s", [NewEvent(2)])]));

        var page = await store.ReadChangesAsync("p", 0);
        Assert.Equal(["1 put items/k 1", $"2 sequence seq={long.MaxValue}"], page.Items.Select(Describe));
        Assert.Equal(2, page.LastRevision);
    }

    // ---- Order ---------------------------------------------------------------------------------

    [Fact]
    public async Task Changes_of_one_revision_are_documents_by_collection_and_key_then_events_by_stream_and_version()
    {
        var store = await CreateStoreAsync();
        await store.CommitAsync("p", [WriteOperation.Put(Collection, "b", "1"), WriteOperation.Put(Collection, "\U00010000", "1"), WriteOperation.Put(OtherCollection, "a", "1")]);

        var result = await store.CommitAsync("p",
        [
            WriteOperation.Append("z", [NewEvent(10), NewEvent(11)]),
            WriteOperation.Put(Collection, "\uFFFD", "2"),
            WriteOperation.Delete(Collection, "\U00010000"),
            WriteOperation.Put(OtherCollection, "a", "2"),
            WriteOperation.Append("\U00010000", [NewEvent(12)]),
            WriteOperation.Append("\uFFFD", [NewEvent(13)]),
            WriteOperation.Put(Collection, "a", "2"),
            WriteOperation.Delete(Collection, "b"),
            WriteOperation.Put("D", "k", "2"),
            WriteOperation.Append("A", [NewEvent(14)]),
        ]);

        Assert.Equal(2, result.Revision);
        var page = await store.ReadChangesAsync("p", 1);
        Assert.Equal(
        [
            "2 put D/k 2",
            "2 put items/a 2",
            "2 delete items/b",
            "2 put items/\uFFFD 2",
            "2 delete items/\U00010000",
            "2 put other/a 2",
            "2 append A#1 happened",
            "2 append z#1 happened",
            "2 append z#2 happened",
            "2 append \uFFFD#1 happened",
            "2 append \U00010000#1 happened",
        ], page.Items.Select(Describe));
        Assert.Equal(page.Items.Select(Describe), (await store.ReadChangesAsync("p", 0)).Items.Select(Describe));
    }

    [Fact]
    public async Task Changes_are_in_revision_order_whatever_their_kind()
    {
        var store = await CreateStoreAsync();
        await store.IncrementSequenceAsync("p", "seq");
        await store.AppendAsync("p", "s", [NewEvent(1)]);
        await store.PutAsync("p", "z", "z", "1");
        await store.PutAsync("p", "a", "a", "1");
        await store.AppendAsync("p", "a", [NewEvent(2)]);
        await store.IncrementSequenceAsync("p", "other");
        await store.PutAsync("p", "a", "b", "1");
        await store.DeleteAsync("p", "z", "z");

        var page = await store.ReadChangesAsync("p", 0);

        Assert.Equal(["1 sequence seq=1", "2 append s#1 happened", "4 put a/a 1", "5 append a#1 happened", "6 sequence other=1", "7 put a/b 1", "8 delete z/z"], page.Items.Select(Describe));
        Assert.Equal(8, page.LastRevision);
        Assert.Equal(page.Items, ReferenceStore.InFeedOrder(page.Items));
    }

    // ---- Compaction ----------------------------------------------------------------------------

    [Fact]
    public async Task Document_written_twice_appears_once_at_its_latest_revision()
    {
        var store = await CreateStoreAsync();
        await store.PutAsync("p", Collection, "a", "1");
        await store.PutAsync("p", Collection, "b", "1");
        await store.PutAsync("p", Collection, "a", "2");

        Assert.Equal(["2 put items/b 1", "3 put items/a 2"], (await store.ReadChangesAsync("p", 0)).Items.Select(Describe));
        Assert.Equal(["2 put items/b 1", "3 put items/a 2"], (await store.ReadChangesAsync("p", 1)).Items.Select(Describe));
        Assert.Equal(["3 put items/a 2"], (await store.ReadChangesAsync("p", 2)).Items.Select(Describe));
        var caughtUp = await store.ReadChangesAsync("p", 3);
        Assert.Empty(caughtUp.Items);
        Assert.Equal(3, caughtUp.LastRevision);
        Assert.False(caughtUp.HasMore);
    }

    [Fact]
    public async Task Document_deleted_and_put_again_shows_only_the_put()
    {
        var store = await CreateStoreAsync();
        await store.PutAsync("p", Collection, "a", "1");
        await store.DeleteAsync("p", Collection, "a");
        await store.PutAsync("p", Collection, "a", "2");

        Assert.Equal(["3 put items/a 2"], (await store.ReadChangesAsync("p", 0)).Items.Select(Describe));
        Assert.Equal(["3 put items/a 2"], (await store.ReadChangesAsync("p", 1)).Items.Select(Describe));
        Assert.Equal(["3 put items/a 2"], (await store.ReadChangesAsync("p", 2)).Items.Select(Describe));

        await store.DeleteAsync("p", Collection, "a");
        Assert.Equal(["4 delete items/a"], (await store.ReadChangesAsync("p", 0)).Items.Select(Describe));
    }

    [Fact]
    public async Task Document_put_and_deleted_shows_only_the_tombstone()
    {
        var store = await CreateStoreAsync();
        await store.CommitAsync("p", [WriteOperation.Put(Collection, "a", "1"), WriteOperation.Put(Collection, "b", "1")]);
        await store.CommitAsync("p", [WriteOperation.Delete(Collection, "a"), WriteOperation.Put(Collection, "b", "2")]);

        Assert.Equal(["2 delete items/a", "2 put items/b 2"], (await store.ReadChangesAsync("p", 0)).Items.Select(Describe));
    }

    [Fact]
    public async Task Events_are_never_compacted()
    {
        var store = await CreateStoreAsync();
        await store.AppendAsync("p", "s", [NewEvent(1)]);
        await store.AppendAsync("p", "s", [NewEvent(2)]);
        await store.AppendAsync("p", "s", [NewEvent(1)]);

        Assert.Equal(["1 append s#1 happened", "2 append s#2 happened", "3 append s#3 happened"], (await store.ReadChangesAsync("p", 0)).Items.Select(Describe));
        Assert.Equal([Id(1), Id(2), Id(1)], (await store.ReadChangesAsync("p", 0)).Items.Select(c => c.Event!.Id));
    }

    // ---- Expiry --------------------------------------------------------------------------------

    [Fact]
    public async Task An_expired_document_appears_as_its_latest_put_with_its_expiry_and_its_purge_truncates_readers_behind_it()
    {
        var time = new FakeTimeProvider(Start);
        var store = await CreateStoreAsync(time);
        var now = time.GetUtcNow();
        await store.PutAsync("p", Collection, "a", "1", expiresAt: now.AddSeconds(1));
        await store.PutAsync("p", Collection, "b", "1");
        await store.PutAsync("p", Collection, "c", "1", expiresAt: now.AddSeconds(-1));

        var before = await store.ReadChangesAsync("p", 0);
        time.Advance(TimeSpan.FromSeconds(1));
        var after = await store.ReadChangesAsync("p", 0);
        var afterTwo = await store.ReadChangesAsync("p", 2);
        await store.PutAsync("p", Collection, "a", "2");
        var replaced = await store.ReadChangesAsync("p", 0);
        Assert.Equal(1, await store.PurgeExpiredAsync());
        var purged = await store.ReadChangesAsync("p", 0);

        // A copy made from the feed holds what the store holds, expired documents with their expiry included,
        // so its own reads hide them at the same moment.
        Assert.Equal(["1 put items/a 1", "2 put items/b 1", "3 put items/c 1"], before.Items.Select(Describe));
        Assert.Equal(Timestamps.Truncate(now.AddSeconds(-1)), before.Items[2].Document!.ExpiresAt);
        Assert.Equal(3, before.LastRevision);
        Assert.Equal(before.Items.Select(Describe), after.Items.Select(Describe));
        Assert.Equal(["3 put items/c 1"], afterTwo.Items.Select(Describe));
        Assert.Equal((3, false), (afterTwo.LastRevision, afterTwo.HasMore));
        Assert.Equal(["2 put items/b 1", "3 put items/c 1", "4 put items/a 2"], replaced.Items.Select(Describe));

        // The purge removed c at version 3: a reader behind it never saw it, and cannot resume.
        Assert.Equal(["2 put items/b 1", "4 put items/a 2"], purged.Items.Select(Describe));
        Assert.Equal(4, purged.LastRevision);
        Assert.Equal(3, purged.OldestResumableRevision);
        await TruncatedAsync(() => store.ReadChangesAsync("p", 2).AsTask(), "p", 2, 3);
        Assert.Equal(["4 put items/a 2"], (await store.ReadChangesAsync("p", 3)).Items.Select(Describe));
    }

    [Fact]
    public async Task A_copy_read_from_0_in_small_pages_reaches_past_what_a_purge_dropped_and_resumes()
    {
        var time = new FakeTimeProvider(Start);
        var store = await CreateStoreAsync(time, tombstoneRetention: TimeSpan.FromMinutes(1));
        for (var i = 0; i < 6; i++)
        {
            await store.PutAsync("p", Collection, $"k{i}", "1");
        }

        await store.PutAsync("p", Collection, "short", "1", expiresAt: time.GetUtcNow().AddSeconds(1));
        await store.DeleteAsync("p", Collection, "k5");
        time.Advance(TimeSpan.FromMinutes(2));
        await store.PutAsync("p", Collection, "k9", "1");
        await store.PurgeExpiredAsync();
        var oldest = (await store.ReadChangesAsync("p", 0)).OldestResumableRevision;
        Assert.Equal(8, oldest);

        var first = await store.ReadChangesAsync("p", 0, limit: 1);
        var rest = await store.ReadChangesAsync("p", first.LastRevision, limit: 1);

        Assert.Equal(["1 put items/k0 1", "2 put items/k1 1", "3 put items/k2 1", "4 put items/k3 1", "5 put items/k4 1"], first.Items.Select(Describe));
        Assert.Equal((8, true), (first.LastRevision, first.HasMore));
        Assert.Equal(["9 put items/k9 1"], rest.Items.Select(Describe));
        Assert.Equal((9, false), (rest.LastRevision, rest.HasMore));
    }

    [Fact]
    public async Task A_document_stays_in_the_feed_with_its_expiry_once_it_expires()
    {
        var time = new FakeTimeProvider(Start);
        var store = await CreateStoreAsync(time);
        var expiresAt = Timestamps.Truncate(time.GetUtcNow()).AddMilliseconds(10);
        await store.PutAsync("p", Collection, "a", "1", expiresAt: expiresAt);

        time.Advance(expiresAt - time.GetUtcNow() - TimeSpan.FromTicks(1));
        var live = Assert.Single((await store.ReadChangesAsync("p", 0)).Items);
        time.Advance(TimeSpan.FromTicks(1));
        var expired = Assert.Single((await store.ReadChangesAsync("p", 0)).Items);

        Assert.Null(await store.GetAsync("p", Collection, "a"));
        SameChange(live, expired);
        Assert.Equal(expiresAt, expired.Document!.ExpiresAt);
    }

    // ---- Paging --------------------------------------------------------------------------------

    [Fact]
    public async Task Pages_hold_whole_commits_and_resume_after_LastRevision()
    {
        var store = await CreateStoreAsync();
        await WriteFiveRevisionsAsync(store);

        var first = await store.ReadChangesAsync("p", 0, limit: 2);
        var second = await store.ReadChangesAsync("p", first.LastRevision, limit: 2);
        var third = await store.ReadChangesAsync("p", second.LastRevision, limit: 2);
        var fourth = await store.ReadChangesAsync("p", third.LastRevision, limit: 2);
        var fifth = await store.ReadChangesAsync("p", fourth.LastRevision, limit: 2);

        Assert.Equal(["1 put items/k0 0", "1 put items/k1 1", "1 put items/k2 2", "1 put items/k3 3", "1 put items/k4 4"], first.Items.Select(Describe));
        Assert.Equal((1, true), (first.LastRevision, first.HasMore));
        Assert.Equal(["2 put items/x 1"], second.Items.Select(Describe));
        Assert.Equal((2, true), (second.LastRevision, second.HasMore));
        Assert.Equal(["3 append s#1 happened", "3 append s#2 happened", "3 append s#3 happened"], third.Items.Select(Describe));
        Assert.Equal((3, true), (third.LastRevision, third.HasMore));
        Assert.Equal(["4 put items/y 1", "5 sequence seq=1"], fourth.Items.Select(Describe));
        Assert.Equal((5, false), (fourth.LastRevision, fourth.HasMore));
        Assert.Empty(fifth.Items);
        Assert.Equal((5, false), (fifth.LastRevision, fifth.HasMore));
    }

    [Theory]
    [InlineData(1, 5, 1, true)]
    [InlineData(5, 5, 1, true)]
    [InlineData(6, 6, 2, true)]
    [InlineData(8, 6, 2, true)]
    [InlineData(9, 9, 3, true)]
    [InlineData(10, 10, 4, true)]
    [InlineData(11, 11, 5, false)]
    [InlineData(StoreLimits.MaxPageSize, 11, 5, false)]
    public async Task Page_ends_before_a_commit_that_would_pass_the_limit(int limit, int count, long lastRevision, bool hasMore)
    {
        var store = await CreateStoreAsync();
        await WriteFiveRevisionsAsync(store);

        var page = await store.ReadChangesAsync("p", 0, limit);

        Assert.Equal(count, page.Items.Count);
        Assert.Equal(lastRevision, page.LastRevision);
        Assert.Equal(hasMore, page.HasMore);
        Assert.Equal(lastRevision, page.Items[^1].Revision);
    }

    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(4)]
    [InlineData(7)]
    public async Task Reading_page_by_page_gives_the_same_changes_as_one_read(int limit)
    {
        var store = await CreateStoreAsync();
        await WriteFiveRevisionsAsync(store);
        await store.DeleteAsync("p", Collection, "k2");
        await store.PutAsync("p", Collection, "k0", "9");

        var whole = await store.ReadChangesAsync("p", 0, StoreLimits.MaxPageSize);
        var (paged, last) = await ReadAllChangesAsync(store, "p", 0, limit);

        Assert.False(whole.HasMore);
        Assert.Equal(whole.Items.Select(Describe), paged.Select(Describe));
        Assert.Equal(7, last);
        Assert.Equal(7, whole.LastRevision);
    }

    [Fact]
    public async Task A_commit_of_MaxBatchOperations_changes_is_returned_whole_even_with_limit_1()
    {
        var store = await CreateStoreAsync();
        const int Half = StoreLimits.MaxBatchOperations / 2;
        await store.CommitAsync("p", [.. Enumerable.Range(0, Half).Select(i => WriteOperation.Put(Collection, $"k{i:D3}", "1")), WriteOperation.Append("s", NewEvents(1, Half))]);
        await store.PutAsync("p", Collection, "last", "1");

        var one = await store.ReadChangesAsync("p", 0, limit: 1);
        var max = await store.ReadChangesAsync("p", 0, limit: StoreLimits.MaxPageSize);
        var rest = await store.ReadChangesAsync("p", one.LastRevision, limit: 1);

        Assert.Equal(StoreLimits.MaxBatchOperations, one.Items.Count);
        Assert.All(one.Items, c => Assert.Equal(1, c.Revision));
        Assert.Equal((1, true), (one.LastRevision, one.HasMore));
        Assert.Equal(one.Items.Select(Describe), max.Items.Select(Describe));
        Assert.Equal((1, true), (max.LastRevision, max.HasMore));
        Assert.Equal(["2 put items/last 1"], rest.Items.Select(Describe));
        Assert.Equal((2, false), (rest.LastRevision, rest.HasMore));
        Assert.Equal(Half, one.Items.Count(c => c.Kind == ChangeKind.Put));
        Assert.Equal(Enumerable.Range(1, Half).Select(v => (long)v), one.Items.Where(c => c.Kind == ChangeKind.Append).Select(c => c.Event!.Version));
    }

    [Fact]
    public async Task LastRevision_is_the_current_revision_when_the_reader_caught_up()
    {
        var time = new FakeTimeProvider(Start);
        var store = await CreateStoreAsync(time);
        await store.PutAsync("p", Collection, "a", "1");
        await store.PutAsync("p", Collection, "b", "1");
        await store.PutAsync("p", Collection, "a", "2");
        await store.PutAsync("p", Collection, "gone", "1", expiresAt: time.GetUtcNow().AddSeconds(-1));
        await store.PutAsync("p", OtherCollection, "x", "1");
        await store.DeleteAsync("p", OtherCollection, "x");
        await store.PutAsync("p", OtherCollection, "x", "2");
        await store.PutAsync("p", OtherCollection, "x", "3");

        var all = await store.ReadChangesAsync("p", 0);
        var first = await store.ReadChangesAsync("p", 0, limit: 1);
        var tail = await store.ReadChangesAsync("p", 3);

        Assert.Equal(["2 put items/b 1", "3 put items/a 2", "4 put items/gone 1", "8 put other/x 3"], all.Items.Select(Describe));
        Assert.Equal((8, false), (all.LastRevision, all.HasMore));
        Assert.Equal(["2 put items/b 1"], first.Items.Select(Describe));
        Assert.Equal((2, true), (first.LastRevision, first.HasMore));
        Assert.Equal(["4 put items/gone 1", "8 put other/x 3"], tail.Items.Select(Describe));
        Assert.Equal((8, false), (tail.LastRevision, tail.HasMore));
        await store.PutAsync("p", Collection, "late", "1", expiresAt: time.GetUtcNow().AddSeconds(-1));
        var expiredTail = await store.ReadChangesAsync("p", 8);
        Assert.Equal(["9 put items/late 1"], expiredTail.Items.Select(Describe));
        Assert.Equal((9, false), (expiredTail.LastRevision, expiredTail.HasMore));
    }

    [Fact]
    public async Task LastRevision_is_afterRevision_when_the_reader_is_ahead()
    {
        var store = await CreateStoreAsync();
        await store.PutAsync("p", Collection, "a", "1");
        await store.PutAsync("p", Collection, "b", "1");

        var ahead = await store.ReadChangesAsync("p", 7);

        Assert.Empty(ahead.Items);
        Assert.Equal((7, false), (ahead.LastRevision, ahead.HasMore));
        Assert.Equal(["3 put items/c 1"], await PutAndReadAsync());

        async Task<IEnumerable<string>> PutAndReadAsync()
        {
            await store.PutAsync("p", Collection, "c", "1");
            return (await store.ReadChangesAsync("p", 2)).Items.Select(Describe);
        }
    }

    // ---- Missing and deleted partitions --------------------------------------------------------

    [Fact]
    public async Task Missing_partition_read_from_0_is_an_empty_page_at_revision_0()
    {
        var store = await CreateStoreAsync();
        await store.PutAsync("q", Collection, "a", "1");
        await store.DeletePartitionAsync("q");

        var page = await store.ReadChangesAsync("p", 0);

        Assert.Empty(page.Items);
        Assert.Equal((0, false), (page.LastRevision, page.HasMore));
        await EmptyAsync(store);
    }

    [Theory]
    [InlineData(1)]
    [InlineData(5)]
    [InlineData(long.MaxValue)]
    public async Task Missing_partition_read_after_a_revision_is_truncated(long after)
    {
        var store = await CreateStoreAsync();
        await store.PutAsync("q", Collection, "a", "1");

        await TruncatedAsync(() => store.ReadChangesAsync("p", after).AsTask(), "p", after, 0);

        Assert.Equal([new PartitionInfo("q", 1)], await ListAllPartitionsAsync(store));
    }

    [Fact]
    public async Task Deleted_partition_truncates_a_reader_and_reads_empty_from_0()
    {
        var store = await CreateStoreAsync();
        await store.PutAsync("p", Collection, "a", "1");
        await store.AppendAsync("p", "s", [NewEvent(1)]);
        var (_, seen) = await ReadAllChangesAsync(store, "p");

        await store.DeletePartitionAsync("p");

        Assert.Equal(2, seen);
        await TruncatedAsync(() => store.ReadChangesAsync("p", seen).AsTask(), "p", seen, 0);
        var fresh = await store.ReadChangesAsync("p", 0);
        Assert.Empty(fresh.Items);
        Assert.Equal((0, false), (fresh.LastRevision, fresh.HasMore));
    }

    [Fact]
    public async Task Partition_deleted_and_created_again_truncates_a_reader_of_the_old_one()
    {
        var store = await CreateStoreAsync();
        await store.PutAsync("p", Collection, "a", "1");
        await store.PutAsync("p", Collection, "b", "1");
        await store.DeleteAsync("p", Collection, "b");
        await store.AppendAsync("p", "s", [NewEvent(1)]);
        await store.IncrementSequenceAsync("p", "seq");
        var (_, seen) = await ReadAllChangesAsync(store, "p");

        await store.DeletePartitionAsync("p");
        await store.PutAsync("p", Collection, "c", "1");

        Assert.Equal(5, seen);
        await TruncatedAsync(() => store.ReadChangesAsync("p", seen).AsTask(), "p", seen, 6);
        await TruncatedAsync(() => store.ReadChangesAsync("p", 1).AsTask(), "p", 1, 6);
        var fresh = await store.ReadChangesAsync("p", 0);
        Assert.Equal(["6 put items/c 1"], fresh.Items.Select(Describe));
        Assert.Equal(6, fresh.LastRevision);
        var resumed = await store.ReadChangesAsync("p", 6);
        Assert.Empty(resumed.Items);
        Assert.Equal(6, resumed.LastRevision);
    }

    [Fact]
    public async Task Partition_created_after_a_floor_rise_can_be_read_after_its_first_revision()
    {
        var store = await CreateStoreAsync();
        for (var i = 0; i < 4; i++)
        {
            await store.PutAsync("q", Collection, $"k{i}", "1");
        }

        await store.DeletePartitionAsync("q");
        await store.PutAsync("p", Collection, "a", "1");
        await store.PutAsync("p", Collection, "b", "1");

        Assert.Equal(["6 put items/b 1"], (await store.ReadChangesAsync("p", 5)).Items.Select(Describe));
        Assert.Equal(["5 put items/a 1", "6 put items/b 1"], (await store.ReadChangesAsync("p", 0)).Items.Select(Describe));
        await TruncatedAsync(() => store.ReadChangesAsync("p", 4).AsTask(), "p", 4, 5);
    }

    // ---- Retention -----------------------------------------------------------------------------

    [Fact]
    public async Task Tombstones_are_dropped_by_the_purge_once_the_retention_has_passed()
    {
        var time = new FakeTimeProvider(Start);
        var store = await CreateStoreAsync(time, s_retention);
        await store.PutAsync("p", Collection, "a", "1");
        await store.PutAsync("p", Collection, "b", "1");
        await store.DeleteAsync("p", Collection, "a");
        time.Advance(TimeSpan.FromMinutes(10));
        await store.DeleteAsync("p", Collection, "b");
        await store.PutAsync("p", Collection, "c", "1");

        // One millisecond before the first tombstone's retention ends: nothing is dropped.
        time.Advance(TimeSpan.FromMinutes(50) - TimeSpan.FromMilliseconds(1));
        Assert.Equal(0, await store.PurgeExpiredAsync());
        Assert.Equal(["3 delete items/a", "4 delete items/b", "5 put items/c 1"], await ChangesAsync(0));
        Assert.Equal(["3 delete items/a", "4 delete items/b", "5 put items/c 1"], await ChangesAsync(1));

        // The first tombstone's retention has passed: it is dropped, older readers are truncated.
        time.Advance(TimeSpan.FromMilliseconds(1));
        Assert.Equal(["3 delete items/a", "4 delete items/b", "5 put items/c 1"], await ChangesAsync(1));
        Assert.Equal(0, await store.PurgeExpiredAsync());
        Assert.Equal(["4 delete items/b", "5 put items/c 1"], await ChangesAsync(0));
        await TruncatedAsync(() => store.ReadChangesAsync("p", 1).AsTask(), "p", 1, 3);
        await TruncatedAsync(() => store.ReadChangesAsync("p", 2).AsTask(), "p", 2, 3);
        Assert.Equal(["4 delete items/b", "5 put items/c 1"], await ChangesAsync(3));
        Assert.Empty(await ChangesAsync(5));
        Assert.Empty(await ChangesAsync(9));

        // The second one goes ten minutes later.
        time.Advance(TimeSpan.FromMinutes(10));
        Assert.Equal(0, await store.PurgeExpiredAsync());
        Assert.Equal(["5 put items/c 1"], await ChangesAsync(0));
        await TruncatedAsync(() => store.ReadChangesAsync("p", 3).AsTask(), "p", 3, 4);
        Assert.Equal(["5 put items/c 1"], await ChangesAsync(4));
        Assert.Equal(5, (await store.ReadChangesAsync("p", 0)).LastRevision);
        Assert.Equal(5, await RevisionAsync(store, "p"));

        async Task<List<string>> ChangesAsync(long after) => [.. (await store.ReadChangesAsync("p", after)).Items.Select(Describe)];
    }

    [Fact]
    public async Task Default_retention_keeps_tombstones_for_seven_days()
    {
        var time = new FakeTimeProvider(Start);
        var store = await CreateStoreAsync(time);
        await store.PutAsync("p", Collection, "a", "1");
        await store.DeleteAsync("p", Collection, "a");

        time.Advance(StoreLimits.DefaultTombstoneRetention - TimeSpan.FromMilliseconds(1));
        await store.PurgeExpiredAsync();
        Assert.Equal(["2 delete items/a"], (await store.ReadChangesAsync("p", 1)).Items.Select(Describe));

        time.Advance(TimeSpan.FromMilliseconds(1));
        await store.PurgeExpiredAsync();
        Assert.Empty((await store.ReadChangesAsync("p", 0)).Items);
        await TruncatedAsync(() => store.ReadChangesAsync("p", 1).AsTask(), "p", 1, 2);
    }

    [Fact]
    public async Task Zero_retention_drops_every_tombstone_at_the_next_purge()
    {
        var store = await CreateStoreAsync(new FakeTimeProvider(Start), TimeSpan.Zero);
        await store.PutAsync("p", Collection, "a", "1");
        await store.PutAsync("p", Collection, "b", "1");
        await store.DeleteAsync("p", Collection, "a");

        Assert.Equal(["2 put items/b 1", "3 delete items/a"], (await store.ReadChangesAsync("p", 1)).Items.Select(Describe));
        Assert.Equal(0, await store.PurgeExpiredAsync());

        Assert.Equal(["2 put items/b 1"], (await store.ReadChangesAsync("p", 0)).Items.Select(Describe));
        await TruncatedAsync(() => store.ReadChangesAsync("p", 2).AsTask(), "p", 2, 3);
        Assert.Empty((await store.ReadChangesAsync("p", 3)).Items);
    }

    [Fact]
    public async Task Purge_counts_only_expired_documents_not_dropped_tombstones()
    {
        var time = new FakeTimeProvider(Start);
        var store = await CreateStoreAsync(time, s_retention);
        await store.PutAsync("p", Collection, "x", "1", expiresAt: time.GetUtcNow().AddMinutes(30));
        await store.PutAsync("p", Collection, "y", "1");
        await store.DeleteAsync("p", Collection, "y");
        await store.PutAsync("q", Collection, "z", "1");
        await store.DeleteAsync("q", Collection, "z");
        time.Advance(TimeSpan.FromHours(2));

        Assert.Equal(1, await store.PurgeExpiredAsync());
        Assert.Equal(0, await store.PurgeExpiredAsync());

        var page = await store.ReadChangesAsync("p", 0);
        Assert.Empty(page.Items);
        Assert.Equal(3, page.LastRevision);
        await TruncatedAsync(() => store.ReadChangesAsync("p", 1).AsTask(), "p", 1, 3);
        await TruncatedAsync(() => store.ReadChangesAsync("q", 1).AsTask(), "q", 1, 2);
        Assert.Equal([new PartitionInfo("p", 3), new PartitionInfo("q", 2)], await ListAllPartitionsAsync(store));
    }

    [Fact]
    public async Task Tombstone_replaced_by_a_put_is_never_dropped_and_truncates_nothing()
    {
        var time = new FakeTimeProvider(Start);
        var store = await CreateStoreAsync(time, s_retention);
        await store.PutAsync("p", Collection, "a", "1");
        await store.DeleteAsync("p", Collection, "a");
        await store.PutAsync("p", Collection, "a", "2");
        time.Advance(TimeSpan.FromHours(2));

        await store.PurgeExpiredAsync();

        Assert.Equal(["3 put items/a 2"], (await store.ReadChangesAsync("p", 1)).Items.Select(Describe));
    }

    [Fact]
    public async Task Purge_before_the_retention_keeps_tombstones_of_every_partition()
    {
        var time = new FakeTimeProvider(Start);
        var store = await CreateStoreAsync(time, s_retention);
        await store.PutAsync("p", Collection, "a", "1");
        await store.DeleteAsync("p", Collection, "a");
        time.Advance(TimeSpan.FromMinutes(30));
        await store.PutAsync("q", Collection, "a", "1");
        await store.DeleteAsync("q", Collection, "a");
        time.Advance(TimeSpan.FromMinutes(45));

        await store.PurgeExpiredAsync();

        await TruncatedAsync(() => store.ReadChangesAsync("p", 1).AsTask(), "p", 1, 2);
        Assert.Equal(["2 delete items/a"], (await store.ReadChangesAsync("q", 1)).Items.Select(Describe));
    }

    [Fact]
    public async Task Deleting_the_partition_drops_its_tombstones_events_and_sequences_from_the_feed()
    {
        var store = await CreateStoreAsync();
        await store.PutAsync("p", Collection, "a", "1");
        await store.DeleteAsync("p", Collection, "a");
        await store.AppendAsync("p", "s", [NewEvent(1)]);
        await store.IncrementSequenceAsync("p", "seq");
        await store.DeletePartitionAsync("p");

        await store.PutAsync("p", Collection, "b", "1");

        Assert.Equal(["5 put items/b 1"], (await store.ReadChangesAsync("p", 0)).Items.Select(Describe));
    }

    // ---- Argument errors -----------------------------------------------------------------------

    [Theory]
    [InlineData(-1)]
    [InlineData(long.MinValue)]
    public async Task Negative_afterRevision_is_rejected(long after)
    {
        var store = await CreateStoreAsync();
        await store.PutAsync("p", Collection, "a", "1");

        var e = await Assert.ThrowsAsync<ArgumentOutOfRangeException>(async () => await store.ReadChangesAsync("p", after));

        Assert.StartsWith(ErrorMessages.InvalidRevision(after), e.Message, StringComparison.Ordinal);
        await Assert.ThrowsAsync<ArgumentOutOfRangeException>(async () => await store.ReadChangesAsync("missing", after));
    }

    [Theory]
    [InlineData(0)]
    [InlineData(-1)]
    [InlineData(StoreLimits.MaxPageSize + 1)]
    public async Task Limit_out_of_range_is_rejected(int limit)
    {
        var store = await CreateStoreAsync();
        await store.PutAsync("p", Collection, "a", "1");

        var e = await Assert.ThrowsAsync<ArgumentOutOfRangeException>(async () => await store.ReadChangesAsync("p", 0, limit));

        Assert.StartsWith(ErrorMessages.InvalidLimit(limit), e.Message, StringComparison.Ordinal);
        await Assert.ThrowsAsync<ArgumentOutOfRangeException>(async () => await store.ReadChangesAsync("missing", 3, limit));
    }

    [Theory]
    [MemberData(nameof(InvalidKeyLabels), MemberType = typeof(TestData))]
    public async Task Invalid_partition_is_rejected(string label)
    {
        var partition = InvalidKeys[label];
        var store = await CreateStoreAsync();

        var e = await ThrowsArgumentAsync(async () => await store.ReadChangesAsync(partition, 0));

        Assert.StartsWith(InvalidKeyMessage(partition, "partition key"), e.Message, StringComparison.Ordinal);
        await Assert.ThrowsAsync<ArgumentNullException>(async () => await store.ReadChangesAsync(null!, 0));
    }

    [Fact]
    public async Task Reading_changes_creates_no_partition()
    {
        var store = await CreateStoreAsync();

        await store.ReadChangesAsync("p", 0);
        await store.ReadChangesAsync("p", 0, 1);

        await EmptyAsync(store);
    }

    // ---- Completeness under concurrent writers -------------------------------------------------

    [Fact]
    public async Task Reader_polling_while_writers_write_builds_an_exact_replica()
    {
        const int Writers = 4;
        const int OperationsPerWriter = 120;
        string[] collections = [Collection, OtherCollection];
        string[] keys = ["a", "b", "c", "\uFFFD", "\U00010000", "k"];
        string[] streams = ["s", "t", "\uE000"];
        string[] sequences = ["n", "m"];
        var store = await CreateStoreAsync();
        var writes = 0;
        var polls = 0;
        var pagesWhileWriting = 0;

        var writers = Task.WhenAll(Enumerable.Range(0, Writers).Select(writer => Task.Run(async () =>
        {
            var random = new Random(7919 * (writer + 1));
            for (var i = 0; i < OperationsPerWriter; i++)
            {
                // Stay close to the reader, so that it reads while the writers write.
                while (Volatile.Read(ref writes) > (4 * Volatile.Read(ref polls)) + 8)
                {
                    await Task.Delay(1);
                }

                var value = $$"""{"w":{{writer}},"i":{{i}}}""";
                var id = (writer * 100_000) + (i * 10);
                var roll = random.Next(100);
                if (roll < 35)
                {
                    await store.PutAsync("p", Pick(collections), Pick(keys), value);
                }
                else if (roll < 55)
                {
                    await store.DeleteAsync("p", Pick(collections), Pick(keys));
                }
                else if (roll < 75)
                {
                    await store.AppendAsync("p", Pick(streams), NewEvents(id + 1, random.Next(1, 4)));
                }
                else if (roll < 88)
                {
                    var collection = Pick(collections);
                    var key = Pick(keys);
                    await store.CommitAsync("p",
                    [
                        WriteOperation.Put(collection, key, value),
                        WriteOperation.Delete(collection == Collection ? OtherCollection : Collection, Pick(keys)),
                        WriteOperation.Append(Pick(streams), NewEvents(id + 1, random.Next(1, 3))),
                    ]);
                }
                else
                {
                    await store.IncrementSequenceAsync("p", Pick(sequences), random.Next(1, 5));
                }

                Interlocked.Increment(ref writes);
            }

            T Pick<T>(T[] items) => items[random.Next(items.Length)];
        })));

        var documents = new Dictionary<(string Collection, string Key), StoredDocument>();
        var events = new Dictionary<string, List<StoredEvent>>(StringComparer.Ordinal);
        var values = new Dictionary<string, long>(StringComparer.Ordinal);
        var reader = new Random(104729);
        long after = 0;
        var pageRevisions = new List<(long After, long First, long Last)>();
        while (true)
        {
            var finished = writers.IsCompleted;
            var page = await store.ReadChangesAsync("p", after, reader.Next(1, 25));
            Interlocked.Increment(ref polls);
            if (!finished && page.Items.Count > 0)
            {
                pagesWhileWriting++;
            }

            Assert.Equal(page.Items, ReferenceStore.InFeedOrder(page.Items));
            Assert.True(page.LastRevision >= after);
            if (page.Items.Count > 0)
            {
                pageRevisions.Add((after, page.Items[0].Revision, page.Items[^1].Revision));
                Assert.True(page.Items[0].Revision > after, $"A page read after {after} starts at revision {page.Items[0].Revision}.");
                Assert.True(page.Items[^1].Revision <= page.LastRevision);
            }

            if (page.HasMore)
            {
                Assert.NotEmpty(page.Items);
                Assert.Equal(page.Items[^1].Revision, page.LastRevision);
            }

            Apply(page.Items);
            after = page.LastRevision;
            if (finished && !page.HasMore)
            {
                break;
            }

            if (!page.HasMore)
            {
                await Task.Delay(1);
            }
        }

        await writers;
        Assert.True(pagesWhileWriting >= 10, $"The reader read only {pagesWhileWriting} pages while the writers wrote.");
        for (var i = 1; i < pageRevisions.Count; i++)
        {
            Assert.True(pageRevisions[i].First > pageRevisions[i - 1].Last, $"Page {i} starts at revision {pageRevisions[i].First}, not after the previous page's {pageRevisions[i - 1].Last}.");
        }

        Assert.Equal(await RevisionAsync(store, "p"), after);
        foreach (var collection in collections)
        {
            var stored = await ListAllAsync(store, "p", collection);
            var replica = documents.Where(d => d.Key.Collection == collection).Select(d => d.Value).OrderBy(d => d.Key, StorageKeyComparer.Instance).ToList();
            Assert.Equal(stored.Select(d => d.Key), replica.Select(d => d.Key));
            for (var i = 0; i < stored.Count; i++)
            {
                SameDocument(stored[i], replica[i]);
            }
        }

        Assert.Equal((await ListAllStreamsAsync(store, "p")).Select(s => (s.Stream, s.Version)), events.OrderBy(e => e.Key, StorageKeyComparer.Instance).Select(e => (e.Key, (long)e.Value.Count)));
        foreach (var (stream, replica) in events)
        {
            var stored = await ReadAllEventsAsync(store, "p", stream);
            Assert.Equal(stored.Count, replica.Count);
            for (var i = 0; i < stored.Count; i++)
            {
                SameEvent(stored[i], replica[i]);
            }
        }

        foreach (var sequence in sequences)
        {
            Assert.Equal(await store.GetSequenceAsync("p", sequence), values.GetValueOrDefault(sequence));
        }

        void Apply(IEnumerable<Change> changes)
        {
            foreach (var change in changes)
            {
                switch (change.Kind)
                {
                    case ChangeKind.Put:
                        documents[(change.Collection!, change.Key!)] = change.Document!;
                        break;
                    case ChangeKind.Delete:
                        documents.Remove((change.Collection!, change.Key!));
                        break;
                    case ChangeKind.Append:
                        if (!events.TryGetValue(change.Event!.Stream, out var stream))
                        {
                            stream = [];
                            events.Add(change.Event.Stream, stream);
                        }

                        Assert.Equal(stream.Count + 1, change.Event.Version);
                        stream.Add(change.Event);
                        break;
                    case ChangeKind.Sequence:
                        Assert.True(change.SequenceValue > values.GetValueOrDefault(change.SequenceName!));
                        values[change.SequenceName!] = change.SequenceValue;
                        break;
                    default:
                        Assert.Fail($"Unknown change kind {change.Kind}.");
                        break;
                }
            }
        }
    }

    // Revision 1: five puts; 2: a put; 3: three events; 4: a put; 5: an increment.
    private static async Task WriteFiveRevisionsAsync(IStore store)
    {
        await store.CommitAsync("p", [.. Enumerable.Range(0, 5).Select(i => WriteOperation.Put(Collection, $"k{i}", $"{i}"))]);
        await store.PutAsync("p", Collection, "x", "1");
        await store.AppendAsync("p", "s", NewEvents(1, 3));
        await store.PutAsync("p", Collection, "y", "1");
        await store.IncrementSequenceAsync("p", "seq");
    }
}
