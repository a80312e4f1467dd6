using System.Globalization;
using Storage.Internal;

namespace Storage.Conformance.Reference;

/// <summary>
/// The reference model's argument checks, written from the contract's XML docs and docs/contract.md
/// (not taken from the engine), in the order the contract checks them, so that a call with several
/// faults fails with the same exception type in the model as in every backend. The messages are the
/// contract's own (<see cref="ErrorMessages"/>).
/// </summary>
internal static class ReferenceChecks
{
    /// <summary>A batch: the partition key, then each operation in order (null, a document or a stream twice), then its size in operations and bytes.</summary>
    /// <param name="partition">The partition key.</param>
    /// <param name="operations">The batch.</param>
    public static void Batch(string partition, IReadOnlyList<WriteOperation> operations)
    {
        Identifiers.ValidatePartitionKey(partition);
        ArgumentNullException.ThrowIfNull(operations);
        if (operations.Count == 0)
        {
            throw new ArgumentException(ErrorMessages.EmptyBatch, nameof(operations));
        }

        var documents = new Dictionary<(string Collection, string Key), int>();
        var streams = new Dictionary<string, int>(StringComparer.Ordinal);
        long count = 0;
        long bytes = 0;
        for (var i = 0; i < operations.Count; i++)
        {
            var op = operations[i] ?? throw new ArgumentException(ErrorMessages.NullOperation(i), nameof(operations));
            if (op.Kind == WriteOperationKind.Append)
            {
                if (streams.TryGetValue(op.Stream!, out var first))
                {
                    throw new ArgumentException(ErrorMessages.DuplicateStreamInBatch(op.Stream!, first, i), nameof(operations));
                }

                streams.Add(op.Stream!, i);
                count += op.Events.Count;
                bytes += op.EventBytes;
            }
            else
            {
                if (documents.TryGetValue((op.Collection, op.Key), out var first))
                {
                    throw new ArgumentException(ErrorMessages.DuplicateInBatch(op.Collection, op.Key, first, i), nameof(operations));
                }

                documents.Add((op.Collection, op.Key), i);
                count++;
                bytes += op.Value.Length;
            }
        }

        if (count > StoreLimits.MaxBatchOperations)
        {
            throw new ArgumentException(ErrorMessages.BatchTooLarge(count), nameof(operations));
        }

        if (bytes > StoreLimits.MaxBatchBytes)
        {
            throw new ArgumentException(ErrorMessages.BatchTooManyBytes(bytes), nameof(operations));
        }
    }

    /// <summary>A sequence increment: the partition key, the name, then the delta (at least 1).</summary>
    /// <param name="partition">The partition key.</param>
    /// <param name="name">The sequence name.</param>
    /// <param name="delta">The increment.</param>
    public static void Increment(string partition, string name, long delta)
    {
        Identifiers.ValidatePartitionKey(partition);
        Identifiers.ValidateName(name);
        if (delta < 1)
        {
            throw new ArgumentOutOfRangeException(nameof(delta), delta, ErrorMessages.InvalidDelta(delta));
        }
    }

    /// <summary>A page size: 1 to <see cref="StoreLimits.MaxPageSize"/>.</summary>
    /// <param name="limit">The page size.</param>
    public static void Limit(int limit)
    {
        if (limit < 1 || limit > StoreLimits.MaxPageSize)
        {
            throw new ArgumentOutOfRangeException(nameof(limit), limit, ErrorMessages.InvalidLimit(limit));
        }
    }

    /// <summary>
    /// A listing of keys (documents or streams): its prefix and bounds, its page size, then its token.
    /// </summary>
    /// <param name="listing">What defines the listing (kind, partition, collection), without the options.</param>
    /// <param name="options">The caller's options.</param>
    /// <returns>The key the page continues after, or <see langword="null"/> on the first page.</returns>
    public static string? Keys(string?[] listing, ListOptions options)
    {
        if (options.Prefix is not null)
        {
            Identifiers.ValidateKeyFragment(options.Prefix, "prefix", nameof(options));
        }

        if (options.StartKey is not null)
        {
            Identifiers.ValidateKeyFragment(options.StartKey, "start key", nameof(options));
        }

        if (options.EndKey is not null)
        {
            Identifiers.ValidateKeyFragment(options.EndKey, "end key", nameof(options));
        }

        Limit(options.Limit);
        return options.ContinuationToken is null ? null : ReferenceToken.Read(options.ContinuationToken, KeyListing(listing, options), 1, nameof(options))[0];
    }

    /// <summary>What defines a listing of keys: the listing and every option but the page size and the token.</summary>
    /// <param name="listing">Kind, partition, collection.</param>
    /// <param name="options">The caller's options.</param>
    /// <returns>The strings a token of this listing carries.</returns>
    public static string?[] KeyListing(string?[] listing, ListOptions options)
        => [.. listing, options.Prefix, options.StartKey, options.EndKey, options.Descending ? "descending" : "ascending"];

    /// <summary>A stream read: the partition key, the stream id, the first version (at least 1), then the page size.</summary>
    /// <param name="partition">The partition key.</param>
    /// <param name="stream">The stream id.</param>
    /// <param name="options">The caller's options.</param>
    public static void ReadStream(string partition, string stream, ReadStreamOptions options)
    {
        Identifiers.ValidatePartitionKey(partition);
        Identifiers.ValidateDocumentKey(stream, nameof(stream));
        if (options.FromVersion is { } from && from < 1)
        {
            throw new ArgumentOutOfRangeException(nameof(options), from, ErrorMessages.InvalidStreamVersion(from));
        }

        Limit(options.Limit);
    }

