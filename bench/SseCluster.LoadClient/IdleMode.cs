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
        var target = await RawSse.ResolveAsync(s.Url, cancellationToken);
        var sources = RawSse.SourceAddresses(target, s.SourceIps);
        RawSse.WarnAboutLimits(s.Connections, s.Users);

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
            var progress = Report.ProgressAsync(() => new() { ["phase"] = "open", ["opened"] = _opened, ["failed"] = _failed, ["retries"] = _retries.Values.Sum(), ["elapsedS"] = Math.Round(_clock.Elapsed.TotalSeconds, 1) }, progressStop.Token);
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
                ["retries"] = Report.Counts(_retries),
                ["failures"] = Report.Counts(_failures),
            };
            Report.Line(summary);

            foreach (var held in _held)
            {
                held?.Socket.Dispose();
            }

            return openAtEnd == s.Connections ? 0 : 1;
        }

        private int OpenNow() => _held.Count(h => h is not null && Volatile.Read(ref h.Closed) == 0);

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
            var request = RawSse.ConnectRequest(s.Url, clientId, tokens[index % tokens.Length]);
            var (socket, _, failure) = await RawSse.OpenAsync(
                target,
                sources?[index % sources.Length],
                request,
                TimeSpan.FromSeconds(s.AttemptTimeoutSeconds),
                s.MaxAttempts,
                HandshakeAsync,
                reason => _retries.AddOrUpdate(reason, 1, (_, n) => n + 1),
                deadline);
            return (socket, failure);
        }

        private static async Task<Handshake<string>> HandshakeAsync(Socket socket, CancellationToken cancellationToken)
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
                        return new(null, "no-welcome-in-16KiB", false);
                    }

                    var n = await socket.ReceiveAsync(buffer.AsMemory(filled), SocketFlags.None, cancellationToken);
                    if (n == 0)
                    {
                        return new(null, headerEnd < 0 ? "eof-before-headers" : "eof-before-welcome", true);
                    }

                    filled += n;
                    var (outcome, reason) = Classify(buffer.AsSpan(0, filled), ref headerEnd);
                    if (outcome != Outcome.Pending)
                    {
                        return new(outcome == Outcome.Welcome ? reason : null, reason, outcome == Outcome.Retry);
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

                var status = RawSse.Status(received);
                if (status != 200)
                {
                    return (RawSse.IsRetryable(status) ? Outcome.Retry : Outcome.Fail, $"status-{status}");
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
                var (reconnect, why) = RawSse.Close(Encoding.ASCII.GetString(body.Slice(close, end)));
                return (reconnect ? Outcome.Retry : Outcome.Fail, "close-" + why);
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
}
