namespace Storage;

/// <summary>
/// Moves a live app from one store to another: the last step of a follow (<see cref="StoreFollower"/>).
/// <see cref="RunAsync"/> catches the copy up while the app still writes, sets the source's read-only fence
/// (from then on every write of the app fails with <see cref="StoreReadOnlyException"/>, "503, retry
/// later"), drains what changed since, and verifies every partition that changed after the caller's
/// position, digest against digest. Verified, the fence stays set and the app can switch to the
/// destination; not verified (or failed), the fence is lifted and the app goes on with the source.
/// </summary>
/// <remarks>
/// The destination must not be written until the cut-over returns <see cref="CutoverResult.Succeeded"/>:
/// an app that sees the fence keeps retrying its write and switches only then. The window during which
/// writes are refused is the drain plus the verification of what changed after <c>afterPosition</c>; follow
/// with <see cref="StoreFollower.CatchUpAsync"/> until little changes between passes, then cut over from the
/// last position a verified copy reached. See docs/upgrade-path.md, "Cutting over".
/// </remarks>
/// <seealso href="../../docs/upgrade-path.md#cutting-over"/>
public static class StoreCutover
{
    /// <summary>
    /// Cuts over from <paramref name="source"/> to <paramref name="destination"/>, which follows it from
    /// <paramref name="afterPosition"/> (a position a pass of <see cref="StoreFollower.CatchUpAsync"/> returned,
    /// whose copy was verified; 0 to verify everything).
    /// </summary>
    /// <param name="source">The store the app writes: an <see cref="IStoreExport"/>, and an <see cref="IStoreFence"/> unless <see cref="CutoverOptions.SetSourceReadOnly"/> is given.</param>
    /// <param name="destination">The copy: an <see cref="IStoreExport"/> and an <see cref="IStoreRestore"/>.</param>
    /// <param name="afterPosition">The source's position the copy was verified at.</param>
    /// <param name="options">How to fence the source and how many passes to run before.</param>
    /// <param name="cancellationToken">Stops the cut-over; once the fence is set, it is lifted again before the cancellation is thrown.</param>
    /// <returns>Whether the copy was verified (the fence stays set) or not (the fence is lifted, <see cref="CutoverResult.Differences"/> say where), and how long writes were refused.</returns>
    /// <exception cref="ArgumentException">A store lacks a capability it needs, or both are the same instance.</exception>
    public static async ValueTask<CutoverResult> RunAsync(IStore source, IStore destination, long afterPosition = 0, CutoverOptions? options = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(source);
        ArgumentNullException.ThrowIfNull(destination);
        ArgumentOutOfRangeException.ThrowIfNegative(afterPosition);
        options ??= new CutoverOptions();
        ArgumentOutOfRangeException.ThrowIfNegative(options.PassesBeforeFence, nameof(options));
        var from = source as IStoreExport ?? throw new ArgumentException("The source store cannot be cut over from: it does not implement IStoreExport.", nameof(source));
        var to = destination as IStoreExport ?? throw new ArgumentException("The destination store cannot be cut over to: it does not implement IStoreExport.", nameof(destination));
        var setReadOnly = options.SetSourceReadOnly
            ?? (source is IStoreFence fence ? fence.SetReadOnlyAsync : throw new ArgumentException("The source store has no read-only fence (IStoreFence): give CutoverOptions.SetSourceReadOnly.", nameof(source)));
        if (ReferenceEquals(source, destination))
        {
            throw new ArgumentException("A store cannot be cut over to itself.", nameof(destination));
        }

        // While the app writes: passes until one finds nothing to copy (or the budget is spent).
        var position = afterPosition;
        for (var pass = 0; pass < options.PassesBeforeFence; pass++)
        {
            var caughtUp = await StoreFollower.CatchUpAsync(source, destination, position, cancellationToken).ConfigureAwait(false);
            position = caughtUp.Position;
            if (caughtUp.PartitionsCreated + caughtUp.PartitionsUpdated + caughtUp.PartitionsDeleted == 0)
            {
                break;
            }
        }

        var time = options.TimeProvider;
        await setReadOnly(true, cancellationToken).ConfigureAwait(false);
        var fencedAt = time.GetTimestamp();
        try
        {
            // No write commits on the source any more: one pass drains it, and what changed since the
            // caller's position is compared partition by partition.
            var drain = await StoreFollower.CatchUpAsync(source, destination, position, cancellationToken).ConfigureAwait(false);
            var (verified, differences) = await VerifyAsync(from, to, afterPosition, cancellationToken).ConfigureAwait(false);
            if (differences.Count > 0)
            {
                await setReadOnly(false, CancellationToken.None).ConfigureAwait(false);
            }

            // Verified, the fence stays: the app switches to the destination.
            return new CutoverResult(differences.Count == 0, drain.Position, time.GetElapsedTime(fencedAt), verified, differences, drain);
        }
        catch
        {
            await setReadOnly(false, CancellationToken.None).ConfigureAwait(false);
            throw;
        }
    }

