using Storage.Json.Internal;
using Storage.Json.IO;

namespace Storage.Json;

/// <summary>
/// A reader (<see cref="JsonStoreAccess.Reader"/>): the store opened beside the process that owns it.
/// It takes no lock and writes nothing, so it cannot keep the owner's state: each read of a partition
/// reads and parses its file (the owner replaces files by an atomic rename, so a read sees one whole
/// committed state of the partition), a listing lists the directory, and the floor and the fence are
/// read from their files when asked. The engine refuses every write (<see cref="IsReader"/>).
/// </summary>
/// <seealso href="../../docs/json-backend.md#reading-from-a-second-process"/>
internal sealed partial class JsonBackend
{
    /// <inheritdoc/>
    public bool IsReader => _reader;

    /// <summary>
    /// Opens a reader of the store in the options' directory: reads its manifest (refusing a newer
    /// format) and checks its partitions directory — creating, locking and removing nothing.
    /// </summary>
    /// <param name="options">The directory and settings, validated (no indexes).</param>
    /// <param name="indexCatalog">The declared indexes: none.</param>
    /// <param name="files">The file layer.</param>
    /// <returns>The open reader.</returns>
    /// <exception cref="StorageException">The directory holds no store (no manifest), or could not be read.</exception>
    /// <exception cref="UnsupportedFormatException">The directory was written by a newer version of the library.</exception>
    /// <exception cref="CorruptDataException">The manifest is damaged, or the partitions directory is missing.</exception>
    public static JsonBackend OpenReader(JsonStoreOptions options, IndexCatalog indexCatalog, IFileSystem files)
    {
        var root = Path.GetFullPath(options.Directory);
        var manifest = ReadManifest(files, root);

        // As the owner's open refuses it: partition files removed from outside.
        var partitions = Path.Combine(root, PartitionsDirectoryName);
        if (!Io(partitions, () => files.DirectoryExists(partitions)))
        {
            throw new CorruptDataException(root, JsonErrors.PartitionsMissing);
        }

        return new JsonBackend(files, root, options, indexCatalog, directoryLock: null, manifest, new SortedSet<string>(StorageKeyComparer.Instance), new SortedSet<string>(StringComparer.Ordinal));
    }

    /// <summary>The store's manifest as its file holds it now; a missing manifest means the directory holds no store.</summary>
    private static Manifest ReadManifest(IFileSystem files, string root)
    {
        var path = Path.Combine(root, Manifest.FileName);
        if (!Io(path, () => files.FileExists(path)))
        {
            throw new StorageException(JsonErrors.NoStore(root));
        }

        return Manifest.Parse(Io(path, () => files.ReadAllBytes(path)), path);
    }

    /// <summary>
    /// A reader's page of partitions: the directory listed now (a file whose key cannot be told fails
    /// the listing, as the owner's does), each partition's revision read from its file; a partition
    /// deleted since the listing is left out, and the page still fills up to <paramref name="limit"/>.
    /// </summary>
    private List<PartitionInfo> ListPartitionsFromDirectory(string? after, int limit, CancellationToken cancellationToken)
    {
        var (catalog, unresolved) = ReadCatalog(_files, _partitionsDirectory);
        if (unresolved.Count > 0)
        {
            throw UnresolvedFileError(unresolved.Min!);
        }

        var infos = new List<PartitionInfo>(Math.Min(limit, catalog.Count));
        foreach (var key in catalog)
        {
            if (infos.Count == limit)
            {
                break;
            }

            if (after is not null && StorageKeyComparer.Instance.Compare(key, after) <= 0)
            {
                continue;
            }

            cancellationToken.ThrowIfCancellationRequested();
            if (ReadFile(new Partition(this, key)) is { Exists: true } snapshot)
            {
                infos.Add(new PartitionInfo(key, snapshot.Revision));
            }
        }

        return infos;
    }
}
