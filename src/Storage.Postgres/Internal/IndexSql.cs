using System.Globalization;
using System.Text;
using Storage.Internal;

namespace Storage.Postgres.Internal;

/// <summary>
/// The statements of secondary indexes, for one schema: the catalog (declarations and generation),
/// the open-time build, and per value type (<see cref="Strings"/>, <see cref="Int64s"/>) the
/// maintenance, query and count statements. Every value comparison and ordering of strings is
/// <c>COLLATE "C"</c> (code-point order), like keys.
/// </summary>
internal sealed class IndexSql
{
    /// <summary>The name of the cursor an index build reads the documents through.</summary>
    private const string BuildCursor = "storage_index_build";

    /// <summary>How many documents a build reads per round trip.</summary>
    public const int BuildFetchSize = 10_000;

    public IndexSql(string quotedSchema)
    {
        var s = quotedSchema;
        ReadDefinitions = $"SELECT id, collection, name, signature FROM {s}.index_definitions ORDER BY id";
        InsertDefinition = $"INSERT INTO {s}.index_definitions (collection, name, signature) VALUES ($1, $2, $3) RETURNING id";
        DeleteDefinition = $"DELETE FROM {s}.index_definitions WHERE id = $1";
        IndexExists = $"SELECT EXISTS (SELECT FROM {s}.index_definitions WHERE id = $1)";

        // Every write transaction reads storage_meta (its lock is held until the commit): an open that
        // changes the declarations waits for the writes in flight and holds back new ones until it commits.
        LockCatalog = $"LOCK TABLE {s}.storage_meta IN ACCESS EXCLUSIVE MODE";
        SetGeneration = $"UPDATE {s}.storage_meta SET value = $1 WHERE key = '{Schema.MetaIndexGeneration}'";
        ReadGeneration = $"SELECT value FROM {s}.storage_meta WHERE key = '{Schema.MetaIndexGeneration}'";

        // A build reads the live documents of the collection in (partition, key) code-point order, the
        // order the reference model names a failing document in.
        DeclareBuildCursor = $"""
            DECLARE {BuildCursor} NO SCROLL CURSOR FOR
            SELECT partition, key, value, expires_at FROM {s}.documents
            WHERE collection = $1 COLLATE "C" AND {Timestamps.LiveSql("expires_at", "$2")}
            ORDER BY partition COLLATE "C", key COLLATE "C"
            """;
        FetchBuild = $"FETCH FORWARD {BuildFetchSize} FROM {BuildCursor}";
        CloseBuild = $"CLOSE {BuildCursor}";

        Strings = new EntrySql(s, Schema.StringEntries, "text", " COLLATE \"C\"");
        Int64s = new EntrySql(s, Schema.Int64Entries, "bigint", string.Empty);
    }

    public string ReadDefinitions { get; }

    public string InsertDefinition { get; }

    public string DeleteDefinition { get; }

    public string IndexExists { get; }

    public string LockCatalog { get; }

    public string SetGeneration { get; }

    public string ReadGeneration { get; }

    public string DeclareBuildCursor { get; }

    public string FetchBuild { get; }

    public string CloseBuild { get; }

    /// <summary>The statements of the string entries table.</summary>
    public EntrySql Strings { get; }

    /// <summary>The statements of the 64-bit integer entries table.</summary>
    public EntrySql Int64s { get; }

    /// <summary>Whether a failure is a unique index of the entries refusing a value another document holds.</summary>
    public static bool IsUniqueIndex(Npgsql.PostgresException e)
        => e.SqlState == Npgsql.PostgresErrorCodes.UniqueViolation
            && e.ConstraintName is { } name
            && (name.EndsWith(EntrySql.UniqueInStoreSuffix, StringComparison.Ordinal) || name.EndsWith(EntrySql.UniqueInPartitionSuffix, StringComparison.Ordinal))
            && (name.StartsWith(Schema.StringEntries, StringComparison.Ordinal) || name.StartsWith(Schema.Int64Entries, StringComparison.Ordinal));

    /// <summary>The entries table of an index's value type.</summary>
    public EntrySql For(IndexValueType type) => type == IndexValueType.String ? Strings : Int64s;
}

