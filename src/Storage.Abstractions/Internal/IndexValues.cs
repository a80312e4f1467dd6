using System.Diagnostics.CodeAnalysis;
using System.Runtime.CompilerServices;
using System.Text;
using System.Text.Json;

namespace Storage.Internal;

/// <summary>Parses index paths.</summary>
internal static class IndexPath
{
    /// <summary>The deepest path allowed.</summary>
    public const int MaxDepth = 16;

    /// <summary>Splits a path into its property names, or throws <see cref="ArgumentException"/>.</summary>
    /// <param name="path">A dot-separated property path.</param>
    /// <param name="paramName">The caller's parameter name.</param>
    /// <returns>The property names.</returns>
    public static string[] Parse(string path, string paramName)
    {
        ArgumentNullException.ThrowIfNull(path, paramName);
        var segments = path.Split('.');
        if (path.Length == 0 || segments.Length > MaxDepth || segments.Any(s => s.Length == 0) || Encoding.UTF8.GetByteCount(path) > StoreLimits.MaxDocumentKeyBytes)
        {
            throw new ArgumentException(ErrorMessages.InvalidIndexPath(path), paramName);
        }

        foreach (var segment in segments)
        {
            Identifiers.ValidateKeyFragment(segment, "index path segment", paramName);
        }

        return segments;
    }
}

/// <summary>
/// Extracts a document's values for an index, and checks index values. Every backend indexes
/// through this one implementation, so they agree on what a document's values are.
/// </summary>
internal static class IndexValues
{
    // Each declaration's path, split once (by reference: a definition is immutable).
    private static readonly ConditionalWeakTable<IndexDefinition, string[]> s_paths = new();

    /// <summary>Throws <see cref="ArgumentException"/> unless <paramref name="value"/> can be an index value.</summary>
    /// <param name="value">The string.</param>
    /// <param name="paramName">The caller's parameter name.</param>
    public static void ValidateString(string value, string paramName)
    {
        if (Check(value) is { } error)
        {
            throw new ArgumentException(error, paramName);
        }
    }

    /// <summary>
    /// The distinct values of <paramref name="index"/> in a document, in index order; empty when the
    /// path is missing or null.
    /// </summary>
    /// <param name="index">The index.</param>
    /// <param name="utf8Json">The document's validated UTF-8 JSON value.</param>
    /// <returns>The values.</returns>
    /// <exception cref="ArgumentException">The value at the path has the wrong type, or a limit is exceeded; the message names the index.</exception>
    public static IReadOnlyList<IndexValue> Extract(IndexDefinition index, ReadOnlyMemory<byte> utf8Json)
    {
        ArgumentNullException.ThrowIfNull(index);
        using var document = Parse(utf8Json);
        try
        {
            return Extract(index, document.RootElement);
        }
        catch (InvalidValueException e)
        {
            throw new ArgumentException(e.Message, e.ParamName);
        }
    }

    /// <summary>
    /// The distinct values of <paramref name="index"/> in a document, or why the document cannot be
    /// indexed — for callers that report the reason inside a message of their own (an index build).
    /// </summary>
    /// <param name="index">The index.</param>
    /// <param name="utf8Json">The document's validated UTF-8 JSON value.</param>
    /// <param name="values">The values, in index order; empty when the path is missing or null, or when the document cannot be indexed.</param>
    /// <param name="reason">Why the document cannot be indexed (a sentence naming the index), or <see langword="null"/>.</param>
    /// <returns>Whether the document can be indexed.</returns>
    public static bool TryExtract(IndexDefinition index, ReadOnlyMemory<byte> utf8Json, out IReadOnlyList<IndexValue> values, [NotNullWhen(false)] out string? reason)
    {
        ArgumentNullException.ThrowIfNull(index);
        using var document = Parse(utf8Json);
        try
        {
            values = Extract(index, document.RootElement);
            reason = null;
            return true;
        }
        catch (InvalidValueException e)
        {
            values = [];
            reason = e.Message;
            return false;
        }
    }

    /// <summary>
    /// The values of several indexes of one document, parsing it once: per index (same positions as
    /// <paramref name="indexes"/>), the distinct values in index order.
    /// </summary>
    /// <param name="indexes">The indexes (usually those of the document's collection).</param>
    /// <param name="utf8Json">The document's validated UTF-8 JSON value.</param>
    /// <returns>The values per index.</returns>
    /// <exception cref="ArgumentException">A value has the wrong type, or a limit is exceeded; the message names the index (the first in order).</exception>
    public static IReadOnlyList<IndexValue>[] Extract(IReadOnlyList<IndexDefinition> indexes, ReadOnlyMemory<byte> utf8Json)
    {
        ArgumentNullException.ThrowIfNull(indexes);
        var values = new IReadOnlyList<IndexValue>[indexes.Count];
        if (indexes.Count == 0)
        {
            return values;
        }

        using var document = Parse(utf8Json);
        try
        {
            for (var i = 0; i < indexes.Count; i++)
            {
                values[i] = Extract(indexes[i], document.RootElement);
            }
        }
        catch (InvalidValueException e)
        {
            throw new ArgumentException(e.Message, e.ParamName);
        }

        return values;
    }

