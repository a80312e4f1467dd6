using System.Text;
using System.Text.RegularExpressions;
using Storage.Internal;

namespace Storage.Postgres.Internal;

/// <summary>
/// Every statement the store runs after open, for one schema. All of them take their values as
/// positional parameters and are prepared on each connection; the schema name is the only text
/// spliced in, validated and quoted. Every key comparison and ordering is <c>COLLATE "C"</c>: byte
/// order of UTF-8, which is Unicode code-point order.
/// </summary>
internal sealed partial class Sql
{
    public const string Begin = "BEGIN";

    /// <summary>Begins a read that sees one snapshot across several statements.</summary>
    public const string BeginSnapshot = "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY";
    public const string Commit = "COMMIT";
    public const string Rollback = "ROLLBACK";

    private readonly string[] _listDocuments;
    private readonly string[] _listStreams;

    public Sql(string schema)
    {
        Schema = schema;
        QuotedSchema = Quote(schema);
        var s = QuotedSchema;
        Indexes = new IndexSql(s);

        // A write locks its partitions' rows (or creates placeholders with revision 0) in code-point
        // order, as tombstone drops lock them, so transactions locking several partitions wait in one
        // direction only; an insert waits for any other transaction creating the same row.
        LockPartitions = $"""
            INSERT INTO {s}.partitions AS p (partition, revision)
            SELECT t.partition, 0 FROM unnest($1::text[]) AS t(partition) ORDER BY t.partition COLLATE "C"
            ON CONFLICT (partition) DO UPDATE SET revision = p.revision WHERE false
            """;
        // Every write transaction takes this lock first and holds it to its commit: setting the read-only
        // fence takes EXCLUSIVE, which waits for the writes in flight, and the fence is read after the
        // lock, in a later statement (a later snapshot), so a write that gets the lock after the fence
        // was set sees it.
        ShareFence = $"LOCK TABLE {s}.storage_meta IN ROW SHARE MODE";
        SetFence = [$"LOCK TABLE {s}.storage_meta IN EXCLUSIVE MODE", $"INSERT INTO {s}.storage_meta (key, value) VALUES ('{Internal.Schema.MetaReadOnly}', 1) ON CONFLICT (key) DO NOTHING"];
        ClearFence = $"DELETE FROM {s}.storage_meta WHERE key = '{Internal.Schema.MetaReadOnly}'";
        ReadFence = $"SELECT EXISTS (SELECT 1 FROM {s}.storage_meta WHERE key = '{Internal.Schema.MetaReadOnly}')";
        // The partitions' revisions, the revision floor, and the index catalog generation the write must
        // have opened with, and the read-only fence. Reading storage_meta holds a lock on it until the commit, so an open that
        // changes the declarations (LOCK TABLE storage_meta, see IndexSql.LockCatalog) waits for this
        // write, and a write that starts later waits for that open and then reads its generation.
        ReadPartitions = $"""
            SELECT p.partition, p.revision, m.value, g.value, EXISTS (SELECT 1 FROM {s}.storage_meta f WHERE f.key = '{Internal.Schema.MetaReadOnly}')
            FROM {s}.partitions p, {s}.storage_meta m, {s}.storage_meta g
            WHERE p.partition COLLATE "C" = ANY($1::text[]) AND m.key = '{Internal.Schema.MetaRevisionFloor}' AND g.key = '{Internal.Schema.MetaIndexGeneration}'
            """;
        FindCommits = $"""
            SELECT operation_id, result FROM {s}.commit_log
            WHERE partition IN ($1 COLLATE "C", '') AND operation_id = ANY($2)
            """;
        // The stored rows (expired or not) of the documents a write names; the value only of documents in
        // collections with indexes: their index entries are computed from it.
        ReadDocuments = $"""
            SELECT t.partition, t.collection, t.key, d.version, d.created_at, d.expires_at, CASE WHEN t.indexed THEN d.value END
            FROM unnest($1::text[], $2::text[], $3::text[], $4::boolean[]) AS t(partition, collection, key, indexed)
            JOIN {s}.documents d ON d.partition = t.partition COLLATE "C" AND d.collection = t.collection COLLATE "C" AND d.key = t.key COLLATE "C"
            """;
        ReadSequences = $"""
            SELECT name, value FROM {s}.sequences WHERE partition = $1 COLLATE "C" AND name COLLATE "C" = ANY($2::text[])
            """;
        ReadStreams = $"""
            SELECT stream, version FROM {s}.streams WHERE partition = $1 COLLATE "C" AND stream COLLATE "C" = ANY($2::text[])
            """;

        // The stored ids an append compares with its own to recognize a retry: fixed version windows
        // (appends that expect a version) and the last events of a stream (appends that expect any).
        ReadEventIds = $"""
            SELECT e.stream, e.version, e.event_id
            FROM unnest($2::text[], $3::bigint[], $4::bigint[]) AS w(stream, first, last)
            JOIN {s}.events e ON e.partition = $1 COLLATE "C" AND e.stream = w.stream COLLATE "C" AND e.version BETWEEN w.first AND w.last
            UNION ALL
            SELECT e.stream, e.version, e.event_id
            FROM unnest($5::text[], $6::bigint[]) AS t(stream, count)
            JOIN {s}.streams s ON s.partition = $1 COLLATE "C" AND s.stream = t.stream COLLATE "C"
            JOIN {s}.events e ON e.partition = $1 COLLATE "C" AND e.stream = s.stream AND e.version > s.version - t.count
            """;
        UpsertDocuments = $"""
            INSERT INTO {s}.documents AS d (partition, collection, key, value, version, created_at, updated_at, expires_at)
            SELECT t.partition, t.collection, t.key, t.value, t.version, t.created_at, t.updated_at, t.expires_at
            FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::bigint[], $6::timestamptz[], $7::timestamptz[], $8::timestamptz[])
                AS t(partition, collection, key, value, version, created_at, updated_at, expires_at)
            ON CONFLICT (partition, collection, key) DO UPDATE SET
                value = excluded.value, version = excluded.version, created_at = excluded.created_at,
                updated_at = excluded.updated_at, expires_at = excluded.expires_at
            """;
        DeleteDocuments = DeleteKeys(s, "documents");
        UpsertSequences = $"""
            INSERT INTO {s}.sequences (partition, name, value, revision)
            SELECT $1, t.name, t.value, t.revision FROM unnest($2::text[], $3::bigint[], $4::bigint[]) AS t(name, value, revision)
            ON CONFLICT (partition, name) DO UPDATE SET value = excluded.value, revision = excluded.revision
            """;
        UpsertTombstones = $"""
            INSERT INTO {s}.tombstones (partition, collection, key, revision, deleted_at)
            SELECT t.partition, t.collection, t.key, t.revision, $5 FROM unnest($1::text[], $2::text[], $3::text[], $4::bigint[]) AS t(partition, collection, key, revision)
            ON CONFLICT (partition, collection, key) DO UPDATE SET revision = excluded.revision, deleted_at = excluded.deleted_at
            """;
        DeleteTombstones = DeleteKeys(s, "tombstones");
        UpsertStreams = $"""
            INSERT INTO {s}.streams (partition, stream, version)
            SELECT $1, t.stream, t.version FROM unnest($2::text[], $3::bigint[]) AS t(stream, version)
            ON CONFLICT (partition, stream) DO UPDATE SET version = excluded.version
            """;

        // No metadata travels as '' (never valid JSON) and is stored as NULL.
        InsertEvents = $"""
            INSERT INTO {s}.events (partition, stream, version, revision, event_id, type, data, metadata, committed_at)
            SELECT $1, t.stream, t.version, t.revision, t.event_id, t.type, t.data, nullif(t.metadata, ''), $9
            FROM unnest($2::text[], $3::bigint[], $4::bigint[], $5::uuid[], $6::text[], $7::text[], $8::text[])
                AS t(stream, version, revision, event_id, type, data, metadata)
            """;

        LogCommit = $"INSERT INTO {s}.commit_log (partition, operation_id, revision, result) VALUES ($1, $2, $3, $4)";
        LogCommits = $"""
            INSERT INTO {s}.commit_log (partition, operation_id, revision, result)
            SELECT t.partition, $2, t.revision, NULL FROM unnest($1::text[], $3::bigint[]) AS t(partition, revision)
            """;
        PruneCommitLog = $"DELETE FROM {s}.commit_log WHERE partition COLLATE \"C\" = ANY($1::text[]) AND committed_at < now() - interval '1 hour'";
        CopyDocuments = $"COPY {s}.documents (partition, collection, key, value, version, created_at, updated_at, expires_at) FROM STDIN (FORMAT BINARY)";

        // A partition's first commit replaces the placeholder's oldest resumable revision (0) with its first
        // revision. Every commit moves its partitions to its own transaction id: their store-wide position.
        SetRevisions = $"""
            UPDATE {s}.partitions p SET revision = t.revision, oldest_resumable = greatest(p.oldest_resumable, t.oldest), changed_xid = txid_current()
            FROM unnest($1::text[], $2::bigint[], $3::bigint[]) AS t(partition, revision, oldest)
            WHERE p.partition = t.partition COLLATE "C"
            """;

        RaiseRevisionFloor = $"UPDATE {s}.storage_meta SET value = greatest(value, $1) WHERE key = '{Internal.Schema.MetaRevisionFloor}'";
        RaiseRevisionFloorUnlessFenced = $"""
            UPDATE {s}.storage_meta SET value = greatest(value, $1)
            WHERE key = '{Internal.Schema.MetaRevisionFloor}' AND NOT EXISTS (SELECT 1 FROM {s}.storage_meta f WHERE f.key = '{Internal.Schema.MetaReadOnly}')
            """;

        // What a partition holds, in this order: its documents, index entries, tombstones, sequences,
        // events and streams (a restore replaces them); a partition delete removes them, then its
        // commit-log entries and row.
        DeletePartitionContents =
        [
            .. new[] { "documents", Internal.Schema.StringEntries, Internal.Schema.Int64Entries, "tombstones", "sequences", "events", "streams" }
                .Select(table => $"DELETE FROM {s}.{table} WHERE partition = $1 COLLATE \"C\""),
        ];
        DeletePartition =
        [
            .. DeletePartitionContents,
            .. new[] { "commit_log", "partitions" }.Select(table => $"DELETE FROM {s}.{table} WHERE partition = $1 COLLATE \"C\""),
        ];

        // A restore writes rows with the revisions and times of its states, and each partition's row as it
        // was; the rows of one or several partitions, each row naming its own. The partitions hold nothing
        // else (new, or emptied first), so plain inserts.
        InsertRestoredTombstones = $"""
            INSERT INTO {s}.tombstones (partition, collection, key, revision, deleted_at)
            SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::bigint[], $5::timestamptz[])
            """;
        InsertRestoredSequences = $"""
            INSERT INTO {s}.sequences (partition, name, value, revision)
            SELECT * FROM unnest($1::text[], $2::text[], $3::bigint[], $4::bigint[])
            """;
        InsertRestoredStreams = $"""
            INSERT INTO {s}.streams (partition, stream, version)
            SELECT * FROM unnest($1::text[], $2::text[], $3::bigint[])
            """;
        InsertRestoredEvents = $"""
            INSERT INTO {s}.events (partition, stream, version, revision, event_id, type, data, metadata, committed_at)
            SELECT t.partition, t.stream, t.version, t.revision, t.event_id, t.type, t.data, nullif(t.metadata, ''), t.committed_at
            FROM unnest($1::text[], $2::text[], $3::bigint[], $4::bigint[], $5::uuid[], $6::text[], $7::text[], $8::text[], $9::timestamptz[])
                AS t(partition, stream, version, revision, event_id, type, data, metadata, committed_at)
            """;
        SetRestoredRevisions = $"""
            UPDATE {s}.partitions p SET revision = t.revision, oldest_resumable = t.oldest, changed_xid = txid_current()
            FROM unnest($1::text[], $2::bigint[], $3::bigint[]) AS t(partition, revision, oldest)
            WHERE p.partition = t.partition COLLATE "C"
            """;

        // The store-wide cursor's marks of deleted partitions: one per delete ($1 partition, $2 its
        // revision, $3 the delete's time), removed when the partition is created again.
        MarkDeleted = $"""
            INSERT INTO {s}.partition_marks (partition, revision, changed_xid, deleted_at) VALUES ($1, $2, txid_current(), $3)
            ON CONFLICT (partition) DO UPDATE SET revision = excluded.revision, changed_xid = excluded.changed_xid, deleted_at = excluded.deleted_at
            """;
        Unmark = $"DELETE FROM {s}.partition_marks WHERE partition COLLATE \"C\" = ANY($1::text[])";

        LockPurge = $"SELECT value, EXISTS (SELECT 1 FROM {s}.storage_meta f WHERE f.key = '{Internal.Schema.MetaReadOnly}') FROM {s}.storage_meta WHERE key = '{Internal.Schema.MetaPurgeLock}' FOR UPDATE";
        FindStoreCommits = $"SELECT operation_id, result FROM {s}.commit_log WHERE partition = '' AND operation_id = ANY($1)";

        // The expired documents of partitions no writer holds (a writer locks its partition's row first:
        // skipping those avoids waiting, and deadlocks); each partition's oldest resumable revision rises to
        // the newest version it loses, since a change-feed reader behind it never saw that version.
        PurgeExpired = $"""
            WITH locked AS (
                SELECT partition FROM {s}.partitions
                WHERE partition IN (SELECT partition FROM {s}.documents WHERE {Timestamps.ExpiredSql("expires_at", "$1")} LIMIT $2)
                FOR UPDATE SKIP LOCKED
            ), purged AS (
                DELETE FROM {s}.documents d USING locked l
                WHERE d.partition = l.partition AND {Timestamps.ExpiredSql("d.expires_at", "$1")}
                RETURNING d.partition, d.version
            ), raised AS (
                UPDATE {s}.partitions p SET oldest_resumable = greatest(p.oldest_resumable, r.version)
                FROM (SELECT partition, max(version) AS version FROM purged GROUP BY partition) r
                WHERE p.partition = r.partition
            )
            SELECT count(*) FROM purged
            """;

        // Tombstone drops raise their partitions' oldest resumable revision, so they lock the partition
        // rows first (in key order), as writers do, and then drop only those partitions' tombstones.
        LockTombstonePartitions = $"""
            SELECT partition FROM {s}.partitions
            WHERE partition IN (SELECT partition FROM {s}.tombstones WHERE deleted_at <= $1 LIMIT $2)
            ORDER BY partition COLLATE "C" FOR UPDATE
            """;
        DropTombstones = $"""
            WITH dropped AS (
                DELETE FROM {s}.tombstones d
                USING (SELECT partition, collection, key FROM {s}.tombstones
                       WHERE partition COLLATE "C" = ANY($2::text[]) AND deleted_at <= $1 LIMIT $3) t
                WHERE d.partition = t.partition AND d.collection = t.collection AND d.key = t.key
                RETURNING d.partition, d.revision
            ), raised AS (
                UPDATE {s}.partitions p SET oldest_resumable = greatest(p.oldest_resumable, r.revision)
                FROM (SELECT partition, max(revision) AS revision FROM dropped GROUP BY partition) r
                WHERE p.partition = r.partition
            )
            SELECT count(*) FROM dropped
            """;

        // Marks of partitions deleted at or before $1, up to $2 of them; the oldest position rises to the
        // newest dropped (greatest ignores the NULL of no row).
        DropMarks = $"""
            WITH dropped AS (
                DELETE FROM {s}.partition_marks m
                USING (SELECT partition FROM {s}.partition_marks WHERE deleted_at <= $1 LIMIT $2) t
                WHERE m.partition = t.partition AND m.deleted_at <= $1
                RETURNING m.changed_xid
            ), raised AS (
                UPDATE {s}.storage_meta SET value = greatest(value, (SELECT max(changed_xid) FROM dropped))
                WHERE key = '{Internal.Schema.MetaOldestPosition}'
            )
            SELECT count(*) FROM dropped
            """;

        // The store-wide cursor. A position is the id of the transaction that made the change. The
        // current position, read BEFORE the snapshot of the page: one below the lowest id of a running
        // transaction that holds a lock on storage_meta, or below the next id (xmax) read before it.
        // Every writer of the store locks storage_meta (ShareFence) before it has an id and holds the
        // lock to its end, so a writer with a lower id has ended before pg_locks was read, and so before
        // the page's snapshot: nothing at or below the position can appear later. Transactions of other
        // schemas, databases and apps do not hold it back. pg_locks shows 32-bit ids: each is the id
        // below the next one with those low 32 bits. A standby's pg_locks does not show the primary's
        // writers: there the position is the snapshot's xmin - 1 (every id below xmin has ended).
        CursorPosition = $"""
            WITH next AS MATERIALIZED (
                SELECT txid_snapshot_xmax(txid_current_snapshot()) AS id, txid_snapshot_xmin(txid_current_snapshot()) AS oldest, pg_is_in_recovery() AS standby
            ), locks AS MATERIALIZED (
                SELECT virtualtransaction, locktype, transactionid FROM pg_locks
                WHERE (locktype = 'transactionid' AND mode = 'ExclusiveLock' AND granted)
                   OR (locktype = 'relation' AND relation = '{s}.storage_meta'::regclass AND database = (SELECT oid FROM pg_database WHERE datname = current_database()))
            )
            SELECT CASE WHEN n.standby THEN n.oldest ELSE least(n.id, (
                       SELECT min(n.id - ((n.id - x.transactionid::text::bigint) % 4294967296))
                       FROM locks x JOIN locks m ON m.virtualtransaction = x.virtualtransaction AND m.locktype = 'relation'
                       WHERE x.locktype = 'transactionid')) END - 1
            FROM next n
            """;
        ReadCursorHead = $"""
            SELECT o.value, f.value FROM {s}.storage_meta o, {s}.storage_meta f
            WHERE o.key = '{Internal.Schema.MetaOldestPosition}' AND f.key = '{Internal.Schema.MetaRevisionFloor}'
            """;

        // A page, in one snapshot (BeginSnapshot) with the head: positions in ($1, $3], $3 the current
        // position. The edge is the position of the $2-th change (or of the last
        // one): the page holds every change up to it, whole positions, then at most one row without a
        // partition when a change follows it (HasMore).
        const string current = "$3";
        ReadChangedPartitions = $"""
            WITH edge AS MATERIALIZED (
                SELECT max(f.position) AS last FROM (
                    SELECT u.position FROM (
                        (SELECT changed_xid AS position FROM {s}.partitions
                         WHERE changed_xid > $1 AND changed_xid <= {current} AND revision > 0 ORDER BY changed_xid LIMIT $2)
                        UNION ALL
                        (SELECT changed_xid FROM {s}.partition_marks
                         WHERE changed_xid > $1 AND changed_xid <= {current} ORDER BY changed_xid LIMIT $2)
                    ) u ORDER BY u.position LIMIT $2
                ) f
            )
            SELECT c.partition, c.revision, c.deleted, c.position FROM (
                SELECT p.partition, p.revision, false AS deleted, p.changed_xid AS position FROM {s}.partitions p
                WHERE p.changed_xid > $1 AND p.changed_xid <= (SELECT last FROM edge) AND p.revision > 0
                UNION ALL
                SELECT m.partition, m.revision, true, m.changed_xid FROM {s}.partition_marks m
                WHERE m.changed_xid > $1 AND m.changed_xid <= (SELECT last FROM edge)
                UNION ALL
                (SELECT NULL, NULL, NULL, p.changed_xid FROM {s}.partitions p
                 WHERE p.changed_xid > (SELECT last FROM edge) AND p.changed_xid <= {current} AND p.revision > 0 LIMIT 1)
                UNION ALL
                (SELECT NULL, NULL, NULL, m.changed_xid FROM {s}.partition_marks m
                 WHERE m.changed_xid > (SELECT last FROM edge) AND m.changed_xid <= {current} LIMIT 1)
            ) c
            ORDER BY c.position, c.partition COLLATE "C"
            """;

        GetDocument = $"""
            SELECT value, version, created_at, updated_at, expires_at FROM {s}.documents
            WHERE partition = $1 COLLATE "C" AND collection = $2 COLLATE "C" AND key = $3 COLLATE "C" AND {Timestamps.LiveSql("expires_at", "$4")}
            """;
        GetSequence = $"SELECT value FROM {s}.sequences WHERE partition = $1 COLLATE \"C\" AND name = $2 COLLATE \"C\"";
        ListPartitions = $"""
            SELECT partition, revision FROM {s}.partitions
            WHERE partition > $1 COLLATE "C" AND revision > 0 ORDER BY partition COLLATE "C" LIMIT $2
            """;

        // Stream reads run in one snapshot (BeginSnapshot): the version, then the events of the range it gives.
        ReadStreamVersion = $"SELECT version FROM {s}.streams WHERE partition = $1 COLLATE \"C\" AND stream = $2 COLLATE \"C\"";
        ReadEvents = $"""
            SELECT version, revision, event_id, type, data, metadata, committed_at FROM {s}.events
            WHERE partition = $1 COLLATE "C" AND stream = $2 COLLATE "C" AND version BETWEEN $3 AND $4 ORDER BY version
            """;
        _listStreams = ListShapes($"SELECT stream, version FROM {s}.streams WHERE partition = $1 COLLATE \"C\" AND stream >= $2 COLLATE \"C\"", "stream", 3);

        // The change feed: the partition's revision and oldest resumable revision, then the candidates
        // after $2 in feed order (revision; documents and tombstones by collection and key, then events
        // by stream and version, then sequences by name), in the same snapshot. Each branch takes at
        // most $4 in that order from its (partition, revision) index, so the merge sorts few rows.
        ReadFeedPartition = $"SELECT revision, oldest_resumable FROM {s}.partitions WHERE partition = $1 COLLATE \"C\"";
        ReadChanges = $"""
            SELECT * FROM (
                (SELECT version AS revision, 0 AS rank, collection, key, NULL::text AS stream, NULL::bigint AS stream_version, NULL::text AS name,
                        value AS body, NULL::text AS metadata, NULL::uuid AS event_id, NULL::text AS type,
                        created_at AS time1, updated_at AS time2, expires_at AS time3, NULL::bigint AS number
                 FROM {s}.documents WHERE partition = $1 COLLATE "C" AND version > $2 AND {Timestamps.LiveSql("expires_at", "$3")}
                 ORDER BY version, collection COLLATE "C", key COLLATE "C" LIMIT $4)
                UNION ALL
                (SELECT revision, 0, collection, key, NULL, NULL, NULL, NULL, NULL, NULL, NULL, deleted_at, NULL, NULL, NULL
                 FROM {s}.tombstones WHERE partition = $1 COLLATE "C" AND revision > $2
                 ORDER BY revision, collection COLLATE "C", key COLLATE "C" LIMIT $4)
                UNION ALL
                (SELECT revision, 1, NULL, NULL, stream, version, NULL, data, metadata, event_id, type, committed_at, NULL, NULL, NULL
                 FROM {s}.events WHERE partition = $1 COLLATE "C" AND revision > $2
                 ORDER BY revision, stream COLLATE "C", version LIMIT $4)
                UNION ALL
                (SELECT revision, 2, NULL, NULL, NULL, NULL, name, NULL, NULL, NULL, NULL, NULL, NULL, NULL, value
                 FROM {s}.sequences WHERE partition = $1 COLLATE "C" AND revision > $2
                 ORDER BY revision, name COLLATE "C" LIMIT $4)
            ) c
            ORDER BY c.revision, c.rank, c.collection COLLATE "C", c.key COLLATE "C", c.stream COLLATE "C", c.stream_version, c.name COLLATE "C"
            LIMIT $4
            """;

        // Listings: [lower, upper) computed in code; the variants without an upper bound serve unbounded ranges.
        _listDocuments = ListShapes(
            $"""
            SELECT key, value, version, created_at, updated_at, expires_at
            FROM {s}.documents WHERE partition = $1 COLLATE "C" AND collection = $2 COLLATE "C" AND {Timestamps.LiveSql("expires_at", "$3")}
              AND key >= $4 COLLATE "C"
            """,
            "key",
            5);
    }

