using System.Buffers;
using System.Collections.Concurrent;
using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Text;
using System.Text.Json.Nodes;

namespace SseCluster.LoadClient;

internal sealed record IdleSettings(
    Uri Url,
    int Connections,
    int Users,
    int SourceIps,
    int HoldSeconds,
    int Concurrency,
    int SettleSeconds,
    int Warmup,
    int OpenTimeoutSeconds,
    int AttemptTimeoutSeconds,
    int MaxAttempts,
    string UserPrefix)
{
    public static IdleSettings From(Arguments a)
    {
        var url = a.Url("url");
        var connections = a.Int("connections", 1000, 1, 1_000_000);
        var settings = new IdleSettings(
            url,
            connections,
            a.Int("users", Math.Max(1, (connections + 9) / 10), 1, 1_000_000),
            a.Int("source-ips", Math.Max(1, (connections + 19_999) / 20_000), 1, 254),
            a.Int("hold-seconds", 15, 0, 3600),
            a.Int("concurrency", 32, 1, 1024),
            a.Int("settle-seconds", 0, 0, 600),
            a.Int("warmup", 20, 0, 1000),
            a.Int("open-timeout-seconds", 150, 1, 3600),
            a.Int("attempt-timeout-seconds", 15, 1, 300),
            a.Int("max-attempts", 6, 1, 100),
            a.String("user-prefix", "idle"));
        a.RejectUnknown();
        return settings;
    }
}

/// <summary>
/// Opens many idle SSE streams as cheaply as a client can: one raw socket each, an HTTP/1.1 GET written by hand, the
/// answer read only until <c>event: welcome</c>, then a zero-byte read that holds no buffer until bytes arrive
/// (heartbeats), which are read into a pooled buffer and discarded.
/// </summary>
internal static class IdleMode
{
    // Linux: let connect() pick the port per 4-tuple even after bind() to a source address; otherwise bind(…, 0)
    // reserves a port per source address, and TIME_WAIT sockets of earlier runs use up the range.
    private const int SolIp = 0;
    private const int IpBindAddressNoPort = 24;

    private enum Outcome
    {
        Pending,
        Welcome,
        Retry,
        Fail,
    }

    private sealed class Held(Socket socket)
    {
        public readonly Socket Socket = socket;
        public int Closed;
    }

    public static async Task<int> RunAsync(IdleSettings s, CancellationToken cancellationToken)
    {
        var target = await ResolveAsync(s.Url, cancellationToken);
        var sources = SourceAddresses(target, s.SourceIps);
        WarnAboutLimits(s);

        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(30) };
        var userIds = Enumerable.Range(0, s.Users).Select(u => $"{s.UserPrefix}-{u}").ToArray();
        var tokenClock = Stopwatch.StartNew();
        var tokens = await DevTokens.FetchAsync(http, s.Url, userIds, [], cancellationToken);
        Report.Line(new() { ["phase"] = "tokens", ["users"] = s.Users, ["seconds"] = Math.Round(tokenClock.Elapsed.TotalSeconds, 2) });

        var run = new Run(s, target, sources, tokens);

        // Warm-up: JIT the connect path on both sides, so the baseline below already includes it.
        if (s.Warmup > 0)
        {
            using var warmupDeadline = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
            warmupDeadline.CancelAfter(TimeSpan.FromSeconds(60));
            var warm = new List<Socket>();
            for (var i = 0; i < s.Warmup && !warmupDeadline.IsCancellationRequested; i++)
            {
                var (socket, _) = await run.OpenAsync(i, $"warmup-{i}", warmupDeadline.Token);
                if (socket is not null)
                {
                    warm.Add(socket);
                }
            }

            foreach (var socket in warm)
            {
                socket.Dispose();
            }

            Report.Line(new() { ["phase"] = "warmup", ["opened"] = warm.Count, ["requested"] = s.Warmup });
        }

        // A quiet window for whoever measures the gateway's baseline (bench/idle-connections.sh samples RSS here).
        Report.Line(new() { ["phase"] = "baseline", ["settleSeconds"] = s.SettleSeconds });
        if (s.SettleSeconds > 0)
        {
            await Task.Delay(TimeSpan.FromSeconds(s.SettleSeconds), cancellationToken);
        }

