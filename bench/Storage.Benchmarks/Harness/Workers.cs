namespace Storage.Benchmarks.Harness;

/// <summary>
/// Real concurrent callers. The JSON and SQLite backends do their I/O synchronously on the calling
/// thread, and their group commit coalesces writers that arrive from different threads while a
/// commit is in flight; so every concurrent caller here is a dedicated thread, never a loop of calls
/// on one thread (each would complete before the next starts) and never a thread-pool work item
/// (synchronous I/O on pool threads would measure the pool's thread injection instead).
/// </summary>
internal static class Workers
{
    /// <summary>Runs <paramref name="body"/> on <paramref name="count"/> dedicated threads and waits for all; the first exception is rethrown.</summary>
    public static void Run(int count, Action<int> body)
    {
        Exception? failure = null;
        var threads = new Thread[count];
        for (var i = 0; i < count; i++)
        {
            var index = i;
            threads[i] = new Thread(() =>
            {
                try
                {
                    body(index);
                }
                catch (Exception e)
                {
                    Interlocked.CompareExchange(ref failure, e, null);
                }
            })
            {
                IsBackground = true,
                Name = "bench-worker-" + index,
            };
        }

        foreach (var thread in threads)
        {
            thread.Start();
        }

        foreach (var thread in threads)
        {
            thread.Join();
        }

        if (failure is not null)
        {
            throw new AggregateException("A benchmark worker failed.", failure);
        }
    }

    /// <summary>Blocks a dedicated worker thread on an operation; free when it completed synchronously (the usual case for JSON and SQLite).</summary>
    public static T Wait<T>(ValueTask<T> task) => task.IsCompletedSuccessfully ? task.Result : task.AsTask().GetAwaiter().GetResult();

    /// <inheritdoc cref="Wait{T}(ValueTask{T})"/>
    public static void Wait(ValueTask task)
    {
        if (task.IsCompletedSuccessfully)
        {
            return;
        }

        task.AsTask().GetAwaiter().GetResult();
    }

    /// <summary>Hands out the items of a sequence to several threads, one at a time, enumerating it lazily.</summary>
    public sealed class SharedEnumerator<T>(IEnumerable<T> source) : IDisposable
    {
        private readonly IEnumerator<T> _items = source.GetEnumerator();
        private readonly Lock _lock = new();

        public bool TryTake(out T item)
        {
            lock (_lock)
            {
                if (_items.MoveNext())
                {
                    item = _items.Current;
                    return true;
                }
            }

            item = default!;
            return false;
        }

        public void Dispose() => _items.Dispose();
    }
}
