using System.Diagnostics;
using System.Net.Sockets;
using System.Text;
using SseCluster.Failover.Tests.Infrastructure;
using SseCluster.TestSupport;

namespace SseCluster.Failover.Tests;

/// <summary>
/// A gateway behind haproxy with <c>deploy/haproxy.cfg.template</c>: a client that closed its stream is not counted by a
/// publish receipt a second later. (Without <c>option abortonclose</c> haproxy kept the gateway's side open until the
/// next write to the client failed, so the receipt counted a gone client for up to a heartbeat interval.)
/// </summary>
public sealed class ReceiptBehindProxyTests
{
    [RequiresHaproxyFact]
    public async Task Receipt_ASecondAfterTheClientClosedItsStreamThroughHaproxy_DoesNotCountIt()
    {
        await using var gateway = await GatewayHost.StartAsync();
        await using var proxy = await Haproxy.StartAsync(gateway.BaseAddress);
        using var publisher = gateway.CreateClient(Tokens.Publisher());

        var socket = await OpenRawStreamAsync(proxy.Port, "proxied");
        var whileOpen = await publisher.SendAsync("proxied", """{"n":1}""");
        Assert.Equal(1, whileOpen.GetProperty("connections").GetInt32());

        socket.Close(); // FIN, as a browser closing the stream
        socket.Dispose();
        await Task.Delay(TimeSpan.FromSeconds(1));
        var afterClose = await publisher.SendAsync("proxied", """{"n":2}""");

        Assert.Equal(0, afterClose.GetProperty("connections").GetInt32());
    }

    private static async Task<Socket> OpenRawStreamAsync(int port, string userId)
    {
        var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(10));
        await socket.ConnectAsync("127.0.0.1", port, timeout.Token);
        var request = $"GET /sse/connect HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nAccept: text/event-stream\r\nAuthorization: Bearer {Tokens.For(userId)}\r\n\r\n";
        await socket.SendAsync(Encoding.ASCII.GetBytes(request), SocketFlags.None, timeout.Token);
        var received = new StringBuilder();
        var buffer = new byte[4096];
        while (!received.ToString().Contains("event: welcome", StringComparison.Ordinal))
        {
            var n = await socket.ReceiveAsync(buffer, SocketFlags.None, timeout.Token);
            Assert.True(n > 0, $"the stream closed before its welcome: {received}");
            received.Append(Encoding.UTF8.GetString(buffer, 0, n));
        }

        Assert.StartsWith("HTTP/1.1 200", received.ToString(), StringComparison.Ordinal);
        return socket;
    }

    /// <summary>haproxy in the foreground with the repository's template, in front of one gateway; ended by PID.</summary>
    private sealed class Haproxy(Process process, int port, string directory) : IAsyncDisposable
    {
        public int Port { get; } = port;

        public static async Task<Haproxy> StartAsync(Uri gateway)
        {
            var port = FreePorts.Next();
            var directory = Directory.CreateTempSubdirectory("sse-haproxy-").FullName;
            var template = await File.ReadAllTextAsync(Path.Combine(Tools.RepositoryRoot(), "deploy", "haproxy.cfg.template"));
            var config = Path.Combine(directory, "haproxy.cfg");
            await File.WriteAllTextAsync(config, template
                .Replace("@LB_BIND@", $"127.0.0.1:{port}", StringComparison.Ordinal)
                .Replace("@SERVERS@", $"server gw 127.0.0.1:{gateway.Port} check", StringComparison.Ordinal)
                .Replace("@STATS@", "", StringComparison.Ordinal)
                .Replace("@LOG@", "", StringComparison.Ordinal));
            var start = new ProcessStartInfo(Tools.Find("haproxy")!) { UseShellExecute = false, RedirectStandardOutput = true, RedirectStandardError = true };
            start.ArgumentList.Add("-f");
            start.ArgumentList.Add(config);
            var process = Process.Start(start) ?? throw new InvalidOperationException("haproxy did not start");
            ChildProcesses.Track(process);
            process.OutputDataReceived += (_, _) => { };
            process.ErrorDataReceived += (_, _) => { };
            process.BeginOutputReadLine();
            process.BeginErrorReadLine();
            var proxy = new Haproxy(process, port, directory);

            // Ready once its health check let the gateway in: /readyz through the proxy answers 200.
            using var http = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{port}"), Timeout = TimeSpan.FromSeconds(2) };
            await Eventually.TrueAsync(
                async () =>
                {
                    try
                    {
                        using var ready = await http.GetAsync("/readyz");
                        return ready.IsSuccessStatusCode;
                    }
                    catch (HttpRequestException)
                    {
                        return false;
                    }
                },
                "haproxy to pass requests to the gateway",
                TimeSpan.FromSeconds(15));
            return proxy;
        }

        public async ValueTask DisposeAsync()
        {
            try
            {
                if (!process.HasExited)
                {
                    process.Kill();
                    await process.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(10));
                }
            }
            finally
            {
                ChildProcesses.Untrack(process);
                process.Dispose();
                Directory.Delete(directory, recursive: true);
            }
        }
    }
}
