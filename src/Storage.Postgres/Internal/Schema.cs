using System.Globalization;

namespace Storage.Postgres.Internal;

/// <summary>One numbered step of the schema; its statements run in the open's transaction, together with its record.</summary>
internal sealed record Migration(int Version, string Description, Func<SchemaLayout, IReadOnlyList<string>> Statements);

/// <summary>What the statements of a migration are written for: the quoted schema and the layout options.</summary>
/// <param name="Quoted">The schema name, validated and double-quoted.</param>
/// <param name="HashPartitions">0 for plain tables, else the number of hash partitions of the big tables (documents, events, tombstones).</param>
internal sealed record SchemaLayout(string Quoted, int HashPartitions);

/// <summary>
/// The schema, as numbered migrations. The format version of a store is the number of the last
/// migration recorded in <c>storage_migrations</c>. Never edit a released migration: add the next
/// one. docs/postgres-backend.md describes the tables for people.
/// </summary>
/// <remarks>
/// DDL cannot take parameters: the schema name is validated as an identifier and quoted, and the
/// only other value written into these statements is the validated partition count.
/// </remarks>
internal static class Schema
{
    public const string MigrationsTable = "storage_migrations";
    public const string MetaRevisionFloor = "revision_floor";
    public const string MetaPurgeLock = "purge_lock";
    public const string MetaHashPartitions = "hash_partitions";
    public const string MetaIndexGeneration = "index_generation";
    public const string MetaOldestPosition = "oldest_position";

    /// <summary>The read-only fence: set while this row of storage_meta exists (no migration: a store without it is not fenced).</summary>
    public const string MetaReadOnly = "read_only";

    /// <summary>The tables that hold index entries, one per value type: <c>value</c> is <c>text COLLATE "C"</c> or <c>bigint</c>.</summary>
    public const string StringEntries = "index_strings";
    public const string Int64Entries = "index_int64s";

    /// <summary><c>unique_scope</c> of an entry: not unique, unique within its partition, unique in the store.</summary>
    public const short NotUnique = 0;
    public const short UniqueInPartition = 1;
    public const short UniqueInStore = 2;

