using System.Net;
using System.Net.Sockets;
using System.Text;

namespace SseCluster.Cluster.Tests.Support;

/// <summary>
/// A cheap stream: a raw socket that sends the <c>/sse/connect</c> request with a bearer token and reads until the
/// <c>welcome</c> event, then just stays open (nothing reads it further). For opening thousands of connections.
/// </summary>
public sealed class RawSseConnection : IDisposable
{
    private readonly TcpClient _tcp;

    private RawSseConnection(TcpClient tcp) => _tcp = tcp;

    public static async Task<RawSseConnection> OpenAsync(Uri gateway, string bearer, string clientId, CancellationToken cancellationToken)
    {
        var tcp = new TcpClient { NoDelay = true };
        try
        {
            await tcp.ConnectAsync(IPAddress.Loopback, gateway.Port, cancellationToken);
            var stream = tcp.GetStream();
            var request = $"GET /sse/connect?clientId={clientId} HTTP/1.1\r\nHost: {gateway.Authority}\r\nAuthorization: Bearer {bearer}\r\nAccept: text/event-stream\r\n\r\n";
            await stream.WriteAsync(Encoding.ASCII.GetBytes(request), cancellationToken);

            var buffer = new byte[8192];
            var text = new StringBuilder();
            while (true)
            {
                var read = await stream.ReadAsync(buffer, cancellationToken);
                if (read == 0)
                {
                    throw new IOException($"the gateway closed the connection before the welcome: {text}");
                }

                text.Append(Encoding.UTF8.GetString(buffer, 0, read));
                var received = text.ToString();
                if (!received.StartsWith("HTTP/1.1 200", StringComparison.Ordinal) && received.Contains("\r\n", StringComparison.Ordinal))
                {
                    throw new IOException($"the gateway answered: {received}");
                }

                var welcome = received.IndexOf("event: welcome\n", StringComparison.Ordinal);
                if (welcome >= 0 && received.IndexOf("\n\n", welcome, StringComparison.Ordinal) > 0)
                {
                    return new RawSseConnection(tcp);
                }
            }
        }
        catch
        {
            tcp.Dispose();
            throw;
        }
    }

    public void Dispose() => _tcp.Dispose();
}
