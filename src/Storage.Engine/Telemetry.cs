using System.Diagnostics;
using System.Diagnostics.Metrics;
using System.Runtime.CompilerServices;

namespace Storage.Engine;

/// <summary>
/// A store's traces and metrics: a client span and a duration measurement per <see cref="IStore"/>
/// call, with OpenTelemetry's database attributes. Nothing is built — no tag, no span name, no
/// timestamp, no <see cref="Operation"/> — unless a listener is attached
/// (<see cref="ActivitySource.HasListeners"/>, <see cref="Instrument.Enabled"/>): a store nobody
/// observes pays two checks and one null reference in each call's state machine.
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

    /// <summary>Whether anything listens: the only cost of a store nobody observes.</summary>
    private bool Enabled => _duration.Enabled || s_source.HasListeners();

    /// <summary>Starts observing an operation whose arguments are valid; end it with <see cref="Operation.End"/>.</summary>
    /// <param name="name">The operation's name (<c>db.operation.name</c>), one of this class's constants.</param>
    /// <param name="partition">The partition, if the operation has one (on spans only when the application opts in).</param>
    /// <param name="collection">The collection, if the operation touches one (<c>db.collection.name</c>).</param>
    /// <returns>The observation; <see langword="null"/> when nothing listens.</returns>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public Operation? Start(string name, string? partition = null, string? collection = null)
        => Enabled ? Begin(name, partition, collection, batchSize: 0) : null;

    /// <summary>Starts observing a batch whose operations are valid: named by its operation when it holds one, else <see cref="Commit"/>.</summary>
    /// <param name="partition">The partition.</param>
    /// <param name="operations">The batch.</param>
    /// <returns>The observation; <see langword="null"/> when nothing listens.</returns>
    public Operation? StartBatch(string partition, IReadOnlyList<WriteOperation> operations)
    {
        if (!Enabled)
        {
            return null;
        }

        var (name, collection) = Describe(operations);
        return Begin(name, partition, collection, operations.Count);
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

    private Operation Begin(string name, string? partition, string? collection, int batchSize)
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

        return new Operation(this, activity, name, collection, Stopwatch.GetTimestamp());
    }

    /// <summary>Records that an observed operation failed (see <see cref="Operation.Fail"/>); nothing when it is not observed.</summary>
    /// <param name="operation">The observation, or <see langword="null"/>.</param>
    /// <param name="exception">The exception.</param>
    /// <returns><see langword="false"/>, so that a catch filter records the failure without catching it.</returns>
    public static bool Fail(Operation? operation, Exception exception) => operation?.Fail(exception) ?? false;

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

    /// <summary>
    /// One observed operation, created only when something listens: a call nobody observes keeps a
    /// null reference in its state machine (a struct of these fields cost a point read 5 % of its CPU).
    /// Mark a failure with <see cref="Telemetry.Fail"/> in a catch filter, and end it in a <c>finally</c>.
    /// </summary>
    internal sealed class Operation
    {
        private readonly Telemetry _owner;
        private readonly Activity? _activity;
        private readonly string _name;
        private readonly string? _collection;
        private readonly long _started;
        private string? _errorType;

        internal Operation(Telemetry owner, Activity? activity, string name, string? collection, long started)
        {
            _owner = owner;
            _activity = activity;
            _name = name;
            _collection = collection;
            _started = started;
        }

        /// <summary>
        /// Records that the operation failed (<c>error.type</c>: the exception's full type name, as
        /// the conventions ask). Neither the exception's message nor anything of the operation's
        /// data is recorded.
        /// </summary>
        /// <param name="exception">The exception.</param>
        /// <returns><see langword="false"/>, so that a catch filter records the failure without catching it.</returns>
        public bool Fail(Exception exception)
        {
            _errorType = exception.GetType().FullName;
            return false;
        }

        /// <summary>Ends the span and records the duration.</summary>
        public void End()
        {
            var elapsed = Stopwatch.GetElapsedTime(_started);
            if (_activity is not null)
            {
                if (_errorType is not null)
                {
                    _activity.SetTag(ErrorTypeTag, _errorType);
                    _activity.SetStatus(ActivityStatusCode.Error);
                }

                _activity.Dispose();
            }

            _owner.Record(_name, _collection, _errorType, elapsed.TotalSeconds);
        }
    }
}
