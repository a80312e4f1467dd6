using System.Net;
using System.Net.Sockets;
using System.Text;

namespace Storage.Testing.Postgres;

/// <summary>Tells cheaply whether a Docker engine answers: DOCKER_HOST (unix or tcp), else /var/run/docker.sock, pinged with a short timeout.</summary>
public static class DockerEngine
{
    /// <summary>Whether a Docker engine answers its ping.</summary>
    /// <param name="detail">What was tried, for messages.</param>
    /// <returns><see langword="true"/> when the engine answered.</returns>
    public static bool IsReachable(out string detail)
        => IsReachable(Environment.GetEnvironmentVariable("DOCKER_HOST"), "/var/run/docker.sock", out detail);

    /// <summary>Whether a Docker engine answers its ping at <paramref name="host"/>, or at <paramref name="defaultSocket"/> when no host is given.</summary>
    /// <param name="host">A DOCKER_HOST value (<c>unix://…</c> or <c>tcp://…</c>), or <see langword="null"/>.</param>
    /// <param name="defaultSocket">The socket to try without a host.</param>
    /// <param name="detail">What was tried, for messages.</param>
    /// <returns><see langword="true"/> when the engine answered.</returns>
    public static bool IsReachable(string? host, string defaultSocket, out string detail)
    {
        EndPoint endPoint;
        if (string.IsNullOrEmpty(host))
        {
            if (!File.Exists(defaultSocket))
            {
                detail = $"DOCKER_HOST is not set and {defaultSocket} does not exist";
                return false;
            }

            endPoint = new UnixDomainSocketEndPoint(defaultSocket);
        }
        else if (host.StartsWith("unix://", StringComparison.Ordinal))
        {
            endPoint = new UnixDomainSocketEndPoint(host["unix://".Length..]);
        }
        else if (host.StartsWith("tcp://", StringComparison.Ordinal) && Uri.TryCreate(host, UriKind.Absolute, out var uri))
        {
            endPoint = new DnsEndPoint(uri.Host, uri.Port);
        }
        else
        {
            detail = $"DOCKER_HOST has a scheme this probe does not know ({host.Split(':')[0]})";
            return false;
        }

        try
        {
            using var socket = endPoint is UnixDomainSocketEndPoint
                ? new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified)
                : new Socket(SocketType.Stream, ProtocolType.Tcp);
            socket.ReceiveTimeout = 2000;
            socket.SendTimeout = 2000;
            if (!socket.ConnectAsync(endPoint).Wait(TimeSpan.FromSeconds(2)))
            {
                detail = $"the Docker engine at {endPoint} did not accept a connection within 2 s";
                return false;
            }

            socket.Send(Encoding.ASCII.GetBytes("GET /_ping HTTP/1.0\r\nHost: docker\r\n\r\n"));
            var buffer = new byte[512];
            var read = socket.Receive(buffer);
            var answer = Encoding.ASCII.GetString(buffer, 0, read);
            var ok = answer.StartsWith("HTTP/1.", StringComparison.Ordinal) && answer.Contains(" 200 ", StringComparison.Ordinal);
            detail = ok ? $"Docker engine at {endPoint}" : $"{endPoint} answered, but not as a Docker engine";
            return ok;
        }
        catch (Exception e) when (e is SocketException or AggregateException or IOException)
        {
            detail = $"the Docker engine at {endPoint} did not answer ({e.GetBaseException().GetType().Name})";
            return false;
        }
    }
}