    /// <summary>A change-feed read: the partition key, the revision (0 or more), then the page size.</summary>
    /// <param name="partition">The partition key.</param>
    /// <param name="afterRevision">The revision already seen.</param>
    /// <param name="limit">The page size.</param>
    public static void ReadChanges(string partition, long afterRevision, int limit)
    {
        Identifiers.ValidatePartitionKey(partition);
        if (afterRevision < 0)
        {
            throw new ArgumentOutOfRangeException(nameof(afterRevision), afterRevision, ErrorMessages.InvalidRevision(afterRevision));
        }

        Limit(limit);
    }

    /// <summary>A store's index declarations: none null, none declared twice.</summary>
    /// <param name="indexes">The declarations, or <see langword="null"/> for none.</param>
    /// <returns>The declarations in order.</returns>
    public static List<IndexDefinition> Indexes(IEnumerable<IndexDefinition>? indexes)
    {
        var declared = new List<IndexDefinition>();
        foreach (var index in indexes ?? [])
        {
            if (index is null)
            {
                throw new ArgumentException("An index declaration is null.", nameof(indexes));
            }

            if (declared.Any(d => d.Collection == index.Collection && d.Name == index.Name))
            {
                throw new ArgumentException(ErrorMessages.DuplicateIndex(index.Collection, index.Name), nameof(indexes));
            }

            declared.Add(index);
        }

        return declared;
    }

    /// <summary>
    /// An index query: its collection and index names, the index is declared, its partition, then what
    /// it asks (an equality alone; bounds of the index's type; a prefix only of a string index, valid and
    /// not empty); for a page (not a count) its page size, then its token.
    /// </summary>
    /// <param name="indexes">The store's declared indexes.</param>
    /// <param name="query">The query.</param>
    /// <param name="forCount">Whether the query counts (page size and token are then ignored).</param>
    /// <returns>The index, and the (value, partition, key) the page continues after, if any.</returns>
    public static (IndexDefinition Index, (IndexValue Value, string Partition, string Key)? After) Query(IReadOnlyList<IndexDefinition> indexes, IndexQuery query, bool forCount)
    {
        ArgumentNullException.ThrowIfNull(query);
        Identifiers.ValidateName(query.Collection, nameof(query));
        Identifiers.ValidateName(query.Index, nameof(query));
        var index = indexes.FirstOrDefault(i => i.Collection == query.Collection && i.Name == query.Index)
            ?? throw new ArgumentException(ErrorMessages.UnknownIndex(query.Collection, query.Index), nameof(query));
        if (query.Partition is not null)
        {
            Identifiers.ValidatePartitionKey(query.Partition, nameof(query));
        }

        if (query.Equal is not null && (query.From is not null || query.To is not null || query.Prefix is not null))
        {
            throw InvalidQuery(index, "an equality cannot be combined with a range or a prefix");
        }

        foreach (var bound in new[] { query.Equal, query.From, query.To })
        {
            if (bound is { } b && b.Type != index.ValueType)
            {
                throw InvalidQuery(index, $"the index holds {TypeName(index.ValueType)} but the query compares with {TypeName(b.Type)}");
            }
        }

        if (query.Prefix is not null)
        {
            if (index.ValueType != IndexValueType.String)
            {
                throw InvalidQuery(index, "a prefix needs a string index");
            }

            IndexValues.ValidateString(query.Prefix, nameof(query));
            if (query.Prefix.Length == 0)
            {
                throw InvalidQuery(index, "the prefix is empty");
            }
        }

        if (forCount)
        {
            return (index, null);
        }

        Limit(query.Limit);
        if (query.ContinuationToken is null)
        {
            return (index, null);
        }

        var position = ReferenceToken.Read(query.ContinuationToken, QueryListing(query), 4, nameof(query));
        var value = position[0] switch
        {
            "string" when index.ValueType == IndexValueType.String => IndexValue.Of(position[1]),
            "int64" when index.ValueType == IndexValueType.Int64 && long.TryParse(position[1], NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var number) => IndexValue.Of(number),
            _ => throw new ArgumentException(ErrorMessages.InvalidContinuationToken, nameof(query)),
        };
        return (index, (value, position[2], position[3]));
    }

    /// <summary>What defines an index query: every option but the page size and the token.</summary>
    /// <param name="query">The query.</param>
    /// <returns>The strings a token of this query carries.</returns>
    public static string?[] QueryListing(IndexQuery query)
        =>
        [
            "index", query.Collection, query.Index, query.Partition, Text(query.Equal),
            Text(query.From), query.FromInclusive ? "inclusive" : "exclusive", Text(query.To), query.ToInclusive ? "inclusive" : "exclusive",
            query.Prefix, query.Descending ? "descending" : "ascending",
        ];

    /// <summary>An index value's position in a token: its type, then its text.</summary>
    /// <param name="value">The value.</param>
    /// <returns>Two strings.</returns>
    public static string[] Position(IndexValue value)
        => value.Type == IndexValueType.String ? ["string", value.AsString] : ["int64", value.AsInt64.ToString(CultureInfo.InvariantCulture)];

    private static string? Text(IndexValue? value) => value is { } v ? string.Join(':', Position(v)) : null;

    private static string TypeName(IndexValueType type) => type == IndexValueType.String ? "strings" : "64-bit integers";

    private static ArgumentException InvalidQuery(IndexDefinition index, string reason)
        => new(ErrorMessages.InvalidIndexQuery(index.Collection, index.Name, reason), "query");
}
