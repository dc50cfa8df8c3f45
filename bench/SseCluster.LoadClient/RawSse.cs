using System.Net;
using System.Net.Sockets;
using System.Text;

namespace SseCluster.LoadClient;

/// <summary>
/// What the raw-socket modes (<c>idle</c>, <c>storm</c>) share: where to connect from and to, the hand-written
/// <c>GET /sse/connect</c>, how an answer's status and an <c>event: close</c> are judged, the retry back-off, and the
/// descriptor-limit warning.
/// </summary>
internal static class RawSse
{
    // Linux: let connect() pick the port per 4-tuple even after bind() to a source address; otherwise bind(…, 0)
    // reserves a port per source address, and TIME_WAIT sockets of earlier runs use up the range.
    private const int SolIp = 0;
    private const int IpBindAddressNoPort = 24;

    public static async Task<IPEndPoint> ResolveAsync(Uri url, CancellationToken cancellationToken)
    {
        if (!IPAddress.TryParse(url.Host, out var address))
        {
            var addresses = await Dns.GetHostAddressesAsync(url.Host, AddressFamily.InterNetwork, cancellationToken);
            address = addresses.FirstOrDefault() ?? throw new SetupException($"cannot resolve {url.Host} to an IPv4 address");
        }

        return new IPEndPoint(address, url.Port);
    }

    /// <summary>127.0.0.1 … 127.0.0.N for a loopback target; null (let the kernel choose) for one address.</summary>
    public static IPAddress[]? SourceAddresses(IPEndPoint target, int count)
    {
        if (count <= 1)
        {
            return null;
        }

        if (!IPAddress.IsLoopback(target.Address))
        {
            throw new ArgumentException("--source-ips > 1 needs a 127.x.x.x target");
        }

        return Enumerable.Range(1, count).Select(i => new IPAddress([127, 0, 0, (byte)i])).ToArray();
    }

    /// <summary>A connected socket from <paramref name="source"/> (any when null); disposed again if connecting fails.</summary>
    public static async Task<Socket> ConnectAsync(IPEndPoint target, IPAddress? source, CancellationToken cancellationToken)
    {
        var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        try
        {
            if (source is not null)
            {
                if (OperatingSystem.IsLinux())
                {
                    socket.SetRawSocketOption(SolIp, IpBindAddressNoPort, BitConverter.GetBytes(1));
                }

                socket.Bind(new IPEndPoint(source, 0));
            }

            await socket.ConnectAsync(target, cancellationToken);
            return socket;
        }
        catch
        {
            socket.Dispose();
            throw;
        }
    }

    /// <summary>
    /// Opens one stream: connects, sends <paramref name="request"/> and runs <paramref name="handshake"/> on the
    /// answer, again after a jittered back-off (each retried reason reported to <paramref name="retried"/>) until the
    /// handshake succeeds, refuses for good, <paramref name="maxAttempts"/> run out or <paramref name="deadline"/>
    /// passes. Returns the socket and the handshake's result, which the caller then owns, or why not.
    /// </summary>
    public static async Task<(Socket? Socket, T? Result, string? Failure)> OpenAsync<T>(
        IPEndPoint target,
        IPAddress? source,
        byte[] request,
        TimeSpan attemptTimeout,
        int maxAttempts,
        Func<Socket, CancellationToken, Task<Handshake<T>>> handshake,
        Action<string> retried,
        CancellationToken deadline)
        where T : class
    {
        var reason = "none";
        for (var attempt = 1; attempt <= maxAttempts; attempt++)
        {
            if (deadline.IsCancellationRequested)
            {
                return (null, null, "open-timeout");
            }

            Socket? socket = null;
            try
            {
                using var attemptDeadline = CancellationTokenSource.CreateLinkedTokenSource(deadline);
                attemptDeadline.CancelAfter(attemptTimeout);
                socket = await ConnectAsync(target, source, attemptDeadline.Token);
                await socket.SendAsync(request, SocketFlags.None, attemptDeadline.Token); // < socket buffer: sent whole
                var outcome = await handshake(socket, attemptDeadline.Token);
                if (outcome.Result is not null)
                {
                    var kept = socket;
                    socket = null;
                    return (kept, outcome.Result, null);
                }

                if (!outcome.Retry)
                {
                    return (null, null, outcome.Reason);
                }

                reason = outcome.Reason;
            }
            catch (OperationCanceledException) when (!deadline.IsCancellationRequested)
            {
                reason = "attempt-timeout";
            }
            catch (OperationCanceledException)
            {
                return (null, null, "open-timeout");
            }
            catch (SocketException ex)
            {
                reason = "socket-" + ex.SocketErrorCode;
            }
            catch (InvalidDataException)
            {
                reason = "malformed-answer";
            }
            finally
            {
                socket?.Dispose();
            }

            retried(reason);
            try
            {
                await Task.Delay(Backoff(attempt), deadline);
            }
            catch (OperationCanceledException)
            {
                return (null, null, "open-timeout");
            }
        }

        return (null, null, "attempts-exhausted-" + reason);
    }

