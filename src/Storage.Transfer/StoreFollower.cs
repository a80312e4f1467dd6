namespace Storage;

/// <summary>
/// Copies a store into another and keeps the copy up to date while the source is written: each
/// <see cref="CatchUpAsync"/> reads the source's store-wide cursor after a position, brings every
/// partition it reports up to date — its exact state exported and restored over the copy's (a restore
/// that finds the copy equal writes nothing), a deleted one deleted (version-gated) — and returns the
/// position to resume from. Every step is idempotent, so a pass interrupted at any point (a crash, a
/// cancellation) is simply run again from the same position.
/// </summary>
/// <remarks>
/// The destination must not be written by anything else while it follows (its partitions would no longer
/// be copies). A partition is copied whole when it changed (its cost grows with the partition, not with the
/// change); purges are not carried (a purge moves no partition): compare the two stores' digests after
/// purging both at one clock. See docs/upgrade-path.md, "Following a live store".
/// </remarks>
/// <seealso href="../../docs/upgrade-path.md#following-a-live-store"/>
public static class StoreFollower
{
    /// <summary>How many partitions one read of the cursor, or of the destination's partition list, asks for.</summary>
    public const int PageSize = 500;

    /// <summary>How many partitions of a page a pass brings up to date at a time (each is exported and restored on its own).</summary>
    private const int PartitionsInFlight = 8;

    /// <summary>
    /// Brings <paramref name="destination"/> up to date with <paramref name="source"/>: every partition that
    /// changed after <paramref name="afterPosition"/> in the source's store-wide cursor. From position 0 (or
    /// when the source's cursor no longer reaches back to <paramref name="afterPosition"/>) it goes over
    /// every partition of the source and deletes the destination's partitions the source no longer has.
    /// The destination's revision floor is raised to the source's.
    /// </summary>
    /// <param name="source">The store to follow: an <see cref="IStore"/> that is also an <see cref="IStoreExport"/>.</param>
    /// <param name="destination">The copy: an <see cref="IStore"/> that is also an <see cref="IStoreExport"/> and an <see cref="IStoreRestore"/>.</param>
    /// <param name="afterPosition">The position a previous pass returned; 0 for a first copy.</param>
    /// <param name="cancellationToken">Stops the pass between steps (rerun it from the same position).</param>
    /// <returns>What the pass did and the position to pass to the next one.</returns>
    /// <exception cref="ArgumentException">A store lacks a capability it needs, or both are the same instance.</exception>
    public static async ValueTask<FollowResult> CatchUpAsync(IStore source, IStore destination, long afterPosition = 0, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(source);
        ArgumentNullException.ThrowIfNull(destination);
        ArgumentOutOfRangeException.ThrowIfNegative(afterPosition);
        var from = source as IStoreExport ?? throw new ArgumentException("The source store cannot be followed: it does not implement IStoreExport.", nameof(source));
        var to = destination as IStoreRestore ?? throw new ArgumentException("The destination store cannot follow another: it does not implement IStoreRestore.", nameof(destination));
        var toExport = destination as IStoreExport ?? throw new ArgumentException("The destination store cannot follow another: it does not implement IStoreExport.", nameof(destination));
        if (ReferenceEquals(source, destination))
        {
            throw new ArgumentException("A store cannot follow itself.", nameof(destination));
        }

        var pass = new Pass(from, destination, to, toExport);
        return await pass.RunAsync(afterPosition, cancellationToken).ConfigureAwait(false);
    }

    private sealed class Pass(IStoreExport from, IStore destination, IStoreRestore to, IStoreExport toExport)
    {
        private long _created;
        private long _updated;
        private long _unchanged;
        private long _deleted;