    public static IReadOnlyList<Migration> Migrations { get; } =
    [
        new(1, "initial schema: meta, partitions, documents, sequences, commit_log", static layout =>
        {
            var s = layout.Quoted;
            var statements = new List<string>
            {
                // Store-wide facts: the revision floor, the row purges serialize on, the layout chosen at creation.
                $"""
                CREATE TABLE {s}.storage_meta (
                    key   text COLLATE "C" NOT NULL PRIMARY KEY,
                    value bigint NOT NULL
                )
                """,
                $"""
                INSERT INTO {s}.storage_meta (key, value) VALUES
                    ('{MetaRevisionFloor}', 0), ('{MetaPurgeLock}', 0), ('{MetaHashPartitions}', {layout.HashPartitions.ToString(CultureInfo.InvariantCulture)})
                """,

                // One row per partition that exists: its revision, and the row every writer of the
                // partition locks first (the serialization point of conditional writes).
                $"""
                CREATE TABLE {s}.partitions (
                    partition text COLLATE "C" NOT NULL PRIMARY KEY,
                    revision  bigint NOT NULL CHECK (revision >= 0)
                )
                """,

                // The JSON is text, stored exactly as written (jsonb would reorder keys and respell numbers).
                $"""
                CREATE TABLE {s}.documents (
                    partition  text COLLATE "C" NOT NULL,
                    collection text COLLATE "C" NOT NULL,
                    key        text COLLATE "C" NOT NULL,
                    value      text NOT NULL,
                    version    bigint NOT NULL CHECK (version >= 1),
                    created_at timestamptz NOT NULL,
                    updated_at timestamptz NOT NULL,
                    expires_at timestamptz,
                    PRIMARY KEY (partition, collection, key)
                ){HashPartitioned(layout)}
                """,
            };

            statements.AddRange(HashPartitions(layout, "documents"));
            statements.AddRange(
            [
                $"CREATE INDEX documents_by_expiry ON {s}.documents (expires_at) WHERE expires_at IS NOT NULL",
                $"""
                CREATE TABLE {s}.sequences (
                    partition text COLLATE "C" NOT NULL,
                    name      text COLLATE "C" NOT NULL,
                    value     bigint NOT NULL CHECK (value >= 0),
                    PRIMARY KEY (partition, name)
                )
                """,

                // Operation ids of recent commits, written in the commit's own transaction: a commit
                // whose outcome was lost with the connection is looked up here, never re-applied.
                // partition '' (never a valid key) holds store-wide operations: partition deletes, purges.
                $"""
                CREATE TABLE {s}.commit_log (
                    partition    text COLLATE "C" NOT NULL,
                    operation_id uuid NOT NULL,
                    revision     bigint NOT NULL,
                    result       bigint,
                    committed_at timestamptz NOT NULL DEFAULT now(),
                    PRIMARY KEY (partition, operation_id)
                )
                """,
                $"CREATE INDEX commit_log_by_age ON {s}.commit_log (partition, committed_at)",
            ]);
            return statements;
        }),
        new(2, "streams, events, tombstones; sequence revisions, oldest resumable revisions, documents by version", static layout =>
        {
            var s = layout.Quoted;
            var statements = new List<string>
            {
                // The oldest revision a change-feed reader may resume after: a new partition's first
                // revision, raised as tombstones are dropped. A partition written before tombstones
                // were kept can only be resumed from its current revision (0 is the placeholder a
                // partition's first commit replaces).
                $"ALTER TABLE {s}.partitions ADD COLUMN oldest_resumable bigint NOT NULL DEFAULT 0",
                $"UPDATE {s}.partitions SET oldest_resumable = revision",

                // The revision of a sequence's last increment, for the change feed; unknown for older ones, so their partition's current revision.
                $"ALTER TABLE {s}.sequences ADD COLUMN revision bigint NOT NULL DEFAULT 0",
                $"UPDATE {s}.sequences q SET revision = p.revision FROM {s}.partitions p WHERE p.partition = q.partition",
                $"ALTER TABLE {s}.sequences ALTER COLUMN revision DROP DEFAULT",

                // The change feed reads a partition's documents by version.
                $"CREATE INDEX documents_by_version ON {s}.documents (partition, version)",

                // One row per stream: its last version (the row an append's expectation is checked against).
                $"""
                CREATE TABLE {s}.streams (
                    partition text COLLATE "C" NOT NULL,
                    stream    text COLLATE "C" NOT NULL,
                    version   bigint NOT NULL CHECK (version >= 1),
                    PRIMARY KEY (partition, stream)
                )
                """,

                // Events are never changed. data and metadata are text like documents.value: the JSON byte for byte; no metadata is NULL.
                $"""
                CREATE TABLE {s}.events (
                    partition    text COLLATE "C" NOT NULL,
                    stream       text COLLATE "C" NOT NULL,
                    version      bigint NOT NULL CHECK (version >= 1),
                    revision     bigint NOT NULL CHECK (revision >= 1),
                    event_id     uuid NOT NULL,
                    type         text COLLATE "C" NOT NULL,
                    data         text NOT NULL,
                    metadata     text,
                    committed_at timestamptz NOT NULL,
                    PRIMARY KEY (partition, stream, version)
                ){HashPartitioned(layout)}
                """,

                // What a delete of a live document leaves for the change feed, until a put of the key or a purge past the retention removes it.
                $"""
                CREATE TABLE {s}.tombstones (
                    partition  text COLLATE "C" NOT NULL,
                    collection text COLLATE "C" NOT NULL,
                    key        text COLLATE "C" NOT NULL,
                    revision   bigint NOT NULL CHECK (revision >= 1),
                    deleted_at timestamptz NOT NULL,
                    PRIMARY KEY (partition, collection, key)
                ){HashPartitioned(layout)}
                """,
            };

            statements.AddRange(HashPartitions(layout, "events"));
            statements.AddRange(HashPartitions(layout, "tombstones"));
            statements.AddRange(
            [
                $"CREATE INDEX events_by_revision ON {s}.events (partition, revision)",
                $"CREATE INDEX tombstones_by_revision ON {s}.tombstones (partition, revision)",
                $"CREATE INDEX tombstones_by_age ON {s}.tombstones (deleted_at)",
            ]);
            return statements;
        }),
        new(3, "secondary indexes: index_definitions, index_strings, index_int64s, the index catalog generation", static layout =>
        {
            var s = layout.Quoted;
            var statements = new List<string>
            {
                // The persisted declarations: an index is (re)built when its signature is new, and dropped
                // when no longer declared. Ids are never reused, so a query of a dropped index can tell.
                $"""
                CREATE TABLE {s}.index_definitions (
                    id         integer GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
                    collection text COLLATE "C" NOT NULL,
                    name       text COLLATE "C" NOT NULL,
                    signature  text COLLATE "C" NOT NULL,
                    UNIQUE (collection, name)
                )
                """,

                // Raised whenever the declarations change; every write checks it holds the value it opened with.
                $"INSERT INTO {s}.storage_meta (key, value) VALUES ('{MetaIndexGeneration}', 0)",
            };

            statements.AddRange(EntryTable(s, StringEntries, "text COLLATE \"C\""));
            statements.AddRange(EntryTable(s, Int64Entries, "bigint"));
            return statements;
        }),
        new(4, "the store-wide cursor: partitions.changed_xid, partition_marks, the oldest position", static layout =>
        {
            var s = layout.Quoted;
            return
            [
                // The position of a partition's latest change: the id of the transaction that made it
                // (txid_current(), 64 bits with the epoch). Partitions that exist already take 1, below
                // every transaction id (those start at 3), so a cursor from 0 lists them; placeholders
                // (revision 0) that writers insert take 0, out of every cursor's range.
                $"ALTER TABLE {s}.partitions ADD COLUMN changed_xid bigint NOT NULL DEFAULT 1",
                $"ALTER TABLE {s}.partitions ALTER COLUMN changed_xid SET DEFAULT 0",
                $"CREATE INDEX partitions_by_change ON {s}.partitions (changed_xid, partition)",

                // A deleted partition's mark, until the partition is created again or a purge drops it.
                $"""
                CREATE TABLE {s}.partition_marks (
                    partition   text COLLATE "C" NOT NULL PRIMARY KEY,
                    revision    bigint NOT NULL CHECK (revision >= 1),
                    changed_xid bigint NOT NULL,
                    deleted_at  timestamptz NOT NULL
                )
                """,
                $"CREATE INDEX partition_marks_by_change ON {s}.partition_marks (changed_xid, partition)",
                $"CREATE INDEX partition_marks_by_age ON {s}.partition_marks (deleted_at)",

                // The highest position of a mark a purge dropped: a cursor behind it must start over.
                $"INSERT INTO {s}.storage_meta (key, value) VALUES ('{MetaOldestPosition}', 0)",
            ];
        }),
    ];

