using System.Diagnostics;
using System.Diagnostics.Metrics;
using System.Runtime.CompilerServices;

namespace Storage.Engine;

/// <summary>
/// A store's traces and metrics: a client span and a duration measurement per <see cref="IStore"/>
/// call, with OpenTelemetry's database attributes. A store nobody observes runs none of this
/// class's code but <see cref="Enabled"/>: each <see cref="EngineStore"/> member checks it and, when
/// nothing listens, returns its operation's own task — no wrapper, no <c>try</c>, no state of the
/// observation. Only when a listener is attached (<see cref="ActivitySource.HasListeners"/>,
/// <see cref="Instrument.Enabled"/>) does the member run its operation inside <see cref="ObserveAsync"/>.
/// </summary>
/// <seealso href="../../docs/observability.md"/>
internal sealed class Telemetry
{
    // Operation names (db.operation.name): the IStore member, in snake case; a one-operation batch is named by its operation.
    public const string Get = "get";
    public const string Put = "put";
    public const string Delete = "delete";
    public const string Append = "append";
    public const string Commit = "commit";
    public const string Import = "import";
    public const string List = "list";
    public const string IncrementSequence = "increment_sequence";
    public const string GetSequence = "get_sequence";
    public const string ListPartitions = "list_partitions";
    public const string DeletePartition = "delete_partition";
    public const string PurgeExpired = "purge_expired";
    public const string ReadStream = "read_stream";
    public const string ListStreams = "list_streams";
    public const string ReadChanges = "read_changes";
    public const string Query = "query";
    public const string Count = "count";

    // The upgrade path's operations (IStoreExport, IStoreRestore) and the fence (IStoreFence).
    public const string GetExportInfo = "get_export_info";
    public const string ExportPartition = "export_partition";
    public const string Restore = "restore";
    public const string RestorePartition = "restore_partition";
    public const string RaiseRevisionFloor = "raise_revision_floor";
    public const string GetPartition = "get_partition";
    public const string ReadChangedPartitions = "read_changed_partitions";
    public const string ApplyChanges = "apply_changes";
    public const string ApplyPartitionDelete = "apply_partition_delete";
    public const string SetReadOnly = "set_read_only";
    public const string IsReadOnly = "is_read_only";

    // OpenTelemetry's names (semantic conventions for database clients, stable).
    internal const string DurationName = "db.client.operation.duration";
    internal const string SystemTag = "db.system.name";
    internal const string OperationTag = "db.operation.name";
    internal const string CollectionTag = "db.collection.name";
    internal const string BatchSizeTag = "db.operation.batch.size";
    internal const string ErrorTypeTag = "error.type";

    // The store's own attribute: spans only, and only when the application opts in (StoreOptions.TracePartitionKeys).
    internal const string PartitionTag = "storage.partition";

    // The conventions' advice for db.client.operation.duration.
    private static readonly double[] s_buckets = [0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 10];

    private static readonly string? s_version = typeof(Telemetry).Assembly.GetName().Version?.ToString();
    private static readonly ActivitySource s_source = new(StoreTelemetry.ActivitySourceName, s_version);

    // Stores opened without an IMeterFactory share one meter, as the factory would give them one.
    private static readonly Histogram<double> s_sharedDuration = CreateDuration(new Meter(StoreTelemetry.MeterName, s_version));

    private readonly string _system;
    private readonly bool _tracePartition;
    private readonly Histogram<double> _duration;

    /// <summary>Creates a store's telemetry.</summary>
    /// <param name="system">The backend's <see cref="IStoreBackend.SystemName"/>.</param>
    /// <param name="options">The store's options: <see cref="StoreOptions.MeterFactory"/> and <see cref="StoreOptions.TracePartitionKeys"/>.</param>
    public Telemetry(string system, StoreOptions options)
    {
        _system = system;
        _tracePartition = options.TracePartitionKeys;
        _duration = options.MeterFactory is { } factory
            ? CreateDuration(factory.Create(new MeterOptions(StoreTelemetry.MeterName) { Version = s_version }))
            : s_sharedDuration;
    }