    /// <summary>The statements of secondary indexes.</summary>
    public IndexSql Indexes { get; }

    /// <summary>The schema name as configured.</summary>
    public string Schema { get; }

    /// <summary>The schema name, double-quoted for SQL.</summary>
    public string QuotedSchema { get; }

    /// <summary>A write transaction's settings (<c>set_config(name, value, is_local := true)</c>), one result: how long it may sit idle, and optionally relaxed durability and generic plans.</summary>
    public static string SetLocal(string idleTimeout, bool relaxed, bool genericPlans)
        => $"SELECT set_config('idle_in_transaction_session_timeout', '{idleTimeout}', true)"
            + (relaxed ? ", set_config('synchronous_commit', 'off', true)" : string.Empty)
            + (genericPlans ? ", set_config('plan_cache_mode', 'force_generic_plan', true)" : string.Empty);

    public string LockPartitions { get; }

    public string ReadPartitions { get; }

    public string ShareFence { get; }

    public string[] SetFence { get; }

    public string ClearFence { get; }

    public string ReadFence { get; }

    public string FindCommits { get; }

    public string ReadDocuments { get; }

    public string ReadSequences { get; }

    public string UpsertDocuments { get; }

    public string DeleteDocuments { get; }

    public string UpsertSequences { get; }

