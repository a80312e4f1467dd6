namespace Storage.Engine;

/// <summary>
/// Group commit: concurrent writers enqueue their requests, and whichever of them gets the turn
/// first commits every request waiting at that moment in one go (one transaction, one fsync).
/// Each request keeps its own result or exception. A writer commits at most one group — the one
/// with its own request — so no caller is kept working for others indefinitely.
/// </summary>
/// <typeparam name="TRequest">What a writer asks for.</typeparam>
/// <typeparam name="TResult">What a writer gets back.</typeparam>
/// <param name="commitGroup">
/// Commits a group and completes each of its entries. If it throws, every entry it left incomplete
/// fails with that exception.
/// </param>
internal sealed class CommitQueue<TRequest, TResult>(Func<IReadOnlyList<CommitQueue<TRequest, TResult>.Entry>, ValueTask> commitGroup)
{
    private readonly SemaphoreSlim _turn = new(1, 1);
    private readonly Lock _lock = new();
    private List<Entry> _waiting = [];

    // The list of the last group, emptied: the next group's requests wait in it (a group commit allocates no list).
    private List<Entry>? _spare;

    /// <summary>How many requests wait for a group at this moment (for tests that build a group on purpose).</summary>
    public int Waiting
    {
        get
        {
            lock (_lock)
            {
                return _waiting.Count;
            }
        }
    }

    /// <summary>Adds a request and returns once its group has committed (or failed).</summary>
    /// <param name="request">The request.</param>
    /// <param name="cancellationToken">Cancels the request while it is still waiting; once its group has started it runs to its end.</param>
    /// <returns>The request's result.</returns>
    public async ValueTask<TResult> EnqueueAsync(TRequest request, CancellationToken cancellationToken)
    {
        cancellationToken.ThrowIfCancellationRequested();
        var entry = new Entry(request);
        lock (_lock)
        {
            _waiting.Add(entry);
        }

        try
        {
            await _turn.WaitAsync(cancellationToken).ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
            lock (_lock)
            {
                if (_waiting.Remove(entry))
                {
                    throw;
                }
            }

            // Another writer already took the request into its group: its outcome stands.
            return await entry.Task.ConfigureAwait(false);
        }

        try
        {
            if (!entry.Task.IsCompleted)
            {
                List<Entry> group;
                lock (_lock)
                {
                    group = _waiting;
                    _waiting = _spare ?? [];
                    _spare = null;
                }

                try
                {
                    await commitGroup(group).ConfigureAwait(false);
                }
                catch (Exception e)
                {
                    foreach (var item in group)
                    {
                        // Only the first completion counts; a completed entry is left alone (failing it anyway allocates).
                        if (!item.IsCompleted)
                        {
                            item.Fail(e);
                        }
                    }
                }

                foreach (var item in group)
                {
                    if (!item.IsCompleted)
                    {
                        item.Fail(new InvalidOperationException("The group commit left a request without a result."));
                    }
                }

                group.Clear();
                lock (_lock)
                {
                    _spare = group;
                }
            }
        }
        finally
        {
            _turn.Release();
        }

        return await entry.Task.ConfigureAwait(false);
    }

    /// <summary>One request of a group, to be completed by the group's commit.</summary>
    public sealed class Entry
    {
        private readonly TaskCompletionSource<TResult> _completion = new(TaskCreationOptions.RunContinuationsAsynchronously);

        internal Entry(TRequest request) => Request = request;

        /// <summary>The writer's request.</summary>
        public TRequest Request { get; }

        /// <summary>Whether the entry has its result or exception.</summary>
        public bool IsCompleted => _completion.Task.IsCompleted;

        internal Task<TResult> Task => _completion.Task;

        /// <summary>Gives the writer its result (only the first completion counts).</summary>
        /// <param name="result">The result.</param>
        public void Complete(TResult result) => _completion.TrySetResult(result);

        /// <summary>Gives the writer its exception (only the first completion counts).</summary>
        /// <param name="exception">The exception.</param>
        public void Fail(Exception exception) => _completion.TrySetException(exception);
    }
}
