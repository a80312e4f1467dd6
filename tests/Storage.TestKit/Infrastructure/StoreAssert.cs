using System.Text;

namespace Storage.Conformance;

/// <summary>Assertions and small helpers over <see cref="IStore"/> shared by every suite.</summary>
public static class StoreAssert
{
    /// <summary>The most pages a helper follows before it decides the listing never ends.</summary>
    private const int MaxPages = 10_000;

    /// <summary>Asserts that a document exists with exactly this value (byte for byte) and version.</summary>
    /// <param name="actual">The document read.</param>
    /// <param name="partition">The expected partition.</param>
    /// <param name="collection">The expected collection.</param>
    /// <param name="key">The expected key.</param>
    /// <param name="json">The expected JSON text.</param>
    /// <param name="version">The expected version.</param>
    /// <returns>The document.</returns>
    public static StoredDocument Document(StoredDocument? actual, string partition, string collection, string key, string json, long version)
    {
        Assert.NotNull(actual);
        Assert.Equal(partition, actual.Partition);
        Assert.Equal(collection, actual.Collection);
        Assert.Equal(key, actual.Key);
        Assert.Equal(Encoding.UTF8.GetBytes(json), actual.Value.ToArray());
        Assert.Equal(version, actual.Version);
        Timestamp(actual.CreatedAt);
        Timestamp(actual.UpdatedAt);
        if (actual.ExpiresAt is { } expiresAt)
        {
            Timestamp(expiresAt);
        }

        return actual;
    }

    /// <summary>Asserts that two documents are the same: identity, value bytes, version and every timestamp.</summary>
    /// <param name="expected">The document expected.</param>
    /// <param name="actual">The document read.</param>
    public static void SameDocument(StoredDocument expected, StoredDocument? actual)
    {
        Assert.NotNull(actual);
        Assert.Equal(expected.Partition, actual.Partition);
        Assert.Equal(expected.Collection, actual.Collection);
        Assert.Equal(expected.Key, actual.Key);
        Assert.Equal(expected.Value.ToArray(), actual.Value.ToArray());
        Assert.Equal(expected.Version, actual.Version);
        Assert.Equal(expected.CreatedAt, actual.CreatedAt);
        Assert.Equal(expected.UpdatedAt, actual.UpdatedAt);
        Assert.Equal(expected.ExpiresAt, actual.ExpiresAt);
        Timestamp(actual.CreatedAt);
        Timestamp(actual.UpdatedAt);
        if (actual.ExpiresAt is { } expiresAt)
        {
            Timestamp(expiresAt);
        }
    }

    /// <summary>Asserts that a stored timestamp is UTC and a whole number of milliseconds.</summary>
    /// <param name="value">The timestamp.</param>
    public static void Timestamp(DateTimeOffset value)
    {
        Assert.Equal(TimeSpan.Zero, value.Offset);
        Assert.Equal(0, value.UtcTicks % TimeSpan.TicksPerMillisecond);
    }

    /// <summary>Asserts that the document still has exactly the value and metadata it had: a rejected write left it alone.</summary>
    /// <param name="store">The store.</param>
    /// <param name="before">The document as it was read before the rejected write.</param>
    /// <returns>A task.</returns>
    public static async Task UnchangedAsync(IStore store, StoredDocument before)
        => SameDocument(before, await store.GetAsync(before.Partition, before.Collection, before.Key));

    /// <summary>Asserts that the call fails with an argument error (<see cref="ArgumentException"/> or a subclass).</summary>
    /// <param name="call">The call.</param>
    /// <returns>The exception.</returns>
    public static Task<ArgumentException> ThrowsArgumentAsync(Func<Task> call) => Assert.ThrowsAnyAsync<ArgumentException>(call);

