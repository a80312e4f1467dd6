using System.Text;
using Storage.Sqlite.Internal;

namespace Storage.Sqlite.Tests;

/// <summary>
/// The SQLite translation of a restore (<see cref="IStoreRestore"/>): the restored partition's rows in
/// every table are the rows the source's own writes left — documents with their checksums, index
/// entries, tombstones, sequences, streams, events, the partition's row — whether the partition was
/// new or replaced one with more in it; a restore that meets a write committed since the engine read
/// the partition is tried again; a failure midway leaves the partition as it was; the floor raise is
/// durable; the read-only fence refuses both, read in their transaction.
/// </summary>
public sealed class RestoreTests : IDisposable
{
    private const string Users = "users";
    private const string P = "p";
    private static readonly IndexDefinition s_email = new(Users, "email", "email", IndexValueType.String, unique: true, IndexScope.Global);
    private static readonly IndexDefinition s_name = new(Users, "name", "name", IndexValueType.String);
    private static readonly IndexDefinition s_age = new(Users, "age", "age", IndexValueType.Int64);

    /// <summary>Every table that holds rows of a partition, with an order for comparing them.</summary>
    private static readonly string[] s_partitionTables =
    [
        "SELECT revision, oldest_resumable FROM partitions WHERE partition = @p",
        "SELECT collection, key, value, version, created_at, updated_at, expires_at, checksum FROM documents WHERE partition = @p ORDER BY collection, key",
        "SELECT index_id, value, key, expires_at, unique_scope FROM index_entries WHERE partition = @p ORDER BY index_id, value, key",
        "SELECT collection, key, revision, deleted_at FROM tombstones WHERE partition = @p ORDER BY collection, key",
        "SELECT name, value, revision FROM sequences WHERE partition = @p ORDER BY name",
        "SELECT stream, version FROM streams WHERE partition = @p ORDER BY stream",
        "SELECT stream, version, revision, event_id, type, data, metadata, committed_at, checksum FROM events WHERE partition = @p ORDER BY stream, version",
    ];

    private readonly TestDatabase _source = new();
    private readonly TestDatabase _destination = new();

    public void Dispose()
    {
        _source.Dispose();
        _destination.Dispose();
    }

    [Fact]
    public async Task A_restored_partition_has_the_rows_the_sources_writes_left_in_every_table_and_keeps_them_after_reopening()
    {
        var state = await SourceStateAsync();
        Assert.Contains(state.Documents, d => d.ExpiresAt <= _source.Clock.GetUtcNow());
        Assert.True(state.OldestResumable > 1);
        Assert.NotEmpty(state.Tombstones);

        await using (var store = OpenDestination())
        {
            Assert.Equal(RestoreOutcome.Created, await store.RestorePartitionAsync(state));
            Assert.Empty(ExportComparison.Compare(state, (await store.ExportPartitionAsync(P))!));
            Assert.Equal(0, (await store.GetExportInfoAsync()).RevisionFloor);
            Assert.Equal(RestoreOutcome.Unchanged, await store.RestorePartitionAsync(state));
        }

        Assert.Equal(Rows(_source, P), Rows(_destination, P));
        await using (var store = OpenDestination())
        {
            Assert.Empty(ExportComparison.Compare(state, (await store.ExportPartitionAsync(P))!));
            var ann = Assert.Single((await store.QueryAsync(new IndexQuery(Users, "email") { Equal = IndexValue.Of("a@x") })).Items);
            Assert.Equal(state.Documents.Single(d => d.Key == "a").Version, ann.Document.Version);
            Assert.Equal(2, await store.CountAsync(new IndexQuery(Users, "name")));
            Assert.Equal(2, (await store.ReadStreamAsync(P, "orders")).Items.Count);
        }
    }

