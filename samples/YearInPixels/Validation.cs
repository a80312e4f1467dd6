using System.Globalization;
using System.Text.RegularExpressions;

namespace YearInPixels;

/// <summary>The checks of the app's input; each failure is one clear sentence for a 400.</summary>
public static partial class Validation
{
    /// <summary>The shapes a theme may have.</summary>
    public static readonly IReadOnlyList<string> Shapes = ["square", "rounded", "circle"];

    /// <summary>The spacings a theme may have.</summary>
    public static readonly IReadOnlyList<string> Spacings = ["none", "small", "medium", "large"];

    /// <summary>The longest note, in characters.</summary>
    public const int MaxNoteLength = 500;

    /// <summary>Checks a date (<c>yyyy-MM-dd</c>, a real day).</summary>
    /// <param name="date">The text.</param>
    /// <param name="error">Why not.</param>
    /// <returns>Whether it is valid.</returns>
    public static bool TryDate(string date, out string? error)
    {
        error = DateOnly.TryParseExact(date, "yyyy-MM-dd", CultureInfo.InvariantCulture, DateTimeStyles.None, out _)
            ? null
            : $"'{Shorten(date)}' is not a date; write it as yyyy-MM-dd, for example 2026-01-03.";
        return error is null;
    }

    /// <summary>Checks a year given as a query value; a missing one is this year.</summary>
    /// <param name="text">The value of <c>?year=</c>, or <see langword="null"/>.</param>
    /// <param name="now">Now.</param>
    /// <param name="year">The year.</param>
    /// <param name="error">Why not.</param>
    /// <returns>Whether it is valid.</returns>
    public static bool TryYear(string? text, DateTimeOffset now, out int year, out string? error)
    {
        error = null;
        if (string.IsNullOrEmpty(text))
        {
            year = now.Year;
            return true;
        }

        if (int.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out year) && year is >= 1 and <= 9999)
        {
            return true;
        }

        error = $"year '{Shorten(text)}' is not a year from 1 to 9999.";
        return false;
    }

    /// <summary>Checks a mood.</summary>
    /// <param name="input">The body.</param>
    /// <param name="error">Why not.</param>
    /// <returns>Whether it is valid.</returns>
    public static bool TryMood(MoodInput? input, out string? error)
    {
        error = input switch
        {
            null => "The body must be a JSON object: {\"level\": 1-5, \"note\": \"…\"}.",
            { Level: null } => "level is missing; it must be a whole number from 1 to 5.",
            { Level: < 1 or > 5 } => $"level is {input.Level}; it must be from 1 to 5.",
            { Note.Length: > MaxNoteLength } => $"note has {input.Note!.Length} characters; at most {MaxNoteLength} are allowed.",
            _ => null,
        };
        return error is null;
    }

    /// <summary>Checks a theme.</summary>
    /// <param name="input">The body.</param>
    /// <param name="errors">Every problem.</param>
    /// <returns>Whether it is valid.</returns>
    public static bool TryTheme(ThemeInput? input, out List<string> errors)
    {
        errors = [];
        if (input is null)
        {
            errors.Add("The body must be a JSON object: {\"shape\": …, \"spacing\": …, \"colors\": [five #rrggbb]}.");
            return false;
        }

        if (input.Shape is null || !Shapes.Contains(input.Shape))
        {
            errors.Add($"shape is {Describe(input.Shape)}; allowed: {string.Join(", ", Shapes)}.");
        }

        if (input.Spacing is null || !Spacings.Contains(input.Spacing))
        {
            errors.Add($"spacing is {Describe(input.Spacing)}; allowed: {string.Join(", ", Spacings)}.");
        }

        if (input.Colors is null || input.Colors.Count != 5)
        {
            errors.Add($"colors must hold exactly 5 colours (one per level), not {input.Colors?.Count ?? 0}.");
        }
        else
        {
            for (var i = 0; i < input.Colors.Count; i++)
            {
                if (input.Colors[i] is null || !ColorPattern().IsMatch(input.Colors[i]))
                {
                    errors.Add($"colors[{i}] is {Describe(input.Colors[i])}; write a colour as #rrggbb, for example #1a9850.");
                }
            }
        }

        return errors.Count == 0;
    }

    private static string Describe(string? value) => value is null ? "missing" : $"'{Shorten(value)}'";

    private static string Shorten(string value) => value.Length <= 40 ? value : value[..40] + "…";

    [GeneratedRegex("^#[0-9a-fA-F]{6}$", RegexOptions.CultureInvariant)]
    private static partial Regex ColorPattern();
}
