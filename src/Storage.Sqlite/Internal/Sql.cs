namespace Storage.Sqlite.Internal;

/// <summary>Every statement the store runs after open, as constants with bound parameters.</summary>
internal static class Sql
{
    public static readonly Statement BeginImmediate = new("BEGIN IMMEDIATE");
    public static readonly Statement Commit = new("COMMIT");
    public static readonly Statement Rollback = new("ROLLBACK");
    public static readonly Statement Savepoint = new("SAVEPOINT request");
    public static readonly Statement ReleaseSavepoint = new("RELEASE request");
    public static readonly Statement RollbackToSavepoint = new("ROLLBACK TO request");

    // Schema and open.
    public static readonly Statement Encoding = new("PRAGMA encoding");
    public static readonly Statement JournalModeWal = new("PRAGMA journal_mode = WAL");
    public static readonly Statement JournalModeDelete = new("PRAGMA journal_mode = DELETE");
    public static readonly Statement SynchronousFull = new("PRAGMA synchronous = FULL");
    public static readonly Statement SynchronousNormal = new("PRAGMA synchronous = NORMAL");
    public static readonly Statement IntegrityCheck = new("PRAGMA integrity_check");
    public static readonly Statement CheckpointTruncate = new("PRAGMA wal_checkpoint(TRUNCATE)");
    public static readonly Statement HasMetaTable = new("SELECT count(*) FROM sqlite_schema WHERE type = 'table' AND name = 'storage_meta'");
    public static readonly Statement CountForeignObjects = new("SELECT count(*) FROM sqlite_schema WHERE name NOT LIKE 'sqlite!_%' ESCAPE '!'");
    public static readonly Statement GetMeta = new("SELECT value FROM storage_meta WHERE key = @key", "@key");
    public static readonly Statement SetMeta = new(
        "INSERT INTO storage_meta (key, value) VALUES (@key, @value) ON CONFLICT (key) DO UPDATE SET value = excluded.value", "@key", "@value");
    public static readonly Statement MaxMigration = new("SELECT max(version) FROM storage_migrations");
    public static readonly Statement RecordMigration = new(
        "INSERT INTO storage_migrations (version, applied_at, description) VALUES (@version, @applied_at, @description)", "@version", "@applied_at", "@description");

    // Partitions.
    public static readonly Statement GetPartitionRevision = new("SELECT revision FROM partitions WHERE partition = @partition", "@partition");
    public static readonly Statement SetPartitionRevision = new(
        "INSERT INTO partitions (partition, revision) VALUES (@partition, @revision) ON CONFLICT (partition) DO UPDATE SET revision = excluded.revision",
        "@partition",
        "@revision");
    public static readonly Statement ListPartitions = new(
        "SELECT partition, revision FROM partitions WHERE partition > @after ORDER BY partition LIMIT @limit", "@after", "@limit");
    public static readonly Statement RaiseRevisionFloor = new(
        "UPDATE storage_meta SET value = @revision WHERE key = 'revision_floor' AND value < @revision", "@revision");
    public static readonly Statement DeletePartitionDocuments = new("DELETE FROM documents WHERE partition = @partition", "@partition");
    public static readonly Statement DeletePartitionSequences = new("DELETE FROM sequences WHERE partition = @partition", "@partition");
    public static readonly Statement DeletePartition = new("DELETE FROM partitions WHERE partition = @partition", "@partition");

    // Documents.
    public static readonly Statement GetDocument = new(
        """
        SELECT value, version, created_at, updated_at, expires_at FROM documents
        WHERE partition = @partition AND collection = @collection AND key = @key AND (expires_at IS NULL OR expires_at > @now)
        """,
        "@partition",
        "@collection",
        "@key",
        "@now");

    /// <summary>The stored row whether or not it has expired: conditions decide liveness in code, like the reference backend.</summary>
    public static readonly Statement GetDocumentState = new(
        "SELECT version, created_at, expires_at FROM documents WHERE partition = @partition AND collection = @collection AND key = @key",
        "@partition",
        "@collection",
        "@key");

    // The value is bound as the UTF-8 bytes and cast to TEXT: stored byte for byte, with no transcoding.
    public static readonly Statement PutDocument = new(
        """
        INSERT INTO documents (partition, collection, key, value, version, created_at, updated_at, expires_at)
        VALUES (@partition, @collection, @key, CAST(@value AS TEXT), @version, @created_at, @updated_at, @expires_at)
        ON CONFLICT (partition, collection, key) DO UPDATE SET
            value = excluded.value, version = excluded.version, created_at = excluded.created_at,
            updated_at = excluded.updated_at, expires_at = excluded.expires_at
        """,
        "@partition",
        "@collection",
        "@key",
        "@value",
        "@version",
        "@created_at",
        "@updated_at",
        "@expires_at");

    public static readonly Statement DeleteDocument = new(
        "DELETE FROM documents WHERE partition = @partition AND collection = @collection AND key = @key", "@partition", "@collection", "@key");

    public static readonly Statement PurgeExpired = new("DELETE FROM documents WHERE expires_at <= @now", "@now");

    // Listings: the bounds are computed in code (code-point order = the BINARY order of UTF-8 text);
    // @lower is inclusive, @upper exclusive, and the variants without @upper serve unbounded ranges.
    private const string ListColumns = "SELECT key, value, version, created_at, updated_at, expires_at FROM documents";
    private const string ListFilter = "WHERE partition = @partition AND collection = @collection AND key >= @lower";
    private const string Live = "AND (expires_at IS NULL OR expires_at > @now)";

    public static readonly Statement ListAscending = new(
        $"{ListColumns} {ListFilter} {Live} ORDER BY key ASC LIMIT @limit", "@partition", "@collection", "@lower", "@now", "@limit");

    public static readonly Statement ListAscendingBounded = new(
        $"{ListColumns} {ListFilter} AND key < @upper {Live} ORDER BY key ASC LIMIT @limit", "@partition", "@collection", "@lower", "@upper", "@now", "@limit");

    public static readonly Statement ListDescending = new(
        $"{ListColumns} {ListFilter} {Live} ORDER BY key DESC LIMIT @limit", "@partition", "@collection", "@lower", "@now", "@limit");

    public static readonly Statement ListDescendingBounded = new(
        $"{ListColumns} {ListFilter} AND key < @upper {Live} ORDER BY key DESC LIMIT @limit", "@partition", "@collection", "@lower", "@upper", "@now", "@limit");

    // Sequences.
    public static readonly Statement GetSequence = new("SELECT value FROM sequences WHERE partition = @partition AND name = @name", "@partition", "@name");
    public static readonly Statement SetSequence = new(
        "INSERT INTO sequences (partition, name, value) VALUES (@partition, @name, @value) ON CONFLICT (partition, name) DO UPDATE SET value = excluded.value",
        "@partition",
        "@name",
        "@value");
}