    public string ReadStreams { get; }

    public string ReadEventIds { get; }

    public string UpsertTombstones { get; }

    public string DeleteTombstones { get; }

    public string UpsertStreams { get; }

    public string InsertEvents { get; }

    public string LogCommit { get; }

    public string PruneCommitLog { get; }

    public string CopyDocuments { get; }

    public string SetRevisions { get; }

    public string LogCommits { get; }

    public string RaiseRevisionFloor { get; }

    /// <summary>Raises the revision floor to $1 unless the read-only fence is set (a restore's floor: after <see cref="ShareFence"/>).</summary>
    public string RaiseRevisionFloorUnlessFenced { get; }

    /// <summary>The statements that delete everything of a partition ($1), in order.</summary>
    public IReadOnlyList<string> DeletePartition { get; }

    /// <summary>The statements that delete what a partition ($1) holds, leaving its row and commit-log entries.</summary>
    public IReadOnlyList<string> DeletePartitionContents { get; }

    public string InsertRestoredTombstones { get; }

    public string InsertRestoredSequences { get; }

    public string InsertRestoredStreams { get; }

    public string InsertRestoredEvents { get; }

    public string SetRestoredRevisions { get; }

    public string MarkDeleted { get; }

    /// <summary>Removes the marks of partitions ($1) created again.</summary>
    public string Unmark { get; }

