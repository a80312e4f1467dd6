namespace Storage;

/// <summary>What a <see cref="WriteCondition"/> requires of the document before a write.</summary>
public enum WriteConditionKind
{
    /// <summary>No requirement: the write always applies.</summary>
    None = 0,

    /// <summary>The document must not exist (or must have expired).</summary>
    MustNotExist = 1,

    /// <summary>The document must exist with exactly this version.</summary>
    MustMatchVersion = 2,
}

/// <summary>
/// The condition a put or delete checks atomically before it applies. When it does not hold, the
/// write raises <see cref="VersionConflictException"/> and stores nothing.
/// </summary>
/// <seealso href="../../docs/contract.md#conditional-writes"/>
public readonly record struct WriteCondition
{
    private WriteCondition(WriteConditionKind kind, long version)
    {
        Kind = kind;
        Version = version;
    }

    /// <summary>No condition (the default).</summary>
    public static WriteCondition None => default;

    /// <summary>The document must not exist.</summary>
    public static WriteCondition MustNotExist => new(WriteConditionKind.MustNotExist, 0);

    /// <summary>What the condition requires.</summary>
    public WriteConditionKind Kind { get; }

    /// <summary>The version required by <see cref="WriteConditionKind.MustMatchVersion"/>; 0 otherwise.</summary>
    public long Version { get; }

    /// <summary>The document must exist with exactly <paramref name="version"/>.</summary>
    /// <param name="version">A version read earlier from this partition; at least 1.</param>
    /// <returns>The condition.</returns>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="version"/> is less than 1.</exception>
    public static WriteCondition MustMatchVersion(long version)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(version, 1);
        return new(WriteConditionKind.MustMatchVersion, version);
    }

    /// <summary>Whether the condition holds for a document whose current version is <paramref name="currentVersion"/>.</summary>
    /// <param name="currentVersion">The live document's version, or <see langword="null"/> when it does not exist or has expired.</param>
    /// <returns><see langword="true"/> when the write may apply.</returns>
    public bool IsSatisfiedBy(long? currentVersion) => Kind switch
    {
        WriteConditionKind.MustNotExist => currentVersion is null,
        WriteConditionKind.MustMatchVersion => currentVersion == Version,
        _ => true,
    };

    /// <inheritdoc/>
    public override string ToString() => Kind switch
    {
        WriteConditionKind.MustNotExist => "must not exist",
        WriteConditionKind.MustMatchVersion => $"must match version {Version}",
        _ => "none",
    };
}
