using Microsoft.Extensions.Logging;
using Npgsql;
using Storage.Internal;
using static Storage.Postgres.Internal.Commands;

namespace Storage.Postgres.Internal;

/// <summary>Creates or upgrades a store's schema at open.</summary>
internal static class Migrator
{
    /// <summary>
    /// Brings the schema up to date and the persisted index declarations in line with <paramref name="catalog"/>
    /// (<see cref="IndexSync"/>), in one transaction, under an advisory lock on the schema's name; returns
    /// the layout's hash partition count and the indexes the store opens with.
    /// </summary>
    /// <exception cref="IndexBuildException">An index that had to be built cannot index a live document; nothing was changed.</exception>
    public static async ValueTask<(int HashPartitions, StoreIndexes Indexes)> MigrateAsync(NpgsqlDataSource writer, bool multiHost, Sql sql, SchemaLayout layout, IndexCatalog catalog, DateTimeOffset now, ILogger logger, string server, CancellationToken cancellationToken)
    {
        var connection = await OpenAsync(writer, multiHost, cancellationToken).ConfigureAwait(false);
        await using var connectionScope = connection.ConfigureAwait(false);
        var transaction = await connection.BeginTransactionAsync(cancellationToken).ConfigureAwait(false);
        await using var transactionScope = transaction.ConfigureAwait(false);
        await ExecuteAsync(connection, Sql.AdvisoryLock, cancellationToken, P(Sql.MigrationLockKey(sql.Schema))).ConfigureAwait(false);

        string encoding, fsync, synchronousCommit;
        using (var command = Command(connection, Sql.ServerFacts))
        {
            var reader = await command.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
            await using var readerScope = reader.ConfigureAwait(false);
            await reader.ReadAsync(cancellationToken).ConfigureAwait(false);
            (encoding, fsync, synchronousCommit) = (reader.GetString(0), reader.GetString(1), reader.GetString(2));
        }

        if (!string.Equals(encoding, "UTF8", StringComparison.OrdinalIgnoreCase))
        {
            throw new StorageException(PostgresErrors.WrongEncoding(server, encoding));
        }

        if (string.Equals(fsync, "off", StringComparison.OrdinalIgnoreCase) || string.Equals(synchronousCommit, "off", StringComparison.OrdinalIgnoreCase))
        {
            Log.WeakDurability(logger, fsync, synchronousCommit);
        }

        var tables = new List<string>();
        using (var command = Command(connection, Sql.SchemaTables, P(sql.Schema)))
        {
            var reader = await command.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
            await using var readerScope = reader.ConfigureAwait(false);
            while (await reader.ReadAsync(cancellationToken).ConfigureAwait(false))
            {
                tables.Add(reader.GetString(0));
            }
        }

        if (!tables.Contains(Schema.MigrationsTable, StringComparer.Ordinal))
        {
            if (tables.Count > 0)
            {
                throw new CorruptDataException(sql.QuotedSchema, PostgresErrors.ForeignSchemaReason(string.Join(", ", tables.Take(5))));
            }

            // CREATE SCHEMA IF NOT EXISTS needs CREATE on the database even when the schema exists: ask first.
            if ((long)(await ScalarAsync(connection, Sql.SchemaExists, cancellationToken, P(sql.Schema)).ConfigureAwait(false))! == 0)
            {
                await ExecuteAsync(connection, sql.CreateSchema, cancellationToken).ConfigureAwait(false);
            }

            await ExecuteAsync(connection, sql.CreateMigrationsTable, cancellationToken).ConfigureAwait(false);
        }

        var applied = (int)(await ScalarAsync(connection, sql.MaxMigration, cancellationToken).ConfigureAwait(false))!;

        if (applied > Schema.LatestVersion)
        {
            throw new UnsupportedFormatException(sql.MigrationsLocation, applied, Schema.LatestVersion);
        }

        if (applied > 0)
        {
            // Later migrations follow the layout the store was created with, not today's options.
            layout = layout with { HashPartitions = await ReadHashPartitionsAsync(connection, sql, cancellationToken).ConfigureAwait(false) };
        }

        foreach (var migration in Schema.Migrations)
        {
            if (migration.Version <= applied)
            {
                continue;
            }

            foreach (var statement in migration.Statements(layout))
            {
                await ExecuteAsync(connection, statement, cancellationToken).ConfigureAwait(false);
            }

            await ExecuteAsync(connection, sql.RecordMigration, cancellationToken, P(migration.Version), P(migration.Description)).ConfigureAwait(false);
            Log.MigrationApplied(logger, migration.Version, migration.Description, sql.Schema);
        }

        var hashPartitions = await ReadHashPartitionsAsync(connection, sql, cancellationToken).ConfigureAwait(false);
        var indexes = await IndexSync.SyncAsync(connection, sql, catalog, now, logger, cancellationToken).ConfigureAwait(false);
        await transaction.CommitAsync(cancellationToken).ConfigureAwait(false);
        return (hashPartitions, indexes);
    }

    private static async ValueTask<int> ReadHashPartitionsAsync(NpgsqlConnection connection, Sql sql, CancellationToken cancellationToken)
        => await ScalarAsync(connection, sql.GetMeta, cancellationToken, P(Schema.MetaHashPartitions)).ConfigureAwait(false) is long count ? (int)count : 0;
}
