using System.Diagnostics;
using System.Globalization;
using Spectre.Console;

namespace Storage.Tool;

/// <summary>
/// Progress of one pass over partitions: partitions and documents per second, and the time left when the
/// total is known. A bar on a terminal; otherwise a plain line every two seconds (readable in a CI log),
/// or a <c>progress</c> JSON event with <c>--json</c>.
/// </summary>
internal sealed class Progress
{
    private static readonly TimeSpan s_interval = TimeSpan.FromSeconds(2);
    private readonly Output _output;
    private readonly string _phase;
    private readonly long? _totalPartitions;
    private readonly Stopwatch _clock = Stopwatch.StartNew();
    private long _partitions;
    private long _documents;

    public Progress(Output output, string phase, long? totalPartitions)
    {
        _output = output;
        _phase = phase;
        _totalPartitions = totalPartitions;
    }

    public long Partitions => Interlocked.Read(ref _partitions);

    public long Documents => Interlocked.Read(ref _documents);

    public TimeSpan Elapsed => _clock.Elapsed;

    /// <summary>Counts one partition passed.</summary>
    public void Advance(PartitionExport partition)
    {
        Interlocked.Add(ref _documents, partition.Documents.Count);
        Interlocked.Increment(ref _partitions);
    }

    /// <summary>Passes each partition of <paramref name="partitions"/> on, counting it.</summary>
    public async IAsyncEnumerable<PartitionExport> Counted(IAsyncEnumerable<PartitionExport> partitions)
    {
        await foreach (var partition in partitions)
        {
            Advance(partition);
            yield return partition;
        }
    }

    /// <summary>Runs <paramref name="work"/> while reporting its progress.</summary>
    public async Task<T> RunAsync<T>(Func<Task<T>> work)
    {
        if (_output.IsTerminal)
        {
            return await AnsiConsole.Progress()
                .AutoClear(true)
                .Columns(new TaskDescriptionColumn(), new ProgressBarColumn(), new PercentageColumn(), new RemainingTimeColumn(), new SpinnerColumn())
                .StartAsync(async context =>
                {
                    var task = context.AddTask(_phase, maxValue: Math.Max(1, _totalPartitions ?? 1));
                    task.IsIndeterminate = _totalPartitions is null;
                    var running = work();
                    while (!running.IsCompleted)
                    {
                        task.Value = Partitions;
                        var seconds = Math.Max(_clock.Elapsed.TotalSeconds, 0.001);
                        task.Description = $"{_phase}: {Partitions:N0} partitions, {Documents:N0} documents, {Documents / seconds:N0} documents/s";
                        await Task.WhenAny(running, Task.Delay(200));
                    }

                    task.Value = task.MaxValue;
                    return await running;
                });
        }

        var pending = work();
        while (await Task.WhenAny(pending, Task.Delay(s_interval)) != pending)
        {
            Report();
        }

        return await pending;
    }

    private void Report()
    {
        var seconds = Math.Max(_clock.Elapsed.TotalSeconds, 0.001);
        var partitions = Partitions;
        var documents = Documents;
        var partitionRate = partitions / seconds;
        var documentRate = documents / seconds;
        TimeSpan? remaining = _totalPartitions is { } total && partitionRate > 0 ? TimeSpan.FromSeconds(Math.Max(0, total - partitions) / partitionRate) : null;
        _output.Event("progress",
        [
            new("phase", _phase),
            new("partitions", partitions),
            new("totalPartitions", _totalPartitions),
            new("documents", documents),
            new("partitionsPerSecond", Math.Round(partitionRate, 1)),
            new("documentsPerSecond", Math.Round(documentRate, 1)),
            new("etaSeconds", remaining is { } r ? Math.Round(r.TotalSeconds, 1) : null),
        ]);
        var of = _totalPartitions is { } all ? $"/{all:N0}" : string.Empty;
        var eta = remaining is { } left ? $", ETA {left.ToString(@"hh\:mm\:ss", CultureInfo.InvariantCulture)}" : string.Empty;
        _output.Line($"{_phase}: {partitions:N0}{of} partitions, {documents:N0} documents, {partitionRate:N0} partitions/s, {documentRate:N0} documents/s{eta}");
    }
}