    [Fact]
    public async Task A_replace_over_a_partition_holding_more_leaves_none_of_its_rows_and_index_queries_and_counts_agree()
    {
        var state = await SourceStateAsync();
        await using var store = OpenDestination();
        for (var i = 0; i < 30; i++)
        {
            await store.CommitAsync(P, [
                WriteOperation.Put(Users, $"old{i:D2}", $$"""{"email":"old{{i}}@x","name":"Old","age":{{i}}}"""),
                WriteOperation.Append($"old-stream-{i % 3}", [EventData.Create("Old", Encoding.UTF8.GetBytes("{}"))]),
            ]);
            await store.IncrementSequenceAsync(P, $"old-seq-{i % 4}");
        }

        await store.DeleteAsync(P, Users, "old00");
        Assert.Equal(29, await store.CountAsync(new IndexQuery(Users, "name") { Equal = IndexValue.Of("Old") }));

        Assert.Equal(RestoreOutcome.Replaced, await store.RestorePartitionAsync(state, RestoreMode.Replace));

        Assert.Equal(Rows(_source, P), Rows(_destination, P));
        Assert.Empty(ExportComparison.Compare(state, (await store.ExportPartitionAsync(P))!));
        Assert.Equal(0, await store.CountAsync(new IndexQuery(Users, "name") { Equal = IndexValue.Of("Old") }));
        Assert.Equal(1, await store.CountAsync(new IndexQuery(Users, "age")));
        Assert.Equal(["orders"], (await store.ListStreamsAsync(P)).Items.Select(s => s.Stream));

        // The old values are free again: another partition takes one.
        await store.PutAsync("q", Users, "k", """{"email":"old5@x"}""");
    }

    [Fact]
    public async Task A_restore_over_a_revision_a_write_moved_since_the_engine_read_it_writes_nothing_and_the_engine_tries_again()
    {
        var state = await SourceStateAsync();
        await using var store = OpenDestination();
        await store.PutAsync(P, Users, "mine", """{"name":"Mine"}""");
        var restores = new List<long?>();
        store.GroupCommitted = group =>
        {
            foreach (var write in group.Where(w => w.IsRestore))
            {
                lock (restores)
                {
                    restores.Add(write.RestoreOver);
                }
            }
        };

        // The put queues first and moves the partition to revision 2 in the group. The restore (a replace
        // reads first) read revision 1: its attempt finds revision 2, writes nothing, and the engine reads
        // the partition again and writes over revision 2.
        var turn = await WriterTurn.HoldAsync(store);
        var put = store.PutAsync(P, Users, "racer", """{"name":"Racer"}""").AsTask();
        await UntilQueuedAsync(store, 1);
        var restore = store.RestorePartitionAsync(state, RestoreMode.Replace).AsTask();
        await turn.ReleaseWhenQueuedAsync(2);

        Assert.Equal(2, await put);
        Assert.Equal(RestoreOutcome.Replaced, await restore);
        Assert.Equal([1L, 2L], restores);
        Assert.Equal(Rows(_source, P), Rows(_destination, P));
        Assert.Null(await store.GetAsync(P, Users, "racer"));
    }

    [Fact]
    public async Task A_failure_midway_through_a_restore_leaves_the_partition_as_it_was()
    {
        var state = await SourceStateAsync();
        await using var store = OpenDestination();
        await store.PutAsync(P, Users, "before", """{"email":"before@x","name":"Before"}""");
        await store.AppendAsync(P, "orders", [EventData.Create("Before", Encoding.UTF8.GetBytes("{}"))]);
        var before = Rows(_destination, P);

        // The second event of the stream is the restore's last row but the stream's version: everything before it is written.
        await store.WithWriterAsync(c =>
        {
            TestDatabase.Execute(c, "CREATE TRIGGER inject BEFORE INSERT ON events WHEN NEW.stream = 'orders' AND NEW.version = 2 BEGIN SELECT RAISE(ABORT, 'injected failure'); END");
            return 0;
        });
        var error = await Assert.ThrowsAnyAsync<Exception>(() => store.RestorePartitionAsync(state, RestoreMode.Replace).AsTask());
        Assert.Contains("injected failure", error.ToString(), StringComparison.Ordinal);
        Assert.Equal(before, Rows(_destination, P));

        await store.WithWriterAsync(c =>
        {
            TestDatabase.Execute(c, "DROP TRIGGER inject");
            return 0;
        });
        Assert.Equal(RestoreOutcome.Replaced, await store.RestorePartitionAsync(state, RestoreMode.Replace));
        Assert.Equal(Rows(_source, P), Rows(_destination, P));
    }