    /// <summary>Asserts that the call fails with a <see cref="VersionConflictException"/> and checks its details.</summary>
    /// <param name="call">The call.</param>
    /// <param name="partition">The expected partition.</param>
    /// <param name="collection">The expected collection.</param>
    /// <param name="key">The expected key.</param>
    /// <param name="condition">The condition that failed.</param>
    /// <param name="actualVersion">The version the document had, or <see langword="null"/>.</param>
    /// <param name="operationIndex">The failing operation's position in its batch.</param>
    /// <returns>The exception.</returns>
    public static async Task<VersionConflictException> ConflictAsync(Func<Task> call, string partition, string collection, string key, WriteCondition condition, long? actualVersion, int operationIndex = 0)
    {
        var e = await Assert.ThrowsAsync<VersionConflictException>(call);
        Assert.Equal(partition, e.Partition);
        Assert.Equal(collection, e.Collection);
        Assert.Equal(key, e.Key);
        Assert.Equal(condition, e.Condition);
        Assert.Equal(condition.Kind == WriteConditionKind.MustMatchVersion ? condition.Version : (long?)null, e.ExpectedVersion);
        Assert.Equal(actualVersion, e.ActualVersion);
        Assert.Equal(operationIndex, e.OperationIndex);
        Assert.Equal(Internal.ErrorMessages.VersionConflict(collection, key, condition, actualVersion, operationIndex), e.Message);
        Assert.False(e.IsTransient);
        return e;
    }

    /// <summary>Lists every page of a listing and returns the documents in order.</summary>
    /// <param name="store">The store.</param>
    /// <param name="partition">The partition.</param>
    /// <param name="collection">The collection.</param>
    /// <param name="options">The listing's options (without a token).</param>
    /// <returns>Every document the listing returns.</returns>
    public static async Task<List<StoredDocument>> ListAllAsync(IStore store, string partition, string collection, ListOptions? options = null)
    {
        options ??= new ListOptions();
        var all = new List<StoredDocument>();
        string? token = null;
        for (var page = 0; page < MaxPages; page++)
        {
            var result = await store.ListAsync(partition, collection, options with { ContinuationToken = token });
            Assert.True(result.Items.Count <= options.Limit, $"A page holds {result.Items.Count} items; the limit is {options.Limit}.");
            all.AddRange(result.Items);
            token = result.ContinuationToken;
            if (token is null)
            {
                return all;
            }
        }

        throw new InvalidOperationException("The listing never ends.");
    }

    /// <summary>Lists every page of a listing and returns the keys in order.</summary>
    /// <param name="store">The store.</param>
    /// <param name="partition">The partition.</param>
    /// <param name="collection">The collection.</param>
    /// <param name="options">The listing's options (without a token).</param>
    /// <returns>Every key the listing returns.</returns>
    public static async Task<List<string>> ListKeysAsync(IStore store, string partition, string collection, ListOptions? options = null)
        => [.. (await ListAllAsync(store, partition, collection, options)).Select(d => d.Key)];

    /// <summary>Lists every page of the partition listing.</summary>
    /// <param name="store">The store.</param>
    /// <param name="limit">The page size.</param>
    /// <returns>Every partition, in order.</returns>
    public static async Task<List<PartitionInfo>> ListAllPartitionsAsync(IStore store, int limit = StoreLimits.DefaultPageSize)
    {
        var all = new List<PartitionInfo>();
        string? token = null;
        for (var page = 0; page < MaxPages; page++)
        {
            var result = await store.ListPartitionsAsync(new PartitionListOptions { Limit = limit, ContinuationToken = token });
            Assert.True(result.Items.Count <= limit, $"A page holds {result.Items.Count} partitions; the limit is {limit}.");
            all.AddRange(result.Items);
            token = result.ContinuationToken;
            if (token is null)
            {
                return all;
            }
        }

        throw new InvalidOperationException("The partition listing never ends.");
    }

    /// <summary>The partition's current revision as the partition listing reports it, or <see langword="null"/> when it is not listed.</summary>
    /// <param name="store">The store.</param>
    /// <param name="partition">The partition.</param>
    /// <returns>The revision, or <see langword="null"/>.</returns>
    public static async Task<long?> RevisionAsync(IStore store, string partition)
        => (await ListAllPartitionsAsync(store)).SingleOrDefault(p => p.Partition == partition)?.Revision;

