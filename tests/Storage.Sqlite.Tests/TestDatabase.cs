using Microsoft.Data.Sqlite;
using Microsoft.Extensions.Time.Testing;

namespace Storage.Sqlite.Tests;

/// <summary>A fresh directory for one test's database files, removed afterwards.</summary>
internal sealed class TestDatabase : IDisposable
{
    public TestDatabase()
    {
        Directory = System.IO.Path.Combine(System.IO.Path.GetTempPath(), "storage-sqlite-tests", Guid.NewGuid().ToString("N"));
        System.IO.Directory.CreateDirectory(Directory);
        Path = System.IO.Path.Combine(Directory, "store.db");
    }

    public string Directory { get; }

    public string Path { get; }

    public FakeTimeProvider Clock { get; } = new(new DateTimeOffset(2026, 11, 23, 12, 0, 0, TimeSpan.Zero));

    public SqliteStoreOptions Options(string? path = null) => new() { Path = path ?? Path, TimeProvider = Clock };

    public SqliteStore Open(Action<SqliteStoreOptions>? configure = null)
    {
        var options = Options();
        configure?.Invoke(options);
        return SqliteStore.Open(options);
    }

    /// <summary>Opens a plain connection of the test's own (not the store's), as a person with sqlite3 would.</summary>
    public SqliteConnection Connect(string? path = null)
    {
        var connection = new SqliteConnection(new SqliteConnectionStringBuilder { DataSource = path ?? Path, Pooling = false }.ToString());
        connection.Open();
        return connection;
    }

    public static object? Scalar(SqliteConnection connection, string sql, params (string Name, object? Value)[] parameters)
    {
        using var command = connection.CreateCommand();
        command.CommandText = sql;
        foreach (var (name, value) in parameters)
        {
            command.Parameters.AddWithValue(name, value ?? DBNull.Value);
        }

        return command.ExecuteScalar();
    }

    public static void Execute(SqliteConnection connection, string sql)
    {
        using var command = connection.CreateCommand();
        command.CommandText = sql;
        command.ExecuteNonQuery();
    }

    /// <summary>The descriptors of this process open on <paramref name="path"/> or its -wal/-shm (Linux: /proc/self/fd).</summary>
    public static List<string> OpenDescriptorsOf(string path)
    {
        var found = new List<string>();
        foreach (var fd in System.IO.Directory.GetFiles("/proc/self/fd"))
        {
            try
            {
                if (new FileInfo(fd).LinkTarget is { } target && target.StartsWith(path, StringComparison.Ordinal))
                {
                    found.Add(target);
                }
            }
            catch (IOException)
            {
                // The descriptor closed while we looked.
            }
        }

        return found;
    }

    public void Dispose()
    {
        try
        {
            System.IO.Directory.Delete(Directory, recursive: true);
        }
        catch (IOException)
        {
        }
    }
}