    public string DropMarks { get; }

    /// <summary>The cursor's current position (read before the page's snapshot).</summary>
    public string CursorPosition { get; }

    /// <summary>The cursor's oldest position and the revision floor.</summary>
    public string ReadCursorHead { get; }

    /// <summary>A page of the store-wide cursor after $1, reaching $2 partitions, up to the current position $3 (see the constructor).</summary>
    public string ReadChangedPartitions { get; }

    public string LockPurge { get; }

    public string FindStoreCommits { get; }

    public string PurgeExpired { get; }

    public string LockTombstonePartitions { get; }

    public string DropTombstones { get; }

    public string GetDocument { get; }

    public string GetSequence { get; }

    public string ListPartitions { get; }

    /// <summary>A page of a partition's live documents of a collection: $1 partition, $2 collection, $3 now, $4 lower bound, $5 limit, $6 upper bound (exclusive) when bounded.</summary>
    public string ListDocuments(bool descending, bool bounded) => _listDocuments[(descending ? 2 : 0) | (bounded ? 1 : 0)];

    /// <summary>A page of a partition's streams: $1 partition, $2 lower bound, $3 limit, $4 upper bound (exclusive) when bounded.</summary>
    public string ListStreams(bool descending, bool bounded) => _listStreams[(descending ? 2 : 0) | (bounded ? 1 : 0)];

