using System.Globalization;
using System.Text;

namespace YearInPixels;

/// <summary>Draws a year as an SVG: a column per month, a row per day of the month, each day in its level's colour.</summary>
public static class WallpaperSvg
{
    /// <summary>The colour of a day without a mood.</summary>
    public const string EmptyColor = "#ececec";

    private const int Cell = 24;
    private const int Margin = 24;
    private const int Header = 28;

    /// <summary>Renders the year.</summary>
    /// <param name="year">The year.</param>
    /// <param name="days">Its moods by date.</param>
    /// <param name="theme">The shape, spacing and colours.</param>
    /// <returns>The SVG document.</returns>
    public static string Render(int year, IReadOnlyDictionary<string, Mood> days, Theme theme)
    {
        var gap = theme.Spacing switch { "none" => 0, "small" => 2, "large" => 10, _ => 5 };
        var step = Cell + gap;
        var width = (2 * Margin) + (12 * step) - gap;
        var height = (2 * Margin) + Header + (31 * step) - gap;
        var svg = new StringBuilder();
        svg.Append(CultureInfo.InvariantCulture, $"""<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" viewBox="0 0 {width} {height}" data-year="{year}" data-shape="{theme.Shape}" data-spacing="{theme.Spacing}">""");
        svg.Append(CultureInfo.InvariantCulture, $"""<rect width="{width}" height="{height}" fill="#ffffff"/>""");
        svg.Append(CultureInfo.InvariantCulture, $"""<text x="{Margin}" y="{Margin + 14}" font-family="sans-serif" font-size="16" fill="#333333">{year}</text>""");
        for (var month = 1; month <= 12; month++)
        {
            var x = Margin + ((month - 1) * step);
            for (var day = 1; day <= DateTime.DaysInMonth(year, month); day++)
            {
                var y = Margin + Header + ((day - 1) * step);
                var date = new DateOnly(year, month, day).ToString("yyyy-MM-dd", CultureInfo.InvariantCulture);
                var level = days.TryGetValue(date, out var mood) ? mood.Level : 0;
                var fill = level is >= 1 and <= 5 ? theme.Colors[level - 1] : EmptyColor;
                var shape = theme.Shape switch
                {
                    "circle" => $"""<circle cx="{x + (Cell / 2)}" cy="{y + (Cell / 2)}" r="{Cell / 2}" """,
                    "rounded" => $"""<rect x="{x}" y="{y}" width="{Cell}" height="{Cell}" rx="6" """,
                    _ => $"""<rect x="{x}" y="{y}" width="{Cell}" height="{Cell}" """,
                };
                svg.Append(shape).Append(CultureInfo.InvariantCulture, $"""fill="{fill}" data-date="{date}" data-level="{level}"/>""");
            }
        }

        svg.Append("</svg>");
        return svg.ToString();
    }
}
