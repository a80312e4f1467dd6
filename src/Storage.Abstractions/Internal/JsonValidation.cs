using System.Text;
using System.Text.Json;

namespace Storage.Internal;

/// <summary>Checks that a value is exactly one JSON value in UTF-8.</summary>
internal static class JsonValidation
{
    private static readonly UTF8Encoding s_strictUtf8 = new(encoderShouldEmitUTF8Identifier: false, throwOnInvalidBytes: true);

    /// <summary>
    /// Validates <paramref name="utf8Json"/> as one strict JSON value (no comments, no trailing
    /// commas, valid UTF-8, depth at most 64) and returns it without leading and trailing white space.
    /// </summary>
    /// <param name="utf8Json">The value.</param>
    /// <param name="paramName">The caller's parameter name.</param>
    /// <returns>The value, trimmed of surrounding JSON white space.</returns>
    /// <exception cref="ArgumentException">The value is not valid or is over <see cref="StoreLimits.MaxValueBytes"/>.</exception>
    public static ReadOnlyMemory<byte> Validate(ReadOnlyMemory<byte> utf8Json, string paramName)
    {
        var trimmed = Trim(utf8Json);
        if (trimmed.Length > StoreLimits.MaxValueBytes)
        {
            throw new ArgumentException(ErrorMessages.ValueTooLarge(trimmed.Length), paramName);
        }

        if (trimmed.Length == 0)
        {
            throw new ArgumentException(ErrorMessages.InvalidJson("it is empty"), paramName);
        }

        try
        {
            var reader = new Utf8JsonReader(trimmed.Span, new JsonReaderOptions { CommentHandling = JsonCommentHandling.Disallow, AllowTrailingCommas = false, MaxDepth = 64 });
            reader.Read();
            reader.Skip();
            if (reader.Read())
            {
                throw new ArgumentException(ErrorMessages.InvalidJson("it holds more than one value"), paramName);
            }

            // The reader checks the UTF-8 of strings only when they are unescaped; check the whole value.
            if (System.Text.Unicode.Utf8.IsValid(trimmed.Span) is false)
            {
                throw new ArgumentException(ErrorMessages.InvalidJson("it is not valid UTF-8"), paramName);
            }
        }
        catch (JsonException e)
        {
            throw new ArgumentException(ErrorMessages.InvalidJson(e.Message), paramName, e);
        }

        return trimmed;
    }

    /// <summary>Encodes JSON text to UTF-8, rejecting unpaired surrogates.</summary>
    /// <param name="json">The text.</param>
    /// <param name="paramName">The caller's parameter name.</param>
    /// <returns>The UTF-8 bytes.</returns>
    public static byte[] EncodeText(string json, string paramName)
    {
        try
        {
            return s_strictUtf8.GetBytes(json);
        }
        catch (EncoderFallbackException e)
        {
            throw new ArgumentException(ErrorMessages.InvalidJson("the text holds an unpaired surrogate"), paramName, e);
        }
    }

    private static ReadOnlyMemory<byte> Trim(ReadOnlyMemory<byte> value)
    {
        var span = value.Span;
        var start = 0;
        var end = span.Length;
        while (start < end && IsJsonWhiteSpace(span[start]))
        {
            start++;
        }

        while (end > start && IsJsonWhiteSpace(span[end - 1]))
        {
            end--;
        }

        return value[start..end];
    }

    private static bool IsJsonWhiteSpace(byte b) => b is (byte)' ' or (byte)'\t' or (byte)'\n' or (byte)'\r';
}
