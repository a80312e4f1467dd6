using System.Net.Sockets;
using System.Net;
using Npgsql;
using Storage.Postgres.Internal;

namespace Storage.Postgres.Tests;

/// <summary>Connection strings and their passwords never reach an exception message or a log line.</summary>
public sealed class SecretTests
{
    private const string Password = "Sup3r-S3cret-pw";

    [Fact]
    public async Task An_unreachable_server_is_reported_without_the_password_or_the_user()
    {
        var logs = new ListLoggerFactory();
        var options = new PostgresStoreOptions
        {
            ConnectionString = $"Host=127.0.0.1;Port={ClosedPort()};Username=secret_user;Password={Password};Timeout=1",
            RetryBudget = TimeSpan.FromMilliseconds(500),
            LoggerFactory = logs,
        };

        var e = await Assert.ThrowsAsync<StoreUnavailableException>(async () => await PostgresStore.OpenAsync(options));

        AssertClean(Messages(e));
        Assert.NotEmpty(logs.Entries);
        Assert.All(logs.Entries, entry => AssertClean(entry.Message));
        Assert.Contains("127.0.0.1", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_malformed_connection_string_is_rejected_without_echoing_it()
    {
        var options = new PostgresStoreOptions { ConnectionString = $"Host=127.0.0.1;Password={Password};Port=not-a-number" };

        var e = await Assert.ThrowsAsync<ArgumentException>(async () => await PostgresStore.OpenAsync(options));

        AssertClean(Messages(e));
    }

    [Fact]
    public async Task Retries_and_resolved_commits_log_no_connection_details_or_values()
    {
        await using var schema = await TestSchema.CreateAsync("secrets");
        var logs = new ListLoggerFactory();

        // The test server trusts local connections, so the password is carried but never checked.
        var builder = new NpgsqlConnectionStringBuilder(schema.Server.ConnectionString) { Password = Password, Username = "postgres" };
        var store = await schema.OpenAsync(o =>
        {
            o.ConnectionString = builder.ConnectionString;
            o.LoggerFactory = logs;
        });
        var faults = 0;
        store.FaultInjector = (stage, _) => stage == CommitStage.AfterCommit && Interlocked.Increment(ref faults) == 1
            ? throw new NpgsqlException("simulated", new IOException("reset"))
            : ValueTask.CompletedTask;

        await store.PutAsync("secret-partition", "docs", "secret-key", "\"secret-value\"");

        Assert.Contains(logs.Entries, e => e.Event.Id == 1);
        Assert.Contains(logs.Entries, e => e.Event.Id == 3);
        Assert.All(logs.Entries, e =>
        {
            AssertClean(e.Message);
            Assert.DoesNotContain("secret-partition", e.Message, StringComparison.Ordinal);
            Assert.DoesNotContain("secret-key", e.Message, StringComparison.Ordinal);
            Assert.DoesNotContain("secret-value", e.Message, StringComparison.Ordinal);
        });
    }

    private static void AssertClean(string text)
    {
        Assert.DoesNotContain(Password, text, StringComparison.Ordinal);
        Assert.DoesNotContain("Password", text, StringComparison.OrdinalIgnoreCase);
        Assert.DoesNotContain("secret_user", text, StringComparison.Ordinal);
    }

    // Every message of the chain (a stack trace would name this test's methods).
    private static string Messages(Exception e)
    {
        var all = new System.Text.StringBuilder();
        for (Exception? current = e; current is not null; current = current.InnerException)
        {
            all.Append(current.GetType().Name).Append(": ").AppendLine(current.Message);
        }

        return all.ToString();
    }

    private static int ClosedPort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }
}
