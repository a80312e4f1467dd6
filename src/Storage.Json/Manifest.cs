using System.Text;
using System.Text.Json;

namespace Storage.Json;

/// <summary>
/// <c>storage.json</c>: the directory's format version, and the revision floor — the highest
/// revision any deleted partition reached, so a partition written again after deletion starts above
/// every version it ever had.
/// </summary>
internal sealed record Manifest(int Format, long RevisionFloor)
{
    public const string FileName = "storage.json";
    public const int CurrentFormat = 1;

    public byte[] Serialize() => Encoding.UTF8.GetBytes(
        $"{{\n  \"kind\": \"Storage.Json\",\n  \"format\": {Format},\n  \"revisionFloor\": {RevisionFloor}\n}}\n");

    public static Manifest Parse(byte[] bytes, string path)
    {
        try
        {
            using var document = JsonDocument.Parse(bytes);
            var root = document.RootElement;
            if (root.ValueKind != JsonValueKind.Object
                || !root.TryGetProperty("kind", out var kind) || kind.ValueKind != JsonValueKind.String || kind.GetString() != "Storage.Json"
                || !root.TryGetProperty("format", out var format) || !format.TryGetInt64(out var formatValue))
            {
                throw new CorruptDataException(path, "the manifest is not a Storage.Json manifest");
            }

            if (formatValue > CurrentFormat)
            {
                throw new UnsupportedFormatException(path, formatValue, CurrentFormat);
            }

            if (formatValue < 1 || !root.TryGetProperty("revisionFloor", out var floor) || !floor.TryGetInt64(out var floorValue) || floorValue < 0)
            {
                throw new CorruptDataException(path, "the manifest's format or revision floor is not valid");
            }

            return new Manifest((int)formatValue, floorValue);
        }
        catch (JsonException e)
        {
            throw new CorruptDataException(path, "the manifest is not valid JSON", e);
        }
        catch (InvalidOperationException e)
        {
            throw new CorruptDataException(path, "the manifest's members have the wrong types", e);
        }
    }
}
