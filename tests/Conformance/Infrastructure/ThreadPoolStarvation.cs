namespace Storage.Conformance;

/// <summary>
/// Keeps every thread-pool worker thread there is when it starts blocked until it is disposed, so that
/// the code under test runs on whatever few threads the pool adds (slowly) meanwhile: work queued on the
/// pool waits for a thread, and a thread runs the newest work of its own queue first. Process-wide, so a
/// test holds it for a few seconds at most.
/// </summary>
internal sealed class ThreadPoolStarvation : IDisposable
{
    private static readonly TimeSpan s_blockedWithin = TimeSpan.FromSeconds(3);

    // A monitor rather than an event: blocked threads may still be waking up when it is disposed.
    private readonly object _gate = new();
    private int _blocked;
    private bool _released;

    private ThreadPoolStarvation()
    {
    }

    /// <summary>How many worker threads it holds.</summary>
    public int Blocked
    {
        get
        {
            lock (_gate)
            {
                return _blocked;
            }
        }
    }

    /// <summary>Blocks as many work items as the pool has threads, and returns once they all run (or after 3 s).</summary>
    /// <returns>The starvation; dispose it to release the threads.</returns>
    public static ThreadPoolStarvation Start()
    {
        var starvation = new ThreadPoolStarvation();
        var threads = ThreadPool.ThreadCount;
        for (var i = 0; i < threads; i++)
        {
            ThreadPool.UnsafeQueueUserWorkItem(static s => s.Block(), starvation, preferLocal: false);
        }

        // The pool adds a thread now and then while its threads are blocked, and one that the test's
        // code takes first is not blocked: waiting for every blocker is not worth more than this.
        var deadline = DateTime.UtcNow + s_blockedWithin;
        lock (starvation._gate)
        {
            while (starvation._blocked < threads && DateTime.UtcNow < deadline)
            {
                Monitor.Wait(starvation._gate, TimeSpan.FromMilliseconds(50));
            }
        }

        return starvation;
    }

    /// <inheritdoc/>
    public void Dispose()
    {
        lock (_gate)
        {
            _released = true;
            Monitor.PulseAll(_gate);
        }
    }

    private void Block()
    {
        lock (_gate)
        {
            _blocked++;
            Monitor.PulseAll(_gate);
            while (!_released)
            {
                Monitor.Wait(_gate);
            }
        }
    }
}
