using Storage.Benchmarks.Drivers;

namespace Storage.Benchmarks.Backends;

/// <summary>A store and its raw baseline, on fresh data of their own; disposing them deletes the data.</summary>
internal sealed class Subjects(StoreDriver store, IDriver raw, Func<ValueTask> cleanup) : IAsyncDisposable
{
    public StoreDriver Store { get; } = store;

    public IDriver Raw { get; } = raw;

    public async ValueTask DisposeAsync()
    {
        await Store.DisposeAsync();
        await Raw.DisposeAsync();
        await cleanup();
    }
}

/// <summary>One backend under test: how to open a fresh store and its raw baseline side by side.</summary>
internal abstract class Backend : IAsyncDisposable
{
    public abstract string Name { get; }

    /// <summary>The raw baseline, as the table names it.</summary>
    public abstract string RawName { get; }

    /// <summary>
    /// Whether the raw baseline gives the store's very answers to the same calls (versions included),
    /// so that <see cref="Harness.Agreement"/> can check it before the measurements. The SQL baselines
    /// count versions per document, as an app writing SQL would, where the store takes the partition's revision.
    /// </summary>
    public virtual bool RawAnswersAsStore => false;

    /// <summary>Versions and settings worth printing with the results.</summary>
    public abstract string Describe();

    /// <summary>
    /// Opens an empty store (declaring <paramref name="indexes"/>) and an empty raw baseline;
    /// <paramref name="label"/> keeps their data apart from other runs.
    /// </summary>
    public abstract ValueTask<Subjects> OpenAsync(string label, IReadOnlyList<IndexDefinition>? indexes = null);

    /// <summary>
    /// The store address (the configuration's and the storage tool's syntax) of the store that
    /// <see cref="OpenAsync"/> opens under <paramref name="label"/>, for the tool's runs.
    /// </summary>
    public virtual string Address(string label) => throw new NotSupportedException($"The {Name} backend has no address another process can open.");

    public virtual ValueTask DisposeAsync() => ValueTask.CompletedTask;

    protected static Func<ValueTask> DeleteDirectory(string path) => () =>
    {
        if (Directory.Exists(path))
        {
            Directory.Delete(path, recursive: true);
        }

        return ValueTask.CompletedTask;
    };
}
