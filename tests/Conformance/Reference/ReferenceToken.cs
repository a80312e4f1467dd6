using System.Buffers.Text;
using System.Text.Json;
using Storage.Internal;

namespace Storage.Conformance.Reference;

/// <summary>
/// The reference model's continuation tokens, its own format (not the backends'): a JSON array
/// <c>["reference-model-1", …the listing's defining options…, …the position of the last item…]</c>
/// in base64url. A token is accepted only by a listing whose defining options are the same strings,
/// so a token of another listing, or anything that is not such an array, is refused as every backend
/// refuses it: an <see cref="ArgumentException"/> with <see cref="ErrorMessages.InvalidContinuationToken"/>.
/// </summary>
internal static class ReferenceToken
{
    private const string Format = "reference-model-1";

    /// <summary>The token that continues a listing after the item at <paramref name="position"/>.</summary>
    /// <param name="listing">What defines the listing (its kind, partition, bounds, order; never the page size).</param>
    /// <param name="position">The last item's position (its key, or its value, partition and key).</param>
    /// <returns>The token.</returns>
    public static string Create(IReadOnlyList<string?> listing, IReadOnlyList<string> position)
    {
        using var buffer = new MemoryStream();
        using (var writer = new Utf8JsonWriter(buffer))
        {
            writer.WriteStartArray();
            writer.WriteStringValue(Format);
            foreach (var part in listing)
            {
                writer.WriteStringValue(part);
            }

            foreach (var part in position)
            {
                writer.WriteStringValue(part);
            }

            writer.WriteEndArray();
        }

        return Base64Url.EncodeToString(buffer.ToArray());
    }

    /// <summary>The position a token of this listing continues after.</summary>
    /// <param name="token">The caller's token.</param>
    /// <param name="listing">What defines the listing, as given to <see cref="Create"/>.</param>
    /// <param name="positionLength">How many strings the position has.</param>
    /// <param name="paramName">The caller's parameter name.</param>
    /// <returns>The position.</returns>
    /// <exception cref="ArgumentException">The token was not made by <see cref="Create"/> for this listing.</exception>
    public static string[] Read(string token, IReadOnlyList<string?> listing, int positionLength, string paramName)
    {
        try
        {
            using var json = JsonDocument.Parse(Base64Url.DecodeFromChars(token));
            var parts = json.RootElement.EnumerateArray().ToList();
            if (parts.Count != 1 + listing.Count + positionLength || parts[0].GetString() != Format)
            {
                throw new FormatException("Not a token of the reference model.");
            }

            for (var i = 0; i < listing.Count; i++)
            {
                if (parts[1 + i].GetString() != listing[i])
                {
                    throw new FormatException("A token of another listing.");
                }
            }

            return [.. parts.Skip(1 + listing.Count).Select(p => p.GetString() ?? throw new FormatException("A position without a value."))];
        }
        catch (Exception e) when (e is FormatException or JsonException or InvalidOperationException)
        {
            throw new ArgumentException(ErrorMessages.InvalidContinuationToken, paramName, e);
        }
    }
}
