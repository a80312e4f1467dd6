using System.Collections.Concurrent;
using Storage.Conformance;

namespace Storage.Transfer.Tests;

/// <summary>
/// The cut-over (<see cref="StoreCutover"/>, issue 19): an app writes to the source while a copy follows
/// it; the cut-over fences the source, drains, verifies and leaves the fence set; the app, refused, waits
/// and then writes to the destination — not one acknowledged write is missing there and none is applied
/// twice. A copy that differs (something else wrote to it) is reported by partition and key and the
/// fence is lifted, as it is when the cut-over fails.
/// </summary>
public sealed class CutoverTests(TransferStores stores) : IClassFixture<TransferStores>
{
    private static readonly TimeSpan s_timeout = TimeSpan.FromSeconds(60);

    public static TheoryData<string, string> Pairs => new()
    {
        { "memory", "sqlite" },
        { "sqlite", "postgres" },
        { "postgres", "json" },
    };

    [Theory]
    [MemberData(nameof(Pairs))]
    public async Task An_app_refused_by_the_fence_goes_on_with_the_destination_and_no_acknowledged_write_is_lost_or_doubled(string sourceBackend, string destinationBackend)
    {
        var source = await stores.OpenAddressAsync((await stores.NewLocationAsync(sourceBackend)).Address);
        var destination = await stores.OpenAddressAsync((await stores.NewLocationAsync(destinationBackend)).Address);
        await using var app = new App(source);
        await app.UntilAcknowledgedAsync(50);

        var position = (await StoreFollower.CatchUpAsync(source, destination)).Position;
        await app.UntilAcknowledgedAsync(app.Acknowledged + 50);
        var result = await StoreCutover.RunAsync(source, destination, position);

        Assert.True(result.Succeeded, string.Join("; ", result.Differences.Select(d => d.Partition)));
        Assert.Empty(result.Differences);
        Assert.True(result.PartitionsVerified > 0);
        Assert.True(await ((IStoreFence)source).IsReadOnlyAsync());

        // The app's next write is refused; told the cut-over is done, it retries there and goes on.
        await app.Refused.Task.WaitAsync(s_timeout);
        app.SwitchTo(destination);
        await app.UntilAcknowledgedAsync(app.Acknowledged + 30);
        await app.StopAsync();

        await CutoverAppLog.AssertEveryAcknowledgedWriteOnceAsync(app.Lines, destination, app.Acknowledged);
        Assert.Null(await ((IStoreExport)destination).GetPartitionAsync(App.Sentinel));
    }

    [Fact]
    public async Task A_copy_that_differs_is_named_by_partition_and_key_and_the_fence_is_lifted()
    {
        var source = await stores.OpenAddressAsync((await stores.NewLocationAsync("sqlite")).Address);
        var destination = await stores.OpenAddressAsync((await stores.NewLocationAsync("memory")).Address);
        await source.PutAsync("a", "docs", "x", "1");
        await source.PutAsync("b", "docs", "x", "1");
        var position = (await StoreFollower.CatchUpAsync(source, destination)).Position;
        await source.PutAsync("a", "docs", "y", "2");

        // Something else writes to the copy once the source is fenced (after the passes that copied "a").
        var fence = (IStoreFence)source;
        var result = await StoreCutover.RunAsync(source, destination, position, new CutoverOptions
        {
            SetSourceReadOnly = async (readOnly, ct) =>
            {
                await fence.SetReadOnlyAsync(readOnly, ct);
                if (readOnly)
                {
                    await destination.PutAsync("a", "docs", "x", "\"damaged\"", cancellationToken: ct);
                }
            },
        });

        Assert.False(result.Succeeded);
        var difference = Assert.Single(result.Differences);
        Assert.Equal("a", difference.Partition);
        Assert.Contains(difference.Items, i => i.Collection == "docs" && i.Name == "x");
        Assert.Equal(1, result.PartitionsVerified);
        Assert.False(await fence.IsReadOnlyAsync());
        await source.PutAsync("a", "docs", "z", "3");
    }

