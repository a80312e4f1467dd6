using System.Globalization;

namespace Storage.Tool;

/// <summary>After a verified migration from JSON files, moves the source directory aside: <c>_legacy/{UTC timestamp}/{name}</c> beside it.</summary>
internal static class LegacyArchive
{
    /// <summary>Moves <paramref name="directory"/> (closed: no store holds it open) and returns where it went.</summary>
    public static string Move(string directory, DateTimeOffset now)
    {
        var full = Path.TrimEndingDirectorySeparator(Path.GetFullPath(directory));
        var parent = Path.GetDirectoryName(full) ?? throw new ToolException(ExitCode.Usage, $"--archive: '{full}' has no parent directory to keep _legacy in.");
        var stamp = now.UtcDateTime.ToString("yyyyMMdd'T'HHmmss'Z'", CultureInfo.InvariantCulture);
        var legacy = Path.Combine(parent, "_legacy", stamp);
        Directory.CreateDirectory(legacy);
        var target = Path.Combine(legacy, Path.GetFileName(full));
        Directory.Move(full, target);
        return target;
    }
}
