namespace Storage.Sqlite.Tests;

/// <summary>
/// Holds the store's group-commit turn so that requests made meanwhile queue up and land in one
/// group. Waits for facts (the turn taken, the requests queued), never for a fixed time, so a busy
/// machine cannot split the group.
/// </summary>
internal sealed class WriterTurn
{
    private readonly SqliteStore _store;
    private readonly TaskCompletionSource _release = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private Task _holding = Task.CompletedTask;

    private WriterTurn(SqliteStore store) => _store = store;

    /// <summary>Returns once the turn is held.</summary>
    public static async Task<WriterTurn> HoldAsync(SqliteStore store)
    {
        var turn = new WriterTurn(store);
        var held = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        turn._holding = Task.Run(async () => await store.WithWriterAsync(_ =>
        {
            held.SetResult();
            turn._release.Task.Wait();
            return 0;
        }));
        await held.Task.WaitAsync(TimeSpan.FromSeconds(30));
        Assert.Equal(0, store.QueuedWrites);
        return turn;
    }

    /// <summary>Waits until <paramref name="count"/> requests are queued, then gives the turn back.</summary>
    public async Task ReleaseWhenQueuedAsync(int count)
    {
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(30);
        while (_store.QueuedWrites < count)
        {
            Assert.True(DateTime.UtcNow < deadline, $"only {_store.QueuedWrites} of {count} requests queued");
            await Task.Delay(5);
        }

        Assert.Equal(count, _store.QueuedWrites);
        _release.SetResult();
        await _holding;
    }
}
