using Microsoft.Extensions.Logging;
using Npgsql;
using NpgsqlTypes;
using Storage.Internal;
using static Storage.Postgres.Internal.Commands;

namespace Storage.Postgres.Internal;

/// <summary>
/// Brings the persisted index declarations in line with the declared ones at open, as the engine's
/// <see cref="IndexSynchronization"/> plans it, inside the open's transaction (under its advisory lock,
/// so openers take turns): removed declarations go with their entries, then the builds read the live
/// documents. When anything changes, it first locks <c>storage_meta</c> — every write transaction reads
/// it, so the writes in flight finish first and new ones wait — and raises the catalog generation, so
/// instances opened with the old declarations refuse to write. All or nothing: a build that fails
/// rolls the open's transaction back.
/// </summary>
internal static class IndexSync
{
    /// <summary>Synchronizes the declarations (<see cref="IndexSynchronization"/> decides); returns the ids and the generation the store opens with.</summary>
    /// <exception cref="IndexBuildException">A live document cannot be indexed by an index that had to be built.</exception>
    public static async ValueTask<StoreIndexes> SyncAsync(NpgsqlConnection connection, Sql sql, IndexCatalog catalog, DateTimeOffset now, ILogger logger, CancellationToken cancellationToken)
    {
        var stored = new List<StoredIndex>();
        using (var command = Command(connection, sql.Indexes.ReadDefinitions))
        {
            var reader = await command.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
            await using var readerScope = reader.ConfigureAwait(false);
            while (await reader.ReadAsync(cancellationToken).ConfigureAwait(false))
            {
                stored.Add(new StoredIndex(reader.GetInt32(0), reader.GetString(1), reader.GetString(2), reader.GetString(3)));
            }
        }

        // Only opens change the generation, and they take turns.
        var generation = (long)(await ScalarAsync(connection, sql.Indexes.ReadGeneration, cancellationToken).ConfigureAwait(false))!;
        var plan = IndexSynchronization.Plan(catalog, stored, generation);
        var ids = plan.Kept.ToDictionary(k => k.Key, k => (int)k.Value, (IEqualityComparer<IndexDefinition>)ReferenceEqualityComparer.Instance);
        if (plan.HasChanges)
        {
            await ExecuteAsync(connection, sql.Indexes.LockCatalog, cancellationToken).ConfigureAwait(false);
            foreach (var index in plan.Removals)
            {
                await ExecuteAsync(connection, sql.Indexes.Strings.DeleteIndex, cancellationToken, P((int)index.Id)).ConfigureAwait(false);
                await ExecuteAsync(connection, sql.Indexes.Int64s.DeleteIndex, cancellationToken, P((int)index.Id)).ConfigureAwait(false);
                await ExecuteAsync(connection, sql.Indexes.DeleteDefinition, cancellationToken, P((int)index.Id)).ConfigureAwait(false);
            }

            foreach (var index in plan.Drops)
            {
                IndexBuilder.Dropped(logger, index.Collection, index.Name);
            }

            foreach (var build in plan.Builds)
            {
                ids[build.Index] = await BuildAsync(connection, sql, build, now, logger, cancellationToken).ConfigureAwait(false);
            }

            await ExecuteAsync(connection, sql.Indexes.SetGeneration, cancellationToken, P(plan.Generation)).ConfigureAwait(false);
        }

        return new StoreIndexes(plan.Catalog, ids, plan.Generation);
    }

    /// <summary>
    /// Builds one index: records it, then reads the live documents of its collection in (partition, key)
    /// order through a cursor, <see cref="IndexSql.BuildFetchSize"/> at a time, and loads each chunk's entries
    /// with a binary COPY.
    /// </summary>
    private static async ValueTask<int> BuildAsync(NpgsqlConnection connection, Sql sql, IndexBuild build, DateTimeOffset now, ILogger logger, CancellationToken cancellationToken)
    {
        var index = build.Index;
        var builder = new IndexBuilder(index, build.Reason, logger);
        var id = (int)(await ScalarAsync(connection, sql.Indexes.InsertDefinition, cancellationToken, P(index.Collection), P(index.Name), P(IndexCatalog.Signature(index))).ConfigureAwait(false))!;

        var entries = sql.Indexes.For(index.ValueType);
        var scope = StoreIndexes.UniqueScope(index);
        await ExecuteAsync(connection, sql.Indexes.DeclareBuildCursor, cancellationToken, P(index.Collection), P(now)).ConfigureAwait(false);
        var chunk = new List<(IndexValue Value, string Partition, string Key, DateTimeOffset? ExpiresAt)>();
        while (true)
        {
            chunk.Clear();
            var documents = 0;
            using (var command = Command(connection, sql.Indexes.FetchBuild))
            {
                var reader = await command.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
                await using var readerScope = reader.ConfigureAwait(false);
                while (await reader.ReadAsync(cancellationToken).ConfigureAwait(false))
                {
                    documents++;
                    var partition = reader.GetString(0);
                    var key = reader.GetString(1);
                    DateTimeOffset? expiresAt = reader.IsDBNull(3) ? null : reader.GetFieldValue<DateTimeOffset>(3);
                    foreach (var value in builder.Add(partition, key, reader.GetFieldValue<byte[]>(2)))
                    {
                        chunk.Add((value, partition, key, expiresAt));
                    }
                }
            }

            if (chunk.Count > 0)
            {
                var writer = await connection.BeginBinaryImportAsync(entries.Copy, cancellationToken).ConfigureAwait(false);
                await using (writer.ConfigureAwait(false))
                {
                    foreach (var (value, partition, key, expiresAt) in chunk)
                    {
                        await writer.StartRowAsync(cancellationToken).ConfigureAwait(false);
                        await writer.WriteAsync(id, NpgsqlDbType.Integer, cancellationToken).ConfigureAwait(false);
                        if (value.Type == IndexValueType.String)
                        {
                            await writer.WriteAsync(value.AsString, NpgsqlDbType.Text, cancellationToken).ConfigureAwait(false);
                        }
                        else
                        {
                            await writer.WriteAsync(value.AsInt64, NpgsqlDbType.Bigint, cancellationToken).ConfigureAwait(false);
                        }

                        await writer.WriteAsync(partition, NpgsqlDbType.Text, cancellationToken).ConfigureAwait(false);
                        await writer.WriteAsync(key, NpgsqlDbType.Text, cancellationToken).ConfigureAwait(false);
                        await WriteAsync(writer, expiresAt, cancellationToken).ConfigureAwait(false);

                        await writer.WriteAsync(scope, NpgsqlDbType.Smallint, cancellationToken).ConfigureAwait(false);
                    }

                    await writer.CompleteAsync(cancellationToken).ConfigureAwait(false);
                }
            }

            if (documents < IndexSql.BuildFetchSize)
            {
                break;
            }
        }

        await ExecuteAsync(connection, sql.Indexes.CloseBuild, cancellationToken).ConfigureAwait(false);
        builder.Complete();
        return id;
    }
}