    public string ReadStreamVersion { get; }

    public string ReadEvents { get; }

    public string ReadFeedPartition { get; }

    public string ReadChanges { get; }

    // Open and migrations: run once per open.
    public static string AdvisoryLock => "SELECT pg_advisory_xact_lock($1)";

    public static string ServerFacts => "SELECT current_setting('server_encoding'), current_setting('fsync'), current_setting('synchronous_commit')";

    public static string SchemaExists => "SELECT count(*) FROM pg_namespace WHERE nspname = $1";

    public static string SchemaTables => "SELECT tablename::text FROM pg_tables WHERE schemaname = $1 ORDER BY tablename";

    public string CreateSchema => $"CREATE SCHEMA {QuotedSchema}";

    public string CreateMigrationsTable => $"""
        CREATE TABLE IF NOT EXISTS {QuotedSchema}.{Internal.Schema.MigrationsTable} (
            version     integer NOT NULL PRIMARY KEY,
            description text NOT NULL,
            applied_at  timestamptz NOT NULL DEFAULT now()
        )
        """;

    public string GetMeta => $"SELECT value FROM {QuotedSchema}.storage_meta WHERE key = $1";

    public string MaxMigration => $"SELECT coalesce(max(version), 0) FROM {QuotedSchema}.{Internal.Schema.MigrationsTable}";