    [Fact]
    public async Task A_live_document_of_the_state_cannot_take_a_unique_value_a_live_document_holds_takes_one_an_expired_document_held_and_an_expired_one_claims_nothing()
    {
        var state = await SourceStateAsync();
        var now = _destination.Clock.GetUtcNow();
        await using var store = OpenDestination();
        await store.PutAsync("q", Users, "holder", """{"email":"a@x"}""");

        // The state's expired document b claims nothing: a live holder of its value elsewhere keeps it.
        await store.PutAsync("q", Users, "b-holder", """{"email":"b@x"}""");

        var error = await Assert.ThrowsAsync<UniqueConstraintException>(() => store.RestorePartitionAsync(state).AsTask());
        Assert.Equal(("email", IndexValue.Of("a@x")), (error.Index, error.Value));
        Assert.Equal(state.Documents.ToList().FindIndex(d => d.Key == "a"), error.OperationIndex);
        Assert.Null(await store.ExportPartitionAsync(P));

        // Once the holder has expired, the restore takes the value over, as a put would.
        await store.PutAsync("q", Users, "holder", """{"email":"a@x"}""", expiresAt: now.AddMinutes(1));
        _destination.Clock.Advance(TimeSpan.FromMinutes(2));
        Assert.Equal(RestoreOutcome.Created, await store.RestorePartitionAsync(state));
        Assert.Equal(P, Assert.Single((await store.QueryAsync(new IndexQuery(Users, "email") { Equal = IndexValue.Of("a@x") })).Items).Document.Partition);
        var bHolder = Assert.Single((await store.QueryAsync(new IndexQuery(Users, "email") { Equal = IndexValue.Of("b@x") })).Items).Document;
        Assert.Equal(("q", "b-holder"), (bHolder.Partition, bHolder.Key));
        Assert.Equal(1L, Scalar(_destination, "SELECT count(*) FROM index_entries WHERE partition = 'q'"));
    }

    [Fact]
    public async Task The_floor_raise_is_durable_never_lowers_the_floor_and_leaves_partitions_as_they_are()
    {
        await using (var store = OpenDestination())
        {
            await store.PutAsync(P, Users, "a", """{"name":"A"}""");
            await store.RaiseRevisionFloorAsync(50);
            await store.RaiseRevisionFloorAsync(10);
            Assert.Equal(1, (await store.GetAsync(P, Users, "a"))!.Version);
        }

        await using (var store = OpenDestination())
        {
            Assert.Equal(50, (await store.GetExportInfoAsync()).RevisionFloor);
            Assert.Equal(51, await store.PutAsync("new", Users, "a", """{"name":"A"}"""));
            Assert.Equal(2, await store.PutAsync(P, Users, "a", """{"name":"B"}"""));
        }
    }

    [Fact]
    public async Task The_read_only_fence_refuses_a_restore_and_a_floor_raise()
    {
        var state = await SourceStateAsync();
        await using var store = OpenDestination();
        await store.SetReadOnlyAsync(true);

        await Assert.ThrowsAsync<StoreReadOnlyException>(() => store.RestorePartitionAsync(state).AsTask());
        await Assert.ThrowsAsync<StoreReadOnlyException>(() => store.RaiseRevisionFloorAsync(5).AsTask());
        await store.SetReadOnlyAsync(false);
        Assert.Null(await store.ExportPartitionAsync(P));
        Assert.Equal(0, (await store.GetExportInfoAsync()).RevisionFloor);
    }

    /// <summary>
    /// The engine looks at the fence before it starts; the backend reads it again in the transaction
    /// that would write, so a fence set in between (by another process, here a plain connection) refuses.
    /// </summary>
    [Fact]
    public async Task The_backend_reads_the_fence_in_the_transaction_of_a_restore_and_of_a_floor_raise()
    {
        var state = await SourceStateAsync();
        await using var backend = SqliteBackend.Open(_destination.Options(), Schema.Migrations);
        using (var connection = _destination.Connect())
        {
            TestDatabase.Execute(connection, $"INSERT INTO storage_meta (key, value) VALUES ('{Schema.MetaReadOnly}', 1)");
        }

        var restore = PendingWrite.Restore(state, new IndexEntries?[state.Documents.Count], over: null);
        await Assert.ThrowsAsync<StoreReadOnlyException>(() => backend.CommitAsync([restore], _destination.Clock.GetUtcNow(), default).AsTask());
        await Assert.ThrowsAsync<StoreReadOnlyException>(() => backend.RaiseRevisionFloorAsync(5, default).AsTask());
        Assert.False(restore.IsCompleted);
        Assert.Null(await backend.ReadPartitionAsync(P, default));
        Assert.Equal(0, await backend.ReadRevisionFloorAsync(default));
    }

