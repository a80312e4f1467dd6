using System.Diagnostics;
using System.Diagnostics.CodeAnalysis;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace Storage.Engine;

/// <summary>
/// Builds one index from a store's existing live documents (at open, when the index is new or its
/// declaration changed): extracts each document's values and checks a unique index's values are
/// distinct, failing with <see cref="IndexBuildException"/> naming the index and the document.
/// Every backend builds through this one class, so they refuse the same stores and log the same
/// lines (a start line, progress every <see cref="ProgressInterval"/> documents, a summary).
/// </summary>
[Experimental(Experiments.BackendInterface)]
public sealed partial class IndexBuilder
{
    /// <summary>How many documents pass between two progress lines.</summary>
    public const int ProgressInterval = 100_000;

    private readonly HashSet<(string Partition, IndexValue Value)> _taken = [];
    private readonly ILogger _logger;
    private readonly Stopwatch _elapsed = Stopwatch.StartNew();

    /// <summary>Starts building an index and logs that it does.</summary>
    /// <param name="index">The index to build.</param>
    /// <param name="reason">Why it is built (for the log): "new", "changed", "in memory at open".</param>
    /// <param name="logger">The backend's logger; none when <see langword="null"/>.</param>
    public IndexBuilder(IndexDefinition index, string reason = "new", ILogger? logger = null)
    {
        Index = index ?? throw new ArgumentNullException(nameof(index));
        _logger = logger ?? NullLogger.Instance;
        LogBuilding(_logger, index.Collection, index.Name, reason);
    }

    /// <summary>The index being built.</summary>
    public IndexDefinition Index { get; }

    /// <summary>How many documents were added.</summary>
    public long Documents { get; private set; }

    /// <summary>How many entries (document, value) the added documents hold.</summary>
    public long Entries { get; private set; }

    /// <summary>Adds one live document of the index's collection.</summary>
    /// <param name="partition">The document's partition.</param>
    /// <param name="key">The document's key.</param>
    /// <param name="utf8Json">The document's value.</param>
    /// <returns>The document's values for the index (empty when it is not indexed).</returns>
    /// <exception cref="IndexBuildException">The document holds a value of the wrong type, or a unique value another added document holds.</exception>
    public IReadOnlyList<IndexValue> Add(string partition, string key, ReadOnlyMemory<byte> utf8Json)
    {
        if (!IndexValues.TryExtract(Index, utf8Json, out var values, out var reason))
        {
            throw new IndexBuildException(Index.Collection, Index.Name, partition, key, "cannot be indexed: " + reason);
        }

        if (Index.Unique)
        {
            var scope = Index.Scope == IndexScope.Partition ? partition : string.Empty;
            foreach (var value in values)
            {
                if (!_taken.Add((scope, value)))
                {
                    throw new IndexBuildException(
                        Index.Collection, Index.Name, partition, key,
                        $"holds the value '{value}', which another document {(Index.Scope == IndexScope.Partition ? "of its partition" : "of the store")} holds too, but the index is unique");
                }
            }
        }

        Documents++;
        Entries += values.Count;
        if (Documents % ProgressInterval == 0)
        {
            LogProgress(_logger, Index.Collection, Index.Name, Documents, _elapsed.ElapsedMilliseconds);
        }

        return values;
    }

    /// <summary>Logs that the index is built (call once its entries are stored).</summary>
    public void Complete() => LogBuilt(_logger, Index.Collection, Index.Name, Documents, Entries, _elapsed.ElapsedMilliseconds);

    /// <summary>Logs that an index no longer declared was dropped.</summary>
    /// <param name="logger">The backend's logger.</param>
    /// <param name="collection">The collection of the dropped index.</param>
    /// <param name="name">The dropped index's name.</param>
    public static void Dropped(ILogger? logger, string collection, string name) => LogDropped(logger ?? NullLogger.Instance, collection, name);

    [LoggerMessage(100, LogLevel.Information, "Building index {Collection}.{Index} ({Reason}) from the existing documents.")]
    private static partial void LogBuilding(ILogger logger, string collection, string index, string reason);

    [LoggerMessage(101, LogLevel.Information, "Building index {Collection}.{Index}: {Documents} documents read in {ElapsedMs} ms.")]
    private static partial void LogProgress(ILogger logger, string collection, string index, long documents, long elapsedMs);

    [LoggerMessage(102, LogLevel.Information, "Built index {Collection}.{Index}: {Documents} documents, {Entries} entries, in {ElapsedMs} ms.")]
    private static partial void LogBuilt(ILogger logger, string collection, string index, long documents, long entries, long elapsedMs);

    [LoggerMessage(103, LogLevel.Information, "Dropped index {Collection}.{Index}: it is no longer declared.")]
    private static partial void LogDropped(ILogger logger, string collection, string index);
}