    public string RecordMigration => $"INSERT INTO {QuotedSchema}.{Internal.Schema.MigrationsTable} (version, description) VALUES ($1, $2)";

    /// <summary>The location named in format errors: the migrations table, schema-qualified.</summary>
    public string MigrationsLocation => $"{QuotedSchema}.{Internal.Schema.MigrationsTable}";

    /// <summary>
    /// Whether <paramref name="schema"/> is a valid schema name: 1 to 63 ASCII letters, digits or '_',
    /// starting with a letter or '_', not starting with <c>pg_</c> (reserved by PostgreSQL).
    /// </summary>
    public static bool IsValidSchemaName(string? schema)
        => schema is not null && SchemaName().IsMatch(schema) && !schema.StartsWith("pg_", StringComparison.OrdinalIgnoreCase);

    /// <summary>A 64-bit advisory-lock key for migrating <paramref name="schema"/>: FNV-1a of a fixed prefix and the name.</summary>
    public static long MigrationLockKey(string schema)
    {
        var hash = 14695981039346656037UL;
        foreach (var b in Encoding.UTF8.GetBytes("Storage.Postgres/migrate/" + schema))
        {
            hash = (hash ^ b) * 1099511628211UL;
        }

        return unchecked((long)hash);
    }

    /// <summary>The four listings of a range (ascending, ascending bounded, descending, descending bounded): the upper bound is the parameter after the limit.</summary>
    private static string[] ListShapes(string select, string key, int limit) =>
    [
        .. from direction in (string[])["ASC", "DESC"]
           from upper in (string[])["", $" AND {key} < ${limit + 1} COLLATE \"C\""]
           select $"{select}{upper} ORDER BY {key} COLLATE \"C\" {direction} LIMIT ${limit}",
    ];

    /// <summary>Deletes rows of a table keyed by (partition, collection, key), given as three arrays.</summary>
    private static string DeleteKeys(string s, string table) => $"""
        DELETE FROM {s}.{table} d USING unnest($1::text[], $2::text[], $3::text[]) AS t(partition, collection, key)
        WHERE d.partition = t.partition COLLATE "C" AND d.collection = t.collection COLLATE "C" AND d.key = t.key COLLATE "C"
        """;

    [GeneratedRegex(@"^[A-Za-z_][A-Za-z0-9_]{0,62}\z")]
    private static partial Regex SchemaName();

    private static string Quote(string identifier) => "\"" + identifier.Replace("\"", "\"\"", StringComparison.Ordinal) + "\"";
}