    /// <summary>Asserts that a stored event is exactly what was appended, at this stream version and revision.</summary>
    /// <param name="actual">The event read.</param>
    /// <param name="partition">The expected partition.</param>
    /// <param name="stream">The expected stream.</param>
    /// <param name="version">The expected stream version.</param>
    /// <param name="revision">The expected revision (the commit's).</param>
    /// <param name="appended">The event as appended.</param>
    /// <param name="committedAt">The expected commit time, or <see langword="null"/> to check only that it is a stored timestamp.</param>
    /// <returns>The event.</returns>
    public static StoredEvent Event(StoredEvent? actual, string partition, string stream, long version, long revision, EventData appended, DateTimeOffset? committedAt = null)
    {
        Assert.NotNull(actual);
        Assert.Equal(partition, actual.Partition);
        Assert.Equal(stream, actual.Stream);
        Assert.Equal(version, actual.Version);
        Assert.Equal(revision, actual.Revision);
        Assert.Equal(appended.Id, actual.Id);
        Assert.Equal(appended.Type, actual.Type);
        Assert.Equal(appended.Data.ToArray(), actual.Data.ToArray());
        Assert.Equal(appended.Metadata.ToArray(), actual.Metadata.ToArray());
        Timestamp(actual.CommittedAt);
        if (committedAt is { } at)
        {
            Assert.Equal(at, actual.CommittedAt);
        }

        return actual;
    }

    /// <summary>Asserts that two stored events are the same in every field.</summary>
    /// <param name="expected">The event expected.</param>
    /// <param name="actual">The event read.</param>
    public static void SameEvent(StoredEvent expected, StoredEvent? actual)
    {
        Assert.NotNull(actual);
        Assert.Equal(expected.Partition, actual.Partition);
        Assert.Equal(expected.Stream, actual.Stream);
        Assert.Equal(expected.Version, actual.Version);
        Assert.Equal(expected.Revision, actual.Revision);
        Assert.Equal(expected.Id, actual.Id);
        Assert.Equal(expected.Type, actual.Type);
        Assert.Equal(expected.Data.ToArray(), actual.Data.ToArray());
        Assert.Equal(expected.Metadata.ToArray(), actual.Metadata.ToArray());
        Assert.Equal(expected.CommittedAt, actual.CommittedAt);
        Timestamp(actual.CommittedAt);
    }

    /// <summary>Asserts that two changes are the same in every field, documents and events included.</summary>
    /// <param name="expected">The change expected.</param>
    /// <param name="actual">The change read.</param>
    public static void SameChange(Change expected, Change? actual)
    {
        Assert.NotNull(actual);
        Assert.Equal(expected.Kind, actual.Kind);
        Assert.Equal(expected.Revision, actual.Revision);
        Assert.Equal(expected.Collection, actual.Collection);
        Assert.Equal(expected.Key, actual.Key);
        Assert.Equal(expected.SequenceName, actual.SequenceName);
        Assert.Equal(expected.SequenceValue, actual.SequenceValue);
        if (expected.Document is null)
        {
            Assert.Null(actual.Document);
        }
        else
        {
            SameDocument(expected.Document, actual.Document);
        }

        if (expected.Event is null)
        {
            Assert.Null(actual.Event);
        }
        else
        {
            SameEvent(expected.Event, actual.Event);
        }
    }

    /// <summary>Asserts that two change-feed pages are the same: every change in every field, the last revision and whether more follow.</summary>
    /// <param name="expected">The page expected.</param>
    /// <param name="actual">The page read.</param>
    public static void SameChangePage(ChangePage expected, ChangePage? actual)
    {
        Assert.NotNull(actual);
        Assert.Equal(expected.Items.Select(Describe), actual.Items.Select(Describe));
        for (var i = 0; i < expected.Items.Count; i++)
        {
            SameChange(expected.Items[i], actual.Items[i]);
        }

        Assert.Equal(expected.LastRevision, actual.LastRevision);
        Assert.Equal(expected.HasMore, actual.HasMore);
    }

