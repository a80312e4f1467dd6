using Storage.Internal;

namespace Storage.Sqlite.Internal;

/// <summary>Every statement the store runs after open, as constants with bound parameters (bound in the order they appear).</summary>
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
    public static readonly Statement IntegrityCheck = new("PRAGMA integrity_check");
    public static readonly Statement CheckpointTruncate = new("PRAGMA wal_checkpoint(TRUNCATE)");
    public static readonly Statement HasMetaTable = new("SELECT count(*) FROM sqlite_schema WHERE type = 'table' AND name = 'storage_meta'");
    public static readonly Statement CountForeignObjects = new("SELECT count(*) FROM sqlite_schema WHERE name NOT LIKE 'sqlite!_%' ESCAPE '!'");
    public static readonly Statement GetMeta = new("SELECT value FROM storage_meta WHERE key = @key");
    public static readonly Statement SetMeta = new("INSERT INTO storage_meta (key, value) VALUES (@key, @value) ON CONFLICT (key) DO UPDATE SET value = excluded.value");
    public static readonly Statement DeleteMeta = new("DELETE FROM storage_meta WHERE key = @key");

    // What every write transaction checks first: the index generation it opened with, and the read-only fence (no row: not set);
    // and what it reads with them: the store-wide cursor's last position (no row: 0).
    public static readonly Statement WriteChecks = new(
        $"SELECT (SELECT value FROM storage_meta WHERE key = '{Schema.MetaIndexGeneration}'), EXISTS (SELECT 1 FROM storage_meta WHERE key = '{Schema.MetaReadOnly}'), (SELECT value FROM storage_meta WHERE key = '{Schema.MetaPosition}')");

    /// <summary>The store-wide cursor's last position, written once by a write transaction that changed partitions.</summary>
    public static readonly Statement SetPosition = new($"UPDATE storage_meta SET value = @position WHERE key = '{Schema.MetaPosition}'");
    public static readonly Statement MaxMigration = new("SELECT max(version) FROM storage_migrations");
    public static readonly Statement RecordMigration = new("INSERT INTO storage_migrations (version, applied_at, description) VALUES (@version, @applied_at, @description)");

    // Partitions.
    public static readonly Statement GetPartitionRevision = new("SELECT revision FROM partitions WHERE partition = @partition");
    public static readonly Statement GetPartitionFeedState = new("SELECT revision, oldest_resumable FROM partitions WHERE partition = @partition");

    /// <summary>
    /// Sets a partition's revision and its store-wide position; a new partition also gets the oldest
    /// revision a feed reader can resume after (its first), one that exists keeps its own.
    /// </summary>
    public static readonly Statement SetPartitionRevision = new(
        """
        INSERT INTO partitions (partition, revision, oldest_resumable, position) VALUES (@partition, @revision, @oldest_resumable, @position)
        ON CONFLICT (partition) DO UPDATE SET revision = excluded.revision, position = excluded.position
        """);
    public static readonly Statement ListPartitions = new($"SELECT partition, revision FROM partitions WHERE partition > @after ORDER BY partition {Limit}");
    public static readonly Statement RaiseRevisionFloor = new("UPDATE storage_meta SET value = @revision WHERE key = 'revision_floor' AND value < @revision");
    public static readonly Statement DeletePartitionEntries = new("DELETE FROM index_entries INDEXED BY index_entries_by_document WHERE partition = @partition");

    // The marks of deleted partitions (the store-wide cursor).
    public static readonly Statement PutMark = new(
        """
        INSERT INTO deleted_partitions (partition, revision, position, deleted_at) VALUES (@partition, @revision, @position, @deleted_at)
        ON CONFLICT (partition) DO UPDATE SET revision = excluded.revision, position = excluded.position, deleted_at = excluded.deleted_at
        """);
    public static readonly Statement DeleteMark = new("DELETE FROM deleted_partitions WHERE partition = @partition");

    /// <summary>Before the purge drops marks: the oldest position rises to the newest mark it drops.</summary>
    public static readonly Statement RaiseOldestPosition = new(
        $"""
        UPDATE storage_meta SET value = dropped.position
        FROM (SELECT max(position) AS position FROM deleted_partitions WHERE deleted_at <= @cutoff) AS dropped
        WHERE storage_meta.key = '{Schema.MetaOldestPosition}' AND dropped.position > storage_meta.value
        """);
    public static readonly Statement PurgeMarks = new("DELETE FROM deleted_partitions WHERE deleted_at <= @cutoff");

    /// <summary>The cursor's state in the read's snapshot: the last (= current) position, the oldest position and the revision floor.</summary>
    public static readonly Statement CursorState = new(
        $"""
        SELECT (SELECT value FROM storage_meta WHERE key = '{Schema.MetaPosition}'), (SELECT value FROM storage_meta WHERE key = '{Schema.MetaOldestPosition}'),
            (SELECT value FROM storage_meta WHERE key = '{Schema.MetaRevisionFloor}')
        """);

    /// <summary>
    /// The position of the cursor's <c>@offset + 1</c>-th item after <c>@after</c> (no row: fewer items):
    /// the live partitions and the marks, each read by its (position, partition) index and merged.
    /// </summary>
    public static readonly Statement CursorLastPosition = new(
        """
        SELECT position FROM partitions WHERE position > @after AND position <= @current
        UNION ALL
        SELECT position FROM deleted_partitions WHERE position > @after AND position <= @current
        ORDER BY position LIMIT 1 OFFSET @offset + 0
        """);

    /// <summary>
    /// The cursor's items in (@after, @last], by position then key (BINARY = code-point order): a live
    /// partition's revision, or a mark's (deleted = 1).
    /// </summary>
    public static readonly Statement CursorItems = new(
        """
        SELECT position, partition, revision, 0 AS deleted FROM partitions WHERE position > @after AND position <= @last
        UNION ALL
        SELECT position, partition, revision, 1 FROM deleted_partitions WHERE position > @after AND position <= @last
        ORDER BY position, partition
        """);

    /// <summary>Whether items follow @last, up to @current.</summary>
    public static readonly Statement CursorHasMore = new(
        """
        SELECT EXISTS (SELECT 1 FROM partitions WHERE position > @last AND position <= @current)
            OR EXISTS (SELECT 1 FROM deleted_partitions WHERE position > @last AND position <= @current)
        """);

    /// <summary>Everything of a partition, its row last.</summary>
    public static readonly IReadOnlyList<Statement> DeletePartition =
    [
        DeletePartitionEntries,
        .. new[] { "documents", "sequences", "events", "streams", "tombstones", "partitions" }.Select(table => new Statement($"DELETE FROM {table} WHERE partition = @partition")),
    ];

    // Documents. Every read of a document returns value, version, created_at, updated_at, expires_at,
    // checksum in this order (RowChecksum.ReadDocument).
    private const string DocumentColumns = "value, version, created_at, updated_at, expires_at, checksum";

    public static readonly Statement GetDocument = new(
        $"SELECT {DocumentColumns} FROM documents WHERE partition = @partition AND collection = @collection AND key = @key AND {Timestamps.LiveSql("expires_at", "@now")}");

    /// <summary>The stored row whether or not it has expired: conditions decide liveness in code, like the reference backend.</summary>
    public static readonly Statement GetDocumentState = new("SELECT version, created_at, expires_at FROM documents WHERE partition = @partition AND collection = @collection AND key = @key");

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
        """);

    /// <summary>
    /// A document into a partition the transaction just created (a bulk import's fast path): no row can
    /// be there, so a plain insert, without the upsert's conflict clause.
    /// </summary>
    public static readonly Statement InsertDocument = new(InsertDocumentRow);

    public static readonly Statement DeleteDocument = new("DELETE FROM documents WHERE partition = @partition AND collection = @collection AND key = @key");
    public static readonly Statement PurgeExpired = new($"DELETE FROM documents WHERE {Timestamps.ExpiredSql("expires_at", "@now")}");

    /// <summary>Before the purge deletes expired documents: each partition's oldest resumable revision rises to the newest version it loses.</summary>
    public static readonly Statement RaiseOldestResumableForExpired = new(
        $"""
        UPDATE partitions SET oldest_resumable = max(partitions.oldest_resumable, purged.version)
        FROM (SELECT partition, max(version) AS version FROM documents WHERE {Timestamps.ExpiredSql("expires_at", "@now")} GROUP BY partition) AS purged
        WHERE partitions.partition = purged.partition
        """);

    // Tombstones.
    public static readonly Statement PutTombstone = new(
        """
        INSERT INTO tombstones (partition, collection, key, revision, deleted_at) VALUES (@partition, @collection, @key, @revision, @deleted_at)
        ON CONFLICT (partition, collection, key) DO UPDATE SET revision = excluded.revision, deleted_at = excluded.deleted_at
        """);
    public static readonly Statement DeleteTombstone = new("DELETE FROM tombstones WHERE partition = @partition AND collection = @collection AND key = @key");

    /// <summary>Before the purge drops tombstones: each partition's oldest resumable revision rises to the newest tombstone it loses.</summary>
    public static readonly Statement RaiseOldestResumable = new(
        """
        UPDATE partitions SET oldest_resumable = max(partitions.oldest_resumable, dropped.revision)
        FROM (SELECT partition, max(revision) AS revision FROM tombstones WHERE deleted_at <= @cutoff GROUP BY partition) AS dropped
        WHERE partitions.partition = dropped.partition
        """);
    public static readonly Statement PurgeTombstones = new("DELETE FROM tombstones WHERE deleted_at <= @cutoff");

    // Streams. Event data and metadata are bound as UTF-8 bytes and cast to TEXT, like document values.
    // Every read of an event returns version, revision, event_id, type, data, metadata, committed_at,
    // checksum in this order (RowChecksum.ReadEvent).
    public static readonly Statement GetStreamVersion = new("SELECT version FROM streams WHERE partition = @partition AND stream = @stream");
    public static readonly Statement SetStreamVersion = new(
        "INSERT INTO streams (partition, stream, version) VALUES (@partition, @stream, @version) ON CONFLICT (partition, stream) DO UPDATE SET version = excluded.version");
    public static readonly Statement GetEventIds = new(
        "SELECT version, event_id FROM events WHERE partition = @partition AND stream = @stream AND version BETWEEN @first AND @last ORDER BY version");
    public static readonly Statement InsertEvent = new(
        """
        INSERT INTO events (partition, stream, version, revision, event_id, type, data, metadata, committed_at, checksum)
        VALUES (@partition, @stream, @version, @revision, @event_id, @type, CAST(@data AS TEXT), CAST(@metadata AS TEXT), @committed_at, @checksum)
        """);
    public static readonly Statement ReadEvents = new(
        """
        SELECT version, revision, event_id, type, data, metadata, committed_at, checksum FROM events
        WHERE partition = @partition AND stream = @stream AND version BETWEEN @first AND @last ORDER BY version
        """);

    /// <summary>
    /// The change feed's candidates after a revision, in feed order (ChangeFeedQuery.Order): live
    /// documents by version, tombstones, events and sequences by revision; inside a revision, documents
    /// (puts and deletes) by collection and key, then events by stream and version, then sequences by
    /// name. Each arm reads its table's (partition, revision) index, and the arms are merged in order,
    /// so the query reads about as many rows as it returns. BINARY order is code-point order.
    /// Columns: kind (<see cref="ChangeKind"/>), rank, the two names that order a revision's rows
    /// (collection and key, stream and version, sequence name), then from the fifth on a document's
    /// columns as every document read has them (its version is the revision), a tombstone's revision
    /// in the sixth and its time in the seventh, an event's columns as every event read has them (the revision sixth), or a
    /// sequence's value and revision.
    /// </summary>
    public static readonly Statement ReadChanges = new(
        $"""
        SELECT 1 AS kind, 0 AS rank, collection AS name_1, key AS name_2, value, version AS revision, created_at, updated_at, expires_at, checksum, NULL, NULL
        FROM documents WHERE partition = @partition AND version > @after AND {Timestamps.LiveSql("expires_at", "@now")}
        UNION ALL
        SELECT 2, 0, collection, key, NULL, revision, deleted_at, NULL, NULL, NULL, NULL, NULL
        FROM tombstones WHERE partition = @partition AND revision > @after
        UNION ALL
        SELECT 3, 1, stream, version, version, revision, event_id, type, data, metadata, committed_at, checksum
        FROM events WHERE partition = @partition AND revision > @after
        UNION ALL
        SELECT 4, 2, name, NULL, value, revision, NULL, NULL, NULL, NULL, NULL, NULL
        FROM sequences WHERE partition = @partition AND revision > @after
        ORDER BY revision, rank, name_1, name_2
        {Limit}
        """);

    // Listings: the bounds are computed in code (code-point order = the BINARY order of UTF-8 text);
    // @lower is inclusive, @upper exclusive (an unbounded range binds a BLOB, above every text).
    public static readonly Statement ListAscending = ListDocuments("ASC");
    public static readonly Statement ListDescending = ListDocuments("DESC");
    public static readonly Statement ListStreamsAscending = ListStreams("ASC");
    public static readonly Statement ListStreamsDescending = ListStreams("DESC");

    // Index declarations (open-time synchronization).
    public static readonly Statement ListIndexes = new("SELECT id, collection, name, signature FROM indexes ORDER BY id");
    public static readonly Statement InsertIndex = new("INSERT INTO indexes (collection, name, signature) VALUES (@collection, @name, @signature) RETURNING id");
    public static readonly Statement DeleteIndex = new("DELETE FROM indexes WHERE id = @id");
    public static readonly Statement DeleteIndexEntries = new("DELETE FROM index_entries WHERE index_id = @id");
    public static readonly Statement IndexExists = new("SELECT count(*) FROM indexes WHERE id = @id");

    /// <summary>
    /// The live documents of a collection in (partition, key) order: what an index build reads. Every
    /// partition with documents has a row in partitions; for each, the documents' primary key is sought
    /// to (partition, collection), so only the collection's rows are read, already in order.
    /// </summary>
    public static readonly Statement ReadIndexSource = new(
        $"""
        SELECT d.partition, d.key, d.value, d.version, d.created_at, d.updated_at, d.expires_at, d.checksum FROM partitions AS p CROSS JOIN documents AS d ON d.partition = p.partition AND d.collection = @collection
        WHERE {Timestamps.LiveSql("d.expires_at", "@now")} ORDER BY p.partition, d.key
        """);

    // Index entries. @unique_scope is NULL for an index that is not unique, else its IndexScope (1 or 2);
    // the partial unique indexes make a second holder of a unique value a conflict, which DO NOTHING
    // reports as no row inserted.
    public static readonly Statement InsertEntry = new(
        """
        INSERT INTO index_entries (index_id, value, partition, key, expires_at, unique_scope) VALUES (@index, @value, @partition, @key, @expires_at, @unique_scope)
        ON CONFLICT DO NOTHING
        """);

    /// <summary>A document's entries in every index of its collection.</summary>
    public static readonly Statement ReadDocumentEntries = new(
        """
        SELECT index_id, value FROM index_entries INDEXED BY index_entries_by_document
        WHERE partition = @partition AND key = @key AND index_id IN (SELECT id FROM indexes WHERE collection = @collection)
        """);
    public static readonly Statement DeleteEntry = new("DELETE FROM index_entries WHERE index_id = @index AND value = @value AND partition = @partition AND key = @key");
    public static readonly Statement SetEntriesExpiry = new(
        """
        UPDATE index_entries INDEXED BY index_entries_by_document SET expires_at = @expires_at
        WHERE partition = @partition AND key = @key AND index_id IN (SELECT id FROM indexes WHERE collection = @collection)
        """);

    /// <summary>
    /// Removes a document's entries in every index of its collection. The deletes of entries name
    /// index_entries_by_document: without statistics the planner may otherwise pick the primary key
    /// by index_id alone, which reads every entry of the index.
    /// </summary>
    public static readonly Statement DeleteDocumentEntries = new(
        "DELETE FROM index_entries INDEXED BY index_entries_by_document WHERE partition = @partition AND key = @key AND index_id IN (SELECT id FROM indexes WHERE collection = @collection)");

    /// <summary>The holder of a value of a store-wide unique index, with its document's expiry.</summary>
    public static readonly Statement FindHolderInStore = new("SELECT partition, key, expires_at FROM index_entries WHERE index_id = @index AND value = @value");

    /// <summary>The holder of a value of a partition's unique index, with its document's expiry.</summary>
    public static readonly Statement FindHolderInPartition = new("SELECT partition, key, expires_at FROM index_entries WHERE index_id = @index AND value = @value AND partition = @partition");

    /// <summary>Before the purge deletes the expired documents: their entries, found through documents_by_expiry and index_entries_by_document.</summary>
    public static readonly Statement PurgeExpiredEntries = new(
        $"""
        DELETE FROM index_entries INDEXED BY index_entries_by_document WHERE (partition, key, index_id) IN (
            SELECT d.partition, d.key, i.id FROM documents AS d JOIN indexes AS i ON i.collection = d.collection WHERE {Timestamps.ExpiredSql("d.expires_at", "@now")})
        """);

    // Index queries. Every query is one range of one index, [@lower, @upper), read after a cursor
    // (@after_*), so a query binds the same values in each order: the engine turns inclusive and
    // exclusive bounds and prefixes into that form (IndexValueRange), the backend binds an open end,
    // and a query without a cursor starts from one just outside the range (the bound, with empty
    // keys: keys are never empty). The entries drive the join (CROSS JOIN keeps them
    // the outer loop, NOT INDEXED / INDEXED BY pins the b-tree), so rows come in the index's order and
    // LIMIT stops the scan; entries of expired documents are skipped by their expires_at, and each live
    // one looks up its document by primary key for the value and metadata. Counts read the entries
    // alone. Columns: entry value, partition, key, then the document's.
    private static readonly string LiveEntry = "AND " + Timestamps.LiveSql("e.expires_at", "@now");
    private const string Bounded = "AND e.value >= @lower AND e.value < @upper";

    public static readonly Statement QueryAscending = Query(inPartition: false, descending: false);
    public static readonly Statement QueryDescending = Query(inPartition: false, descending: true);
    public static readonly Statement QueryPartitionAscending = Query(inPartition: true, descending: false);
    public static readonly Statement QueryPartitionDescending = Query(inPartition: true, descending: true);

    public static readonly Statement Count = new($"SELECT count(*) FROM index_entries AS e NOT INDEXED WHERE e.index_id = @index {Bounded} {LiveEntry}");
    public static readonly Statement CountInPartition = new(
        $"SELECT count(*) FROM index_entries AS e INDEXED BY index_entries_by_partition WHERE e.partition = @partition AND e.index_id = @index {Bounded} {LiveEntry}");

    /// <summary>Every query and count shape, for the plan test.</summary>
    public static IReadOnlyList<Statement> Queries { get; } = [QueryAscending, QueryDescending, QueryPartitionAscending, QueryPartitionDescending, Count, CountInPartition];

    // Sequences.
    public static readonly Statement GetSequence = new("SELECT value FROM sequences WHERE partition = @partition AND name = @name");
    public static readonly Statement SetSequence = new(
        """
        INSERT INTO sequences (partition, name, value, revision) VALUES (@partition, @name, @value, @revision)
        ON CONFLICT (partition, name) DO UPDATE SET value = excluded.value, revision = excluded.revision
        """);

    private static Statement ListDocuments(string order) => new(
        $"""
        SELECT key, {DocumentColumns} FROM documents WHERE partition = @partition AND collection = @collection AND key >= @lower AND key < @upper
        AND {Timestamps.LiveSql("expires_at", "@now")} ORDER BY key {order} {Limit}
        """);

    private static Statement ListStreams(string order)
        => new($"SELECT stream, version FROM streams WHERE partition = @partition AND stream >= @lower AND stream < @upper ORDER BY stream {order} {Limit}");

    /// <summary>The index query across partitions (in (value, partition, key) order) or in one (in (value, key) order), ascending or descending.</summary>
    private static Statement Query(bool inPartition, bool descending)
    {
        var (entries, order, cursor) = inPartition
            ? ("index_entries AS e INDEXED BY index_entries_by_partition", "e.value, e.key", "(@after_value, @after_key)")
            : ("index_entries AS e NOT INDEXED", "e.value, e.partition, e.key", "(@after_value, @after_partition, @after_key)");
        var (after, bound, direction) = descending ? ("<", "e.value >= @lower", "DESC") : (">", "e.value < @upper", "ASC");
        return new(
            $"""
            SELECT e.value, e.partition, e.key, d.value, d.version, d.created_at, d.updated_at, d.expires_at, d.checksum
            FROM {entries} CROSS JOIN documents AS d ON d.partition = e.partition AND d.collection = @collection AND d.key = e.key
            WHERE {(inPartition ? "e.partition = @partition AND " : string.Empty)}e.index_id = @index AND ({order}) {after} {cursor} AND {bound} {LiveEntry}
            ORDER BY {order.Replace(",", $" {direction},", StringComparison.Ordinal)} {direction} {Limit}
            """);
    }
}