    private static async Task UntilQueuedAsync(SqliteStore store, int count)
    {
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(30);
        while (store.QueuedWrites < count)
        {
            Assert.True(DateTime.UtcNow < deadline, $"only {store.QueuedWrites} of {count} requests queued");
            await Task.Delay(5);
        }
    }

    private static void Configure(SqliteStoreOptions options)
    {
        options.Indexes = [s_email, s_name, s_age];
        options.TombstoneRetention = TimeSpan.FromHours(1);
    }

    /// <summary>Every row of the partition in every table, as text: what two stores hold for it, compared whole.</summary>
    private static List<string> Rows(TestDatabase database, string partition)
    {
        var rows = new List<string>();
        using var connection = database.Connect();
        foreach (var sql in s_partitionTables)
        {
            using var command = connection.CreateCommand();
            command.CommandText = sql;
            command.Parameters.AddWithValue("@p", partition);
            using var reader = command.ExecuteReader();
            while (reader.Read())
            {
                var values = new object[reader.FieldCount];
                reader.GetValues(values);
                rows.Add(sql[..sql.IndexOf(" WHERE", StringComparison.Ordinal)] + ": " + string.Join(" | ", values.Select(v => v is DBNull ? "NULL" : Convert.ToString(v, System.Globalization.CultureInfo.InvariantCulture))));
            }
        }

        return rows;
    }

    private static object? Scalar(TestDatabase database, string sql)
    {
        using var connection = database.Connect();
        return TestDatabase.Scalar(connection, sql);
    }

    private SqliteStore OpenDestination() => _destination.Open(Configure);

    /// <summary>
    /// A partition written by the source's own operations: documents with index values (one updated, one
    /// expired but not purged, one of another collection), a tombstone, one purged (its oldest resumable
    /// revision raised), a sequence, and a stream with and without metadata.
    /// </summary>
    private async Task<PartitionExport> SourceStateAsync()
    {
        await using var store = _source.Open(Configure);
        var clock = _source.Clock;
        await store.PutAsync(P, Users, "gone", """{"email":"gone@x","name":"Gone"}""");
        await store.DeleteAsync(P, Users, "gone");
        clock.Advance(TimeSpan.FromHours(2));
        await store.PurgeExpiredAsync();

        await store.PutAsync(P, Users, "a", """{"email":"a@x","name":"Ann","age":30}""");
        clock.Advance(TimeSpan.FromSeconds(1));
        await store.PutAsync(P, Users, "a", """{"email":"a@x","name":"Ann","age":31}""");
        await store.PutAsync(P, Users, "b", """{"email":"b@x","name":"Bob","age":40}""", expiresAt: clock.GetUtcNow().AddMinutes(1));
        await store.PutAsync(P, Users, "c", """{"name":"Cy","nick":"c"}""");
        await store.PutAsync(P, "other", "x", """{"email":"a@x"}""");
        await store.PutAsync(P, Users, "d", """{"email":"d@x"}""");
        await store.DeleteAsync(P, Users, "d");
        await store.IncrementSequenceAsync(P, "seq");
        await store.AppendAsync(P, "orders", [EventData.Create("Placed", Encoding.UTF8.GetBytes("""{"n":1}"""), Encoding.UTF8.GetBytes("""{"by":"me"}"""))]);
        clock.Advance(TimeSpan.FromSeconds(1));
        await store.AppendAsync(P, "orders", [EventData.Create("Paid", Encoding.UTF8.GetBytes("""{"n":1}"""))]);
        await store.IncrementSequenceAsync(P, "seq");
        clock.Advance(TimeSpan.FromMinutes(2));
        _destination.Clock.SetUtcNow(clock.GetUtcNow());
        return (await store.ExportPartitionAsync(P))!;
    }
}
