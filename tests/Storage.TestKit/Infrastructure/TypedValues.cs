using System.Text.Json.Serialization;

namespace Storage.Conformance;

/// <summary>A typed value for the serializer round-trip.</summary>
/// <param name="Name">A name.</param>
/// <param name="Score">An integer.</param>
/// <param name="Ratio">A decimal with many digits.</param>
/// <param name="At">An instant.</param>
/// <param name="Tags">A list.</param>
/// <param name="Note">An optional string.</param>
public sealed record Mood(string Name, long Score, decimal Ratio, DateTimeOffset At, IReadOnlyList<string> Tags, string? Note);

/// <summary>Source-generated metadata for the typed round-trip.</summary>
[JsonSerializable(typeof(Mood))]
[JsonSerializable(typeof(string))]
public sealed partial class ConformanceJsonContext : JsonSerializerContext;