    private static JsonDocument Parse(ReadOnlyMemory<byte> utf8Json) => JsonDocument.Parse(utf8Json, new JsonDocumentOptions { MaxDepth = 64 });

    private static IReadOnlyList<IndexValue> Extract(IndexDefinition index, JsonElement root)
    {
        var node = root;
        foreach (var name in s_paths.GetValue(index, static i => IndexPath.Parse(i.Path, nameof(index))))
        {
            if (node.ValueKind != JsonValueKind.Object || !TryGetLastProperty(node, name, out node))
            {
                return [];
            }
        }

        switch (node.ValueKind)
        {
            case JsonValueKind.Null:
                return [];
            case JsonValueKind.Array:
                var values = new SortedSet<IndexValue>();
                foreach (var element in node.EnumerateArray())
                {
                    if (element.ValueKind != JsonValueKind.Null)
                    {
                        values.Add(Scalar(index, element, inArray: true));
                    }
                }

                if (values.Count > StoreLimits.MaxIndexValuesPerDocument)
                {
                    throw new InvalidValueException(ErrorMessages.TooManyIndexValues(index.Collection, index.Name, values.Count), "utf8Json");
                }

                return [.. values];
            default:
                return [Scalar(index, node, inArray: false)];
        }
    }

    private static IndexValue Scalar(IndexDefinition index, JsonElement element, bool inArray)
    {
        if (index.ValueType == IndexValueType.Int64)
        {
            if (element.ValueKind == JsonValueKind.Number && element.TryGetInt64(out var number))
            {
                return IndexValue.Of(number);
            }
        }
        else if (element.ValueKind == JsonValueKind.String)
        {
            string text;
            try
            {
                text = element.GetString()!;
            }
            catch (InvalidOperationException)
            {
                throw new InvalidValueException(ErrorMessages.WrongIndexValue(index.Collection, index.Name, index.Path, "a string that is not valid Unicode"), "operations");
            }

            if (Check(text) is { } error)
            {
                throw new InvalidValueException(ErrorMessages.WrongIndexValue(index.Collection, index.Name, index.Path, error), "operations");
            }

            return IndexValue.Of(text);
        }

        var found = element.ValueKind switch
        {
            JsonValueKind.Number => "the number " + element.GetRawText(),
            JsonValueKind.String => "a string",
            JsonValueKind.True or JsonValueKind.False => "a boolean",
            JsonValueKind.Object => "an object",
            JsonValueKind.Array => "a nested array",
            _ => element.ValueKind.ToString(),
        };
        var expected = index.ValueType == IndexValueType.Int64 ? "a 64-bit integer" : "a string";
        throw new InvalidValueException(
            ErrorMessages.WrongIndexValue(index.Collection, index.Name, index.Path, $"it holds {found}{(inArray ? " in an array" : string.Empty)} where {expected} (or an array of them, or null) is expected"),
            "operations");
    }

    // The last occurrence of a property wins, as in JavaScript and jsonb.
    private static bool TryGetLastProperty(JsonElement obj, string name, out JsonElement value)
    {
        value = default;
        var found = false;
        foreach (var property in obj.EnumerateObject())
        {
            if (property.NameEquals(name))
            {
                value = property.Value;
                found = true;
            }
        }

        return found;
    }

    private static string? Check(string value)
    {
        if (value.Contains('\0', StringComparison.Ordinal))
        {
            return ErrorMessages.ContainsNul("index value");
        }

        for (var i = 0; i < value.Length; i++)
        {
            if (char.IsSurrogate(value[i]))
            {
                if (char.IsHighSurrogate(value[i]) && i + 1 < value.Length && char.IsLowSurrogate(value[i + 1]))
                {
                    i++;
                    continue;
                }

                return ErrorMessages.UnpairedSurrogate("index value", i);
            }
        }

        var bytes = Encoding.UTF8.GetByteCount(value);
        return bytes > StoreLimits.MaxIndexValueBytes ? ErrorMessages.TooLong("index value", bytes, StoreLimits.MaxIndexValueBytes) : null;
    }

    // Thrown inside the walk and turned into an ArgumentException by the public members; the build
    // takes its bare message, without ArgumentException's " (Parameter '...')" suffix.
    private sealed class InvalidValueException(string message, string paramName) : Exception(message)
    {
        public string ParamName { get; } = paramName;
    }
}
