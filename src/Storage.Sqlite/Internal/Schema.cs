namespace Storage.Sqlite.Internal;

/// <summary>One numbered step of the schema: its statements run in the open's transaction, together with its record.</summary>
internal sealed record Migration(int Version, string Description, IReadOnlyList<string> Statements);

/// <summary>
/// The schema, as numbered migrations. The format version of a database is the number of the last
/// migration applied to it; <c>storage_migrations</c> records each one. Never edit a released
/// migration: add the next one. docs/sqlite-backend.md describes the tables for people.
/// </summary>
internal static class Schema
{
    public const string MetaFormatVersion = "format_version";
    public const string MetaRevisionFloor = "revision_floor";

    /// <summary>Counts the changes of the persisted index declarations: every write transaction checks it is still the one its store opened with.</summary>
    public const string MetaIndexGeneration = "index_generation";

    /// <summary>The read-only fence: set while the row exists (no migration: a store without it is not fenced).</summary>
    public const string MetaReadOnly = "read_only";

    /// <summary>The store-wide cursor's last position: the highest position any commit has given a partition or a mark.</summary>
    public const string MetaPosition = "position";

    /// <summary>The oldest position the cursor can resume after (besides 0): the highest position of a mark a purge dropped.</summary>
    public const string MetaOldestPosition = "oldest_position";

    /// <summary>The migration that creates the index tables.</summary>
    public const int IndexesVersion = 3;

    /// <summary>The migration that adds the rows' checksums.</summary>
    public const int ChecksumsVersion = 4;

    /// <summary>The migration that adds the store-wide cursor's positions and marks.</summary>
    public const int PositionsVersion = 5;

    /// <summary>Written to the header (<c>PRAGMA application_id</c>) so tools can tell a Storage database: "Stor".</summary>
    public const int ApplicationId = 0x53746F72;

