using System.Diagnostics;
using System.Net.Sockets;
using System.Text;
using Storage.Testing.Postgres;

namespace Storage.Postgres.Tests;

/// <summary>The test server's discovery: the Docker probe answers quickly, and the server the run uses is real.</summary>
public sealed class TestServerTests
{
    [Fact]
    public void The_docker_probe_says_no_at_once_when_there_is_no_engine()
    {
        var missing = Path.Combine(Path.GetTempPath(), "no-docker-" + Guid.NewGuid().ToString("N") + ".sock");
        var clock = Stopwatch.StartNew();

        Assert.False(DockerEngine.IsReachable(null, missing, out var noSocket));
        Assert.False(DockerEngine.IsReachable("unix://" + missing, missing, out var noHostSocket));
        Assert.False(DockerEngine.IsReachable("tcp://127.0.0.1:1", missing, out var refused));

        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(5));
        Assert.Contains("does not exist", noSocket, StringComparison.Ordinal);
        Assert.Contains("did not", noHostSocket, StringComparison.Ordinal);
        Assert.Contains("did not", refused, StringComparison.Ordinal);
    }

    [Fact]
    public async Task The_docker_probe_says_yes_to_a_socket_that_answers_the_ping()
    {
        var path = Path.Combine(Path.GetTempPath(), "fake-docker-" + Guid.NewGuid().ToString("N") + ".sock");
        using var listener = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        listener.Bind(new UnixDomainSocketEndPoint(path));
        listener.Listen();
        var engine = Task.Run(async () =>
        {
            using var client = await listener.AcceptAsync();
            var buffer = new byte[1024];
            var read = await client.ReceiveAsync(buffer);
            Assert.StartsWith("GET /_ping ", Encoding.ASCII.GetString(buffer, 0, read), StringComparison.Ordinal);
            await client.SendAsync(Encoding.ASCII.GetBytes("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nOK"));
        });

        try
        {
            Assert.True(DockerEngine.IsReachable(null, path, out var detail), detail);
            await engine;
        }
        finally
        {
            File.Delete(path);
        }
    }

    [Fact]
    public async Task The_run_has_a_real_utf8_server()
    {
        var server = await PostgresTestServer.GetAsync();
        await using var schema = await TestSchema.CreateAsync("server");

        Assert.Equal(["UTF8"], await schema.QueryAsync("SHOW server_encoding"));
        if (server.Cluster is not null)
        {
            // The throwaway cluster keeps fsync on: durability tests mean what they say.
            Assert.Equal(["on"], await schema.QueryAsync("SHOW fsync"));
        }

        Assert.False(string.IsNullOrEmpty(server.Source));
    }
}