    /// <summary>
    /// A change in one line, for comparing feeds at a glance: <c>3 put items/a {"x":1}</c>,
    /// <c>4 delete items/a</c>, <c>5 append s#2 e-type</c>, <c>6 sequence seq=7</c>.
    /// </summary>
    /// <param name="change">The change.</param>
    /// <returns>The line.</returns>
    public static string Describe(Change change) => change.Kind switch
    {
        ChangeKind.Put => $"{change.Revision} put {change.Collection}/{change.Key} {change.Document?.GetJsonText()}",
        ChangeKind.Delete => $"{change.Revision} delete {change.Collection}/{change.Key}",
        ChangeKind.Append => $"{change.Revision} append {change.Event?.Stream}#{change.Event?.Version} {change.Event?.Type}",
        ChangeKind.Sequence => $"{change.Revision} sequence {change.SequenceName}={change.SequenceValue}",
        _ => $"{change.Revision} {change.Kind}",
    };

    /// <summary>Asserts that the call fails with a <see cref="VersionConflictException"/> for a stream and checks its details.</summary>
    /// <param name="call">The call.</param>
    /// <param name="partition">The expected partition.</param>
    /// <param name="stream">The expected stream.</param>
    /// <param name="expected">The expectation that failed.</param>
    /// <param name="actualVersion">The stream's version (0 when it does not exist).</param>
    /// <param name="operationIndex">The failing operation's position in its batch.</param>
    /// <returns>The exception.</returns>
    public static async Task<VersionConflictException> StreamConflictAsync(Func<Task> call, string partition, string stream, ExpectedStreamVersion expected, long actualVersion, int operationIndex = 0)
    {
        var e = await Assert.ThrowsAsync<VersionConflictException>(call);
        Assert.Equal(partition, e.Partition);
        Assert.Equal(stream, e.Stream);
        Assert.Null(e.Collection);
        Assert.Null(e.Key);
        Assert.Equal(expected, e.StreamExpectation);
        Assert.Equal(WriteCondition.None, e.Condition);
        Assert.Equal(expected.Kind == ExpectedStreamVersionKind.Exactly ? expected.Version : (long?)null, e.ExpectedVersion);
        Assert.Equal(actualVersion == 0 ? null : actualVersion, e.ActualVersion);
        Assert.Equal(operationIndex, e.OperationIndex);
        Assert.Equal(Internal.ErrorMessages.StreamVersionConflict(stream, expected, actualVersion, operationIndex), e.Message);
        Assert.False(e.IsTransient);
        return e;
    }

    /// <summary>Asserts that the call fails with a <see cref="ChangeFeedTruncatedException"/> and checks its details.</summary>
    /// <param name="call">The call.</param>
    /// <param name="partition">The expected partition.</param>
    /// <param name="afterRevision">The revision the reader asked to resume after.</param>
    /// <param name="oldestResumableRevision">The oldest revision the feed can resume after (0 when the partition does not exist).</param>
    /// <returns>The exception.</returns>
    public static async Task<ChangeFeedTruncatedException> TruncatedAsync(Func<Task> call, string partition, long afterRevision, long oldestResumableRevision)
    {
        var e = await Assert.ThrowsAsync<ChangeFeedTruncatedException>(call);
        Assert.Equal(partition, e.Partition);
        Assert.Equal(afterRevision, e.AfterRevision);
        Assert.Equal(oldestResumableRevision, e.OldestResumableRevision);
        Assert.Equal(Internal.ErrorMessages.ChangesTruncated(partition, afterRevision, oldestResumableRevision), e.Message);
        Assert.False(e.IsTransient);
        return e;
    }