/// <summary>The statements of one entries table (<c>index_strings</c> or <c>index_int64s</c>).</summary>
internal sealed class EntrySql
{
    /// <summary>The name endings of the unique indexes of an entries table (see <see cref="Schema"/>, migration 3).</summary>
    public const string UniqueInStoreSuffix = "_unique_in_store";
    public const string UniqueInPartitionSuffix = "_unique_in_partition";

    private readonly string[] _queries = new string[16];
    private readonly string[] _counts = new string[4];

    public EntrySql(string s, string table, string valueType, string collate)
    {
        Table = table;
        var c = collate;

        // The holders of the unique values a write wants: anywhere for store-wide indexes ($1, $2), in
        // the value's partition for per-partition ones ($3, $4, $5). Each is a seek on a unique index.
        ReadHolders = $"""
            SELECT t.index_id, t.value, e.partition, e.key, e.expires_at
            FROM unnest($1::integer[], $2::{valueType}[]) AS t(index_id, value)
            JOIN {s}.{table} e ON e.index_id = t.index_id AND e.value = t.value{c} AND e.unique_scope = {Schema.UniqueInStore}
            UNION ALL
            SELECT t.index_id, t.value, e.partition, e.key, e.expires_at
            FROM unnest($3::integer[], $4::{valueType}[], $5::text[]) AS t(index_id, value, partition)
            JOIN {s}.{table} e ON e.index_id = t.index_id AND e.value = t.value{c} AND e.partition = t.partition COLLATE "C" AND e.unique_scope = {Schema.UniqueInPartition}
            """;

        // Entries by primary key. A takeover removes the entry of an expired holder, of any partition:
        // only while it is still expired ($6 is now), never one that a writer of that partition replaced meanwhile.
        DeleteEntries = $"""
            DELETE FROM {s}.{table} e
            USING unnest($1::integer[], $2::{valueType}[], $3::text[], $4::text[], $5::boolean[]) AS t(index_id, value, partition, key, takeover)
            WHERE e.index_id = t.index_id AND e.value = t.value{c} AND e.partition = t.partition COLLATE "C" AND e.key = t.key COLLATE "C"
              AND (NOT t.takeover OR {Timestamps.ExpiredSql("e.expires_at", "$6")})
            """;

        // In (index, value) order, the same in every transaction, so two writers of several unique values
        // wait for each other in one direction only. A row left by the same document (expired, not yet
        // purged) is overwritten; a value another document holds raises unique_violation (23505).
        InsertEntries = $"""
            INSERT INTO {s}.{table} AS e (index_id, value, partition, key, expires_at, unique_scope)
            SELECT t.index_id, t.value, t.partition, t.key, t.expires_at, t.unique_scope
            FROM unnest($1::integer[], $2::{valueType}[], $3::text[], $4::text[], $5::timestamptz[], $6::smallint[]) WITH ORDINALITY AS t(index_id, value, partition, key, expires_at, unique_scope, n)
            ORDER BY t.n
            ON CONFLICT (index_id, value, partition, key) DO UPDATE SET expires_at = excluded.expires_at
            """;

        DeleteIndex = $"DELETE FROM {s}.{table} WHERE index_id = $1";
        PurgeExpired = $"""
            DELETE FROM {s}.{table} e
            USING (SELECT index_id, value, partition, key FROM {s}.{table} WHERE {Timestamps.ExpiredSql("expires_at", "$1")} LIMIT $2 FOR UPDATE SKIP LOCKED) t
            WHERE e.index_id = t.index_id AND e.value = t.value AND e.partition = t.partition AND e.key = t.key
            """;
        Copy = $"COPY {s}.{table} (index_id, value, partition, key, expires_at, unique_scope) FROM STDIN (FORMAT BINARY)";

        for (var shape = 0; shape < _queries.Length; shape++)
        {
            _queries[shape] = BuildQuery(s, table, c, (shape & 1) != 0, (shape & 2) != 0, (shape & 4) != 0, (shape & 8) != 0);
        }

        for (var shape = 0; shape < _counts.Length; shape++)
        {
            _counts[shape] = BuildCount(s, table, c, (shape & 1) != 0, (shape & 2) != 0);
        }
    }

    public string Table { get; }

    public string ReadHolders { get; }

    public string DeleteEntries { get; }

    public string InsertEntries { get; }

