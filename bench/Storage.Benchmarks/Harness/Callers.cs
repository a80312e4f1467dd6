namespace Storage.Benchmarks.Harness;

/// <summary>
/// Real concurrent callers: each one a loop started with <see cref="Task.Run(Func{Task})"/>, as
/// requests run in a server. The JSON and SQLite backends do their I/O synchronously on the calling
/// thread, and their group commit coalesces the writers that arrive from other threads while a
/// commit is in flight; so callers are never a loop of calls on one thread (each call would
/// complete before the next starts). A caller that waits for its group awaits without holding a
/// thread; a raw driver blocks its thread, so the program raises the thread pool's minimum
/// (<see cref="Prepare"/>) to give every caller its own thread at once instead of after the pool's
/// gradual thread injection.
/// </summary>
internal static class Callers
{
    public static void Prepare(int maxCallers)
    {
        ThreadPool.GetMinThreads(out var workers, out var io);
        var wanted = maxCallers + Environment.ProcessorCount + 2;
        ThreadPool.SetMinThreads(Math.Max(workers, wanted), Math.Max(io, wanted));
    }

    /// <summary>Runs <paramref name="count"/> callers at once and returns what each one returned.</summary>
    public static Task<long[]> RunAsync(int count, Func<int, Task<long>> body)
        => Task.WhenAll(Enumerable.Range(0, count).Select(index => Task.Run(() => body(index))));

    /// <summary>Hands out the items of a sequence to concurrent callers, one at a time, enumerating it lazily.</summary>
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
