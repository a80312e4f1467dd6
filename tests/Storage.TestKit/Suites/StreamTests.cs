using System.Collections.Concurrent;
using System.Globalization;
using System.Text.Json;
using Microsoft.Extensions.Time.Testing;
using Storage.Internal;
using static Storage.Conformance.StoreAssert;
using static Storage.Conformance.TestData;

namespace Storage.Conformance;

/// <summary>
/// Event streams: appends number events from 1 without gaps, store every field byte for byte,
/// honour expected versions (and recognize retries), commit together with documents, and read
/// forwards, backwards and by listing.
/// </summary>
/// <typeparam name="TFixture">The backend's fixture.</typeparam>
public abstract class StreamTests<TFixture>(TFixture fixture) : StoreTestBase<TFixture>(fixture)
    where TFixture : StoreFixture
{
    // ---- Appending ----------------------------------------------------------------------------

    [Fact]
    public async Task Append_of_one_event_creates_the_stream_at_version_1()
    {
        var store = await CreateStoreAsync();
        var e1 = NewEvent(1);

        var result = await store.CommitAsync("p", [WriteOperation.Append("s", [e1])]);

        Assert.Equal(1, result.Revision);
        Assert.True(result.Changed);
        Assert.Equal([new OperationOutcome(false, 1)], result.Outcomes);
        var page = await store.ReadStreamAsync("p", "s");
        Assert.Equal(1, page.StreamVersion);
        Assert.Null(page.NextVersion);
        Event(Assert.Single(page.Items), "p", "s", 1, 1, e1);
        Assert.Equal([new StreamInfo("s", 1)], await ListAllStreamsAsync(store, "p"));
        Assert.Equal([new PartitionInfo("p", 1)], await ListAllPartitionsAsync(store));
    }

    [Fact]
    public async Task Appends_number_events_from_1_without_gaps_and_each_commit_takes_one_revision()
    {
        var store = await CreateStoreAsync();

        Assert.Equal(3, await store.AppendAsync("p", "s", NewEvents(1, 3)));
        var second = await store.CommitAsync("p", [WriteOperation.Append("s", NewEvents(4, 2))]);
        Assert.Equal(6, await store.AppendAsync("p", "s", [NewEvent(6)]));

        Assert.Equal(2, second.Revision);
        Assert.Equal([new OperationOutcome(true, 5)], second.Outcomes);
        var events = await ReadAllEventsAsync(store, "p", "s");
        Assert.Equal([1L, 2, 3, 4, 5, 6], events.Select(e => e.Version));
        Assert.Equal([1L, 1, 1, 2, 2, 3], events.Select(e => e.Revision));
        Assert.Equal(Enumerable.Range(1, 6).Select(Id), events.Select(e => e.Id));
        Assert.Equal(3, await RevisionAsync(store, "p"));
        Assert.Equal([new StreamInfo("s", 6)], await ListAllStreamsAsync(store, "p"));
    }

    [Fact]
    public async Task Appends_share_the_partition_revision_with_documents_and_sequences()
    {
        var store = await CreateStoreAsync();

        Assert.Equal(1, await store.PutAsync("p", Collection, "k", "1"));
        await store.AppendAsync("p", "s", [NewEvent(1)]);
        Assert.Equal(3, await store.IncrementSequenceAsync("p", "seq", 3));
        await store.AppendAsync("p", "t", [NewEvent(2)]);
        Assert.Equal(5, await store.PutAsync("p", Collection, "k", "2"));

        Assert.Equal(2, Assert.Single(await ReadAllEventsAsync(store, "p", "s")).Revision);
        Assert.Equal(4, Assert.Single(await ReadAllEventsAsync(store, "p", "t")).Revision);
        Assert.Equal(5, await RevisionAsync(store, "p"));
    }

    [Fact]
    public async Task Event_fields_round_trip_byte_for_byte()
    {
        var time = new FakeTimeProvider(Start);
        var store = await CreateStoreAsync(time);
        var withMetadata = EventData.Create("Order.Placed-v2_x", """{"b":1,"a":[1.0,12345678901234567890,"\u00e9","é"]}""", """{"by":"caf\u00e9","z":0.10}""", Id(1));
        var without = EventData.Create("e", "  \n 1.50 \t", id: Id(2));
        var emptyObject = EventData.Create("e", TestData.Utf8("{}"), TestData.Utf8("null"), Id(3));

        await store.PutAsync("p", Collection, "k", "1");
        time.Advance(TimeSpan.FromTicks(12_345));
        var firstAt = Timestamps.Truncate(time.GetUtcNow());
        await store.AppendAsync("p", "s", [withMetadata, without]);
        time.Advance(TimeSpan.FromMilliseconds(1500.5));
        var secondAt = Timestamps.Truncate(time.GetUtcNow());
        await store.AppendAsync("p", "s", [emptyObject]);

        var events = await ReadAllEventsAsync(store, "p", "s");
        Assert.Equal(3, events.Count);
        Event(events[0], "p", "s", 1, 2, withMetadata, firstAt);
        Event(events[1], "p", "s", 2, 2, without, firstAt);
        Event(events[2], "p", "s", 3, 3, emptyObject, secondAt);
        Assert.Equal("""{"b":1,"a":[1.0,12345678901234567890,"\u00e9","é"]}""", events[0].GetJsonText());
        Assert.Equal(TestData.Utf8("""{"by":"caf\u00e9","z":0.10}"""), events[0].Metadata.ToArray());
        Assert.Equal("1.50", events[1].GetJsonText());
        Assert.True(events[1].Metadata.IsEmpty);
        Assert.Equal(TestData.Utf8("null"), events[2].Metadata.ToArray());
        Assert.Equal(TimeSpan.Zero, events[0].CommittedAt.Offset);
    }

    [Fact]
    public async Task Typed_events_round_trip_through_source_generated_metadata()
    {
        var store = await CreateStoreAsync();
        var mood = new Mood("calm", 12345678901234, 0.1000000000000000000000000001m, new DateTimeOffset(2024, 2, 29, 23, 59, 59, 999, TimeSpan.FromHours(5.5)), ["a", "\u00e9", "\U00010000"], null);

        await store.AppendAsync("p", "s", [EventData.Create("mood", mood, ConformanceJsonContext.Default.Mood, Id(1))]);

        var stored = Assert.Single(await ReadAllEventsAsync(store, "p", "s"));
        Assert.Equal(JsonSerializer.SerializeToUtf8Bytes(mood, ConformanceJsonContext.Default.Mood), stored.Data.ToArray());
        Assert.True(stored.Metadata.IsEmpty);
        var read = stored.Deserialize(ConformanceJsonContext.Default.Mood);
        Assert.NotNull(read);
        Assert.Equal(mood.Name, read.Name);
        Assert.Equal(mood.Score, read.Score);
        Assert.Equal(mood.Ratio, read.Ratio);
        Assert.Equal(mood.At, read.At);
        Assert.Equal(mood.At.Offset, read.At.Offset);
        Assert.Equal(mood.Tags, read.Tags);
        Assert.Null(read.Note);
    }

    [Fact]
    public async Task Streams_are_separate_per_partition_and_id_and_separate_from_documents()
    {
        var store = await CreateStoreAsync();

        await store.AppendAsync("p", "s", NewEvents(1, 2));
        await store.AppendAsync("p", "S", NewEvents(3, 1));
        await store.AppendAsync("P", "s", NewEvents(4, 3));
        await store.PutAsync("p", Collection, "s", "1");
        await store.AppendAsync("p", "caf\u00e9", NewEvents(7, 1));
        await store.AppendAsync("p", "cafe\u0301", NewEvents(8, 2));

        Assert.Equal([Id(1), Id(2)], (await ReadAllEventsAsync(store, "p", "s")).Select(e => e.Id));
        Assert.Equal([Id(3)], (await ReadAllEventsAsync(store, "p", "S")).Select(e => e.Id));
        Assert.Equal([Id(4), Id(5), Id(6)], (await ReadAllEventsAsync(store, "P", "s")).Select(e => e.Id));
        Assert.Equal([Id(7)], (await ReadAllEventsAsync(store, "p", "caf\u00e9")).Select(e => e.Id));
        Assert.Equal([Id(8), Id(9)], (await ReadAllEventsAsync(store, "p", "cafe\u0301")).Select(e => e.Id));
        Assert.Equal([new StreamInfo("S", 1), new StreamInfo("cafe\u0301", 2), new StreamInfo("caf\u00e9", 1), new StreamInfo("s", 2)], await ListAllStreamsAsync(store, "p"));
        Assert.Equal(["s"], await ListKeysAsync(store, "p", Collection));
        Assert.Empty(await ReadAllEventsAsync(store, "q", "s"));
    }

    [Fact]
    public async Task Tricky_stream_ids_are_stored_safely()
    {
        var store = await CreateStoreAsync();
        var ids = TrickyKeys.Concat(LongKeys).ToList();

        for (var i = 0; i < ids.Count; i++)
        {
            Assert.Equal(1, await store.AppendAsync("p", ids[i], [NewEvent(i + 1)], ExpectedStreamVersion.NoStream));
        }

        for (var i = 0; i < ids.Count; i++)
        {
            Event(Assert.Single(await ReadAllEventsAsync(store, "p", ids[i])), "p", ids[i], 1, i + 1, NewEvent(i + 1));
        }

        Assert.Equal(ids.Order(StorageKeyComparer.Instance), (await ListAllStreamsAsync(store, "p")).Select(s => s.Stream));
    }

    // ---- Expected versions ---------------------------------------------------------------------

    [Fact]
    public async Task Any_appends_to_a_new_and_to_an_existing_stream()
    {
        var store = await CreateStoreAsync();

        Assert.Equal(2, await store.AppendAsync("p", "s", NewEvents(1, 2), ExpectedStreamVersion.Any));
        Assert.Equal(3, await store.AppendAsync("p", "s", NewEvents(3, 1), ExpectedStreamVersion.Any));
        Assert.Equal(4, await store.AppendAsync("p", "s", NewEvents(4, 1)));

        Assert.Equal(Enumerable.Range(1, 4).Select(Id), (await ReadAllEventsAsync(store, "p", "s")).Select(e => e.Id));
    }

    [Fact]
    public async Task NoStream_creates_a_stream_and_conflicts_once_it_exists()
    {
        var store = await CreateStoreAsync();
        Assert.Equal(2, await store.AppendAsync("p", "s", NewEvents(1, 2), ExpectedStreamVersion.NoStream));

        await StreamConflictAsync(() => store.AppendAsync("p", "s", NewEvents(3, 1), ExpectedStreamVersion.NoStream).AsTask(), "p", "s", ExpectedStreamVersion.NoStream, actualVersion: 2);

        Assert.Equal([Id(1), Id(2)], (await ReadAllEventsAsync(store, "p", "s")).Select(e => e.Id));
        Assert.Equal(1, await RevisionAsync(store, "p"));
    }

    [Fact]
    public async Task Exactly_the_current_version_appends()
    {
        var store = await CreateStoreAsync();

        Assert.Equal(2, await store.AppendAsync("p", "s", NewEvents(1, 2), ExpectedStreamVersion.Exactly(0)));
        Assert.Equal(5, await store.AppendAsync("p", "s", NewEvents(3, 3), ExpectedStreamVersion.Exactly(2)));
        Assert.Equal(6, await store.AppendAsync("p", "s", NewEvents(6, 1), ExpectedStreamVersion.Exactly(5)));

        Assert.Equal(ExpectedStreamVersion.NoStream, ExpectedStreamVersion.Exactly(0));
        Assert.Equal(Enumerable.Range(1, 6).Select(Id), (await ReadAllEventsAsync(store, "p", "s")).Select(e => e.Id));
        Assert.Equal(3, await RevisionAsync(store, "p"));
    }

    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(4)]
    [InlineData(5)]
    [InlineData(100)]
    public async Task Exactly_a_stale_or_future_version_conflicts_writes_nothing_and_takes_no_revision(long expected)
    {
        var store = await CreateStoreAsync();
        await store.AppendAsync("p", "s", NewEvents(1, 3));
        await store.PutAsync("p", Collection, "k", "1");
        var document = await store.GetAsync("p", Collection, "k");

        await StreamConflictAsync(
            () => store.CommitAsync("p", [WriteOperation.Put(Collection, "k", "2"), WriteOperation.Append("s", NewEvents(10, 2), ExpectedStreamVersion.Exactly(expected))]).AsTask(),
            "p",
            "s",
            ExpectedStreamVersion.Exactly(expected),
            actualVersion: 3,
            operationIndex: 1);

        Assert.Equal([Id(1), Id(2), Id(3)], (await ReadAllEventsAsync(store, "p", "s")).Select(e => e.Id));
        await UnchangedAsync(store, document!);
        Assert.Equal(2, await RevisionAsync(store, "p"));
        Assert.Equal(4, await store.AppendAsync("p", "s", NewEvents(10, 1), ExpectedStreamVersion.Exactly(3)));
        Assert.Equal(3, (await ReadAllEventsAsync(store, "p", "s"))[^1].Revision);
    }

    [Fact]
    public async Task Exactly_on_a_missing_stream_conflicts_with_no_actual_version_and_creates_nothing()
    {
        var store = await CreateStoreAsync();

        var e = await StreamConflictAsync(() => store.AppendAsync("p", "s", NewEvents(1, 1), ExpectedStreamVersion.Exactly(1)).AsTask(), "p", "s", ExpectedStreamVersion.Exactly(1), actualVersion: 0);

        Assert.Null(e.ActualVersion);
        Assert.Equal(1, e.ExpectedVersion);
        await EmptyAsync(store);
        Assert.Empty(await ListAllStreamsAsync(store, "p"));
        var page = await store.ReadStreamAsync("p", "s");
        Assert.Equal(0, page.StreamVersion);
    }

    [Fact]
    public async Task Conflict_on_one_stream_does_not_depend_on_another_streams_version()
    {
        var store = await CreateStoreAsync();
        await store.AppendAsync("p", "s", NewEvents(1, 3));

        Assert.Equal(1, await store.AppendAsync("p", "t", NewEvents(4, 1), ExpectedStreamVersion.NoStream));
        await StreamConflictAsync(() => store.AppendAsync("p", "t", NewEvents(5, 1), ExpectedStreamVersion.Exactly(3)).AsTask(), "p", "t", ExpectedStreamVersion.Exactly(3), actualVersion: 1);
        Assert.Equal(2, await store.AppendAsync("p", "t", NewEvents(5, 1), ExpectedStreamVersion.Exactly(1)));
    }

    // ---- Idempotent retries --------------------------------------------------------------------

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task Retry_with_the_same_ids_at_the_same_position_succeeds_without_writing_twice(bool noStream)
    {
        var store = await CreateStoreAsync();
        var expected = noStream ? ExpectedStreamVersion.NoStream : ExpectedStreamVersion.Exactly(0);
        var events = NewEvents(1, 3);
        var first = await store.CommitAsync("p", [WriteOperation.Append("s", events, expected)]);

        var retry = await store.CommitAsync("p", [WriteOperation.Append("s", events, expected)]);

        Assert.Equal([new OperationOutcome(false, 3)], first.Outcomes);
        Assert.False(retry.Changed);
        Assert.Equal(first.Revision, retry.Revision);
        Assert.Equal([new OperationOutcome(true, 3)], retry.Outcomes);
        Assert.Equal(Enumerable.Range(1, 3).Select(Id), (await ReadAllEventsAsync(store, "p", "s")).Select(e => e.Id));
        Assert.Equal(1, await RevisionAsync(store, "p"));
    }

    [Fact]
    public async Task Retry_at_an_earlier_position_is_recognized_after_the_stream_grew_further()
    {
        var store = await CreateStoreAsync();
        await store.AppendAsync("p", "s", NewEvents(1, 2), ExpectedStreamVersion.NoStream);
        var middle = NewEvents(3, 2);
        await store.AppendAsync("p", "s", middle, ExpectedStreamVersion.Exactly(2));
        await store.AppendAsync("p", "s", NewEvents(5, 3), ExpectedStreamVersion.Exactly(4));
        await store.PutAsync("p", Collection, "k", "1");

        var retry = await store.CommitAsync("p", [WriteOperation.Append("s", middle, ExpectedStreamVersion.Exactly(2))]);
        var firstRetry = await store.AppendAsync("p", "s", NewEvents(1, 2), ExpectedStreamVersion.NoStream);

        Assert.False(retry.Changed);
        Assert.Equal(4, retry.Revision);
        Assert.Equal([new OperationOutcome(true, 4)], retry.Outcomes);
        Assert.Equal(2, firstRetry);
        Assert.Equal(Enumerable.Range(1, 7).Select(Id), (await ReadAllEventsAsync(store, "p", "s")).Select(e => e.Id));
        Assert.Equal(4, await RevisionAsync(store, "p"));
    }

    [Fact]
    public async Task Retry_with_Any_is_recognized_while_its_events_are_the_last_of_the_stream()
    {
        var store = await CreateStoreAsync();
        await store.AppendAsync("p", "s", NewEvents(1, 2));
        var last = NewEvents(3, 2);
        await store.AppendAsync("p", "s", last);

        var retry = await store.CommitAsync("p", [WriteOperation.Append("s", last)]);

        Assert.False(retry.Changed);
        Assert.Equal(2, retry.Revision);
        Assert.Equal([new OperationOutcome(true, 4)], retry.Outcomes);
        Assert.Equal(Enumerable.Range(1, 4).Select(Id), (await ReadAllEventsAsync(store, "p", "s")).Select(e => e.Id));
    }

    [Fact]
    public async Task Retry_with_Any_after_the_stream_moved_on_appends_the_events_again()
    {
        var store = await CreateStoreAsync();
        var first = NewEvents(1, 2);
        await store.AppendAsync("p", "s", first);
        await store.AppendAsync("p", "s", NewEvents(3, 1));

        var again = await store.CommitAsync("p", [WriteOperation.Append("s", first)]);

        Assert.True(again.Changed);
        Assert.Equal(3, again.Revision);
        Assert.Equal([new OperationOutcome(true, 5)], again.Outcomes);
        Assert.Equal([Id(1), Id(2), Id(3), Id(1), Id(2)], (await ReadAllEventsAsync(store, "p", "s")).Select(e => e.Id));
    }

    [Fact]
    public async Task Retry_with_Any_of_a_partly_matching_tail_appends_and_of_the_exact_tail_does_not()
    {
        var store = await CreateStoreAsync();
        await store.AppendAsync("p", "s", NewEvents(1, 2));

        Assert.Equal(4, await store.AppendAsync("p", "s", [NewEvent(1), NewEvent(9)]));
        Assert.Equal(4, await store.AppendAsync("p", "s", [NewEvent(9)]));

        Assert.Equal([Id(1), Id(2), Id(1), Id(9)], (await ReadAllEventsAsync(store, "p", "s")).Select(e => e.Id));
    }

    public static TheoryData<string, int[]> PartlyMatchingRetries { get; } = new()
    {
        { "the second id differs", [3, 9] },
        { "the first id differs", [9, 4] },
        { "the ids in another order", [4, 3] },
        { "one more event than stored after the position", [3, 4, 5] },
        { "different ids altogether", [8, 9] },
    };

    [Theory]
    [MemberData(nameof(PartlyMatchingRetries))]
    public async Task Retry_whose_ids_do_not_all_match_at_the_position_conflicts(string what, int[] numbers)
    {
        Assert.NotNull(what);
        var store = await CreateStoreAsync();
        await store.AppendAsync("p", "s", NewEvents(1, 2));
        await store.AppendAsync("p", "s", NewEvents(3, 2), ExpectedStreamVersion.Exactly(2));
        var retry = numbers.Select(n => NewEvent(n)).ToArray();

        await StreamConflictAsync(() => store.AppendAsync("p", "s", retry, ExpectedStreamVersion.Exactly(2)).AsTask(), "p", "s", ExpectedStreamVersion.Exactly(2), actualVersion: 4);

        Assert.Equal(Enumerable.Range(1, 4).Select(Id), (await ReadAllEventsAsync(store, "p", "s")).Select(e => e.Id));
        Assert.Equal(2, await RevisionAsync(store, "p"));
    }

    [Fact]
    public async Task Retry_of_the_first_events_of_an_append_is_recognized()
    {
        var store = await CreateStoreAsync();
        await store.AppendAsync("p", "s", NewEvents(1, 3), ExpectedStreamVersion.NoStream);

        Assert.Equal(2, await store.AppendAsync("p", "s", NewEvents(1, 2), ExpectedStreamVersion.NoStream));
        Assert.Equal(3, await store.AppendAsync("p", "s", NewEvents(2, 2), ExpectedStreamVersion.Exactly(1)));

        Assert.Equal(1, await RevisionAsync(store, "p"));
        Assert.Equal(3, (await ReadAllEventsAsync(store, "p", "s")).Count);
    }

    [Fact]
    public async Task Retry_with_NoStream_of_other_ids_conflicts()
    {
        var store = await CreateStoreAsync();
        await store.AppendAsync("p", "s", NewEvents(1, 2), ExpectedStreamVersion.NoStream);

        await StreamConflictAsync(() => store.AppendAsync("p", "s", NewEvents(2, 2), ExpectedStreamVersion.NoStream).AsTask(), "p", "s", ExpectedStreamVersion.NoStream, actualVersion: 2);
    }

    [Fact]
    public async Task Retry_in_a_batch_with_a_put_writes_only_the_put()
    {
        var store = await CreateStoreAsync();
        var events = NewEvents(1, 2);
        await store.AppendAsync("p", "s", events, ExpectedStreamVersion.NoStream);

        var result = await store.CommitAsync("p", [WriteOperation.Put(Collection, "k", "1"), WriteOperation.Append("s", events, ExpectedStreamVersion.NoStream)]);

        Assert.True(result.Changed);
        Assert.Equal(2, result.Revision);
        Assert.Equal([new OperationOutcome(false, 2), new OperationOutcome(true, 2)], result.Outcomes);
        var stored = await ReadAllEventsAsync(store, "p", "s");
        Assert.Equal([Id(1), Id(2)], stored.Select(e => e.Id));
        Assert.All(stored, e => Assert.Equal(1, e.Revision));
        Document(await store.GetAsync("p", Collection, "k"), "p", Collection, "k", "1", 2);
    }

    [Fact]
    public async Task Retry_in_a_batch_with_a_delete_of_a_missing_document_changes_nothing()
    {
        var store = await CreateStoreAsync();
        var events = NewEvents(1, 2);
        await store.AppendAsync("p", "s", events);
        await store.AppendAsync("p", "t", NewEvents(3, 1));

        var result = await store.CommitAsync("p", [WriteOperation.Delete(Collection, "missing"), WriteOperation.Append("s", events, ExpectedStreamVersion.Exactly(0)), WriteOperation.Append("t", NewEvents(3, 1))]);

        Assert.False(result.Changed);
        Assert.Equal(2, result.Revision);
        Assert.Equal([new OperationOutcome(false, null), new OperationOutcome(true, 2), new OperationOutcome(true, 1)], result.Outcomes);
        Assert.Equal(2, await RevisionAsync(store, "p"));
    }

    [Fact]
    public async Task Retry_after_the_partition_was_deleted_appends_to_the_new_stream()
    {
        var store = await CreateStoreAsync();
        var events = NewEvents(1, 2);
        await store.AppendAsync("p", "s", events, ExpectedStreamVersion.NoStream);
        await store.DeletePartitionAsync("p");

        var result = await store.CommitAsync("p", [WriteOperation.Append("s", events, ExpectedStreamVersion.NoStream)]);

        Assert.True(result.Changed);
        Assert.Equal(2, result.Revision);
        Assert.Equal([new OperationOutcome(false, 2)], result.Outcomes);
    }

    // ---- Batches -------------------------------------------------------------------------------

    [Fact]
    public async Task Append_in_a_batch_with_puts_and_deletes_takes_one_revision()
    {
        var time = new FakeTimeProvider(Start);
        var store = await CreateStoreAsync(time);
        await store.PutAsync("p", Collection, "old", "1");
        await store.AppendAsync("p", "s", NewEvents(1, 1));
        time.Advance(TimeSpan.FromSeconds(3));

        var result = await store.CommitAsync("p",
        [
            WriteOperation.Put(Collection, "new", "2", WriteCondition.MustNotExist),
            WriteOperation.Append("s", NewEvents(2, 2), ExpectedStreamVersion.Exactly(1)),
            WriteOperation.Delete(Collection, "old", WriteCondition.MustMatchVersion(1)),
            WriteOperation.Append("t", NewEvents(4, 1), ExpectedStreamVersion.NoStream),
            WriteOperation.Put(OtherCollection, "x", "3"),
        ]);

        Assert.Equal(3, result.Revision);
        Assert.True(result.Changed);
        Assert.Equal([new(false, 3), new(true, 3), new(true, null), new(false, 1), new(false, 3)], result.Outcomes);
        var now = Timestamps.Truncate(time.GetUtcNow());
        var s = await ReadAllEventsAsync(store, "p", "s");
        Assert.Equal([2L, 3, 3], s.Select(e => e.Revision));
        Event(s[1], "p", "s", 2, 3, NewEvent(2), now);
        Event(s[2], "p", "s", 3, 3, NewEvent(3), now);
        Event(Assert.Single(await ReadAllEventsAsync(store, "p", "t")), "p", "t", 1, 3, NewEvent(4), now);
        Assert.Equal(now, Document(await store.GetAsync("p", Collection, "new"), "p", Collection, "new", "2", 3).UpdatedAt);
        Assert.Null(await store.GetAsync("p", Collection, "old"));
        Document(await store.GetAsync("p", OtherCollection, "x"), "p", OtherCollection, "x", "3", 3);
        Assert.Equal(3, await RevisionAsync(store, "p"));
    }

    [Fact]
    public async Task Batch_whose_document_condition_fails_writes_no_event()
    {
        var store = await CreateStoreAsync();
        await store.PutAsync("p", Collection, "k", "1");
        var document = await store.GetAsync("p", Collection, "k");

        await ConflictAsync(
            () => store.CommitAsync("p",
            [
                WriteOperation.Append("s", NewEvents(1, 2)),
                WriteOperation.Put(Collection, "k", "2", WriteCondition.MustNotExist),
                WriteOperation.Append("t", NewEvents(3, 1), ExpectedStreamVersion.NoStream),
            ]).AsTask(),
            "p",
            Collection,
            "k",
            WriteCondition.MustNotExist,
            actualVersion: 1,
            operationIndex: 1);

        Assert.Empty(await ListAllStreamsAsync(store, "p"));
        Assert.Empty(await ReadAllEventsAsync(store, "p", "s"));
        await UnchangedAsync(store, document!);
        Assert.Equal(1, await RevisionAsync(store, "p"));
    }

    [Fact]
    public async Task Batch_whose_stream_expectation_fails_writes_no_document()
    {
        var store = await CreateStoreAsync();
        await store.AppendAsync("p", "s", NewEvents(1, 1));

        await StreamConflictAsync(
            () => store.CommitAsync("p",
            [
                WriteOperation.Put(Collection, "k", "1"),
                WriteOperation.Append("t", NewEvents(2, 1)),
                WriteOperation.Delete(Collection, "missing"),
                WriteOperation.Append("s", NewEvents(3, 1), ExpectedStreamVersion.NoStream),
            ]).AsTask(),
            "p",
            "s",
            ExpectedStreamVersion.NoStream,
            actualVersion: 1,
            operationIndex: 3);

        Assert.Null(await store.GetAsync("p", Collection, "k"));
        Assert.Equal([new StreamInfo("s", 1)], await ListAllStreamsAsync(store, "p"));
        Assert.Equal(1, await RevisionAsync(store, "p"));
    }

    [Fact]
    public async Task Failing_append_in_a_new_partition_creates_nothing()
    {
        var store = await CreateStoreAsync();

        await StreamConflictAsync(
            () => store.CommitAsync("p", [WriteOperation.Put(Collection, "k", "1"), WriteOperation.Append("s", NewEvents(1, 1), ExpectedStreamVersion.Exactly(3))]).AsTask(),
            "p",
            "s",
            ExpectedStreamVersion.Exactly(3),
            actualVersion: 0,
            operationIndex: 1);

        await EmptyAsync(store);
    }

    [Fact]
    public async Task Batch_reports_the_first_failing_operation_in_batch_order()
    {
        var store = await CreateStoreAsync();
        await store.PutAsync("p", Collection, "k", "1");
        await store.AppendAsync("p", "s", NewEvents(1, 1));

        await StreamConflictAsync(
            () => store.CommitAsync("p",
            [
                WriteOperation.Put(Collection, "a", "1"),
                WriteOperation.Append("s", NewEvents(2, 1), ExpectedStreamVersion.Exactly(5)),
                WriteOperation.Put(Collection, "k", "2", WriteCondition.MustNotExist),
            ]).AsTask(),
            "p",
            "s",
            ExpectedStreamVersion.Exactly(5),
            actualVersion: 1,
            operationIndex: 1);
        await ConflictAsync(
            () => store.CommitAsync("p",
            [
                WriteOperation.Put(Collection, "a", "1"),
                WriteOperation.Put(Collection, "k", "2", WriteCondition.MustNotExist),
                WriteOperation.Append("s", NewEvents(2, 1), ExpectedStreamVersion.Exactly(5)),
            ]).AsTask(),
            "p",
            Collection,
            "k",
            WriteCondition.MustNotExist,
            actualVersion: 1,
            operationIndex: 1);
        await StreamConflictAsync(
            () => store.CommitAsync("p",
            [
                WriteOperation.Append("t", NewEvents(3, 1), ExpectedStreamVersion.Exactly(1)),
                WriteOperation.Append("s", NewEvents(2, 1), ExpectedStreamVersion.NoStream),
            ]).AsTask(),
            "p",
            "t",
            ExpectedStreamVersion.Exactly(1),
            actualVersion: 0,
            operationIndex: 0);

        Assert.Equal(2, await RevisionAsync(store, "p"));
        Assert.Equal([new StreamInfo("s", 1)], await ListAllStreamsAsync(store, "p"));
    }

    [Fact]
    public async Task Two_streams_in_one_batch_are_appended_together()
    {
        var store = await CreateStoreAsync();
        await store.AppendAsync("p", "b", NewEvents(1, 2));

        var result = await store.CommitAsync("p", [WriteOperation.Append("b", NewEvents(3, 1), ExpectedStreamVersion.Exactly(2)), WriteOperation.Append("a", NewEvents(4, 3), ExpectedStreamVersion.NoStream)]);

        Assert.Equal(2, result.Revision);
        Assert.Equal([new OperationOutcome(true, 3), new OperationOutcome(false, 3)], result.Outcomes);
        Assert.Equal([2L, 2, 2], (await ReadAllEventsAsync(store, "p", "a")).Select(e => e.Revision));
        Assert.Equal([1L, 1, 2], (await ReadAllEventsAsync(store, "p", "b")).Select(e => e.Revision));
        Assert.Equal([new StreamInfo("a", 3), new StreamInfo("b", 3)], await ListAllStreamsAsync(store, "p"));
    }

    [Fact]
    public async Task Batch_appending_to_one_stream_twice_is_rejected()
    {
        var store = await CreateStoreAsync();
        await store.AppendAsync("p", "s", NewEvents(1, 1));

        var e = await ThrowsArgumentAsync(async () => await store.CommitAsync("p", [WriteOperation.Append("s", NewEvents(2, 1)), WriteOperation.Put(Collection, "k", "1"), WriteOperation.Append("s", NewEvents(3, 1))]));

        Assert.StartsWith(ErrorMessages.DuplicateStreamInBatch("s", 0, 2), e.Message, StringComparison.Ordinal);
        Assert.Single(await ReadAllEventsAsync(store, "p", "s"));
        Assert.Null(await store.GetAsync("p", Collection, "k"));
        Assert.Equal(1, await RevisionAsync(store, "p"));
    }

    [Fact]
    public async Task Batch_may_append_to_streams_named_like_its_documents()
    {
        var store = await CreateStoreAsync();

        var result = await store.CommitAsync("p", [WriteOperation.Put(Collection, "k", "1"), WriteOperation.Append("k", NewEvents(1, 1)), WriteOperation.Append("K", NewEvents(2, 1)), WriteOperation.Delete(Collection, "K")]);

        Assert.Equal(4, result.Outcomes.Count);
        Assert.Equal([new StreamInfo("K", 1), new StreamInfo("k", 1)], await ListAllStreamsAsync(store, "p"));
    }

    // ---- Argument errors -----------------------------------------------------------------------

    [Fact]
    public async Task Append_without_events_is_rejected()
    {
        var store = await CreateStoreAsync();

        var e = await ThrowsArgumentAsync(async () => await store.AppendAsync("p", "s", []));

        Assert.StartsWith(ErrorMessages.EmptyAppend, e.Message, StringComparison.Ordinal);
        await EmptyAsync(store);
    }

    [Fact]
    public async Task Append_holding_a_null_event_is_rejected()
    {
        var store = await CreateStoreAsync();

        var e = await ThrowsArgumentAsync(async () => await store.AppendAsync("p", "s", [NewEvent(1), null!]));

        Assert.StartsWith(ErrorMessages.NullEvent(1), e.Message, StringComparison.Ordinal);
        await Assert.ThrowsAsync<ArgumentNullException>(async () => await store.AppendAsync("p", "s", null!));
        await EmptyAsync(store);
    }

    [Fact]
    public async Task Append_holding_an_id_twice_is_rejected()
    {
        var store = await CreateStoreAsync();

        var e = await ThrowsArgumentAsync(async () => await store.AppendAsync("p", "s", [NewEvent(1), NewEvent(2), NewEvent(1, json: "2")]));

        Assert.StartsWith(ErrorMessages.DuplicateEventId(Id(1)), e.Message, StringComparison.Ordinal);
        await EmptyAsync(store);
    }

    [Fact]
    public void Event_with_the_empty_guid_as_id_is_rejected()
    {
        var e = Assert.ThrowsAny<ArgumentException>(() => EventData.Create("e", "1", id: Guid.Empty));

        Assert.StartsWith(ErrorMessages.EmptyEventId, e.Message, StringComparison.Ordinal);
        Assert.NotEqual(Guid.Empty, EventData.Create("e", "1").Id);
        Assert.NotEqual(EventData.Create("e", "1").Id, EventData.Create("e", "1").Id);
    }

    [Theory]
    [MemberData(nameof(InvalidNames), MemberType = typeof(TestData))]
    public void Event_with_an_invalid_type_name_is_rejected(string type)
        => Assert.ThrowsAny<ArgumentException>(() => EventData.Create(type, "1", id: Id(1)));

    [Theory]
    [MemberData(nameof(ValidNames), MemberType = typeof(TestData))]
    public async Task Event_type_names_of_the_name_rules_are_accepted(string type)
    {
        var store = await CreateStoreAsync();

        await store.AppendAsync("p", "s", [EventData.Create(type, "1", id: Id(1))]);

        Assert.Equal(type, Assert.Single(await ReadAllEventsAsync(store, "p", "s")).Type);
    }

    [Theory]
    [InlineData("")]
    [InlineData("{")]
    [InlineData("{} {}")]
    [InlineData("[1,]")]
    [InlineData("// c\n1")]
    public void Event_with_invalid_JSON_data_or_metadata_is_rejected(string json)
    {
        Assert.ThrowsAny<ArgumentException>(() => EventData.Create("e", json, id: Id(1)));
        Assert.ThrowsAny<ArgumentException>(() => EventData.Create("e", "1", json.Length == 0 ? " " : json, Id(1)));
    }

    [Theory]
    [MemberData(nameof(InvalidKeyLabels), MemberType = typeof(TestData))]
    public async Task Invalid_stream_id_is_rejected_by_append_read_and_nothing_is_written(string label)
    {
        var stream = InvalidKeys[label];
        var store = await CreateStoreAsync();

        var e = await ThrowsArgumentAsync(async () => await store.AppendAsync("p", stream, [NewEvent(1)]));
        Assert.StartsWith(InvalidKeyMessage(stream, "document key"), e.Message, StringComparison.Ordinal);
        await ThrowsArgumentAsync(async () => await store.ReadStreamAsync("p", stream));
        await ThrowsArgumentAsync(async () => await store.ListStreamsAsync("p", new ListOptions { Prefix = stream }));

        await EmptyAsync(store);
    }

    [Theory]
    [MemberData(nameof(InvalidKeyLabels), MemberType = typeof(TestData))]
    public async Task Invalid_partition_is_rejected_by_append_read_and_list(string label)
    {
        var partition = InvalidKeys[label];
        var store = await CreateStoreAsync();

        await ThrowsArgumentAsync(async () => await store.AppendAsync(partition, "s", [NewEvent(1)]));
        await ThrowsArgumentAsync(async () => await store.ReadStreamAsync(partition, "s"));
        await ThrowsArgumentAsync(async () => await store.ListStreamsAsync(partition));

        await EmptyAsync(store);
    }

    [Fact]
    public async Task Stream_ids_up_to_the_key_limit_are_accepted_and_one_byte_more_is_rejected()
    {
        var store = await CreateStoreAsync();
        var longest = OfUtf8Length("\u00e9", StoreLimits.MaxDocumentKeyBytes);

        Assert.Equal(1, await store.AppendAsync("p", longest, [NewEvent(1)]));
        await ThrowsArgumentAsync(async () => await store.AppendAsync("p", longest + "x", [NewEvent(2)]));

        Assert.Equal([new StreamInfo(longest, 1)], await ListAllStreamsAsync(store, "p"));
    }

    [Fact]
    public async Task Append_of_MaxBatchOperations_events_is_accepted()
    {
        var store = await CreateStoreAsync();
        var events = NewEvents(1, StoreLimits.MaxBatchOperations);

        Assert.Equal(StoreLimits.MaxBatchOperations, await store.AppendAsync("p", "s", events));

        var stored = await ReadAllEventsAsync(store, "p", "s", limit: 333);
        Assert.Equal(events.Select(e => e.Id), stored.Select(e => e.Id));
        Assert.Equal(Enumerable.Range(1, StoreLimits.MaxBatchOperations).Select(v => (long)v), stored.Select(e => e.Version));
        Assert.All(stored, e => Assert.Equal(1, e.Revision));
    }

    [Fact]
    public async Task Append_of_one_event_past_MaxBatchOperations_is_rejected()
    {
        var store = await CreateStoreAsync();

        var e = await ThrowsArgumentAsync(async () => await store.AppendAsync("p", "s", NewEvents(1, StoreLimits.MaxBatchOperations + 1)));

        Assert.StartsWith(ErrorMessages.BatchTooLarge(StoreLimits.MaxBatchOperations + 1), e.Message, StringComparison.Ordinal);
        await EmptyAsync(store);
    }

    [Fact]
    public async Task Events_count_toward_MaxBatchOperations_together_with_puts()
    {
        var store = await CreateStoreAsync();
        const int Events = StoreLimits.MaxBatchOperations - 2;

        var e = await ThrowsArgumentAsync(async () => await store.CommitAsync("p",
        [
            WriteOperation.Put(Collection, "a", "1"),
            WriteOperation.Append("s", NewEvents(1, Events - 1)),
            WriteOperation.Append("t", NewEvents(Events, 2)),
            WriteOperation.Delete(Collection, "b"),
        ]));
        Assert.StartsWith(ErrorMessages.BatchTooLarge(StoreLimits.MaxBatchOperations + 1), e.Message, StringComparison.Ordinal);
        await EmptyAsync(store);

        var result = await store.CommitAsync("p",
        [
            WriteOperation.Put(Collection, "a", "1"),
            WriteOperation.Append("s", NewEvents(1, Events - 1)),
            WriteOperation.Append("t", NewEvents(Events, 1)),
            WriteOperation.Delete(Collection, "b"),
        ]);
        Assert.Equal([new(false, 1), new(false, Events - 1), new(false, 1), new(false, null)], result.Outcomes);
    }

    [Fact]
    public async Task Event_data_and_metadata_together_may_reach_MaxValueBytes_but_not_pass_it()
    {
        var store = await CreateStoreAsync();
        var data = JsonStringOfSize(StoreLimits.MaxValueBytes - 10);
        var metadata = JsonStringOfSize(10);

        var atLimit = EventData.Create("e", data, metadata, Id(1));
        var e = Assert.ThrowsAny<ArgumentException>(() => EventData.Create("e", data, JsonStringOfSize(11), Id(2)));
        Assert.StartsWith(ErrorMessages.ValueTooLarge(StoreLimits.MaxValueBytes + 1), e.Message, StringComparison.Ordinal);
        Assert.ThrowsAny<ArgumentException>(() => EventData.Create("e", JsonStringOfSize(StoreLimits.MaxValueBytes + 1), id: Id(3)));

        await store.AppendAsync("p", "s", [atLimit, EventData.Create("e", JsonStringOfSize(StoreLimits.MaxValueBytes), id: Id(4))]);
        var stored = await ReadAllEventsAsync(store, "p", "s");
        Assert.Equal(data, stored[0].Data.ToArray());
        Assert.Equal(metadata, stored[0].Metadata.ToArray());
        Assert.Equal(StoreLimits.MaxValueBytes, stored[1].Data.Length);
    }

    [Fact]
    public async Task Events_and_puts_of_exactly_MaxBatchBytes_are_accepted()
    {
        var store = await CreateStoreAsync();
        var value = JsonStringOfSize(StoreLimits.MaxValueBytes);
        var count = StoreLimits.MaxBatchBytes / StoreLimits.MaxValueBytes;
        var events = Enumerable.Range(1, count - 2).Select(n => EventData.Create("e", value, id: Id(n))).ToList();

        var result = await store.CommitAsync("p", [WriteOperation.Append("s", events), WriteOperation.Put(Collection, "k", value.AsMemory()), WriteOperation.Append("t", [EventData.Create("e", JsonStringOfSize(StoreLimits.MaxValueBytes - 2), JsonStringOfSize(2), Id(99))])]);

        Assert.Equal(1, result.Revision);
        var stored = await ReadAllEventsAsync(store, "p", "s");
        Assert.Equal(count - 2, stored.Count);
        Assert.All(stored, e => Assert.Equal(value, e.Data.ToArray()));
    }

    [Fact]
    public async Task Events_and_puts_one_byte_past_MaxBatchBytes_are_rejected()
    {
        var store = await CreateStoreAsync();
        var value = JsonStringOfSize(StoreLimits.MaxValueBytes);
        var count = StoreLimits.MaxBatchBytes / StoreLimits.MaxValueBytes;
        var events = Enumerable.Range(1, count - 1).Select(n => EventData.Create("e", value, id: Id(n))).ToList();

        var e = await ThrowsArgumentAsync(async () => await store.CommitAsync("p", [WriteOperation.Append("s", events), WriteOperation.Put(Collection, "k", value.AsMemory()), WriteOperation.Append("t", [NewEvent(100, json: "1")])]));
        Assert.StartsWith(ErrorMessages.BatchTooManyBytes(StoreLimits.MaxBatchBytes + 1L), e.Message, StringComparison.Ordinal);

        var tooMany = Enumerable.Range(1, count).Select(n => EventData.Create("e", value, id: Id(n))).Append(EventData.Create("e", "1", "2", Id(200))).ToList();
        var single = await ThrowsArgumentAsync(async () => await store.AppendAsync("p", "s", tooMany));
        Assert.StartsWith(ErrorMessages.BatchTooManyBytes(StoreLimits.MaxBatchBytes + 2L), single.Message, StringComparison.Ordinal);
        await EmptyAsync(store);
    }

    [Theory]
    [InlineData(0)]
    [InlineData(-1)]
    [InlineData(long.MinValue)]
    public async Task Read_from_a_version_below_1_is_rejected(long from)
    {
        var store = await CreateStoreAsync();
        await store.AppendAsync("p", "s", NewEvents(1, 2));

        var e = await Assert.ThrowsAsync<ArgumentOutOfRangeException>(async () => await store.ReadStreamAsync("p", "s", new ReadStreamOptions { FromVersion = from }));
        await Assert.ThrowsAsync<ArgumentOutOfRangeException>(async () => await store.ReadStreamAsync("p", "s", new ReadStreamOptions { FromVersion = from, Backwards = true }));

        Assert.StartsWith(ErrorMessages.InvalidStreamVersion(from), e.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(0)]
    [InlineData(-1)]
    [InlineData(StoreLimits.MaxPageSize + 1)]
    public async Task Read_and_list_with_a_limit_out_of_range_are_rejected(int limit)
    {
        var store = await CreateStoreAsync();
        await store.AppendAsync("p", "s", NewEvents(1, 2));

        var e = await ThrowsArgumentAsync(async () => await store.ReadStreamAsync("p", "s", new ReadStreamOptions { Limit = limit }));
        await ThrowsArgumentAsync(async () => await store.ReadStreamAsync("p", "s", new ReadStreamOptions { Limit = limit, Backwards = true }));
        await ThrowsArgumentAsync(async () => await store.ListStreamsAsync("p", new ListOptions { Limit = limit }));

        Assert.StartsWith(ErrorMessages.InvalidLimit(limit), e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Append_with_a_cancelled_token_throws_and_writes_nothing()
    {
        var store = await CreateStoreAsync();

        await Assert.ThrowsAnyAsync<OperationCanceledException>(async () => await store.AppendAsync("p", "s", [NewEvent(1)], cancellationToken: new CancellationToken(canceled: true)));

        await EmptyAsync(store);
    }

    // ---- Reading -------------------------------------------------------------------------------

    [Theory]
    [InlineData(null, false, 100, "1-10", null)]
    [InlineData(1L, false, 1, "1", 2L)]
    [InlineData(3L, false, 4, "3-6", 7L)]
    [InlineData(7L, false, 4, "7-10", null)]
    [InlineData(6L, false, 5, "6-10", null)]
    [InlineData(10L, false, 1, "10", null)]
    [InlineData(11L, false, 5, "", null)]
    [InlineData(1000L, false, 1, "", null)]
    [InlineData(null, false, 3, "1-3", 4L)]
    [InlineData(null, true, 100, "10-1", null)]
    [InlineData(null, true, 3, "10-8", 7L)]
    [InlineData(4L, true, 3, "4-2", 1L)]
    [InlineData(3L, true, 3, "3-1", null)]
    [InlineData(3L, true, 5, "3-1", null)]
    [InlineData(1L, true, 1, "1", null)]
    [InlineData(10L, true, 1, "10", 9L)]
    [InlineData(11L, true, 2, "10-9", 8L)]
    [InlineData(long.MaxValue, true, 100, "10-1", null)]
    public async Task Read_returns_the_versions_asked_for_and_where_to_continue(long? from, bool backwards, int limit, string expected, long? next)
    {
        var store = await CreateStoreAsync();
        await store.AppendAsync("p", "s", NewEvents(1, 4));
        await store.AppendAsync("p", "other", NewEvents(50, 3));
        await store.AppendAsync("p", "s", NewEvents(5, 6));

        var page = await store.ReadStreamAsync("p", "s", new ReadStreamOptions { FromVersion = from, Backwards = backwards, Limit = limit });

        Assert.Equal(Versions(expected), page.Items.Select(e => e.Version));
        Assert.Equal(Versions(expected).Select(v => Id((int)v)), page.Items.Select(e => e.Id));
        Assert.All(page.Items, e => Assert.Equal(e.Version <= 4 ? 1 : 3, e.Revision));
        Assert.Equal(10, page.StreamVersion);
        Assert.Equal(next, page.NextVersion);

        static List<long> Versions(string range)
        {
            if (range.Length == 0)
            {
                return [];
            }

            var bounds = range.Split('-').Select(b => long.Parse(b, CultureInfo.InvariantCulture)).ToArray();
            var (first, last) = (bounds[0], bounds[^1]);
            return first <= last
                ? [.. Enumerable.Range((int)first, (int)(last - first + 1)).Select(v => (long)v)]
                : [.. Enumerable.Range((int)last, (int)(first - last + 1)).Select(v => (long)v).Reverse()];
        }
    }

    [Theory]
    [InlineData(null, false)]
    [InlineData(null, true)]
    [InlineData(1L, false)]
    [InlineData(5L, true)]
    public async Task Reading_a_missing_stream_returns_an_empty_page_at_version_0(long? from, bool backwards)
    {
        var store = await CreateStoreAsync();
        await store.AppendAsync("p", "s", NewEvents(1, 2));
        var options = new ReadStreamOptions { FromVersion = from, Backwards = backwards, Limit = 1 };

        foreach (var (partition, stream) in new[] { ("p", "t"), ("p", "S"), ("q", "s") })
        {
            var page = await store.ReadStreamAsync(partition, stream, options);
            Assert.Empty(page.Items);
            Assert.Equal(0, page.StreamVersion);
            Assert.Null(page.NextVersion);
        }

        Assert.Equal([new PartitionInfo("p", 1)], await ListAllPartitionsAsync(store));
    }

    [Theory]
    [InlineData(1)]
    [InlineData(3)]
    [InlineData(10)]
    [InlineData(11)]
    public async Task Paging_with_NextVersion_reads_every_event_once_in_both_directions(int limit)
    {
        var store = await CreateStoreAsync();
        for (var i = 0; i < 5; i++)
        {
            await store.AppendAsync("p", "s", NewEvents((2 * i) + 1, 2));
        }

        var forwards = await ReadAllEventsAsync(store, "p", "s", limit);
        var backwards = new List<StoredEvent>();
        long? from = null;
        do
        {
            var page = await store.ReadStreamAsync("p", "s", new ReadStreamOptions { FromVersion = from, Backwards = true, Limit = limit });
            Assert.True(page.Items.Count <= limit);
            Assert.Equal(10, page.StreamVersion);
            backwards.AddRange(page.Items);
            from = page.NextVersion;
        }
        while (from is not null);

        Assert.Equal(Enumerable.Range(1, 10).Select(v => (long)v), forwards.Select(e => e.Version));
        Assert.Equal(Enumerable.Range(1, 10).Reverse().Select(v => (long)v), backwards.Select(e => e.Version));
        for (var i = 0; i < 10; i++)
        {
            SameEvent(forwards[i], backwards[9 - i]);
        }
    }

    [Fact]
    public async Task Read_sees_the_stream_version_at_the_time_of_the_read()
    {
        var store = await CreateStoreAsync();
        await store.AppendAsync("p", "s", NewEvents(1, 3));

        var first = await store.ReadStreamAsync("p", "s", new ReadStreamOptions { Limit = 2 });
        await store.AppendAsync("p", "s", NewEvents(4, 2));
        var second = await store.ReadStreamAsync("p", "s", new ReadStreamOptions { FromVersion = first.NextVersion, Limit = 2 });

        Assert.Equal(3, first.StreamVersion);
        Assert.Equal(3, first.NextVersion);
        Assert.Equal(5, second.StreamVersion);
        Assert.Equal([3L, 4], second.Items.Select(e => e.Version));
        Assert.Equal(5, second.NextVersion);
    }

    // ---- Listing streams -----------------------------------------------------------------------

    [Fact]
    public async Task Streams_are_listed_in_code_point_order_with_their_versions()
    {
        var store = await CreateStoreAsync();
        string[] streams = ["b", "a", "\uE000", "\U00010000", "\uFFFD", "😀", "B", "a\u00e9", "ab", "\U0010FFFF", "~"];
        for (var i = 0; i < streams.Length; i++)
        {
            await store.AppendAsync("p", streams[i], NewEvents((10 * i) + 1, i + 1));
        }

        var listed = await ListAllStreamsAsync(store, "p");

        Assert.Equal(["B", "a", "ab", "a\u00e9", "b", "~", "\uE000", "\uFFFD", "\U00010000", "😀", "\U0010FFFF"], listed.Select(s => s.Stream));
        Assert.Equal(streams.Select((s, i) => new StreamInfo(s, i + 1)).OrderBy(s => s.Stream, StorageKeyComparer.Instance), listed);
        Assert.True(string.CompareOrdinal("\U00010000", "\uFFFD") < 0, "UTF-16 order differs here; the listing must not follow it.");
        var descending = await ListAllStreamsAsync(store, "p", new ListOptions { Descending = true, Limit = 3 });
        Assert.Equal(listed.AsEnumerable().Reverse(), descending);
    }

    [Fact]
    public async Task Streams_are_listed_by_prefix_and_range_in_both_orders()
    {
        var store = await CreateStoreAsync();
        string[] streams = ["order-1", "order-2", "order-10", "orders", "user-1", "user-2", "\uFFFD-x", "\U00010000-x"];
        foreach (var (stream, i) in streams.Select((s, i) => (s, i)))
        {
            await store.AppendAsync("p", stream, [NewEvent(i + 1)]);
        }

        await store.PutAsync("p", Collection, "order-3", "1");

        Assert.Equal(["order-1", "order-10", "order-2"], await StreamsAsync(new ListOptions { Prefix = "order-" }));
        Assert.Equal(["order-2", "order-10", "order-1"], await StreamsAsync(new ListOptions { Prefix = "order-", Descending = true, Limit = 1 }));
        Assert.Equal(["order-10", "order-2", "orders"], await StreamsAsync(new ListOptions { StartKey = "order-10", EndKey = "user-1" }));
        Assert.Equal(["orders", "order-2", "order-10"], await StreamsAsync(new ListOptions { StartKey = "order-10", EndKey = "user-1", Descending = true, Limit = 2 }));
        Assert.Equal(["user-2", "\uFFFD-x"], await StreamsAsync(new ListOptions { StartKey = "user-2", EndKey = "\U00010000" }));
        Assert.Equal(["\U00010000-x"], await StreamsAsync(new ListOptions { Prefix = "\U00010000" }));
        Assert.Equal(["order-2"], await StreamsAsync(new ListOptions { Prefix = "order-", StartKey = "order-11", EndKey = "order-3" }));
        Assert.Empty(await StreamsAsync(new ListOptions { Prefix = "zzz" }));
        Assert.Empty(await StreamsAsync(new ListOptions { StartKey = "b", EndKey = "a" }));

        async Task<List<string>> StreamsAsync(ListOptions options) => [.. (await ListAllStreamsAsync(store, "p", options)).Select(s => s.Stream)];
    }

    [Fact]
    public async Task Stream_listing_pages_with_tokens_and_the_page_size_may_change()
    {
        var store = await CreateStoreAsync();
        var streams = Enumerable.Range(0, 7).Select(i => $"s{i}").ToList();
        foreach (var stream in streams)
        {
            await store.AppendAsync("p", stream, [NewEvent(streams.IndexOf(stream) + 1)]);
        }

        var first = await store.ListStreamsAsync("p", new ListOptions { Limit = 3 });
        var second = await store.ListStreamsAsync("p", new ListOptions { Limit = 1, ContinuationToken = first.ContinuationToken });
        var rest = await store.ListStreamsAsync("p", new ListOptions { Limit = StoreLimits.MaxPageSize, ContinuationToken = second.ContinuationToken });

        Assert.Equal(["s0", "s1", "s2"], first.Items.Select(s => s.Stream));
        Assert.NotNull(first.ContinuationToken);
        Assert.Equal(["s3"], second.Items.Select(s => s.Stream));
        Assert.Equal(["s4", "s5", "s6"], rest.Items.Select(s => s.Stream));
        Assert.Null(rest.ContinuationToken);
        Assert.Equal(streams, (await ListAllStreamsAsync(store, "p", new ListOptions { Limit = 2 })).Select(s => s.Stream));
    }

    [Fact]
    public async Task Stream_listing_of_a_partition_without_streams_is_empty()
    {
        var store = await CreateStoreAsync();
        await store.PutAsync("p", Collection, "k", "1");
        await store.IncrementSequenceAsync("p", "seq");

        var page = await store.ListStreamsAsync("p");
        var missing = await store.ListStreamsAsync("q", new ListOptions { Prefix = "a", Descending = true });

        Assert.Empty(page.Items);
        Assert.Null(page.ContinuationToken);
        Assert.Empty(missing.Items);
        Assert.Null(missing.ContinuationToken);
        Assert.Equal([new PartitionInfo("p", 2)], await ListAllPartitionsAsync(store));
    }

    [Fact]
    public async Task Continuation_token_of_another_listing_is_rejected_by_the_stream_listing()
    {
        var store = await CreateStoreAsync();
        foreach (var (stream, i) in new[] { "a1", "a2", "a3", "b1" }.Select((s, i) => (s, i)))
        {
            await store.AppendAsync("p", stream, [NewEvent(i + 1)]);
            await store.AppendAsync("q", stream, [NewEvent(i + 11)]);
            await store.PutAsync("p", Collection, stream, "1");
        }

        var options = new ListOptions { Prefix = "a", Limit = 1 };
        var token = (await store.ListStreamsAsync("p", options)).ContinuationToken;
        var documentToken = (await store.ListAsync("p", Collection, options)).ContinuationToken;
        var partitionToken = (await store.ListPartitionsAsync(new PartitionListOptions { Limit = 1 })).ContinuationToken;
        Assert.NotNull(token);
        Assert.NotNull(documentToken);
        Assert.NotNull(partitionToken);

        await AssertTokenRejectedAsync(() => store.ListStreamsAsync("q", options with { ContinuationToken = token }));
        await AssertTokenRejectedAsync(() => store.ListStreamsAsync("p", options with { Prefix = "b", ContinuationToken = token }));
        await AssertTokenRejectedAsync(() => store.ListStreamsAsync("p", options with { Prefix = null, ContinuationToken = token }));
        await AssertTokenRejectedAsync(() => store.ListStreamsAsync("p", options with { Descending = true, ContinuationToken = token }));
        await AssertTokenRejectedAsync(() => store.ListStreamsAsync("p", options with { StartKey = "a", ContinuationToken = token }));
        await AssertTokenRejectedAsync(() => store.ListStreamsAsync("p", options with { EndKey = "b", ContinuationToken = token }));
        await AssertTokenRejectedAsync(() => store.ListStreamsAsync("p", options with { ContinuationToken = documentToken }));
        await AssertTokenRejectedAsync(() => store.ListStreamsAsync("p", options with { ContinuationToken = partitionToken }));
        await AssertTokenRejectedAsync(() => store.ListStreamsAsync("p", options with { ContinuationToken = "garbage" }));
        await AssertTokenRejectedAsync(() => store.ListAsync("p", Collection, options with { ContinuationToken = token }));
        await AssertTokenRejectedAsync(() => store.ListPartitionsAsync(new PartitionListOptions { Limit = 1, ContinuationToken = token }));

        var same = await store.ListStreamsAsync("p", options with { ContinuationToken = token });
        Assert.Equal([new StreamInfo("a2", 1)], same.Items);
    }

    // ---- Partitions ----------------------------------------------------------------------------

    [Fact]
    public async Task Deleting_the_partition_removes_its_streams()
    {
        var store = await CreateStoreAsync();
        await store.AppendAsync("p", "s", NewEvents(1, 3));
        await store.AppendAsync("p", "t", NewEvents(4, 1));
        await store.PutAsync("p", Collection, "k", "1");
        await store.AppendAsync("q", "s", NewEvents(5, 2));

        Assert.True(await store.DeletePartitionAsync("p"));

        var page = await store.ReadStreamAsync("p", "s");
        Assert.Empty(page.Items);
        Assert.Equal(0, page.StreamVersion);
        Assert.Empty(await ListAllStreamsAsync(store, "p"));
        Assert.Equal([Id(5), Id(6)], (await ReadAllEventsAsync(store, "q", "s")).Select(e => e.Id));
        Assert.Equal([new PartitionInfo("q", 1)], await ListAllPartitionsAsync(store));

        var result = await store.CommitAsync("p", [WriteOperation.Append("s", NewEvents(1, 1), ExpectedStreamVersion.NoStream)]);

        Assert.Equal(4, result.Revision);
        Assert.Equal([new OperationOutcome(false, 1)], result.Outcomes);
        Event(Assert.Single(await ReadAllEventsAsync(store, "p", "s")), "p", "s", 1, 4, NewEvent(1));
        Assert.Equal([new StreamInfo("s", 1)], await ListAllStreamsAsync(store, "p"));
        await StreamConflictAsync(() => store.AppendAsync("p", "t", [NewEvent(9)], ExpectedStreamVersion.Exactly(1)).AsTask(), "p", "t", ExpectedStreamVersion.Exactly(1), actualVersion: 0);
    }

    [Fact]
    public async Task Partition_holding_only_streams_is_listed_and_can_be_deleted()
    {
        var store = await CreateStoreAsync();
        await store.AppendAsync("p", "s", NewEvents(1, 2));

        Assert.Equal([new PartitionInfo("p", 1)], await ListAllPartitionsAsync(store));
        Assert.True(await store.DeletePartitionAsync("p"));
        Assert.False(await store.DeletePartitionAsync("p"));
        await EmptyAsync(store);
    }

    // ---- Concurrency ---------------------------------------------------------------------------

    [Fact]
    public async Task Concurrent_writers_appending_at_the_version_they_read_lose_no_event()
    {
        const int Writers = 8;
        const int AppendsPerWriter = 25;
        var store = await CreateStoreAsync();
        var conflicts = new ConcurrentBag<(int Writer, long Expected, VersionConflictException Error)>();
        var written = new ConcurrentBag<(Guid Id, long Version)>();
        var gate = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);

        var writers = Enumerable.Range(0, Writers).Select(writer => Task.Run(async () =>
        {
            await gate.Task;
            var known = (await store.ReadStreamAsync("p", "s", new ReadStreamOptions { Backwards = true, Limit = 1 })).StreamVersion;
            for (var i = 0; i < AppendsPerWriter; i++)
            {
                var e = EventData.Create("written", $$"""{"writer":{{writer}},"i":{{i}}}""", id: Id((writer * 1000) + i + 1));
                while (true)
                {
                    try
                    {
                        var version = await store.AppendAsync("p", "s", [e], ExpectedStreamVersion.Exactly(known));
                        Assert.Equal(known + 1, version);
                        written.Add((e.Id, version));
                        known = version;
                        break;
                    }
                    catch (VersionConflictException conflict)
                    {
                        conflicts.Add((writer, known, conflict));
                        known = (await store.ReadStreamAsync("p", "s", new ReadStreamOptions { Backwards = true, Limit = 1 })).StreamVersion;
                    }
                }
            }
        })).ToList();
        gate.SetResult();
        await Task.WhenAll(writers);

        const int Total = Writers * AppendsPerWriter;
        var events = await ReadAllEventsAsync(store, "p", "s", limit: 37);
        Assert.Equal(Enumerable.Range(1, Total).Select(v => (long)v), events.Select(e => e.Version));
        Assert.Equal(Total, events.Select(e => e.Id).Distinct().Count());
        Assert.Equal(written.OrderBy(w => w.Version), events.Select(e => (e.Id, e.Version)));
        Assert.Equal(Enumerable.Range(1, Total).Select(v => (long)v), events.Select(e => e.Revision));
        for (var writer = 0; writer < Writers; writer++)
        {
            var own = events.Where(e => e.GetJsonText().StartsWith($$"""{"writer":{{writer}},""", StringComparison.Ordinal)).ToList();
            Assert.Equal(Enumerable.Range(0, AppendsPerWriter).Select(i => $$"""{"writer":{{writer}},"i":{{i}}}"""), own.Select(e => e.GetJsonText()));
        }

        Assert.All(conflicts, c =>
        {
            Assert.Equal("s", c.Error.Stream);
            Assert.Equal(c.Expected, c.Error.StreamExpectation.Version);
            Assert.NotNull(c.Error.ActualVersion);
            Assert.True(c.Error.ActualVersion > c.Expected, $"Writer {c.Writer} expected {c.Expected} and was told the stream is at {c.Error.ActualVersion}.");
        });
        Assert.Equal(Total, await RevisionAsync(store, "p"));
        Assert.Equal([new StreamInfo("s", Total)], await ListAllStreamsAsync(store, "p"));
    }

    private static async Task AssertTokenRejectedAsync<T>(Func<ValueTask<T>> listing)
    {
        var e = await Assert.ThrowsAnyAsync<ArgumentException>(async () => await listing());
        Assert.StartsWith(ErrorMessages.InvalidContinuationToken, e.Message, StringComparison.Ordinal);
    }
}