    /// <summary>The stream request, small enough to go out in one send.</summary>
    public static byte[] ConnectRequest(Uri url, string clientId, string token, string? lastEventId = null)
    {
        var resume = lastEventId is null ? "" : $"Last-Event-ID: {lastEventId}\r\n";
        return Encoding.ASCII.GetBytes(
            $"GET /sse/connect?clientId={clientId} HTTP/1.1\r\nHost: {url.Authority}\r\nAuthorization: Bearer {token}\r\nAccept: text/event-stream\r\nCache-Control: no-cache\r\n{resume}\r\n");
    }

    /// <summary>The status code of an HTTP/1.1 status line ("HTTP/1.1 200 OK"), 0 when there is none.</summary>
    public static int Status(ReadOnlySpan<byte> head) =>
        head.Length >= 12 && int.TryParse(head.Slice(9, 3), out var code) ? code : 0;

    /// <summary>429, 5xx or no status at all may pass; any other refusal (401, 403, 400, 204) would only repeat.</summary>
    public static bool IsRetryable(int status) => status is 429 or >= 500 or 0;

    /// <summary>
    /// Reads an <c>event: close</c> frame's data (<c>{"reason":"overloaded","reconnect":true}</c>, or the whole frame's
    /// text): whether the server invites a reconnect, and its reason.
    /// </summary>
    public static (bool Reconnect, string Reason) Close(string text)
    {
        var at = text.IndexOf("\"reason\":\"", StringComparison.Ordinal);
        var stop = at < 0 ? -1 : text.IndexOf('"', at + 10);
        var why = stop < 0 ? "unknown" : text[(at + 10)..stop];
        return (!text.Contains("\"reconnect\":false", StringComparison.Ordinal), why);
    }

    /// <summary>Jittered, growing back-off before attempt <paramref name="attempt"/> + 1: a refused burst must not come back as one burst.</summary>
    public static TimeSpan Backoff(int attempt)
    {
        var ceiling = Math.Min(3000, 100 * (1 << Math.Clamp(attempt, 1, 5)));
        return TimeSpan.FromMilliseconds(Random.Shared.Next(ceiling / 4, ceiling));
    }

    public static void WarnAboutLimits(int connections, int users)
    {
        var fds = OpenFileLimit();
        if (fds is { } limit && connections + 200 > limit)
        {
            Report.Line(new() { ["phase"] = "warning", ["message"] = $"{connections} connections need more descriptors than this process's limit ({limit}); run several clients" });
        }

        if (connections > users * 20L)
        {
            Report.Line(new() { ["phase"] = "warning", ["message"] = $"{connections / (double)users:F1} connections per user exceeds the default SseCluster:Limits:MaxConnectionsPerUser (20)" });
        }
    }

    private static long? OpenFileLimit()
    {
        try
        {
            var line = File.ReadLines("/proc/self/limits").FirstOrDefault(l => l.StartsWith("Max open files", StringComparison.Ordinal));
            var parts = line?.Split(' ', StringSplitOptions.RemoveEmptyEntries);
            return parts is { Length: >= 4 } && long.TryParse(parts[3], out var soft) ? soft : null;
        }
        catch (IOException)
        {
            return null;
        }
    }
}

/// <summary>How one attempt's handshake ended: <see cref="Result"/> once welcomed, else the reason and whether another attempt may help.</summary>
internal readonly record struct Handshake<T>(T? Result, string Reason, bool Retry)
    where T : class;