    [Fact]
    public async Task A_cut_over_that_fails_after_the_fence_lifts_it_and_throws()
    {
        var source = await stores.OpenAddressAsync((await stores.NewLocationAsync("memory")).Address);
        var destination = await stores.OpenAddressAsync((await stores.NewLocationAsync("sqlite")).Address);
        await source.PutAsync("a", "docs", "x", "1");
        var fence = (IStoreFence)source;

        await Assert.ThrowsAsync<ObjectDisposedException>(async () => await StoreCutover.RunAsync(source, destination, 0, new CutoverOptions
        {
            PassesBeforeFence = 0,
            SetSourceReadOnly = async (readOnly, ct) =>
            {
                await fence.SetReadOnlyAsync(readOnly, ct);
                if (readOnly)
                {
                    await destination.DisposeAsync();
                }
            },
        }));

        Assert.False(await fence.IsReadOnlyAsync());
        await Assert.ThrowsAsync<ArgumentException>(async () => await StoreCutover.RunAsync(source, source));
    }

    /// <summary>
    /// An app writing about a thousand times a second at most: puts of new keys and appends of new events over a few partitions,
    /// each acknowledged write recorded; refused by the fence, it waits to be switched to the destination
    /// and retries the same write there. It also creates and deletes a partition, so deletes travel too.
    /// </summary>
    private sealed class App : IAsyncDisposable
    {
        public const string Sentinel = "gone";

        // As the crash writer's cutover-app mode prints them ("ACK PUT partition key", "ACK APPEND partition id").
        private readonly ConcurrentQueue<string> _acknowledged = new();
        private readonly CancellationTokenSource _stop = new();
        private readonly TaskCompletionSource<IStore> _switch = new(TaskCreationOptions.RunContinuationsAsynchronously);
        private readonly Task _loop;
        private IStore _store;

        public App(IStore source)
        {
            _store = source;
            _loop = Task.Run(LoopAsync);
        }

        public TaskCompletionSource Refused { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public int Acknowledged => _acknowledged.Count;

        public IReadOnlyList<string> Lines => [.. _acknowledged];

        public void SwitchTo(IStore destination) => _switch.TrySetResult(destination);

        public async Task UntilAcknowledgedAsync(int count)
        {
            var deadline = DateTime.UtcNow + s_timeout;
            while (_acknowledged.Count < count)
            {
                Assert.False(_loop.IsCompleted, _loop.Exception?.ToString());
                Assert.True(DateTime.UtcNow < deadline, $"The app acknowledged {_acknowledged.Count} of {count} writes.");
                await Task.Delay(5);
            }
        }

        public async Task StopAsync()
        {
            await _stop.CancelAsync();
            await _loop;
        }

        public async ValueTask DisposeAsync()
        {
            if (!_stop.IsCancellationRequested)
            {
                await _stop.CancelAsync();
                await _loop.ContinueWith(static _ => { }, TaskScheduler.Default);
            }

            _stop.Dispose();
        }

        private async Task LoopAsync()
        {
            for (var i = 0; !_stop.IsCancellationRequested; i++)
            {
                var partition = "p" + (i % 5);
                Func<IStore, Task> write = (i % 4) switch
                {
                    3 => async s =>
                    {
                        var id = Guid.NewGuid();
                        await s.AppendAsync(partition, "log", [EventData.Create("happened", i.ToString(System.Globalization.CultureInfo.InvariantCulture), id: id)]);
                        _acknowledged.Enqueue($"ACK APPEND {partition} {id}");
                    },
                    _ when i % 50 == 7 => async s =>
                    {
                        await s.PutAsync(Sentinel, "docs", "k", "1");
                        await s.DeletePartitionAsync(Sentinel);
                    },
                    _ => async s =>
                    {
                        var key = "k" + i;
                        await s.PutAsync(partition, "docs", key, "\"" + key + "\"");
                        _acknowledged.Enqueue($"ACK PUT {partition} {key}");
                    },
                };

                // An app's pace, not a benchmark's: the follower copies a changed partition whole.
                await Task.Delay(1);
                while (true)
                {
                    try
                    {
                        await write(_store);
                        break;
                    }
                    catch (StoreReadOnlyException)
                    {
                        // 503, retry later: here, once the cut-over says where.
                        Refused.TrySetResult();
                        _store = await _switch.Task.WaitAsync(s_timeout);
                    }
                }
            }
        }
    }
}
