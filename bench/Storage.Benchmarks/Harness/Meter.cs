using System.Diagnostics;
using System.Runtime.CompilerServices;

namespace Storage.Benchmarks.Harness;

/// <summary>One run of one subject: throughput, allocations, and (for bulk loads) memory.</summary>
/// <param name="Operations">Operations completed (documents, for batches and bulk loads).</param>
/// <param name="Seconds">Wall-clock time from the start signal until every caller had finished.</param>
/// <param name="AllocatedBytes">Bytes allocated by the whole process meanwhile (every thread, precise).</param>
/// <param name="CpuSeconds">CPU time of the whole process meanwhile (user and kernel, every thread): steadier than wall-clock time on a shared machine.</param>
/// <param name="PeakWorkingSetGrowth">For bulk loads: the highest resident set seen, less the resident set before the run.</param>
/// <param name="RetainedHeap">For bulk loads: the managed heap after the run and a full collection, less the heap before it (what the store keeps).</param>
internal sealed record Run(long Operations, double Seconds, long AllocatedBytes, double CpuSeconds, long? PeakWorkingSetGrowth = null, long? RetainedHeap = null)
{
    public double OpsPerSecond => Operations / Seconds;

    public double CpuMicrosecondsPerOp => Operations == 0 ? 0 : CpuSeconds * 1e6 / Operations;

    public double BytesPerOp => Operations == 0 ? 0 : (double)AllocatedBytes / Operations;
}

/// <summary>Measures a workload: concurrent callers that loop until a deadline, or one bulk job; with allocations, CPU time and memory.</summary>
internal static class Meter
{
    /// <summary>
    /// Runs <paramref name="callers"/> concurrent callers, each calling its worker in a loop for
    /// <paramref name="duration"/>; a worker returns how many operations its call completed.
    /// Workers are created before the clock starts (their set-up is not measured).
    /// </summary>
    public static async Task<Run> TimedAsync(int callers, Func<int, Func<ValueTask<int>>> createWorker, TimeSpan duration)
    {
        var workers = Enumerable.Range(0, callers).Select(createWorker).ToArray();
        var stop = new StrongBox<bool>();
        var go = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var running = Callers.RunAsync(callers, async index =>
        {
            var worker = workers[index];
            await go.Task;
            long done = 0;
            while (!Volatile.Read(ref stop.Value))
            {
                done += await worker();
            }

            return done;
        });

        Settle();
        var allocatedBefore = GC.GetTotalAllocatedBytes(precise: true);
        var cpuBefore = CpuTime();
        var started = Stopwatch.GetTimestamp();
        go.SetResult();
        await Task.Delay(duration);
        Volatile.Write(ref stop.Value, true);
        var counts = await running;
        var elapsed = Stopwatch.GetElapsedTime(started).TotalSeconds;
        var cpu = CpuTime() - cpuBefore;
        var allocated = GC.GetTotalAllocatedBytes(precise: true) - allocatedBefore;
        return new Run(counts.Sum(), elapsed, allocated, cpu);
    }

    /// <summary>Runs one job (a bulk load), sampling the resident set and the managed heap while it runs.</summary>
    public static async Task<Run> JobAsync(Func<ValueTask<long>> job)
    {
        Settle();
        var heapBefore = GC.GetTotalMemory(forceFullCollection: false);
        var workingSetBefore = WorkingSet();
        var peak = workingSetBefore;
        var allocatedBefore = GC.GetTotalAllocatedBytes(precise: true);
        var cpuBefore = CpuTime();
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
            operations = await job();
        }
        finally
        {
            done.Set();
            sampler.Join();
        }

        var elapsed = Stopwatch.GetElapsedTime(started).TotalSeconds;
        var cpu = CpuTime() - cpuBefore;
        var allocated = GC.GetTotalAllocatedBytes(precise: true) - allocatedBefore;
        peak = Math.Max(peak, WorkingSet());
        Settle();
        var retained = GC.GetTotalMemory(forceFullCollection: false) - heapBefore;
        return new Run(operations, elapsed, allocated, cpu, peak - workingSetBefore, retained);
    }

    private static void Settle()
    {
        GC.Collect();
        GC.WaitForPendingFinalizers();
        GC.Collect();
    }

    private static double CpuTime()
    {
        using var process = Process.GetCurrentProcess();
        return process.TotalProcessorTime.TotalSeconds;
    }

    private static long WorkingSet()
    {
        using var process = Process.GetCurrentProcess();
        return process.WorkingSet64;
    }
}