        public async ValueTask<FollowResult> RunAsync(long after, CancellationToken cancellationToken)
        {
            // From 0 every live partition of the source is listed, so the destination's others are gone from it.
            HashSet<string>? listed = after == 0 ? new(StringComparer.Ordinal) : null;
            long floor = 0;
            while (true)
            {
                cancellationToken.ThrowIfCancellationRequested();
                PartitionChangePage page;
                try
                {
                    page = await from.ReadChangedPartitionsAsync(after, PageSize, cancellationToken).ConfigureAwait(false);
                }
                catch (ChangedPartitionsTruncatedException)
                {
                    // Marks of deletes were dropped since: go over everything.
                    (after, listed) = (0, new(StringComparer.Ordinal));
                    continue;
                }

                // A page names each partition once: they are brought up to date several at a time.
                foreach (var change in page.Items)
                {
                    if (!change.Deleted)
                    {
                        listed?.Add(change.Partition);
                    }
                }

                await Parallel.ForEachAsync(page.Items, new ParallelOptions { MaxDegreeOfParallelism = PartitionsInFlight, CancellationToken = cancellationToken }, async (change, ct) =>
                {
                    if (change.Deleted)
                    {
                        await DeleteAsync(change.Partition, change.Revision, ct).ConfigureAwait(false);
                    }
                    else
                    {
                        await SyncPartitionAsync(change.Partition, ct).ConfigureAwait(false);
                    }
                }).ConfigureAwait(false);

                floor = page.RevisionFloor;
                after = page.LastPosition;
                if (!page.HasMore)
                {
                    break;
                }
            }

            if (listed is not null)
            {
                await DropUnlistedAsync(listed, cancellationToken).ConfigureAwait(false);
            }

            await to.RaiseRevisionFloorAsync(floor, cancellationToken).ConfigureAwait(false);
            return new FollowResult(after, _created, _updated, _unchanged, _deleted);
        }

        // A partition the source deleted: deleted here unless this is a later life of it; the floor rises either way.
        private async ValueTask DeleteAsync(string partition, long revision, CancellationToken cancellationToken)
        {
            if (await to.ApplyPartitionDeleteAsync(partition, revision, cancellationToken).ConfigureAwait(false))
            {
                Interlocked.Increment(ref _deleted);
            }
        }

        // The partition's exact state — expired documents not yet purged, and the source's purges, included —
        // over whatever the copy holds. A restore compares first and writes nothing when the copy is already
        // equal.
        private async ValueTask SyncPartitionAsync(string partition, CancellationToken cancellationToken)
        {
            var state = await from.ExportPartitionAsync(partition, cancellationToken).ConfigureAwait(false);
            if (state is null)
            {
                // Deleted in the source since the cursor listed it: its mark follows (or the pass from 0 drops it).
                if ((await toExport.GetPartitionAsync(partition, cancellationToken).ConfigureAwait(false)) is { } held)
                {
                    await DeleteAsync(partition, held.Revision, cancellationToken).ConfigureAwait(false);
                }

                return;
            }

            switch (await to.RestorePartitionAsync(state, RestoreMode.Replace, cancellationToken).ConfigureAwait(false))
            {
                case RestoreOutcome.Created:
                    Interlocked.Increment(ref _created);
                    break;
                case RestoreOutcome.Replaced:
                    Interlocked.Increment(ref _updated);
                    break;
                default:
                    Interlocked.Increment(ref _unchanged);
                    break;
            }
        }

        private async ValueTask DropUnlistedAsync(HashSet<string> listed, CancellationToken cancellationToken)
        {
            var options = new PartitionListOptions { Limit = PageSize };
            while (true)
            {
                var page = await destination.ListPartitionsAsync(options, cancellationToken).ConfigureAwait(false);
                foreach (var info in page.Items)
                {
                    if (listed.Contains(info.Partition))
                    {
                        continue;
                    }

                    // Created in the source after the cursor passed it? Then copy it; else it is gone there.
                    if (await from.GetPartitionAsync(info.Partition, cancellationToken).ConfigureAwait(false) is not null)
                    {
                        await SyncPartitionAsync(info.Partition, cancellationToken).ConfigureAwait(false);
                    }
                    else
                    {
                        await DeleteAsync(info.Partition, info.Revision, cancellationToken).ConfigureAwait(false);
                    }
                }

                if (page.ContinuationToken is null)
                {
                    return;
                }

                options = options with { ContinuationToken = page.ContinuationToken };
            }
        }
    }
}

/// <summary>What one pass of <see cref="StoreFollower.CatchUpAsync"/> did.</summary>
/// <param name="Position">The source's position the destination is now up to date with: pass it to the next pass.</param>
/// <param name="PartitionsCreated">Partitions copied that the destination did not have.</param>
/// <param name="PartitionsUpdated">Partitions the destination had in an older state, replaced by the source's.</param>
/// <param name="PartitionsUnchanged">Partitions reported as changed that the destination already held as they are.</param>
/// <param name="PartitionsDeleted">Partitions deleted here because the source deleted them.</param>
public sealed record FollowResult(long Position, long PartitionsCreated, long PartitionsUpdated, long PartitionsUnchanged, long PartitionsDeleted);
