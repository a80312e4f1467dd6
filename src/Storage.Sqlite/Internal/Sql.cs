using Storage.Internal;

namespace Storage.Sqlite.Internal;

/// <summary>Every statement the store runs after open, as constants with bound parameters.</summary>
internal static class Sql
{
    /// <summary>
    /// The row limit of every paged read. Not a bare <c>LIMIT @limit</c>: SQLite re-prepares a statement
    /// whose LIMIT is a bare parameter every time that parameter is bound (which Microsoft.Data.Sqlite
    /// does at every execution), about 35 µs per read on the benchmark machine, more than the read
    /// itself; as an expression the limit is evaluated at run time and the prepared plan is kept.
    /// </summary>
    private const string Limit = "LIMIT @limit + 0";

    public static readonly Statement BeginImmediate = new("BEGIN IMMEDIATE");

    /// <summary>A read transaction: its first statement takes a snapshot that every later one sees (WAL mode).</summary>
    public static readonly Statement BeginRead = new("BEGIN DEFERRED");
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
    public static readonly Statement GetPartitionFeedState = new("SELECT revision, oldest_resumable FROM partitions WHERE partition = @partition", "@partition");

    /// <summary>Sets a partition's revision; a new partition also gets the oldest revision a feed reader can resume after (its first), one that exists keeps its own.</summary>
    public static readonly Statement SetPartitionRevision = new(
        """
        INSERT INTO partitions (partition, revision, oldest_resumable) VALUES (@partition, @revision, @oldest_resumable)
        ON CONFLICT (partition) DO UPDATE SET revision = excluded.revision
        """,
        "@partition",
        "@revision",
        "@oldest_resumable");
    public static readonly Statement ListPartitions = new(
        $"SELECT partition, revision FROM partitions WHERE partition > @after ORDER BY partition {Limit}", "@after", "@limit");
    public static readonly Statement RaiseRevisionFloor = new(
        "UPDATE storage_meta SET value = @revision WHERE key = 'revision_floor' AND value < @revision", "@revision");
    public static readonly Statement DeletePartitionDocuments = new("DELETE FROM documents WHERE partition = @partition", "@partition");
    public static readonly Statement DeletePartitionSequences = new("DELETE FROM sequences WHERE partition = @partition", "@partition");
    public static readonly Statement DeletePartitionStreams = new("DELETE FROM streams WHERE partition = @partition", "@partition");
    public static readonly Statement DeletePartitionEvents = new("DELETE FROM events WHERE partition = @partition", "@partition");
    public static readonly Statement DeletePartitionTombstones = new("DELETE FROM tombstones WHERE partition = @partition", "@partition");
    public static readonly Statement DeletePartition = new("DELETE FROM partitions WHERE partition = @partition", "@partition");