    /// <summary>Reads a whole stream forwards, page by page, following <see cref="EventPage.NextVersion"/>.</summary>
    /// <param name="store">The store.</param>
    /// <param name="partition">The partition.</param>
    /// <param name="stream">The stream.</param>
    /// <param name="limit">The page size.</param>
    /// <returns>Every event, in version order.</returns>
    public static async Task<List<StoredEvent>> ReadAllEventsAsync(IStore store, string partition, string stream, int limit = StoreLimits.MaxPageSize)
    {
        var all = new List<StoredEvent>();
        long? from = null;
        for (var page = 0; page < MaxPages; page++)
        {
            var result = await store.ReadStreamAsync(partition, stream, new ReadStreamOptions { FromVersion = from, Limit = limit });
            Assert.True(result.Items.Count <= limit, $"A page holds {result.Items.Count} events; the limit is {limit}.");
            all.AddRange(result.Items);
            from = result.NextVersion;
            if (from is null)
            {
                return all;
            }
        }

        throw new InvalidOperationException("The stream never ends.");
    }

    /// <summary>Lists every page of a stream listing.</summary>
    /// <param name="store">The store.</param>
    /// <param name="partition">The partition.</param>
    /// <param name="options">The listing's options (without a token).</param>
    /// <returns>Every stream the listing returns, in order.</returns>
    public static async Task<List<StreamInfo>> ListAllStreamsAsync(IStore store, string partition, ListOptions? options = null)
    {
        options ??= new ListOptions();
        var all = new List<StreamInfo>();
        string? token = null;
        for (var page = 0; page < MaxPages; page++)
        {
            var result = await store.ListStreamsAsync(partition, options with { ContinuationToken = token });
            Assert.True(result.Items.Count <= options.Limit, $"A page holds {result.Items.Count} streams; the limit is {options.Limit}.");
            all.AddRange(result.Items);
            token = result.ContinuationToken;
            if (token is null)
            {
                return all;
            }
        }

        throw new InvalidOperationException("The stream listing never ends.");
    }

    /// <summary>Reads the change feed page by page until it has no more, checking that pages follow on.</summary>
    /// <param name="store">The store.</param>
    /// <param name="partition">The partition.</param>
    /// <param name="afterRevision">The revision to read after.</param>
    /// <param name="limit">The page size.</param>
    /// <returns>Every change in order, and the last page's <see cref="ChangePage.LastRevision"/>.</returns>
    public static async Task<(List<Change> Changes, long LastRevision)> ReadAllChangesAsync(IStore store, string partition, long afterRevision = 0, int limit = StoreLimits.MaxPageSize)
    {
        var all = new List<Change>();
        var after = afterRevision;
        for (var page = 0; page < MaxPages; page++)
        {
            var result = await store.ReadChangesAsync(partition, after, limit);
            Assert.All(result.Items, c => Assert.True(c.Revision > after && c.Revision <= result.LastRevision, $"Change at revision {c.Revision} on a page after {after} up to {result.LastRevision}."));
            Assert.True(result.LastRevision >= after, $"The page after {after} ends at {result.LastRevision}.");
            all.AddRange(result.Items);
            after = result.LastRevision;
            if (!result.HasMore)
            {
                return (all, after);
            }

            Assert.NotEmpty(result.Items);
        }

        throw new InvalidOperationException("The change feed never ends.");
    }

    /// <summary>Asserts that the store holds no partition at all.</summary>
    /// <param name="store">The store.</param>
    /// <returns>A task.</returns>
    public static async Task EmptyAsync(IStore store) => Assert.Empty(await ListAllPartitionsAsync(store));

    /// <summary>Reads an asynchronous sequence (an export, a comparison) into a list.</summary>
    /// <param name="items">The sequence.</param>
    /// <returns>Its items, in order.</returns>
    public static async Task<List<T>> ToListAsync<T>(IAsyncEnumerable<T> items)
    {
        var list = new List<T>();
        await foreach (var item in items)
        {
            list.Add(item);
        }

        return list;
    }
}
