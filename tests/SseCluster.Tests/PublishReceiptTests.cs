using System.Net.Sockets;
using System.Text;
using SseCluster.TestSupport;

namespace SseCluster.Tests;

/// <summary>
/// What a publish receipt counts: the connections the event was queued to live. A connection whose client went away is
/// not among them a second later, however the client left.
/// </summary>
public sealed class PublishReceiptTests : IAsyncLifetime
{
    private static readonly TimeSpan AfterLeaving = TimeSpan.FromSeconds(1);

    private GatewayHost _gateway = null!;
    private HttpClient _publisher = null!;

    public async Task InitializeAsync()
    {
        _gateway = await GatewayHost.StartAsync();
        _publisher = _gateway.CreateClient(Tokens.Publisher());
    }

    public async Task DisposeAsync()
    {
        _publisher.Dispose();
        await _gateway.DisposeAsync();
    }

    [Fact]
    public async Task Receipt_CountsAnOpenConnection()
    {
        using var client = _gateway.CreateClient(Tokens.For("receipt-open"));
        await using var stream = await SseStream.OpenAsync(client, "/sse/connect");
        await stream.WaitForAsync("welcome");

        var receipt = await _publisher.SendAsync("receipt-open", """{"n":1}""");

        Assert.Equal(1, receipt.GetProperty("connections").GetInt32());
        await stream.WaitForAsync("message");
    }

    [Fact]
    public async Task Receipt_ASecondAfterTheClientClosedItsSocket_DoesNotCountIt()
    {
        using (var socket = await OpenRawStreamAsync("receipt-socket"))
        {
            socket.Close(); // FIN, as a browser tab that is closed
        }

        await Task.Delay(AfterLeaving);
        var receipt = await _publisher.SendAsync("receipt-socket", """{"n":1}""");

        Assert.Equal(0, receipt.GetProperty("connections").GetInt32());
    }

    [Fact]
    public async Task Receipt_ASecondAfterTheClientResetItsSocket_DoesNotCountIt()
    {
        using (var socket = await OpenRawStreamAsync("receipt-reset"))
        {
            socket.LingerState = new LingerOption(true, 0);
            socket.Close(); // RST: a process killed, a connection torn down
        }

        await Task.Delay(AfterLeaving);
        var receipt = await _publisher.SendAsync("receipt-reset", """{"n":1}""");

        Assert.Equal(0, receipt.GetProperty("connections").GetInt32());
    }

    [Fact]
    public async Task Receipt_ASecondAfterAnHttpClientDisposedTheStream_DoesNotCountIt()
    {
        using var client = _gateway.CreateClient(Tokens.For("receipt-http"));
        var stream = await SseStream.OpenAsync(client, "/sse/connect");
        await stream.WaitForAsync("welcome");
        await stream.DisposeAsync();

        await Task.Delay(AfterLeaving);
        var receipt = await _publisher.SendAsync("receipt-http", """{"n":1}""");

        Assert.Equal(0, receipt.GetProperty("connections").GetInt32());
    }

    /// <summary>A stream opened over a plain socket, read up to its welcome: the test decides how the socket ends.</summary>
    private async Task<Socket> OpenRawStreamAsync(string userId)
    {
        var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(10));
        await socket.ConnectAsync(_gateway.BaseAddress.Host, _gateway.BaseAddress.Port, timeout.Token);
        var request = $"GET /sse/connect HTTP/1.1\r\nHost: {_gateway.BaseAddress.Authority}\r\nAccept: text/event-stream\r\nAuthorization: Bearer {Tokens.For(userId)}\r\n\r\n";
        await socket.SendAsync(Encoding.ASCII.GetBytes(request), SocketFlags.None, timeout.Token);
        var received = new StringBuilder();
        var buffer = new byte[4096];
        while (!received.ToString().Contains("event: welcome", StringComparison.Ordinal))
        {
            var n = await socket.ReceiveAsync(buffer, SocketFlags.None, timeout.Token);
            Assert.True(n > 0, $"the gateway closed the stream before its welcome: {received}");
            received.Append(Encoding.UTF8.GetString(buffer, 0, n));
        }

        Assert.StartsWith("HTTP/1.1 200", received.ToString(), StringComparison.Ordinal);
        return socket;
    }
}