    /// <summary>Compares every partition the source's cursor reports after <paramref name="after"/> (every partition when it no longer reaches back so far).</summary>
    private static async ValueTask<(long Verified, List<PartitionDifference> Differences)> VerifyAsync(IStoreExport from, IStoreExport to, long after, CancellationToken cancellationToken)
    {
        var differences = new List<PartitionDifference>();
        long verified = 0;
        if (after > 0)
        {
            try
            {
                while (true)
                {
                    var page = await from.ReadChangedPartitionsAsync(after, StoreFollower.PageSize, cancellationToken).ConfigureAwait(false);
                    foreach (var change in page.Items)
                    {
                        verified++;
                        var expected = change.Deleted ? null : await from.ExportPartitionAsync(change.Partition, cancellationToken).ConfigureAwait(false);
                        var actual = await to.ExportPartitionAsync(change.Partition, cancellationToken).ConfigureAwait(false);
                        if (Differ(change.Partition, expected, actual) is { } difference)
                        {
                            differences.Add(difference);
                        }
                    }

                    after = page.LastPosition;
                    if (!page.HasMore)
                    {
                        return (verified, differences);
                    }
                }
            }
            catch (ChangedPartitionsTruncatedException)
            {
                (verified, differences) = (0, []);
            }
        }

        // Every partition of both stores, each once.
        var counted = new Counter();
        await foreach (var difference in ExportComparison.CompareAsync(Count(from.ExportAsync(cancellationToken), counted), to.ExportAsync(cancellationToken), cancellationToken).ConfigureAwait(false))
        {
            differences.Add(difference);
        }

        return (counted.Value, differences);
    }

    private sealed class Counter
    {
        public long Value;
    }

    private static async IAsyncEnumerable<PartitionExport> Count(IAsyncEnumerable<PartitionExport> partitions, Counter counter)
    {
        await foreach (var partition in partitions.ConfigureAwait(false))
        {
            counter.Value++;
            yield return partition;
        }
    }

    private static PartitionDifference? Differ(string partition, PartitionExport? expected, PartitionExport? actual)
    {
        if (expected is null || actual is null)
        {
            return expected is null && actual is null ? null : new PartitionDifference(partition, expected is not null, actual is not null, []);
        }

        return ExportDigest.Compute(expected).AsSpan().SequenceEqual(ExportDigest.Compute(actual))
            ? null
            : new PartitionDifference(partition, true, true, ExportComparison.Compare(expected, actual));
    }
}

/// <summary>How <see cref="StoreCutover.RunAsync"/> fences the source, and how long it follows before.</summary>
public sealed class CutoverOptions
{
    /// <summary>
    /// Sets (<see langword="true"/>) or clears the source's read-only fence. By default the source's own
    /// <see cref="IStoreFence.SetReadOnlyAsync"/>; for a JSON store that another process owns (opened here as
    /// a reader), <c>(readOnly, ct) =&gt; JsonStore.SetReadOnlyAsync(directory, readOnly, ct)</c>.
    /// </summary>
    public Func<bool, CancellationToken, ValueTask>? SetSourceReadOnly { get; init; }

    /// <summary>
    /// How many passes of <see cref="StoreFollower.CatchUpAsync"/> run before the fence is set, while each
    /// still finds partitions to copy (3 by default; 0 sets the fence at once). The fewer changes are left,
    /// the shorter writes are refused.
    /// </summary>
    public int PassesBeforeFence { get; init; } = 3;

    /// <summary>The clock that measures how long writes were refused.</summary>
    public TimeProvider TimeProvider { get; init; } = TimeProvider.System;
}

/// <summary>What <see cref="StoreCutover.RunAsync"/> did.</summary>
/// <param name="Succeeded">Whether every partition that changed after the given position is equal in both stores: the source's fence stays set and the app switches to the destination. Otherwise the fence was lifted.</param>
/// <param name="Position">The source's position the destination is up to date with.</param>
/// <param name="WritesRefusedFor">How long the source's fence was set before the cut-over answered (until it was lifted, when it failed).</param>
/// <param name="PartitionsVerified">How many partitions were compared.</param>
/// <param name="Differences">The partitions that differ, and their items (empty when it succeeded).</param>
/// <param name="Drain">The pass that ran with the fence set.</param>
public sealed record CutoverResult(bool Succeeded, long Position, TimeSpan WritesRefusedFor, long PartitionsVerified, IReadOnlyList<PartitionDifference> Differences, FollowResult Drain);