    public static IReadOnlyList<Migration> Migrations { get; } =
    [
        new(1, "initial schema: meta, migrations, partitions, documents, sequences",
        [
            // Key/value facts about the store: format_version, revision_floor.
            """
            CREATE TABLE storage_meta (
                key   TEXT NOT NULL PRIMARY KEY,
                value ANY
            ) STRICT, WITHOUT ROWID
            """,
            """
            CREATE TABLE storage_migrations (
                version    INTEGER NOT NULL PRIMARY KEY,
                applied_at TEXT NOT NULL,
                description TEXT NOT NULL
            ) STRICT
            """,
            // A partition exists from its first changing commit until it is deleted.
            """
            CREATE TABLE partitions (
                partition TEXT NOT NULL COLLATE BINARY PRIMARY KEY,
                revision  INTEGER NOT NULL CHECK (revision >= 1)
            ) STRICT, WITHOUT ROWID
            """,
            // Values are the JSON text exactly as written; times are Unix milliseconds (UTC).
            """
            CREATE TABLE documents (
                partition  TEXT NOT NULL COLLATE BINARY,
                collection TEXT NOT NULL COLLATE BINARY,
                key        TEXT NOT NULL COLLATE BINARY,
                value      TEXT NOT NULL,
                version    INTEGER NOT NULL CHECK (version >= 1),
                created_at INTEGER NOT NULL,
                updated_at INTEGER NOT NULL,
                expires_at INTEGER,
                PRIMARY KEY (partition, collection, key)
            ) STRICT, WITHOUT ROWID
            """,
            "CREATE INDEX documents_by_expiry ON documents (expires_at) WHERE expires_at IS NOT NULL",
            """
            CREATE TABLE sequences (
                partition TEXT NOT NULL COLLATE BINARY,
                name      TEXT NOT NULL COLLATE BINARY,
                value     INTEGER NOT NULL CHECK (value >= 0),
                PRIMARY KEY (partition, name)
            ) STRICT, WITHOUT ROWID
            """,
            "INSERT INTO storage_meta (key, value) VALUES ('revision_floor', 0)",
            $"PRAGMA application_id = {ApplicationId}",
        ]),
        new(2, "streams and the change feed: streams, events, tombstones, sequence revisions, oldest resumable revision",
        [
            // A stream exists from its first event; version is the version of its last event.
            """
            CREATE TABLE streams (
                partition TEXT NOT NULL COLLATE BINARY,
                stream    TEXT NOT NULL COLLATE BINARY,
                version   INTEGER NOT NULL CHECK (version >= 1),
                PRIMARY KEY (partition, stream)
            ) STRICT, WITHOUT ROWID
            """,

            // Events are never changed. data and metadata are the JSON text as appended (metadata NULL: none).
            """
            CREATE TABLE events (
                partition    TEXT NOT NULL COLLATE BINARY,
                stream       TEXT NOT NULL COLLATE BINARY,
                version      INTEGER NOT NULL CHECK (version >= 1),
                revision     INTEGER NOT NULL CHECK (revision >= 1),
                event_id     TEXT NOT NULL CHECK (length(event_id) = 36),
                type         TEXT NOT NULL,
                data         TEXT NOT NULL,
                metadata     TEXT,
                committed_at INTEGER NOT NULL,
                PRIMARY KEY (partition, stream, version)
            ) STRICT, WITHOUT ROWID
            """,

            // The change feed reads each table by (partition, revision); in a WITHOUT ROWID table the
            // index entries end with the primary key, so they are also in the feed's order inside a revision.
            "CREATE INDEX events_by_revision ON events (partition, revision)",

            // A deleted document, until a put of the same key or the purge past the retention drops it.
            """
            CREATE TABLE tombstones (
                partition  TEXT NOT NULL COLLATE BINARY,
                collection TEXT NOT NULL COLLATE BINARY,
                key        TEXT NOT NULL COLLATE BINARY,
                revision   INTEGER NOT NULL CHECK (revision >= 1),
                deleted_at INTEGER NOT NULL,
                PRIMARY KEY (partition, collection, key)
            ) STRICT, WITHOUT ROWID
            """,
            "CREATE INDEX tombstones_by_revision ON tombstones (partition, revision)",
            "CREATE INDEX tombstones_by_deletion ON tombstones (deleted_at)",
            "CREATE INDEX documents_by_version ON documents (partition, version)",

            // The revision of a sequence's last increment. The history before this migration is
            // unknown: existing sequences take their partition's current revision.
            "ALTER TABLE sequences ADD COLUMN revision INTEGER NOT NULL DEFAULT 0",
            "UPDATE sequences SET revision = coalesce((SELECT p.revision FROM partitions AS p WHERE p.partition = sequences.partition), 0)",
            "CREATE INDEX sequences_by_revision ON sequences (partition, revision)",

            // The oldest revision a feed reader may resume after. Deletes before this migration left no
            // tombstones, so existing partitions can only be resumed from their current revision.
            "ALTER TABLE partitions ADD COLUMN oldest_resumable INTEGER NOT NULL DEFAULT 0",
            "UPDATE partitions SET oldest_resumable = revision",
        ]),
        new(3, "secondary indexes: indexes, index_entries, index_generation",
        [
            // The index declarations as the last open synchronized them. An id is never reused
            // (AUTOINCREMENT), and a changed declaration gets a new one: an instance that still knows
            // an index by its old id can never read another index's entries.
            """
            CREATE TABLE indexes (
                id         INTEGER PRIMARY KEY AUTOINCREMENT,
                collection TEXT NOT NULL COLLATE BINARY,
                name       TEXT NOT NULL COLLATE BINARY,
                signature  TEXT NOT NULL,
                UNIQUE (collection, name)
            ) STRICT
            """,

            // One row per (index, distinct value, document). A value is TEXT (BINARY = UTF-8 byte
            // order = code-point order) or INTEGER, one type per index. The primary key is the order
            // of a query across partitions: (value, partition, key). expires_at is the document's, so
            // counts never read documents and queries read only the live ones.
            """
            CREATE TABLE index_entries (
                index_id     INTEGER NOT NULL,
                value        ANY NOT NULL CHECK (typeof(value) IN ('text', 'integer')),
                partition    TEXT NOT NULL COLLATE BINARY,
                key          TEXT NOT NULL COLLATE BINARY,
                expires_at   INTEGER,
                unique_scope INTEGER CHECK (unique_scope IN (1, 2)),
                PRIMARY KEY (index_id, value, partition, key)
            ) STRICT, WITHOUT ROWID
            """,

            // The order of a query in one partition, (value, key); expires_at last makes it cover a count.
            "CREATE INDEX index_entries_by_partition ON index_entries (partition, index_id, value, key, expires_at)",

            // A document's entries, found by its identity whatever its values: puts, deletes, purges.
            "CREATE INDEX index_entries_by_document ON index_entries (partition, key, index_id)",

            // Uniqueness, enforced by the database for every process: unique_scope is 1 (IndexScope.Partition)
            // or 2 (IndexScope.Global) on the entries of unique indexes, NULL on the others.
            "CREATE UNIQUE INDEX index_entries_unique_in_partition ON index_entries (index_id, value, partition) WHERE unique_scope = 1",
            "CREATE UNIQUE INDEX index_entries_unique_in_store ON index_entries (index_id, value) WHERE unique_scope = 2",
            $"INSERT INTO storage_meta (key, value) VALUES ('{MetaIndexGeneration}', 0)",
        ]),
        new(ChecksumsVersion, "row checksums: documents.checksum, events.checksum",
        [
            // SQLite has no page checksums: each row carries one over all its other columns, computed
            // and checked in code (RowChecksum). Existing rows get theirs here, in the open's transaction,
            // from the application functions the writer registers before migrating.
            "ALTER TABLE documents ADD COLUMN checksum INTEGER NOT NULL DEFAULT 0",
            $"UPDATE documents SET checksum = {RowChecksum.DocumentFunction}(partition, collection, key, version, created_at, updated_at, expires_at, value)",
            "ALTER TABLE events ADD COLUMN checksum INTEGER NOT NULL DEFAULT 0",
            $"UPDATE events SET checksum = {RowChecksum.EventFunction}(partition, stream, version, revision, event_id, type, committed_at, data, metadata)",
        ]),
        new(PositionsVersion, "the store-wide cursor: partitions.position, deleted_partitions, position and oldest_position",
        [
            // Every write transaction that changes partitions gives them the next store-wide position
            // (the last one is the meta row 'position'). The existing partitions get one each, 1, 2, ...
            // in key order, so a cursor from 0 lists them all in pages of any size.
            "ALTER TABLE partitions ADD COLUMN position INTEGER NOT NULL DEFAULT 0",
            """
            UPDATE partitions SET position = numbered.position
            FROM (SELECT partition, row_number() OVER (ORDER BY partition) AS position FROM partitions) AS numbered
            WHERE partitions.partition = numbered.partition
            """,
            "CREATE INDEX partitions_by_position ON partitions (position, partition)",

            // The mark of a deleted partition: its revision and the delete's position and time (Unix
            // milliseconds), until the partition is created again or a purge drops it with the tombstones.
            // Deletes before this migration left none.
            """
            CREATE TABLE deleted_partitions (
                partition  TEXT NOT NULL COLLATE BINARY PRIMARY KEY,
                revision   INTEGER NOT NULL CHECK (revision >= 1),
                position   INTEGER NOT NULL CHECK (position >= 1),
                deleted_at INTEGER NOT NULL
            ) STRICT, WITHOUT ROWID
            """,
            "CREATE INDEX deleted_partitions_by_position ON deleted_partitions (position, partition)",
            "CREATE INDEX deleted_partitions_by_deletion ON deleted_partitions (deleted_at)",
            $"INSERT INTO storage_meta (key, value) VALUES ('{MetaPosition}', (SELECT count(*) FROM partitions))",
            $"INSERT INTO storage_meta (key, value) VALUES ('{MetaOldestPosition}', 0)",
        ]),
    ];

    public static int CurrentVersion(IReadOnlyList<Migration> migrations) => migrations.Count == 0 ? 0 : migrations[^1].Version;
}