    public static int LatestVersion => Migrations[^1].Version;

    /// <summary>
    /// One entries table: a row per (index, value, document) of a live document (rows of documents that
    /// have expired since are ignored by every reader and removed by purges). Not hash-partitioned, even
    /// when the documents are: entries are found by value across partitions, and a store-wide unique
    /// value needs a unique index over all of them.
    /// </summary>
    private static IEnumerable<string> EntryTable(string s, string table, string valueType)
    {
        // Queries across partitions scan the primary key in (value, partition, key) order, either way;
        // expires_at rides along so that counts read the index alone.
        yield return $"""
            CREATE TABLE {s}.{table} (
                index_id     integer NOT NULL,
                value        {valueType} NOT NULL,
                partition    text COLLATE "C" NOT NULL,
                key          text COLLATE "C" NOT NULL,
                expires_at   timestamptz,
                unique_scope smallint NOT NULL CHECK (unique_scope BETWEEN {NotUnique} AND {UniqueInStore}),
                PRIMARY KEY (index_id, value, partition, key) INCLUDE (expires_at)
            )
            """;

        // Queries of one partition (in (value, key) order), a document's entries, a partition's delete.
        yield return $"CREATE INDEX {table}_by_partition ON {s}.{table} (partition, index_id, value, key) INCLUDE (expires_at)";

        // Uniqueness, enforced by the database across every writer: an insert waits for a concurrent
        // inserter of the same value and fails if it commits. An expired holder's row is removed first.
        yield return $"CREATE UNIQUE INDEX {table}_unique_in_store ON {s}.{table} (index_id, value) WHERE unique_scope = {UniqueInStore}";
        yield return $"CREATE UNIQUE INDEX {table}_unique_in_partition ON {s}.{table} (index_id, value, partition) WHERE unique_scope = {UniqueInPartition}";

        // Purges remove the entries of expired documents.
        yield return $"CREATE INDEX {table}_by_expiry ON {s}.{table} (expires_at) WHERE expires_at IS NOT NULL";
    }

    /// <summary>The clause that makes a big table hash-partitioned on the partition key, when the layout asks for it.</summary>
    private static string HashPartitioned(SchemaLayout layout) => layout.HashPartitions > 0 ? " PARTITION BY HASH (partition)" : string.Empty;

    /// <summary>The tables <c>{table}_p0</c> … that hold a hash-partitioned table's rows.</summary>
    private static IEnumerable<string> HashPartitions(SchemaLayout layout, string table)
    {
        for (var i = 0; i < layout.HashPartitions; i++)
        {
            yield return string.Create(
                CultureInfo.InvariantCulture,
                $"CREATE TABLE {layout.Quoted}.{table}_p{i} PARTITION OF {layout.Quoted}.{table} FOR VALUES WITH (MODULUS {layout.HashPartitions}, REMAINDER {i})");
        }
    }
}