        await run.OpenAllAsync(cancellationToken);
        return await run.HoldAndReportAsync(cancellationToken);
    }

    private sealed class Run(IdleSettings s, IPEndPoint target, IPAddress[]? sources, string[] tokens)
    {
        private readonly Held?[] _held = new Held?[s.Connections];
        private readonly double[] _connectMs = new double[s.Connections];
        private readonly ConcurrentDictionary<string, int> _retries = new(StringComparer.Ordinal);
        private readonly ConcurrentDictionary<string, int> _failures = new(StringComparer.Ordinal);
        private readonly Stopwatch _clock = new();
        private int _next = -1;
        private int _opened;
        private int _failed;
        private int _closedByServer;
        private long _bytesDrained;
        private volatile bool _stopping;
        private double _openSeconds;

        public async Task OpenAllAsync(CancellationToken cancellationToken)
        {
            using var deadline = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
            deadline.CancelAfter(TimeSpan.FromSeconds(s.OpenTimeoutSeconds));
            _clock.Start();
            Report.Line(new() { ["phase"] = "open-start", ["connections"] = s.Connections, ["users"] = s.Users, ["sourceIps"] = sources?.Length ?? 1, ["concurrency"] = s.Concurrency });

            using var progressStop = new CancellationTokenSource();
            var progress = ProgressAsync(progressStop.Token);
            var workers = Enumerable.Range(0, Math.Min(s.Concurrency, s.Connections)).Select(_ => WorkerAsync(deadline.Token)).ToArray();
            await Task.WhenAll(workers);
            _openSeconds = _clock.Elapsed.TotalSeconds;
            await progressStop.CancelAsync();
            await progress;

            // Indices no worker reached before the deadline.
            var unreached = s.Connections - Math.Min(s.Connections, Volatile.Read(ref _next) + 1);
            if (unreached > 0)
            {
                _failures.AddOrUpdate("open-timeout-not-attempted", unreached, (_, n) => n + unreached);
                Interlocked.Add(ref _failed, unreached);
            }

            Report.Line(new() { ["phase"] = "open-done", ["opened"] = _opened, ["failed"] = _failed, ["seconds"] = Math.Round(_openSeconds, 2) });
        }

        public async Task<int> HoldAndReportAsync(CancellationToken cancellationToken)
        {
            Report.Line(new() { ["phase"] = "holding", ["open"] = OpenNow(), ["holdSeconds"] = s.HoldSeconds });
            var holdClock = Stopwatch.StartNew();
            while (holdClock.Elapsed.TotalSeconds < s.HoldSeconds)
            {
                var left = TimeSpan.FromSeconds(s.HoldSeconds) - holdClock.Elapsed;
                await Task.Delay(left < TimeSpan.FromSeconds(5) ? left : TimeSpan.FromSeconds(5), cancellationToken);
                Report.Line(new() { ["phase"] = "hold", ["open"] = OpenNow(), ["closedByServer"] = _closedByServer, ["bytesDrained"] = Interlocked.Read(ref _bytesDrained), ["elapsedS"] = Math.Round(holdClock.Elapsed.TotalSeconds, 1) });
            }

            var openAtEnd = OpenNow();
            _stopping = true;
            var connectMs = _connectMs.Where(ms => ms > 0).Order().ToArray();
            var summary = new JsonObject
            {
                ["phase"] = "summary",
                ["mode"] = "idle",
                ["requested"] = s.Connections,
                ["users"] = s.Users,
                ["sourceIps"] = sources?.Length ?? 1,
                ["opened"] = _opened,
                ["failed"] = _failed,
                ["openAtEnd"] = openAtEnd,
                ["closedByServer"] = _closedByServer,
                ["holdSeconds"] = s.HoldSeconds,
                ["openSeconds"] = Math.Round(_openSeconds, 2),
                ["openPerSecond"] = _openSeconds > 0 ? Math.Round(_opened / _openSeconds, 1) : 0,
                ["connectMsP50"] = Report.Number(Report.Percentile(connectMs, 50)),
                ["connectMsP99"] = Report.Number(Report.Percentile(connectMs, 99)),
                ["connectMsMax"] = Report.Number(Report.Percentile(connectMs, 100)),
                ["bytesDrained"] = Interlocked.Read(ref _bytesDrained),
                ["retries"] = ToJson(_retries),
                ["failures"] = ToJson(_failures),
            };
            Report.Line(summary);

            foreach (var held in _held)
            {
                held?.Socket.Dispose();
            }

            return openAtEnd == s.Connections ? 0 : 1;
        }

        private int OpenNow() => _held.Count(h => h is not null && Volatile.Read(ref h.Closed) == 0);

        private static JsonObject ToJson(ConcurrentDictionary<string, int> counts)
        {
            var json = new JsonObject();
            foreach (var (key, value) in counts.OrderBy(p => p.Key, StringComparer.Ordinal))
            {
                json[key] = value;
            }

            return json;
        }

        private async Task ProgressAsync(CancellationToken stop)
        {
            try
            {
                while (!stop.IsCancellationRequested)
                {
                    await Task.Delay(TimeSpan.FromSeconds(2), stop);
                    Report.Line(new() { ["phase"] = "open", ["opened"] = _opened, ["failed"] = _failed, ["retries"] = _retries.Values.Sum(), ["elapsedS"] = Math.Round(_clock.Elapsed.TotalSeconds, 1) });
                }
            }
            catch (OperationCanceledException)
            {
                // done
            }
        }

        private async Task WorkerAsync(CancellationToken deadline)
        {
            int i;
            while (!deadline.IsCancellationRequested && (i = Interlocked.Increment(ref _next)) < s.Connections)
            {
                var started = Stopwatch.GetTimestamp();
                var (socket, failure) = await OpenAsync(i, $"idle-{i}", deadline);
                if (socket is null)
                {
                    _failures.AddOrUpdate(failure ?? "unknown", 1, (_, n) => n + 1);
                    Interlocked.Increment(ref _failed);
                    continue;
                }

                _connectMs[i] = Stopwatch.GetElapsedTime(started).TotalMilliseconds;
                var held = new Held(socket);
                _held[i] = held;
                Interlocked.Increment(ref _opened);
                _ = DrainAsync(held);
            }
        }

        /// <summary>Opens stream <paramref name="index"/> with retries; the socket once welcomed, or why not.</summary>
        public async Task<(Socket? Socket, string? Failure)> OpenAsync(int index, string clientId, CancellationToken deadline)
        {
            var token = tokens[index % tokens.Length];
            var source = sources?[index % sources.Length];
            var request = Encoding.ASCII.GetBytes(
                $"GET /sse/connect?clientId={clientId} HTTP/1.1\r\nHost: {s.Url.Authority}\r\nAuthorization: Bearer {token}\r\nAccept: text/event-stream\r\nCache-Control: no-cache\r\n\r\n");
            string reason = "none";
            for (var attempt = 1; attempt <= s.MaxAttempts; attempt++)
            {
                if (deadline.IsCancellationRequested)
                {
                    return (null, "open-timeout");
                }

                var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
                var keep = false;
                try
                {
                    using var attemptTimeout = CancellationTokenSource.CreateLinkedTokenSource(deadline);
                    attemptTimeout.CancelAfter(TimeSpan.FromSeconds(s.AttemptTimeoutSeconds));
                    if (source is not null)
                    {
                        if (OperatingSystem.IsLinux())
                        {
                            socket.SetRawSocketOption(SolIp, IpBindAddressNoPort, BitConverter.GetBytes(1));
                        }

                        socket.Bind(new IPEndPoint(source, 0));
                    }

                    await socket.ConnectAsync(target, attemptTimeout.Token);
                    await socket.SendAsync(request, SocketFlags.None, attemptTimeout.Token); // < socket buffer: sent whole
                    (var outcome, reason) = await HandshakeAsync(socket, attemptTimeout.Token);
                    if (outcome == Outcome.Welcome)
                    {
                        keep = true;
                        return (socket, null);
                    }

                    if (outcome == Outcome.Fail)
                    {
                        return (null, reason);
                    }
                }
                catch (OperationCanceledException) when (!deadline.IsCancellationRequested)
                {
                    reason = "attempt-timeout";
                }
                catch (OperationCanceledException)
                {
                    return (null, "open-timeout");
                }
                catch (SocketException ex)
                {
                    reason = "socket-" + ex.SocketErrorCode;
                }
                finally
                {
                    if (!keep)
                    {
                        socket.Dispose();
                    }
                }

                _retries.AddOrUpdate(reason, 1, (_, n) => n + 1);
                // Jittered, growing back-off: a refused burst must not come back as one burst.
                var backoff = Math.Min(3000, 100 * (1 << Math.Min(attempt, 5)));
                try
                {
                    await Task.Delay(Random.Shared.Next(backoff / 4, backoff), deadline);
                }
                catch (OperationCanceledException)
                {
                    return (null, "open-timeout");
                }
            }

            return (null, "attempts-exhausted-" + reason);
        }

        private static async Task<(Outcome, string)> HandshakeAsync(Socket socket, CancellationToken cancellationToken)
        {
            var buffer = ArrayPool<byte>.Shared.Rent(16 * 1024);
            try
            {
                var filled = 0;
                var headerEnd = -1;
                while (true)
                {
                    if (filled == buffer.Length)
                    {
                        return (Outcome.Fail, "no-welcome-in-16KiB");
                    }

                    var n = await socket.ReceiveAsync(buffer.AsMemory(filled), SocketFlags.None, cancellationToken);
                    if (n == 0)
                    {
                        return (Outcome.Retry, headerEnd < 0 ? "eof-before-headers" : "eof-before-welcome");
                    }

                    filled += n;
                    var (outcome, reason) = Classify(buffer.AsSpan(0, filled), ref headerEnd);
                    if (outcome != Outcome.Pending)
                    {
                        return (outcome, reason);
                    }
                }
            }
            finally
            {
                ArrayPool<byte>.Shared.Return(buffer);
            }
        }

        private static (Outcome, string) Classify(ReadOnlySpan<byte> received, ref int headerEnd)
        {
            if (headerEnd < 0)
            {
                headerEnd = received.IndexOf("\r\n\r\n"u8);
                if (headerEnd < 0)
                {
                    return (Outcome.Pending, "");
                }

                // "HTTP/1.1 200 OK"
                var status = received.Length >= 12 && int.TryParse(received.Slice(9, 3), out var code) ? code : 0;
                if (status != 200)
                {
                    return status is 429 or >= 500 or 0 ? (Outcome.Retry, $"status-{status}") : (Outcome.Fail, $"status-{status}");
                }
            }

            // The body may be chunked; the gateway writes a frame per write, so the frame's text is contiguous.
            var body = received[(headerEnd + 4)..];
            var welcome = body.IndexOf("event: welcome"u8);
            if (welcome >= 0 && body[welcome..].IndexOf("\n\n"u8) >= 0)
            {
                return (Outcome.Welcome, "welcome");
            }

            var close = body.IndexOf("event: close"u8);
            if (close >= 0 && body[close..].IndexOf("\n\n"u8) is var end and >= 0)
            {
                // data: {"reason":"overloaded","reconnect":true}
                var frame = Encoding.ASCII.GetString(body.Slice(close, end));
                var at = frame.IndexOf("\"reason\":\"", StringComparison.Ordinal);
                var stop = at < 0 ? -1 : frame.IndexOf('"', at + 10);
                var why = stop < 0 ? "unknown" : frame[(at + 10)..stop];
                return (frame.Contains("\"reconnect\":false", StringComparison.Ordinal) ? Outcome.Fail : Outcome.Retry, "close-" + why);
            }

            return (Outcome.Pending, "");
        }

        private async Task DrainAsync(Held held)
        {
            try
            {
                while (true)
                {
                    // Zero-byte read: wait for data without pinning a buffer per idle connection.
                    await held.Socket.ReceiveAsync(Memory<byte>.Empty, SocketFlags.None);
                    var buffer = ArrayPool<byte>.Shared.Rent(4096);
                    int n;
                    try
                    {
                        n = await held.Socket.ReceiveAsync(buffer, SocketFlags.None);
                    }
                    finally
                    {
                        ArrayPool<byte>.Shared.Return(buffer);
                    }

                    if (n == 0)
                    {
                        break;
                    }

                    Interlocked.Add(ref _bytesDrained, n);
                }
            }
            catch (Exception ex) when (ex is SocketException or ObjectDisposedException)
            {
                // reset by the server, or disposed by us at the end
            }

            Volatile.Write(ref held.Closed, 1);
            if (!_stopping)
            {
                Interlocked.Increment(ref _closedByServer);
            }
        }
    }

    private static async Task<IPEndPoint> ResolveAsync(Uri url, CancellationToken cancellationToken)
    {
        if (!IPAddress.TryParse(url.Host, out var address))
        {
            var addresses = await Dns.GetHostAddressesAsync(url.Host, AddressFamily.InterNetwork, cancellationToken);
            address = addresses.FirstOrDefault() ?? throw new SetupException($"cannot resolve {url.Host} to an IPv4 address");
        }

        return new IPEndPoint(address, url.Port);
    }

    /// <summary>127.0.0.1 … 127.0.0.N for a loopback target; null (let the kernel choose) for one address.</summary>
    private static IPAddress[]? SourceAddresses(IPEndPoint target, int count)
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

    private static void WarnAboutLimits(IdleSettings s)
    {
        var fds = OpenFileLimit();
        if (fds is { } limit && s.Connections + 200 > limit)
        {
            Report.Line(new() { ["phase"] = "warning", ["message"] = $"{s.Connections} connections need more descriptors than this process's limit ({limit}); run several clients" });
        }

        if (s.Connections > s.Users * 20L)
        {
            Report.Line(new() { ["phase"] = "warning", ["message"] = $"{s.Connections / (double)s.Users:F1} connections per user exceeds the default SseCluster:Limits:MaxConnectionsPerUser (20)" });
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
