using System.Diagnostics;

namespace Storage.Benchmarks.Harness;

/// <summary>One run of one subject: throughput, allocations, and (for bulk loads) memory.</summary>
/// <param name="Operations">Operations completed (documents, for batches and bulk loads).</param>
/// <param name="Seconds">Wall-clock time from the start signal until every caller had finished.</param>
/// <param name="AllocatedBytes">Bytes allocated by the whole process meanwhile (every thread, precise).</param>
/// <param name="PeakWorkingSetGrowth">For bulk loads: the highest resident set seen, less the resident set before the run.</param>
/// <param name="RetainedHeap">For bulk loads: the managed heap after the run and a full collection, less the heap before it (what the store keeps).</param>
internal sealed record Run(long Operations, double Seconds, long AllocatedBytes, long? PeakWorkingSetGrowth = null, long? RetainedHeap = null)
{
    public double OpsPerSecond => Operations / Seconds;

    public double BytesPerOp => Operations == 0 ? 0 : (double)AllocatedBytes / Operations;
}

/// <summary>Measures a workload: dedicated caller threads that loop until a deadline, or one bulk job, with allocations and memory.</summary>
internal static class Meter
{
    /// <summary>
    /// Runs <paramref name="callers"/> dedicated threads, each calling its worker in a loop for
    /// <paramref name="duration"/>; a worker returns how many operations its call completed.
    /// Workers are created before the clock starts (their set-up is not measured).
    /// </summary>
    public static Run Timed(int callers, Func<int, Func<int>> createWorker, TimeSpan duration)
    {
        var workers = Enumerable.Range(0, callers).Select(createWorker).ToArray();
        var counts = new long[callers];
        var stop = 0;
        using var ready = new CountdownEvent(callers);
        using var go = new ManualResetEventSlim();
        long started = 0;

        Settle();
        var allocatedBefore = GC.GetTotalAllocatedBytes(precise: true);

        // One more thread keeps the clock, so that every caller is a peer of the others.
        Workers.Run(callers + 1, index =>
        {
            if (index == callers)
            {
                ready.Wait();
                started = Stopwatch.GetTimestamp();
                go.Set();
                Thread.Sleep(duration);
                Volatile.Write(ref stop, 1);
                return;
            }

            var worker = workers[index];
            ready.Signal();
            go.Wait();
            long done = 0;
            while (Volatile.Read(ref stop) == 0)
            {
                done += worker();
            }

            counts[index] = done;
        });

        var elapsed = Stopwatch.GetElapsedTime(started).TotalSeconds;
        var allocated = GC.GetTotalAllocatedBytes(precise: true) - allocatedBefore;
        return new Run(counts.Sum(), elapsed, allocated);
    }

    /// <summary>Runs one job (a bulk load), sampling the resident set and the managed heap while it runs.</summary>
    public static Run Job(Func<long> job)
    {
        Settle();
        var heapBefore = GC.GetTotalMemory(forceFullCollection: false);
        var workingSetBefore = WorkingSet();
        var peak = workingSetBefore;
        var allocatedBefore = GC.GetTotalAllocatedBytes(precise: true);
        using var done = new ManualResetEventSlim();
        var sampler = new Thread(() =>
        {
            do
            {
                peak = Math.Max(peak, WorkingSet());
            }
            while (!done.Wait(20));
        })
        {
            IsBackground = true,
            Name = "bench-memory-sampler",
        };
        sampler.Start();

        var started = Stopwatch.GetTimestamp();
        long operations;
        try
        {
            operations = job();
        }
        finally
        {
            done.Set();
            sampler.Join();
        }

        var elapsed = Stopwatch.GetElapsedTime(started).TotalSeconds;
        var allocated = GC.GetTotalAllocatedBytes(precise: true) - allocatedBefore;
        peak = Math.Max(peak, WorkingSet());
        Settle();
        var retained = GC.GetTotalMemory(forceFullCollection: false) - heapBefore;
        return new Run(operations, elapsed, allocated, peak - workingSetBefore, retained);
    }

    private static void Settle()
    {
        GC.Collect();
        GC.WaitForPendingFinalizers();
        GC.Collect();
    }

    private static long WorkingSet()
    {
        using var process = Process.GetCurrentProcess();
        return process.WorkingSet64;
    }
}
