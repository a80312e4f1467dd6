namespace Storage.Conformance;

/// <summary>
/// Keeps the thread pool's worker threads blocked until it is disposed, so that the code under test
/// runs on whatever few threads the pool adds (slowly) meanwhile: work queued on the pool waits for a
/// thread, and a thread runs the newest work of its own queue first. Process-wide, so a test holds it
/// for a few seconds at most, and one test at a time.
/// </summary>
internal sealed class ThreadPoolStarvation : IDisposable
{
    private static readonly TimeSpan s_blockedWithin = TimeSpan.FromMilliseconds(500);
    private static readonly TimeSpan s_quiet = TimeSpan.FromMilliseconds(30);

    // The pool is one per process: blockers of tests running in parallel would queue up behind each
    // other and take every thread the pool adds, for as long as it takes to add one for each.
    private static readonly SemaphoreSlim s_oneAtATime = new(1, 1);

    // A monitor rather than an event: blocked threads may still be waking up when it is disposed.
    private readonly object _gate = new();
    private int _blocked;
    private bool _accepting;
    private bool _released;

    private ThreadPoolStarvation()
    {
    }

    /// <summary>Waits for any other test's starvation to end, then blocks every worker thread (see <see cref="Tighten"/>).</summary>
    /// <returns>The starvation; dispose it to release the threads.</returns>
    public static async Task<ThreadPoolStarvation> StartAsync()
    {
        await s_oneAtATime.WaitAsync();
        var starvation = new ThreadPoolStarvation();
        starvation.Tighten();
        return starvation;
    }

    /// <summary>
    /// Blocks the worker threads that are not blocked yet — those the pool added since — and returns
    /// once they all are, or no more has been for 30 ms, or after half a second (blockers that start
    /// later do not block).
    /// </summary>
    public void Tighten()
    {
        // The test may run on a pool thread: that one stays free, to run the test.
        var others = Thread.CurrentThread.IsThreadPoolThread ? 1 : 0;
        int wanted;
        lock (_gate)
        {
            wanted = ThreadPool.ThreadCount - others - _blocked;
            _accepting = true;
        }

        for (var i = 0; i < wanted; i++)
        {
            ThreadPool.UnsafeQueueUserWorkItem(static s => s.Block(), this, preferLocal: false);
        }

        // A thread busy with other work takes its blocker when it is done, and some pool thread may
        // be blocked elsewhere already (the test runner's): once no blocker has started for a while
        // the rest let go, since a blocker still queued would take a thread the pool adds for the
        // test's work, which would then wait for the next one the pool adds.
        var deadline = DateTime.UtcNow + s_blockedWithin;
        lock (_gate)
        {
            while (_blocked < ThreadPool.ThreadCount - others && DateTime.UtcNow < deadline && Monitor.Wait(_gate, s_quiet))
            {
            }

            _accepting = false;
        }
    }

    /// <inheritdoc/>
    public void Dispose()
    {
        lock (_gate)
        {
            if (_released)
            {
                return;
            }

            _released = true;
            Monitor.PulseAll(_gate);
        }

        s_oneAtATime.Release();
    }

    private void Block()
    {
        lock (_gate)
        {
            if (!_accepting || _released)
            {
                return;
            }

            _blocked++;
            Monitor.PulseAll(_gate);
            while (!_released)
            {
                Monitor.Wait(_gate);
            }
        }
    }
}