    /// <summary>
    /// Whether anything listens: check it before <see cref="ObserveAsync"/>, and when it is
    /// <see langword="false"/> run the operation itself. The only cost of a store nobody observes.
    /// </summary>
    public bool Enabled
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        get => _duration.Enabled || s_source.HasListeners();
    }

    /// <summary>
    /// Runs an operation whose arguments are valid inside a span and a duration measurement: the span
    /// is the current activity while it runs; a failure is recorded (<c>error.type</c>) and rethrown.
    /// </summary>
    /// <typeparam name="T">What the operation returns.</typeparam>
    /// <typeparam name="TArgs">The operation's arguments (a tuple: with a static <paramref name="run"/>, nothing is allocated for them).</typeparam>
    /// <param name="name">The operation's name (<c>db.operation.name</c>), one of this class's constants.</param>
    /// <param name="partition">The partition, if the operation has one (on spans only when the application opts in).</param>
    /// <param name="collection">The collection, if the operation touches one (<c>db.collection.name</c>).</param>
    /// <param name="args">The arguments of <paramref name="run"/>.</param>
    /// <param name="run">Starts the operation.</param>
    /// <param name="batchSize">How many operations a batch holds (<c>db.operation.batch.size</c>, from 2); 0 otherwise.</param>
    /// <returns>What the operation returned.</returns>
    public async ValueTask<T> ObserveAsync<T, TArgs>(string name, string? partition, string? collection, TArgs args, Func<TArgs, ValueTask<T>> run, int batchSize = 0)
    {
        var activity = StartActivity(name, partition, collection, batchSize);
        var started = Stopwatch.GetTimestamp();
        string? errorType = null;
        try
        {
            return await run(args).ConfigureAwait(false);
        }
        catch (Exception e) when (Failed(e, out errorType))
        {
            throw;
        }
        finally
        {
            End(activity, name, collection, errorType, Stopwatch.GetElapsedTime(started).TotalSeconds);
        }
    }

    /// <summary>
    /// Runs a batch whose operations are valid as <see cref="ObserveAsync"/> does: named by its
    /// operation when it holds one, else <see cref="Commit"/>.
    /// </summary>
    /// <typeparam name="T">What the batch returns.</typeparam>
    /// <typeparam name="TArgs">The arguments of <paramref name="run"/>.</typeparam>
    /// <param name="partition">The partition.</param>
    /// <param name="operations">The batch.</param>
    /// <param name="args">The arguments of <paramref name="run"/>.</param>
    /// <param name="run">Starts the batch.</param>
    /// <returns>What the batch returned.</returns>
    public ValueTask<T> ObserveBatchAsync<T, TArgs>(string partition, IReadOnlyList<WriteOperation> operations, TArgs args, Func<TArgs, ValueTask<T>> run)
    {
        var (name, collection) = Describe(operations);
        return ObserveAsync(name, partition, collection, args, run, operations.Count);
    }

    /// <summary>A batch's name, and the collection every operation of it touches if they share one.</summary>
    private static (string Name, string? Collection) Describe(IReadOnlyList<WriteOperation> operations)
    {
        if (operations.Count == 1)
        {
            var only = operations[0];
            return only.Kind switch
            {
                WriteOperationKind.Put => (Put, only.Collection),
                WriteOperationKind.Delete => (Delete, only.Collection),
                _ => (Append, null),
            };
        }

        string? collection = null;
        for (var i = 0; i < operations.Count; i++)
        {
            var operation = operations[i];
            if (operation.Kind == WriteOperationKind.Append || (collection is not null && !string.Equals(collection, operation.Collection, StringComparison.Ordinal)))
            {
                return (Commit, null);
            }

            collection = operation.Collection;
        }

        return (Commit, collection);
    }

    private Activity? StartActivity(string name, string? partition, string? collection, int batchSize)
    {
        var activity = s_source.HasListeners()
            ? s_source.StartActivity(collection is null ? name : $"{name} {collection}", ActivityKind.Client)
            : null;
        if (activity is { IsAllDataRequested: true })
        {
            activity.SetTag(SystemTag, _system);
            activity.SetTag(OperationTag, name);
            if (collection is not null)
            {
                activity.SetTag(CollectionTag, collection);
            }

            if (batchSize > 1)
            {
                activity.SetTag(BatchSizeTag, batchSize);
            }

            if (_tracePartition && partition is not null)
            {
                activity.SetTag(PartitionTag, partition);
            }
        }

        return activity;
    }

    /// <summary>
    /// Notes that the operation failed: <c>error.type</c> is the exception's full type name, as the
    /// conventions ask. Neither the exception's message nor anything of the operation's data is recorded.
    /// </summary>
    /// <returns><see langword="false"/>, so that a catch filter records the failure without catching it.</returns>
    private static bool Failed(Exception exception, out string? errorType)
    {
        errorType = exception.GetType().FullName;
        return false;
    }

    /// <summary>Ends the span and records the duration.</summary>
    private void End(Activity? activity, string name, string? collection, string? errorType, double seconds)
    {
        if (activity is not null)
        {
            if (errorType is not null)
            {
                activity.SetTag(ErrorTypeTag, errorType);
                activity.SetStatus(ActivityStatusCode.Error);
            }

            activity.Dispose();
        }

        Record(name, collection, errorType, seconds);
    }

    private void Record(string name, string? collection, string? errorType, double seconds)
    {
        if (!_duration.Enabled)
        {
            return;
        }

        var tags = new TagList
        {
            { SystemTag, _system },
            { OperationTag, name },
        };
        if (collection is not null)
        {
            tags.Add(CollectionTag, collection);
        }

        if (errorType is not null)
        {
            tags.Add(ErrorTypeTag, errorType);
        }

        _duration.Record(seconds, tags);
    }

    private static Histogram<double> CreateDuration(Meter meter) => meter.CreateHistogram(
        DurationName,
        unit: "s",
        description: "Duration of database client operations.",
        tags: null,
        advice: new InstrumentAdvice<double> { HistogramBucketBoundaries = s_buckets });
}
