using Npgsql;
using Storage.Postgres.Internal;

namespace Storage.Postgres.Tests;

/// <summary>The tables, the migrations and how a store finds its schema.</summary>
public sealed class SchemaTests
{
    [Fact]
    public async Task Opening_creates_text_values_C_collated_keys_and_keys_led_by_the_partition()
    {
        await using var schema = await TestSchema.CreateAsync("layout");
        await schema.OpenAsync();

        var tables = await schema.QueryAsync("SELECT tablename::text FROM pg_tables WHERE schemaname = $1 ORDER BY 1", schema.Name);
        Assert.Equal(["commit_log", "documents", "events", "index_definitions", "index_int64s", "index_strings", "partition_marks", "partitions", "sequences", "storage_meta", "storage_migrations", "streams", "tombstones"], tables);

        var valueType = await schema.QueryAsync(
            "SELECT DISTINCT data_type::text FROM information_schema.columns WHERE table_schema = $1 AND table_name IN ('documents', 'events') AND column_name IN ('value', 'data', 'metadata')", schema.Name);
        Assert.Equal("text", Assert.Single(valueType));

        // Every key column compares bytes.
        var collations = await schema.QueryAsync(
            """
            SELECT DISTINCT coalesce(collation_name, 'default')::text FROM information_schema.columns
            WHERE table_schema = $1 AND (column_name IN ('partition', 'collection', 'key', 'name', 'stream', 'type', 'signature')
                OR (table_name = 'index_strings' AND column_name = 'value'))
            """,
            schema.Name);
        Assert.Equal("C", Assert.Single(collations));

        // The partition key leads every primary key and unique constraint of the tables of partitions'
        // data; index entries are keyed by index and value (found across partitions), the catalog by id.
        var firstColumns = await schema.QueryAsync(
            """
            SELECT c.conrelid::regclass::text || ':' || a.attname
            FROM pg_constraint c JOIN pg_namespace n ON n.oid = c.connamespace
            JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = c.conkey[1]
            WHERE n.nspname = $1 AND c.contype IN ('p', 'u') AND c.conrelid::regclass::text NOT LIKE '%storage_m%' AND c.conrelid::regclass::text NOT LIKE '%index_%'
            ORDER BY 1
            """,
            schema.Name);
        Assert.Equal(8, firstColumns.Count);
        Assert.All(firstColumns, c => Assert.EndsWith(":partition", (string)c!, StringComparison.Ordinal));

        foreach (var table in new[] { "index_strings", "index_int64s" })
        {
            var indexes = await schema.QueryAsync("SELECT indexdef FROM pg_indexes WHERE schemaname = $1 AND tablename = $2 ORDER BY indexname", schema.Name, table);
            Assert.Equal(
                [
                    $"(expires_at) WHERE (expires_at IS NOT NULL)",
                    $"(partition, index_id, value, key) INCLUDE (expires_at)",
                    $"(index_id, value, partition, key) INCLUDE (expires_at)",
                    $"(index_id, value, partition) WHERE (unique_scope = 1)",
                    $"(index_id, value) WHERE (unique_scope = 2)",
                ],
                indexes.Select(d => ((string)d!)[((string)d!).IndexOf('(', StringComparison.Ordinal)..]));
        }
    }

    [Fact]
    public async Task Migrations_are_recorded_by_number_and_opening_again_applies_nothing()
    {
        await using var schema = await TestSchema.CreateAsync("migrations");
        await schema.OpenAsync();
        await schema.OpenAsync();

        var versions = await schema.QueryAsync($"SELECT version FROM \"{schema.Name}\".storage_migrations ORDER BY version");
        Assert.Equal([1, 2, 3, 4], versions.Cast<int>());
    }

