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

    /// <summary>Asserts that the store holds no partition at all.</summary>
    /// <param name="store">The store.</param>
    /// <returns>A task.</returns>
    public static async Task EmptyAsync(IStore store) => Assert.Empty(await ListAllPartitionsAsync(store));
}
