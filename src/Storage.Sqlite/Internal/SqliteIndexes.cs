using Microsoft.Extensions.Logging;
using Storage.Internal;

namespace Storage.Sqlite.Internal;

/// <summary>
/// The indexes a store opened with: the validated declarations, each one's row id in the
/// <c>indexes</c> table, and the catalog generation the open left (every write transaction checks
/// it is still current).
/// </summary>
internal sealed class SqliteIndexes
{
    private readonly Dictionary<IndexDefinition, long> _ids;
    private readonly Dictionary<long, IndexDefinition> _byId;

    private SqliteIndexes(IndexCatalog catalog, Dictionary<IndexDefinition, long> ids, long generation)
    {
        Catalog = catalog;
        _ids = ids;
        _byId = ids.ToDictionary(pair => pair.Value, pair => pair.Key);
        Generation = generation;
    }

    public IndexCatalog Catalog { get; }

    public long Generation { get; }

    public long Id(IndexDefinition index) => _ids[index];

    /// <summary>The declared index with a row id (every entry's index is declared: the open dropped the others, and writes check the generation).</summary>
    public IndexDefinition Index(long id) => _byId[id];

    /// <summary>
    /// Brings the persisted declarations in line with <paramref name="catalog"/> as the engine's
    /// <see cref="IndexSynchronization"/> plans it, inside the open's write transaction (the caller
    /// commits, or rolls back on any exception): the stored declarations that go are deleted with
    /// their entries; each new or changed one gets a new id (AUTOINCREMENT never reuses one) and is
    /// built from the live documents through <see cref="IndexBuilder"/>; the plan's generation is
    /// written when anything changed.
    /// </summary>
    /// <exception cref="IndexBuildException">Existing documents cannot be indexed by a new declaration.</exception>
    /// <exception cref="CorruptDataException">A document the build reads does not match its checksum.</exception>
    public static SqliteIndexes Synchronize(SqliteSession session, string path, IndexCatalog catalog, DateTimeOffset now, ILogger logger)
    {
        var stored = new List<StoredIndex>();
        using (var reader = session.Query(Sql.ListIndexes))
        {
            while (reader.Read())
            {
                stored.Add(new StoredIndex(reader.GetInt64(0), reader.GetString(1), reader.GetString(2), reader.GetString(3)));
            }
        }

        var generation = session.Scalar(Sql.GetMeta, Schema.MetaIndexGeneration) is long current ? current : 0;
        var plan = IndexSynchronization.Plan(catalog, stored, generation);
        var ids = plan.Kept.ToDictionary();
        if (!plan.HasChanges)
        {
            return new SqliteIndexes(plan.Catalog, ids, plan.Generation);
        }

        foreach (var index in plan.Removals)
        {
            session.Execute(Sql.DeleteIndexEntries, index.Id);
            session.Execute(Sql.DeleteIndex, index.Id);
        }

        var builds = new List<(IndexDefinition Index, long Id, string Reason)>();
        foreach (var build in plan.Builds)
        {
            var id = (long)session.Scalar(Sql.InsertIndex, build.Index.Collection, build.Index.Name, IndexCatalog.Signature(build.Index))!;
            ids.Add(build.Index, id);
            builds.Add((build.Index, id, build.Reason));
        }

        Build(session, path, builds, now.ToUnixTimeMilliseconds(), logger);

        // Logged once the builds succeeded: a failed build rolls the drops back with the rest.
        foreach (var index in plan.Drops)
        {
            IndexBuilder.Dropped(logger, index.Collection, index.Name);
        }

        session.Execute(Sql.SetMeta, Schema.MetaIndexGeneration, plan.Generation);
        return new SqliteIndexes(catalog, ids, plan.Generation);
    }

    /// <summary>For tests that open a store at a format before the index tables: no indexes, and none may be declared.</summary>
    public static SqliteIndexes WithoutTables(IndexCatalog catalog)
        => catalog.All.Count == 0 ? new(catalog, [], 0) : throw new InvalidOperationException("Indexes need the index tables (migration 3).");

    /// <summary>
    /// Builds the indexes with one read of each collection's live documents in (partition, key) order,
    /// feeding every index of the collection. A builder that fails stops taking documents while the
    /// others go on, and the failure reported is that of the first failing index in declaration
    /// order — the document the reference model (which builds one index after the other) names.
    /// </summary>
    private static void Build(SqliteSession session, string path, List<(IndexDefinition Index, long Id, string Reason)> builds, long nowMs, ILogger logger)
    {
        var failures = new Dictionary<IndexDefinition, IndexBuildException>();
        var completed = new List<IndexBuilder>();
        foreach (var collection in builds.GroupBy(b => b.Index.Collection, StringComparer.Ordinal))
        {
            var builders = collection.Select(b => (Builder: new IndexBuilder(b.Index, b.Reason, logger), b.Id, Scope: UniqueScope(b.Index))).ToList();
            using (var reader = session.Query(Sql.ReadIndexSource, collection.Key, nowMs))
            {
                while (reader.Read())
                {
                    var document = RowChecksum.ReadDocument(reader, 2, path, reader.GetString(0), collection.Key, reader.GetString(1));
                    object? expiresAt = document.ExpiresAt?.ToUnixTimeMilliseconds();
                    foreach (var (builder, id, scope) in builders)
                    {
                        if (failures.ContainsKey(builder.Index))
                        {
                            continue;
                        }

                        try
                        {
                            foreach (var indexed in builder.Add(document.Partition, document.Key, document.Value))
                            {
                                session.Execute(Sql.InsertEntry, id, IndexValueRange.ToScalar(indexed), document.Partition, document.Key, expiresAt, scope);
                            }
                        }
                        catch (IndexBuildException e)
                        {
                            failures.Add(builder.Index, e);
                        }
                    }
                }
            }

            completed.AddRange(builders.Select(b => b.Builder));
        }

        if (builds.FirstOrDefault(b => failures.ContainsKey(b.Index)) is { Index: { } failed })
        {
            throw failures[failed];
        }

        foreach (var builder in completed)
        {
            builder.Complete();
        }
    }

    /// <summary>The unique_scope of an index's entries: its scope when it is unique, else NULL.</summary>
    public static object? UniqueScope(IndexDefinition index) => index.Unique ? (long)index.Scope : null;
}
