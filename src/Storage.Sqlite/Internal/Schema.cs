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
    ];

    public static int CurrentVersion(IReadOnlyList<Migration> migrations) => migrations.Count == 0 ? 0 : migrations[^1].Version;
}
