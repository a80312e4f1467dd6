namespace Storage.CrashWriter;

/// <summary>
/// What a directory written by crash-writer runs must hold: for each key the last acknowledged
/// value and version, for each sequence the last acknowledged value, and (with streams) each
/// partition's stream: the acknowledged events in order, without gaps, in the change feed too.
/// After each killed run it takes the run's output, checks the store against it — allowing the one
/// write in flight to be there entirely or not at all — and then adopts what the store shows for that write.
/// </summary>
/// <param name="streams">Whether the writer ran with <c>--streams on</c>: then the streams are checked too.</param>
internal sealed class CrashModel(bool streams = false)
{
    private readonly Dictionary<(string Partition, string Key), Expected> _documents = [];
    private readonly Dictionary<string, long> _sequences = new(StringComparer.Ordinal);
    private readonly Dictionary<string, List<CrashDoc>> _events = new(StringComparer.Ordinal);

    /// <summary>Checks the store that <paramref name="open"/> opens against the writer's <paramref name="lines"/>; returns what is wrong.</summary>
    public async Task<IReadOnlyList<string>> VerifyAsync(IReadOnlyList<string> lines, Func<IStore> open)
    {
        var violations = new List<string>();
        var inFlight = Apply(lines, violations);
        if (violations.Count > 0)
        {
            return violations;
        }

        IStore store;
        try
        {
            store = open();
        }
        catch (Exception e)
        {
            return [$"the store does not open after the kill: {e}"];
        }

        await using (store)
        {
            try
            {
                var inFlightDocumentsApplied = await VerifyDocumentsAsync(store, inFlight, violations);
                await VerifySequencesAsync(store, inFlight, violations);
                if (streams)
                {
                    await VerifyStreamsAsync(store, inFlight, inFlightDocumentsApplied, violations);
                }

                var listed = (await store.ListPartitionsAsync(new PartitionListOptions { Limit = StoreLimits.MaxPageSize })).Items.Select(p => p.Partition);
                violations.AddRange(listed.Except(CrashKeySpace.Partitions, StringComparer.Ordinal).Select(p => $"partition '{p}' was never written"));
            }
            catch (Exception e)
            {
                violations.Add($"reading the store after the kill failed: {e}");
            }
        }

        return violations;
    }

    /// <summary>Applies the acknowledged writes; returns the write in flight (a BEGIN without its ACK), if any.</summary>
    private CrashOp? Apply(IReadOnlyList<string> lines, List<string> violations)
    {
        CrashOp? pending = null;
        foreach (var text in lines)
        {
            var line = CrashLog.Parse(text);
            switch (line.Tag)
            {
                case CrashLog.Begin when pending is not null:
                    violations.Add($"the writer began {line.Op!.OpId} before {pending.OpId} was acknowledged");
                    return null;
                case CrashLog.Begin:
                    pending = line.Op;
                    break;
                case CrashLog.Ack when pending?.OpId != line.Op!.OpId:
                    violations.Add($"acknowledgement without its BEGIN: {text}");
                    return null;
                case CrashLog.Ack when pending.Kind == CrashOpKind.Sequence:
                    var previous = _sequences.GetValueOrDefault(pending.Partition);
                    if (line.Result != previous + pending.Delta)
                    {
                        violations.Add($"{pending.OpId}: sequence of '{pending.Partition}' went from {previous} to {line.Result}, not by {pending.Delta}");
                    }

                    _sequences[pending.Partition] = line.Result;
                    pending = null;
                    break;
                case CrashLog.Ack:
                    foreach (var doc in pending.Docs)
                    {
                        _documents[(pending.Partition, doc.Key)] = new Expected(doc.ValueHash, line.Result, pending.OpId);
                    }

                    EventsOf(pending.Partition).AddRange(pending.Events);

                    pending = null;
                    break;
                case CrashLog.Open:
                    break;
                default:
                    // ERROR (a conflict means the writer saw a version it never wrote: a lost write) or LOCKED.
                    violations.Add($"the writer reported: {text}");
                    break;
            }
        }

        return pending;
    }

    /// <summary>Checks the documents; returns whether the write in flight put its documents (null when it puts none).</summary>
    private async Task<bool?> VerifyDocumentsAsync(IStore store, CrashOp? inFlight, List<string> violations)
    {
        bool? inFlightApplied = null;
        foreach (var partition in CrashKeySpace.Partitions)
        {
            var inFlightHere = inFlight is { Kind: not CrashOpKind.Sequence } && inFlight.Partition == partition ? inFlight : null;
            var applied = new List<(CrashDoc Doc, long Version)>();
            foreach (var key in CrashKeySpace.Keys)
            {
                var document = await store.GetAsync(partition, CrashKeySpace.Collection, key);
                var actual = document is null ? null : new Expected(CrashLog.HashValue(document.Value.Span), document.Version, "?");
                var expected = _documents.GetValueOrDefault((partition, key));
                if (inFlightHere?.Docs.FirstOrDefault(d => d.Key == key) is { } flying && actual?.ValueHash == flying.ValueHash)
                {
                    applied.Add((flying, actual.Version));
                    continue;
                }

                if (actual?.ValueHash != expected?.ValueHash || actual?.Version != expected?.Version)
                {
                    violations.Add($"'{partition}'/{key}: expected {Describe(expected)}, found {Describe(actual)}");
                }
            }

            var listed = (await store.ListAsync(partition, CrashKeySpace.Collection, new ListOptions { Limit = StoreLimits.MaxPageSize })).Items;
            violations.AddRange(listed.Where(d => !CrashKeySpace.Keys.Contains(d.Key)).Select(d => $"'{partition}'/{d.Key} was never written"));

            if (inFlightHere is { Docs.Count: > 0 })
            {
                inFlightApplied = applied.Count > 0;
            }

            if (inFlightHere is null || applied.Count == 0)
            {
                continue;
            }

            if (applied.Count != inFlightHere.Docs.Count || applied.Select(a => a.Version).Distinct().Count() != 1)
            {
                violations.Add($"{inFlightHere.OpId} was half applied: {applied.Count} of its {inFlightHere.Docs.Count} documents are there, at versions {string.Join(", ", applied.Select(a => a.Version))}");
                continue;
            }

            foreach (var (doc, version) in applied)
            {
                _documents[(partition, doc.Key)] = new Expected(doc.ValueHash, version, inFlightHere.OpId);
            }
        }

        return inFlightApplied;
    }

