using System.Globalization;
using Microsoft.Extensions.Configuration;

namespace Storage.Hosting;

/// <summary>
/// Reads a <c>Storage</c> configuration section into <see cref="StorageOptions"/> by hand rather
/// than with the configuration binder: a wrong value becomes a message naming its full key and the
/// allowed values (reported at start, with every other problem), never an exception while binding.
/// </summary>
internal static class StorageConfiguration
{
    /// <summary>The section of the default store.</summary>
    public const string DefaultSection = "Storage";

    /// <summary>The child of the default section that holds the keyed stores, one section per name.</summary>
    public const string StoresKey = "Stores";

    private static readonly string[] s_keys =
    [
        nameof(StorageOptions.Address), nameof(StorageOptions.Backend), nameof(StorageOptions.Path),
        nameof(StorageOptions.ConnectionString), nameof(StorageOptions.Schema), nameof(StorageOptions.Durability),
        nameof(StorageOptions.TombstoneRetention), nameof(StorageOptions.BusyTimeout), nameof(StorageOptions.RetryBudget),
        nameof(StorageOptions.HashPartitions), nameof(StorageOptions.Indexes), nameof(StorageOptions.ReadOnly),
        nameof(StorageOptions.Access), nameof(StorageOptions.PurgeInterval),
    ];

    /// <summary>The full key of a setting of a section (the section's path, ':', the name).</summary>
    public static string KeyOf(string sectionPath, string name) => sectionPath.Length == 0 ? name : sectionPath + ":" + name;

    /// <summary>Reads what the section sets into <paramref name="options"/>; what it leaves out keeps its value.</summary>
    /// <param name="section">The section.</param>
    /// <param name="path">Its full path, for messages.</param>
    /// <param name="options">The options to fill; problems go to <see cref="StorageOptions.ConfigurationErrors"/>.</param>
    /// <param name="allowStores">Whether the section may hold <c>Stores</c> (the default store's section does).</param>
    public static void Read(IConfiguration section, string path, StorageOptions options, bool allowStores)
    {
        var errors = options.ConfigurationErrors;
        foreach (var child in section.GetChildren())
        {
            var key = KeyOf(path, child.Key);
            var value = child.Value;
            switch (Known(child.Key, allowStores))
            {
                case nameof(StorageOptions.Address):
                    options.Address = value;
                    break;
                case nameof(StorageOptions.Backend):
                    options.Backend = Enum<StoreBackend>(key, value, errors, StoreAddress.TryParseScheme, StorageValidation.AllowedBackends) ?? options.Backend;
                    break;
                case nameof(StorageOptions.Path):
                    options.Path = value;
                    break;
                case nameof(StorageOptions.ConnectionString):
                    options.ConnectionString = value;
                    break;
                case nameof(StorageOptions.Schema):
                    options.Schema = value;
                    break;
                case nameof(StorageOptions.Durability):
                    options.Durability = Enum<DurabilityMode>(key, value, errors, "Full, Relaxed") ?? options.Durability;
                    break;
                case nameof(StorageOptions.TombstoneRetention):
                    options.TombstoneRetention = Duration(key, value, errors) ?? options.TombstoneRetention;
                    break;
                case nameof(StorageOptions.BusyTimeout):
                    options.BusyTimeout = Duration(key, value, errors) ?? options.BusyTimeout;
                    break;
                case nameof(StorageOptions.RetryBudget):
                    options.RetryBudget = Duration(key, value, errors) ?? options.RetryBudget;
                    break;
                case nameof(StorageOptions.PurgeInterval):
                    options.PurgeInterval = Duration(key, value, errors) ?? options.PurgeInterval;
                    break;
                case nameof(StorageOptions.HashPartitions):
                    options.HashPartitions = Integer(key, value, errors) ?? options.HashPartitions;
                    break;
                case nameof(StorageOptions.ReadOnly):
                    options.ReadOnly = Boolean(key, value, errors) ?? options.ReadOnly;
                    break;
                case nameof(StorageOptions.Access):
                    options.Access = Enum<Storage.Json.JsonStoreAccess>(key, value, errors, "Owner, Reader") ?? options.Access;
                    break;
                case nameof(StorageOptions.Indexes):
                    foreach (var index in IndexConfiguration.Read(child, key, errors))
                    {
                        options.Indexes.Add(index);
                    }

                    break;
                case StoresKey:
                    break;
                default:
                    errors.Add(HostingErrors.UnknownKey(key, string.Join(", ", allowStores ? [.. s_keys, StoresKey] : s_keys)));
                    break;
            }
        }
    }

    /// <summary>A value of an enum by name, case-insensitively (never by number: a number says nothing in a settings file).</summary>
    public static TEnum? Enum<TEnum>(string key, string? value, List<string> errors, string allowed)
        where TEnum : struct, Enum
        => Enum<TEnum>(key, value, errors, TryName, allowed);

    private static TEnum? Enum<TEnum>(string key, string? value, List<string> errors, TryParse<TEnum> parse, string allowed)
        where TEnum : struct, Enum
    {
        if (value is not null && parse(value, out var parsed))
        {
            return parsed;
        }

        errors.Add(HostingErrors.UnknownValue(key, value ?? string.Empty, allowed));
        return null;
    }

    private static bool TryName<TEnum>(string value, out TEnum parsed)
        where TEnum : struct, Enum
    {
        foreach (var name in System.Enum.GetNames<TEnum>())
        {
            if (string.Equals(name, value.Trim(), StringComparison.OrdinalIgnoreCase))
            {
                parsed = System.Enum.Parse<TEnum>(name);
                return true;
            }
        }

        parsed = default;
        return false;
    }

    /// <summary>A boolean: <c>true</c> or <c>false</c>, case-insensitively.</summary>
    public static bool? Boolean(string key, string? value, List<string> errors)
    {
        if (bool.TryParse(value?.Trim(), out var parsed))
        {
            return parsed;
        }

        errors.Add(HostingErrors.NotBoolean(key, value ?? string.Empty));
        return null;
    }

    private static TimeSpan? Duration(string key, string? value, List<string> errors)
    {
        if (TimeSpan.TryParse(value?.Trim(), CultureInfo.InvariantCulture, out var parsed))
        {
            return parsed;
        }

        errors.Add(HostingErrors.NotDuration(key, value ?? string.Empty));
        return null;
    }

    private static int? Integer(string key, string? value, List<string> errors)
    {
        if (int.TryParse(value?.Trim(), NumberStyles.Integer, CultureInfo.InvariantCulture, out var parsed))
        {
            return parsed;
        }

        errors.Add(HostingErrors.NotInteger(key, value ?? string.Empty));
        return null;
    }

    /// <summary>The setting's canonical name (configuration keys are case-insensitive), or <see langword="null"/> for an unknown key.</summary>
    private static string? Known(string key, bool allowStores)
    {
        foreach (var known in s_keys)
        {
            if (string.Equals(known, key, StringComparison.OrdinalIgnoreCase))
            {
                return known;
            }
        }

        return allowStores && string.Equals(key, StoresKey, StringComparison.OrdinalIgnoreCase) ? StoresKey : null;
    }

    private delegate bool TryParse<TEnum>(string value, out TEnum parsed);
}