    // Documents.
    public static readonly Statement GetDocument = new(
        $"""
        SELECT value, version, created_at, updated_at, expires_at, checksum FROM documents
        WHERE partition = @partition AND collection = @collection AND key = @key AND {Timestamps.LiveSql("expires_at", "@now")}
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
    // The checksum is computed in code (RowChecksum) over the same values.
    private const string InsertDocumentRow = """
        INSERT INTO documents (partition, collection, key, value, version, created_at, updated_at, expires_at, checksum)
        VALUES (@partition, @collection, @key, CAST(@value AS TEXT), @version, @created_at, @updated_at, @expires_at, @checksum)
        """;

    public static readonly Statement PutDocument = new(
        InsertDocumentRow + """

        ON CONFLICT (partition, collection, key) DO UPDATE SET
            value = excluded.value, version = excluded.version, created_at = excluded.created_at,
            updated_at = excluded.updated_at, expires_at = excluded.expires_at, checksum = excluded.checksum
        """,
        DocumentRowParameters());

    /// <summary>
    /// A document into a partition the transaction just created (a bulk import's fast path): no row can
    /// be there, so a plain insert, without the upsert's conflict clause.
    /// </summary>
    public static readonly Statement InsertDocument = new(InsertDocumentRow, DocumentRowParameters());

    public static readonly Statement DeleteDocument = new(
        "DELETE FROM documents WHERE partition = @partition AND collection = @collection AND key = @key", "@partition", "@collection", "@key");

    public static readonly Statement PurgeExpired = new($"DELETE FROM documents WHERE {Timestamps.ExpiredSql("expires_at", "@now")}", "@now");

    // Tombstones.
    public static readonly Statement PutTombstone = new(
        """
        INSERT INTO tombstones (partition, collection, key, revision, deleted_at) VALUES (@partition, @collection, @key, @revision, @deleted_at)
        ON CONFLICT (partition, collection, key) DO UPDATE SET revision = excluded.revision, deleted_at = excluded.deleted_at
        """,
        "@partition",
        "@collection",
        "@key",
        "@revision",
        "@deleted_at");

    public static readonly Statement DeleteTombstone = new(
        "DELETE FROM tombstones WHERE partition = @partition AND collection = @collection AND key = @key", "@partition", "@collection", "@key");

    /// <summary>Before the purge drops tombstones: each partition's oldest resumable revision rises to the newest tombstone it loses.</summary>
    public static readonly Statement RaiseOldestResumable = new(
        """
        UPDATE partitions SET oldest_resumable = max(partitions.oldest_resumable, dropped.revision)
        FROM (SELECT partition, max(revision) AS revision FROM tombstones WHERE deleted_at <= @cutoff GROUP BY partition) AS dropped
        WHERE partitions.partition = dropped.partition
        """,
        "@cutoff");

    public static readonly Statement PurgeTombstones = new("DELETE FROM tombstones WHERE deleted_at <= @cutoff", "@cutoff");

    // Streams. Event data and metadata are bound as UTF-8 bytes and cast to TEXT, like document values.
    public static readonly Statement GetStreamVersion = new(
        "SELECT version FROM streams WHERE partition = @partition AND stream = @stream", "@partition", "@stream");

    public static readonly Statement SetStreamVersion = new(
        "INSERT INTO streams (partition, stream, version) VALUES (@partition, @stream, @version) ON CONFLICT (partition, stream) DO UPDATE SET version = excluded.version",
        "@partition",
        "@stream",
        "@version");

    public static readonly Statement GetEventIds = new(
        "SELECT version, event_id FROM events WHERE partition = @partition AND stream = @stream AND version BETWEEN @first AND @last ORDER BY version",
        "@partition",
        "@stream",
        "@first",
        "@last");

    public static readonly Statement InsertEvent = new(
        """
        INSERT INTO events (partition, stream, version, revision, event_id, type, data, metadata, committed_at, checksum)
        VALUES (@partition, @stream, @version, @revision, @event_id, @type, CAST(@data AS TEXT), CAST(@metadata AS TEXT), @committed_at, @checksum)
        """,
        "@partition",
        "@stream",
        "@version",
        "@revision",
        "@event_id",
        "@type",
        "@data",
        "@metadata",
        "@committed_at",
        "@checksum");

    public static readonly Statement ReadEvents = new(
        """
        SELECT version, revision, event_id, type, data, metadata, committed_at, checksum FROM events
        WHERE partition = @partition AND stream = @stream AND version BETWEEN @first AND @last ORDER BY version
        """,
        "@partition",
        "@stream",
        "@first",
        "@last");

    private const string ListStreamsFilter = "SELECT stream, version FROM streams WHERE partition = @partition AND stream >= @lower";

    public static readonly Statement ListStreamsAscending = new(
        $"{ListStreamsFilter} ORDER BY stream ASC {Limit}", "@partition", "@lower", "@limit");

    public static readonly Statement ListStreamsAscendingBounded = new(
        $"{ListStreamsFilter} AND stream < @upper ORDER BY stream ASC {Limit}", "@partition", "@lower", "@upper", "@limit");

    public static readonly Statement ListStreamsDescending = new(
        $"{ListStreamsFilter} ORDER BY stream DESC {Limit}", "@partition", "@lower", "@limit");

    public static readonly Statement ListStreamsDescendingBounded = new(
        $"{ListStreamsFilter} AND stream < @upper ORDER BY stream DESC {Limit}", "@partition", "@lower", "@upper", "@limit");

    /// <summary>
    /// The change feed's candidates after a revision, in feed order (ChangeFeedQuery.Order): live
    /// documents by version, tombstones, events and sequences by revision; inside a revision, documents
    /// (puts and deletes) by collection and key, then events by stream and version, then sequences by
    /// name. Each arm reads its table's (partition, revision) index, and the arms are merged in order,
    /// so the query reads about as many rows as it returns. BINARY order is code-point order.
    /// Columns: kind (<see cref="ChangeKind"/>), revision, rank, collection, key, stream, number (event
    /// version), name (sequence), body (document value or event data), created_at or committed_at,
    /// updated_at, expires_at, event_id, type, metadata, sequence value, checksum (documents and events).
    /// </summary>
    public static readonly Statement ReadChanges = new(
        $"""
        SELECT 1 AS kind, version AS revision, 0 AS rank, collection, key, NULL AS stream, NULL AS number, NULL AS name,
               value AS body, created_at AS at, updated_at, expires_at, NULL AS event_id, NULL AS type, NULL AS metadata, NULL AS value, checksum
        FROM documents WHERE partition = @partition AND version > @after AND {Timestamps.LiveSql("expires_at", "@now")}
        UNION ALL
        SELECT 2, revision, 0, collection, key, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL
        FROM tombstones WHERE partition = @partition AND revision > @after
        UNION ALL
        SELECT 3, revision, 1, NULL, NULL, stream, version, NULL, data, committed_at, NULL, NULL, event_id, type, metadata, NULL, checksum
        FROM events WHERE partition = @partition AND revision > @after
        UNION ALL
        SELECT 4, revision, 2, NULL, NULL, NULL, NULL, name, NULL, NULL, NULL, NULL, NULL, NULL, NULL, value, NULL
        FROM sequences WHERE partition = @partition AND revision > @after
        ORDER BY revision, rank, collection, key, stream, number, name
        {Limit}
        """,
        "@partition",
        "@after",
        "@now",
        "@limit");

    // Listings: the bounds are computed in code (code-point order = the BINARY order of UTF-8 text);
    // @lower is inclusive, @upper exclusive, and the variants without @upper serve unbounded ranges.
    private const string ListColumns = "SELECT key, value, version, created_at, updated_at, expires_at, checksum FROM documents";
    private const string ListFilter = "WHERE partition = @partition AND collection = @collection AND key >= @lower";
    private static readonly string Live = "AND " + Timestamps.LiveSql("expires_at", "@now");

    public static readonly Statement ListAscending = new(
        $"{ListColumns} {ListFilter} {Live} ORDER BY key ASC {Limit}", "@partition", "@collection", "@lower", "@now", "@limit");

    public static readonly Statement ListAscendingBounded = new(
        $"{ListColumns} {ListFilter} AND key < @upper {Live} ORDER BY key ASC {Limit}", "@partition", "@collection", "@lower", "@upper", "@now", "@limit");

    public static readonly Statement ListDescending = new(
        $"{ListColumns} {ListFilter} {Live} ORDER BY key DESC {Limit}", "@partition", "@collection", "@lower", "@now", "@limit");

    public static readonly Statement ListDescendingBounded = new(
        $"{ListColumns} {ListFilter} AND key < @upper {Live} ORDER BY key DESC {Limit}", "@partition", "@collection", "@lower", "@upper", "@now", "@limit");

    // Index declarations (open-time synchronization).
    public static readonly Statement ListIndexes = new("SELECT id, collection, name, signature FROM indexes ORDER BY id");
    public static readonly Statement InsertIndex = new(
        "INSERT INTO indexes (collection, name, signature) VALUES (@collection, @name, @signature) RETURNING id", "@collection", "@name", "@signature");
    public static readonly Statement DeleteIndex = new("DELETE FROM indexes WHERE id = @id", "@id");
    public static readonly Statement DeleteIndexEntries = new("DELETE FROM index_entries WHERE index_id = @id", "@id");
    public static readonly Statement IndexExists = new("SELECT count(*) FROM indexes WHERE id = @id", "@id");

    /// <summary>
    /// The live documents of a collection in (partition, key) order: what an index build reads. Every
    /// partition with documents has a row in partitions; for each, the documents' primary key is sought
    /// to (partition, collection), so only the collection's rows are read, already in order.
    /// </summary>
    public static readonly Statement ReadIndexSource = new(
        $"""
        SELECT d.partition, d.key, d.value, d.expires_at, d.version, d.created_at, d.updated_at, d.checksum FROM partitions AS p CROSS JOIN documents AS d ON d.partition = p.partition AND d.collection = @collection
        WHERE {Timestamps.LiveSql("d.expires_at", "@now")} ORDER BY p.partition, d.key
        """,
        "@collection",
        "@now");

    // Index entries. @unique_scope is NULL for an index that is not unique, else its IndexScope (1 or 2);
    // the partial unique indexes make a second holder of a unique value a conflict, which DO NOTHING
    // reports as no row inserted.
    public static readonly Statement InsertEntry = new(
        """
        INSERT INTO index_entries (index_id, value, partition, key, expires_at, unique_scope) VALUES (@index, @value, @partition, @key, @expires_at, @unique_scope)
        ON CONFLICT DO NOTHING
        """,
        "@index",
        "@value",
        "@partition",
        "@key",
        "@expires_at",
        "@unique_scope");

    /// <summary>A document's entries in every index of its collection, with the expiry they carry.</summary>
    public static readonly Statement ReadDocumentEntries = new(
        """
        SELECT index_id, value, expires_at FROM index_entries INDEXED BY index_entries_by_document
        WHERE partition = @partition AND key = @key AND index_id IN (SELECT id FROM indexes WHERE collection = @collection)
        """,
        "@partition",
        "@key",
        "@collection");

    public static readonly Statement DeleteEntry = new(
        "DELETE FROM index_entries WHERE index_id = @index AND value = @value AND partition = @partition AND key = @key", "@index", "@value", "@partition", "@key");

    public static readonly Statement SetEntriesExpiry = new(
        """
        UPDATE index_entries INDEXED BY index_entries_by_document SET expires_at = @expires_at
        WHERE partition = @partition AND key = @key AND index_id IN (SELECT id FROM indexes WHERE collection = @collection)
        """,
        "@expires_at",
        "@partition",
        "@key",
        "@collection");

    /// <summary>
    /// Removes a document's entries in every index of its collection. The deletes of entries name
    /// index_entries_by_document: without statistics the planner may otherwise pick the primary key
    /// by index_id alone, which reads every entry of the index.
    /// </summary>
    public static readonly Statement DeleteDocumentEntries = new(
        "DELETE FROM index_entries INDEXED BY index_entries_by_document WHERE partition = @partition AND key = @key AND index_id IN (SELECT id FROM indexes WHERE collection = @collection)",
        "@partition",
        "@key",
        "@collection");

    public static readonly Statement FindHolderInStore = new(
        "SELECT partition, key FROM index_entries WHERE index_id = @index AND value = @value LIMIT 1", "@index", "@value");

    public static readonly Statement FindHolderInPartition = new(
        "SELECT partition, key FROM index_entries WHERE index_id = @index AND value = @value AND partition = @partition LIMIT 1", "@index", "@value", "@partition");

    public static readonly Statement DeletePartitionEntries = new("DELETE FROM index_entries INDEXED BY index_entries_by_document WHERE partition = @partition", "@partition");

    /// <summary>Before the purge deletes the expired documents: their entries, found through documents_by_expiry and index_entries_by_document.</summary>
    public static readonly Statement PurgeExpiredEntries = new(
        $"""
        DELETE FROM index_entries INDEXED BY index_entries_by_document WHERE (partition, key, index_id) IN (
            SELECT d.partition, d.key, i.id FROM documents AS d JOIN indexes AS i ON i.collection = d.collection WHERE {Timestamps.ExpiredSql("d.expires_at", "@now")})
        """,
        "@now");

    // Index queries. Every query is one range of one index, [@lower, @upper) or after a cursor: the
    // store turns inclusive and exclusive bounds, prefixes and open ends into that form (IndexRange).
    // The entries drive the join (CROSS JOIN keeps them the outer loop, NOT INDEXED / INDEXED BY pins
    // the b-tree), so rows come in the index's order and LIMIT stops the scan; entries of expired
    // documents are skipped by their expires_at, and each live one looks up its document by primary
    // key for the value and metadata. Counts read the entries alone. Columns: entry value, partition,
    // key, document value, version, created_at, updated_at, expires_at, checksum.
    private const string QueryColumns = "SELECT e.value, e.partition, e.key, d.value, d.version, d.created_at, d.updated_at, d.expires_at, d.checksum";
    private const string JoinDocument = "CROSS JOIN documents AS d ON d.partition = e.partition AND d.collection = @collection AND d.key = e.key";
    private const string AllPartitions = $"FROM index_entries AS e NOT INDEXED {JoinDocument} WHERE e.index_id = @index";
    private const string OnePartition = $"FROM index_entries AS e INDEXED BY index_entries_by_partition {JoinDocument} WHERE e.partition = @partition AND e.index_id = @index";
    private static readonly string LiveEntry = "AND " + Timestamps.LiveSql("e.expires_at", "@now");
    private const string Bounded = "AND e.value >= @lower AND e.value < @upper";
    private const string AllAscending = $"ORDER BY e.value ASC, e.partition ASC, e.key ASC {Limit}";
    private const string AllDescending = $"ORDER BY e.value DESC, e.partition DESC, e.key DESC {Limit}";
    private const string OneAscending = $"ORDER BY e.value ASC, e.key ASC {Limit}";
    private const string OneDescending = $"ORDER BY e.value DESC, e.key DESC {Limit}";

    public static readonly Statement QueryAscending = new(
        $"{QueryColumns} {AllPartitions} {Bounded} {LiveEntry} {AllAscending}", "@collection", "@index", "@lower", "@upper", "@now", "@limit");

    public static readonly Statement QueryDescending = new(
        $"{QueryColumns} {AllPartitions} {Bounded} {LiveEntry} {AllDescending}", "@collection", "@index", "@lower", "@upper", "@now", "@limit");

    public static readonly Statement QueryAscendingAfter = new(
        $"{QueryColumns} {AllPartitions} AND (e.value, e.partition, e.key) > (@after_value, @after_partition, @after_key) AND e.value < @upper {LiveEntry} {AllAscending}",
        "@collection",
        "@index",
        "@after_value",
        "@after_partition",
        "@after_key",
        "@upper",
        "@now",
        "@limit");

    public static readonly Statement QueryDescendingAfter = new(
        $"{QueryColumns} {AllPartitions} AND e.value >= @lower AND (e.value, e.partition, e.key) < (@after_value, @after_partition, @after_key) {LiveEntry} {AllDescending}",
        "@collection",
        "@index",
        "@lower",
        "@after_value",
        "@after_partition",
        "@after_key",
        "@now",
        "@limit");

    public static readonly Statement QueryPartitionAscending = new(
        $"{QueryColumns} {OnePartition} {Bounded} {LiveEntry} {OneAscending}", "@collection", "@partition", "@index", "@lower", "@upper", "@now", "@limit");

    public static readonly Statement QueryPartitionDescending = new(
        $"{QueryColumns} {OnePartition} {Bounded} {LiveEntry} {OneDescending}", "@collection", "@partition", "@index", "@lower", "@upper", "@now", "@limit");

    public static readonly Statement QueryPartitionAscendingAfter = new(
        $"{QueryColumns} {OnePartition} AND (e.value, e.key) > (@after_value, @after_key) AND e.value < @upper {LiveEntry} {OneAscending}",
        "@collection",
        "@partition",
        "@index",
        "@after_value",
        "@after_key",
        "@upper",
        "@now",
        "@limit");

    public static readonly Statement QueryPartitionDescendingAfter = new(
        $"{QueryColumns} {OnePartition} AND e.value >= @lower AND (e.value, e.key) < (@after_value, @after_key) {LiveEntry} {OneDescending}",
        "@collection",
        "@partition",
        "@index",
        "@lower",
        "@after_value",
        "@after_key",
        "@now",
        "@limit");

    public static readonly Statement Count = new(
        $"SELECT count(*) FROM index_entries AS e NOT INDEXED WHERE e.index_id = @index {Bounded} {LiveEntry}", "@index", "@lower", "@upper", "@now");

    public static readonly Statement CountInPartition = new(
        $"SELECT count(*) FROM index_entries AS e INDEXED BY index_entries_by_partition WHERE e.partition = @partition AND e.index_id = @index {Bounded} {LiveEntry}",
        "@partition",
        "@index",
        "@lower",
        "@upper",
        "@now");

    /// <summary>Every query and count shape, for the plan test.</summary>
    public static IReadOnlyList<Statement> Queries { get; } =
    [
        QueryAscending, QueryDescending, QueryAscendingAfter, QueryDescendingAfter,
        QueryPartitionAscending, QueryPartitionDescending, QueryPartitionAscendingAfter, QueryPartitionDescendingAfter,
        Count, CountInPartition,
    ];

    // Sequences.
    public static readonly Statement GetSequence = new("SELECT value FROM sequences WHERE partition = @partition AND name = @name", "@partition", "@name");
    public static readonly Statement SetSequence = new(
        """
        INSERT INTO sequences (partition, name, value, revision) VALUES (@partition, @name, @value, @revision)
        ON CONFLICT (partition, name) DO UPDATE SET value = excluded.value, revision = excluded.revision
        """,
        "@partition",
        "@name",
        "@value",
        "@revision");

    /// <summary>The parameters of <see cref="InsertDocumentRow"/>, in order.</summary>
    private static string[] DocumentRowParameters() => ["@partition", "@collection", "@key", "@value", "@version", "@created_at", "@updated_at", "@expires_at", "@checksum"];
}