    /// <summary>
    /// Each partition's stream holds the acknowledged events in order at versions 1..n (plus all or
    /// none of the append in flight, together with its documents), and the change feed from 0 lists
    /// the same events in the same order.
    /// </summary>
    private async Task VerifyStreamsAsync(IStore store, CrashOp? inFlight, bool? inFlightDocumentsApplied, List<string> violations)
    {
        foreach (var partition in CrashKeySpace.Partitions)
        {
            var inFlightHere = inFlight is { Kind: CrashOpKind.Append } && inFlight.Partition == partition ? inFlight : null;
            var events = new List<StoredEvent>();
            for (long? from = 1; from is not null;)
            {
                var page = await store.ReadStreamAsync(partition, CrashKeySpace.Stream, new ReadStreamOptions { FromVersion = from, Limit = StoreLimits.MaxPageSize });
                events.AddRange(page.Items);
                from = page.NextVersion;
            }

            var actual = events.Select(e => new CrashDoc(e.Id.ToString("D"), CrashLog.HashValue(e.Data.Span))).ToList();
            var expected = EventsOf(partition);
            var appliedInFlight = false;
            if (!actual.SequenceEqual(expected))
            {
                if (inFlightHere is not null && actual.SequenceEqual(expected.Concat(inFlightHere.Events)))
                {
                    appliedInFlight = true;
                }
                else
                {
                    violations.Add($"stream of '{partition}': expected {expected.Count} events{(inFlightHere is null ? string.Empty : $" (or {expected.Count + inFlightHere.Events.Count} with {inFlightHere.OpId})")}, found {actual.Count}: {Difference(expected, actual)}");
                    continue;
                }
            }

            if (events.Select((e, i) => e.Version != i + 1).Any(wrong => wrong) || events.Zip(events.Skip(1)).Any(p => p.First.Revision > p.Second.Revision))
            {
                violations.Add($"stream of '{partition}': versions {string.Join(",", events.Select(e => e.Version))} or revisions out of order");
            }

            if (inFlightHere is not null && inFlightDocumentsApplied is { } documentsApplied && documentsApplied != appliedInFlight)
            {
                violations.Add($"{inFlightHere.OpId} was half applied: its documents {(documentsApplied ? "are" : "are not")} there, its events {(appliedInFlight ? "are" : "are not")}");
            }

            if (appliedInFlight)
            {
                var revisions = events.TakeLast(inFlightHere!.Events.Count).Select(e => e.Revision).Distinct().ToList();
                if (revisions.Count != 1)
                {
                    violations.Add($"{inFlightHere.OpId}: its events were committed at revisions {string.Join(", ", revisions)}");
                }

                EventsOf(partition).AddRange(inFlightHere.Events);
            }

            var fed = new List<Guid>();
            for (long after = 0; ;)
            {
                var page = await store.ReadChangesAsync(partition, after, StoreLimits.MaxPageSize);
                fed.AddRange(page.Items.Where(c => c.Kind == ChangeKind.Append).Select(c => c.Event!.Id));
                after = page.LastRevision;
                if (!page.HasMore)
                {
                    break;
                }
            }

            if (!fed.SequenceEqual(events.Select(e => e.Id)))
            {
                violations.Add($"change feed of '{partition}': {fed.Count} appended events, the stream has {events.Count}");
            }
        }

        static string Difference(List<CrashDoc> expected, List<CrashDoc> actual)
        {
            var same = expected.Zip(actual).TakeWhile(p => p.First == p.Second).Count();
            return $"they agree on the first {same}; then expected {expected.ElementAtOrDefault(same)?.ToString() ?? "nothing"}, found {actual.ElementAtOrDefault(same)?.ToString() ?? "nothing"}";
        }
    }

    private List<CrashDoc> EventsOf(string partition)
    {
        if (!_events.TryGetValue(partition, out var events))
        {
            events = [];
            _events.Add(partition, events);
        }

        return events;
    }

    private async Task VerifySequencesAsync(IStore store, CrashOp? inFlight, List<string> violations)
    {
        foreach (var partition in CrashKeySpace.Partitions)
        {
            var actual = await store.GetSequenceAsync(partition, CrashKeySpace.Sequence);
            var expected = _sequences.GetValueOrDefault(partition);
            var allowed = inFlight is { Kind: CrashOpKind.Sequence } && inFlight.Partition == partition ? new[] { expected, expected + inFlight.Delta } : [expected];
            if (!allowed.Contains(actual))
            {
                violations.Add($"sequence of '{partition}': expected {string.Join(" or ", allowed)}, found {actual}");
            }

            _sequences[partition] = actual;
        }
    }

    private static string Describe(Expected? state) => state is null ? "no document" : $"value {state.ValueHash} at version {state.Version} (from {state.OpId})";

    private sealed record Expected(string ValueHash, long Version, string OpId);
}