    [Fact]
    public async Task App_instances_starting_together_on_a_new_schema_do_not_race()
    {
        await using var schema = await TestSchema.CreateAsync("race");

        // Separate data sources, as separate app servers would have.
        var stores = await Task.WhenAll(Enumerable.Range(0, 8).Select(_ => schema.OpenAsync()));
        await Task.WhenAll(stores.Select((store, i) => store.PutAsync("p", "docs", $"k{i}", "1").AsTask()));

        Assert.Equal([1, 2, 3, 4], (await schema.QueryAsync($"SELECT version FROM \"{schema.Name}\".storage_migrations ORDER BY 1")).Cast<int>());
        Assert.Equal(8, (await stores[0].ListAsync("p", "docs")).Items.Count);
    }

    [Fact]
    public async Task A_schema_written_by_a_newer_library_is_refused_and_left_unchanged()
    {
        await using var schema = await TestSchema.CreateAsync("newer");
        var store = await schema.OpenAsync();
        await store.PutAsync("p", "docs", "a", "1");
        await schema.QueryAsync($"INSERT INTO \"{schema.Name}\".storage_migrations (version, description) VALUES (5, 'from the future')");

        var e = await Assert.ThrowsAsync<UnsupportedFormatException>(async () => await PostgresStore.OpenAsync(schema.Options()));

        Assert.Equal(5, e.FoundVersion);
        Assert.Equal(4, e.SupportedVersion);
        Assert.Contains(schema.Name, e.Location, StringComparison.Ordinal);
        Assert.Equal([1, 2, 3, 4, 5], (await schema.QueryAsync($"SELECT version FROM \"{schema.Name}\".storage_migrations ORDER BY 1")).Cast<int>());
        Assert.Equal("1", (await store.GetAsync("p", "docs", "a"))!.GetJsonText());
    }

    [Fact]
    public async Task A_schema_that_holds_other_tables_is_refused_as_not_ours()
    {
        await using var schema = await TestSchema.CreateAsync("foreign");
        await schema.QueryAsync($"CREATE SCHEMA \"{schema.Name}\"");
        await schema.QueryAsync($"CREATE TABLE \"{schema.Name}\".documents (id int)");

        var e = await Assert.ThrowsAsync<CorruptDataException>(async () => await PostgresStore.OpenAsync(schema.Options()));

        Assert.Contains("documents", e.Reason, StringComparison.Ordinal);
        Assert.Empty(await schema.QueryAsync($"SELECT 1 FROM pg_tables WHERE schemaname = $1 AND tablename = 'storage_migrations'", schema.Name));
    }