    public string DeleteIndex { get; }

    public string PurgeExpired { get; }

    public string Copy { get; }

    /// <summary>
    /// A page of matches with their documents. Parameters: $1 index id, $2 collection, $3 now, $4 the
    /// row limit, $5 the lower bound (inclusive); then, in this order and only when the shape has them,
    /// the upper bound (exclusive), the partition, and the cursor's value, partition (across partitions
    /// only) and key.
    /// </summary>
    public string Query(bool partition, bool descending, bool bounded, bool cursor)
        => _queries[(partition ? 1 : 0) | (descending ? 2 : 0) | (bounded ? 4 : 0) | (cursor ? 8 : 0)];

    /// <summary>
    /// The number of live matches, and whether the index still exists. Parameters: $1 index id, $2 now,
    /// $3 the lower bound (inclusive); then the upper bound (exclusive) and the partition when the shape has them.
    /// </summary>
    public string Count(bool partition, bool bounded) => _counts[(partition ? 1 : 0) | (bounded ? 2 : 0)];

    private static string BuildQuery(string s, string table, string c, bool partition, bool descending, bool bounded, bool cursor)
    {
        // The page of entries first (a range scan that stops after $4 rows), then each one's document by
        // primary key (LIMIT 1 keeps the lookup a per-row subquery the planner cannot turn into a hash
        // join over the documents): the cost follows the page size, however the tables grow.
        var sql = new StringBuilder($"""
            SELECT e.value, e.partition, e.key, d.value, d.version, d.created_at, d.updated_at, d.expires_at
            FROM (
                SELECT value, partition, key FROM {s}.{table}
                WHERE index_id = $1 AND {Timestamps.LiveSql("expires_at", "$3")} AND value >= $5{c}
            """);
        var n = 6;
        if (bounded)
        {
            sql.Append(CultureInfo.InvariantCulture, $" AND value < ${n++}{c}");
        }

        if (partition)
        {
            sql.Append(CultureInfo.InvariantCulture, $" AND partition = ${n++} COLLATE \"C\"");
        }

        var direction = descending ? "DESC" : "ASC";
        var after = descending ? "<" : ">";
        if (cursor)
        {
            // A row comparison, which the B-tree scan starts from.
            if (partition)
            {
                sql.Append(CultureInfo.InvariantCulture, $" AND (value, key) {after} (${n++}{c}, ${n++} COLLATE \"C\")");
            }
            else
            {
                sql.Append(CultureInfo.InvariantCulture, $" AND (value, partition, key) {after} (${n++}{c}, ${n++} COLLATE \"C\", ${n++} COLLATE \"C\")");
            }
        }

        // In one partition, (value, key) is (value, partition, key) order: the partition index serves it.
        var order = partition
            ? $"value{c} {direction}, key COLLATE \"C\" {direction}"
            : $"value{c} {direction}, partition COLLATE \"C\" {direction}, key COLLATE \"C\" {direction}";
        sql.Append(CultureInfo.InvariantCulture, $"""

                ORDER BY {order}
                LIMIT $4
            ) e
            CROSS JOIN LATERAL (
                SELECT value, version, created_at, updated_at, expires_at FROM {s}.documents
                WHERE partition = e.partition AND collection = $2 COLLATE "C" AND key = e.key
                LIMIT 1
            ) d
            ORDER BY e.{order.Replace(", ", ", e.", StringComparison.Ordinal)}
            """);
        return sql.ToString();
    }

    private static string BuildCount(string s, string table, string c, bool partition, bool bounded)
    {
        // Counts read the index alone: expires_at is included in it.
        var sql = new StringBuilder($"""
            SELECT count(*), EXISTS (SELECT FROM {s}.index_definitions WHERE id = $1)
            FROM {s}.{table} e
            WHERE e.index_id = $1 AND {Timestamps.LiveSql("e.expires_at", "$2")} AND e.value >= $3{c}
            """);
        var n = 4;
        if (bounded)
        {
            sql.Append(CultureInfo.InvariantCulture, $" AND e.value < ${n++}{c}");
        }

        if (partition)
        {
            sql.Append(CultureInfo.InvariantCulture, $" AND e.partition = ${n} COLLATE \"C\"");
        }

        return sql.ToString();
    }
}