    [Theory]
    [InlineData("")]
    [InlineData("has space")]
    [InlineData("pg_catalog")]
    [InlineData("PG_x")]
    [InlineData("1starts_with_digit")]
    [InlineData("quote\"d")]
    [InlineData("semi;colon")]
    [InlineData("ünicode")]
    [InlineData("a234567890123456789012345678901234567890123456789012345678901234")]
    public async Task Schema_names_that_are_not_plain_identifiers_are_rejected_before_connecting(string name)
    {
        // The server would not answer: the name is checked first.
        var options = new PostgresStoreOptions { ConnectionString = "Host=127.0.0.1;Port=1", Schema = name };

        var e = await Assert.ThrowsAsync<ArgumentException>(async () => await PostgresStore.OpenAsync(options));

        Assert.Contains("Schema", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_data_source_with_multiplexing_is_refused_because_a_write_needs_one_connection()
    {
        var options = new PostgresStoreOptions { ConnectionString = "Host=127.0.0.1;Port=1;Multiplexing=true" };

        var e = await Assert.ThrowsAsync<ArgumentException>(async () => await PostgresStore.OpenAsync(options));

        Assert.Contains("Multiplexing", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_schema_name_with_upper_case_is_quoted_and_kept_as_written()
    {
        var name = "Mixed_" + TestSchema.UniqueSuffix();
        await using var schema = await TestSchema.CreateAsync("unused");
        var store = await PostgresStore.OpenAsync(schema.Options(o => o.Schema = name));
        try
        {
            await store.PutAsync("p", "docs", "a", "1");
            Assert.Equal([name], await schema.QueryAsync("SELECT nspname::text FROM pg_namespace WHERE nspname = $1", name));
            Assert.Empty(await schema.QueryAsync("SELECT nspname::text FROM pg_namespace WHERE nspname = $1", name.ToLowerInvariant()));
        }
        finally
        {
            await store.DisposeAsync();
            await schema.Server.DropSchemaAsync(name);
        }
    }

    [Theory]
    [InlineData(0)]
    [InlineData(4)]
    public async Task A_store_of_schema_version_1_is_migrated_its_sequences_and_partitions_taking_their_current_revision(int hashPartitions)
    {
        await using var schema = await TestSchema.CreateAsync("fromv1");
        var s = $"\"{schema.Name}\"";
        await CreateVersionAsync(schema, 1, hashPartitions);
        await schema.QueryAsync($"INSERT INTO {s}.partitions (partition, revision) VALUES ('p', 5), ('q', 2)");
        await schema.QueryAsync(
            $$"""
            INSERT INTO {{s}}.documents (partition, collection, key, value, version, created_at, updated_at) VALUES
                ('p', 'docs', 'a', '{"a": 1.0}', 3, now(), now()), ('p', 'docs', 'b', '2', 5, now(), now()), ('q', 'docs', 'x', '3', 2, now(), now())
            """);
        await schema.QueryAsync($"INSERT INTO {s}.sequences (partition, name, value) VALUES ('p', 'ids', 7)");

        // The options ask for another layout: the one recorded at creation counts.
        var store = await schema.OpenAsync(o => o.HashPartitions = hashPartitions == 0 ? 8 : 0);

        Assert.Equal([1, 2, 3, 4], (await schema.QueryAsync($"SELECT version FROM {s}.storage_migrations ORDER BY 1")).Cast<int>());
        Assert.Equal(hashPartitions, store.HashPartitions);
        foreach (var table in new[] { "documents", "events", "tombstones" })
        {
            var children = await schema.QueryAsync("SELECT count(*) FROM pg_inherits WHERE inhparent = (quote_ident($1) || '.' || $2)::regclass", schema.Name, table);
            Assert.Equal((long)hashPartitions, Assert.Single(children));
        }

        // Sequences take their partition's revision; partitions can be resumed from their current revision on.
        var feed = await store.ReadChangesAsync("p", 0);
        Assert.Equal(["3 Put a {\"a\": 1.0}", "5 Put b 2", "5 Sequence ids=7"], feed.Items.Select(Describe));
        Assert.Equal(5, feed.LastRevision);
        var e = await Assert.ThrowsAsync<ChangeFeedTruncatedException>(async () => await store.ReadChangesAsync("p", 4));
        Assert.Equal(5, e.OldestResumableRevision);
        Assert.Empty((await store.ReadChangesAsync("p", 5)).Items);
        Assert.Empty((await store.ReadChangesAsync("q", 2)).Items);

        // And the store carries on with streams and tombstones.
        var result = await store.CommitAsync("p", [WriteOperation.Delete("docs", "a"), WriteOperation.Append("log", [EventData.Create("Deleted", "\"a\"")], ExpectedStreamVersion.NoStream)]);
        Assert.Equal(6, result.Revision);
        Assert.Equal(["6 Delete a", "6 Append log#1"], (await store.ReadChangesAsync("p", 5)).Items.Select(Describe));
        Assert.Equal(8, await store.IncrementSequenceAsync("p", "ids"));
        Assert.Equal(["7 Sequence ids=8"], (await store.ReadChangesAsync("p", 6)).Items.Select(Describe));
    }

    [Theory]
    [InlineData(0)]
    [InlineData(4)]
    public async Task A_store_of_schema_version_2_is_migrated_and_its_documents_indexed_at_the_same_open(int hashPartitions)
    {
        await using var schema = await TestSchema.CreateAsync("fromv2");
        var s = $"\"{schema.Name}\"";
        await CreateVersionAsync(schema, 2, hashPartitions);
        await schema.QueryAsync($"INSERT INTO {s}.partitions (partition, revision, oldest_resumable) VALUES ('p', 3, 1), ('q', 1, 1)");
        await schema.QueryAsync(
            $$"""
            INSERT INTO {{s}}.documents (partition, collection, key, value, version, created_at, updated_at, expires_at) VALUES
                ('p', 'users', 'a', '{"email":"a@x","age":30}', 1, now(), now(), NULL),
                ('p', 'users', 'b', '{"email":"b@x","age":40}', 3, now(), now(), NULL),
                ('p', 'users', 'gone', '{"email":"a@x","age":"old"}', 2, now(), now(), now() - interval '1 day'),
                ('q', 'users', 'a', '{"age":30}', 1, now(), now(), NULL)
            """);
        IndexDefinition[] indexes =
        [
            new("users", "email", "email", IndexValueType.String, unique: true, IndexScope.Global),
            new("users", "age", "age", IndexValueType.Int64),
        ];

        var store = await schema.OpenAsync(o => (o.Indexes, o.HashPartitions) = (indexes, hashPartitions == 0 ? 8 : 0));

        Assert.Equal([1, 2, 3, 4], (await schema.QueryAsync($"SELECT version FROM {s}.storage_migrations ORDER BY 1")).Cast<int>());
        Assert.Equal(hashPartitions, store.HashPartitions);
        Assert.Equal(1L, Assert.Single(await schema.QueryAsync($"SELECT value FROM {s}.storage_meta WHERE key = 'index_generation'")));
        Assert.Equal(["users.email", "users.age"], (await schema.QueryAsync($"SELECT collection || '.' || name FROM {s}.index_definitions ORDER BY id")).Cast<string>());

        // Only live documents are indexed: the expired one holds no value, not even the wrong type.
        Assert.Equal([("p", "a"), ("q", "a")], (await store.QueryAsync(new IndexQuery("users", "age") { Equal = 30L })).Items.Select(m => (m.Document.Partition, m.Document.Key)));
        Assert.Equal(2, await store.CountAsync(new IndexQuery("users", "email")));
        await Assert.ThrowsAsync<UniqueConstraintException>(async () => await store.PutAsync("q", "users", "b", """{"email":"b@x"}"""));
        Assert.Equal(4, (await store.PutAsync("p", "users", "gone", """{"email":"c@x"}""")));
        Assert.Equal(["a@x", "b@x", "c@x"], (await store.QueryAsync(new IndexQuery("users", "email"))).Items.Select(m => m.Value.AsString));

        // Opening again changes nothing.
        await schema.OpenAsync(o => o.Indexes = indexes);
        Assert.Equal(1L, Assert.Single(await schema.QueryAsync($"SELECT value FROM {s}.storage_meta WHERE key = 'index_generation'")));
        await store.PutAsync("q", "users", "c", """{"age":50}""");
    }

    [Fact]
    public async Task Hash_partitioning_splits_the_documents_events_and_tombstones_tables_on_the_partition_key()
    {
        await using var schema = await TestSchema.CreateAsync("hash");
        var store = await schema.OpenAsync(o => o.HashPartitions = 8);
        for (var i = 0; i < 40; i++)
        {
            await store.PutAsync($"user{i}", "docs", "a", "1");
        }

        Assert.Equal(8, store.HashPartitions);
        var children = await schema.QueryAsync(
            "SELECT count(*) FROM pg_inherits WHERE inhparent = (quote_ident($1) || '.documents')::regclass", schema.Name);
        Assert.Equal(8L, Assert.Single(children));
        foreach (var table in new[] { "events", "tombstones" })
        {
            Assert.Equal(8L, Assert.Single(await schema.QueryAsync("SELECT count(*) FROM pg_inherits WHERE inhparent = (quote_ident($1) || '.' || $2)::regclass", schema.Name, table)));
        }

        var used = await schema.QueryAsync($"SELECT count(DISTINCT tableoid) FROM \"{schema.Name}\".documents");
        Assert.True((long)used[0]! > 1, "documents of 40 partitions all landed in one hash partition");

        // The layout is chosen once: a store opened later with other options keeps it.
        var again = await schema.OpenAsync(o => o.HashPartitions = 0);
        Assert.Equal(8, again.HashPartitions);
        Assert.Equal(40, (await again.ListPartitionsAsync()).Items.Count);
    }

    [Fact]
    public async Task Statements_run_prepared_on_the_stores_connections()
    {
        await using var schema = await TestSchema.CreateAsync("prepared");
        var store = await schema.OpenAsync(o => o.ConnectionString += ";Maximum Pool Size=1");
        await store.PutAsync("p", "docs", "a", "1");
        await store.GetAsync("p", "docs", "a");
        await store.ListAsync("p", "docs");

        // With a pool of one, this is the connection the operations ran on.
        await using var connection = await store.ReadDataSource.OpenConnectionAsync();
        await using var command = new NpgsqlCommand("SELECT statement FROM pg_prepared_statements", connection);
        var prepared = new List<string>();
        await using (var reader = await command.ExecuteReaderAsync())
        {
            while (await reader.ReadAsync())
            {
                prepared.Add(reader.GetString(0));
            }
        }

        Assert.Contains(prepared, s => s.Contains("INSERT INTO", StringComparison.Ordinal) && s.Contains(".documents", StringComparison.Ordinal));
        Assert.Contains(prepared, s => s.Contains("SELECT value, version", StringComparison.Ordinal));
        Assert.Contains(prepared, s => s.Contains("ORDER BY key", StringComparison.Ordinal));
        Assert.Contains(prepared, s => s.Contains("FOR UPDATE", StringComparison.Ordinal) || s.Contains("ON CONFLICT (partition) DO UPDATE", StringComparison.Ordinal));
    }

    /// <summary>Creates the schema as the library did when <paramref name="version"/> was its last migration.</summary>
    internal static async Task CreateVersionAsync(TestSchema schema, int version, int hashPartitions)
    {
        var sql = new Sql(schema.Name);
        await using var connection = new NpgsqlConnection(schema.Server.ConnectionString);
        await connection.OpenAsync();
        await using var transaction = await connection.BeginTransactionAsync();
        foreach (var statement in new[] { sql.CreateSchema, sql.CreateMigrationsTable })
        {
            await using var command = new NpgsqlCommand(statement, connection, transaction);
            await command.ExecuteNonQueryAsync();
        }

        foreach (var migration in Internal.Schema.Migrations.Take(version))
        {
            foreach (var statement in migration.Statements(new SchemaLayout(sql.QuotedSchema, hashPartitions)))
            {
                await using var command = new NpgsqlCommand(statement, connection, transaction);
                await command.ExecuteNonQueryAsync();
            }

            await using var record = new NpgsqlCommand(sql.RecordMigration, connection, transaction);
            record.Parameters.Add(new NpgsqlParameter<int> { TypedValue = migration.Version });
            record.Parameters.Add(new NpgsqlParameter<string> { TypedValue = migration.Description });
            await record.ExecuteNonQueryAsync();
        }

        await transaction.CommitAsync();
    }

    private static string Describe(Change change) => change.Kind switch
    {
        ChangeKind.Put => $"{change.Revision} Put {change.Key} {change.Document!.GetJsonText()}",
        ChangeKind.Delete => $"{change.Revision} Delete {change.Key}",
        ChangeKind.Append => $"{change.Revision} Append {change.Event!.Stream}#{change.Event.Version}",
        _ => $"{change.Revision} Sequence {change.SequenceName}={change.SequenceValue}",
    };
}
