using System.Collections.Concurrent;
using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Http.Headers;
using System.Net.Sockets;
using System.Text.Json.Nodes;

namespace SseCluster.LoadClient;

internal sealed record StormSettings(
    Uri Url,
    int Connections,
    int Users,
    int Events,
    int? SourceIps,
    int Concurrency,
    int StormConcurrency,
    int TimeoutSeconds,
    string UserPrefix)
{
    public static StormSettings From(Arguments a)
    {
        var url = a.Url("url");
        var connections = a.Int("connections", 10_000, 1, 1_000_000);
        var sourceIps = a.String("source-ips") is null ? (int?)null : a.Int("source-ips", 4, 1, 254);
        var settings = new StormSettings(
            url,
            connections,
            a.Int("users", Math.Max(1, connections / 10), 1, 1_000_000),
            a.Int("events", 50, 1, 100_000),
            sourceIps,
            a.Int("concurrency", 32, 1, 1024),
            a.Int("storm-concurrency", 1000, 1, 100_000),
            a.Int("timeout-seconds", 120, 1, 3600),
            a.String("user-prefix", "storm"));
        a.RejectUnknown();
        return settings;
    }
}

/// <summary>
/// A reconnect storm, as when a gateway dies: N streams are opened and their positions (the <c>id:</c> of each
/// <c>welcome</c>) remembered, all N are closed from this side, K broadcasts are published while nobody listens, then
/// all N come back at once with <c>Last-Event-ID</c> and must each get exactly the K events they missed, once, in
/// order. Around the storm the gateway's replay counters are read from <c>/metrics</c>, to show whether history was
/// read and formatted once per gateway or once per connection.
/// </summary>
internal static class StormMode
{
    private const string EventType = "storm";
    private const string StoreReads = "sse_replay_store_reads_total";
    private const string FramesFormatted = "sse_replay_frames_formatted_total";
    private const string Replayed = "sse_replayed_events_total";

    public static async Task<int> RunAsync(StormSettings s, CancellationToken cancellationToken)
    {
        var target = await RawSse.ResolveAsync(s.Url, cancellationToken);
        // Every stream connects twice, and the first sockets linger in TIME_WAIT: spread over 4 loopback sources.
        var sources = RawSse.SourceAddresses(target, s.SourceIps ?? (IPAddress.IsLoopback(target.Address) ? 4 : 1));
        RawSse.WarnAboutLimits(s.Connections, s.Users);

        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(30) };
        var userIds = Enumerable.Range(0, s.Users).Select(u => $"{s.UserPrefix}-{u}").ToArray();
        var clock = Stopwatch.StartNew();
        var tokens = await DevTokens.FetchAsync(http, s.Url, userIds, [], cancellationToken);
        var publisherToken = (await DevTokens.FetchAsync(http, s.Url, [$"{s.UserPrefix}-publisher"], ["publisher"], cancellationToken))[0];
        Report.Line(new() { ["phase"] = "tokens", ["users"] = s.Users, ["seconds"] = Math.Round(clock.Elapsed.TotalSeconds, 2) });

        var connector = new Connector(s, target, sources, tokens);
        var positions = await OpenAllAsync(s, connector, cancellationToken);
        if (positions is null)
        {
            return 1;
        }

        await WaitForNoConnectionsAsync(http, s.Url, cancellationToken);
        await PublishAsync(http, s, publisherToken, cancellationToken);

        var before = await Metrics.ReadAsync(http, s.Url, [StoreReads, FramesFormatted, Replayed], cancellationToken);
        var storm = new Storm(s, connector, positions);
        await storm.RunAsync(cancellationToken);
        var after = await Metrics.ReadAsync(http, s.Url, [StoreReads, FramesFormatted, Replayed], cancellationToken);
        return storm.Summarize(sources?.Length ?? 1, before, after);
    }

    /// <summary>Phase a: every stream opened and welcomed, its position remembered, its socket held. Null when some could not open.</summary>
    private static async Task<string[]?> OpenAllAsync(StormSettings s, Connector connector, CancellationToken cancellationToken)
    {
        using var deadline = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        deadline.CancelAfter(TimeSpan.FromSeconds(s.TimeoutSeconds));
        var sockets = new Socket?[s.Connections];
        var positions = new string[s.Connections];
        var failures = new ConcurrentDictionary<string, int>(StringComparer.Ordinal);
        var clock = Stopwatch.StartNew();
        var next = -1;
        Report.Line(new() { ["phase"] = "open-start", ["connections"] = s.Connections, ["users"] = s.Users, ["concurrency"] = s.Concurrency });
        var workers = Enumerable.Range(0, Math.Min(s.Concurrency, s.Connections)).Select(async _ =>
        {
            int i;
            while ((i = Interlocked.Increment(ref next)) < s.Connections)
            {
                var attempt = await connector.OpenAsync(i, null, deadline.Token);
                if (attempt.Failure is not null)
                {
                    failures.AddOrUpdate(attempt.Failure, 1, (_, n) => n + 1);
                    continue;
                }

                attempt.Reader!.Dispose(); // the position is all this phase keeps; the socket stays open, unread
                sockets[i] = attempt.Socket;
                positions[i] = attempt.Position ?? "";
            }
        });
        await Task.WhenAll(workers);

        var opened = sockets.Count(socket => socket is not null);
        var unpositioned = positions.Count(p => p is "");
        Report.Line(new() { ["phase"] = "open-done", ["opened"] = opened, ["withoutId"] = unpositioned, ["seconds"] = Math.Round(clock.Elapsed.TotalSeconds, 2), ["failures"] = Report.Counts(failures), ["retries"] = connector.TakeRetries() });

        // Phase b: every client goes at once, as when the gateway they were on died.
        foreach (var socket in sockets)
        {
            socket?.Dispose();
        }

        if (opened < s.Connections || unpositioned > 0)
        {
            Report.Line(new() { ["phase"] = "error", ["message"] = $"only {opened} of {s.Connections} streams opened ({unpositioned} welcomes without id:); no storm" });
            return null;
        }

        return positions;
    }

    /// <summary>Phase b: the gateway must have let go of every stream, or the storm would meet the old ones (per-user limits).</summary>
    private static async Task WaitForNoConnectionsAsync(HttpClient http, Uri url, CancellationToken cancellationToken)
    {
        var clock = Stopwatch.StartNew();
        double? open = null;
        while (clock.Elapsed < TimeSpan.FromSeconds(60))
        {
            open = (await Metrics.ReadAsync(http, url, ["sse_connections"], cancellationToken))["sse_connections"];
            if (open == 0)
            {
                break;
            }

            await Task.Delay(250, cancellationToken);
        }

        Report.Line(new() { ["phase"] = "closed", ["gatewayConnections"] = open, ["seconds"] = Math.Round(clock.Elapsed.TotalSeconds, 2) });
        if (open != 0)
        {
            Report.Line(new() { ["phase"] = "warning", ["message"] = $"the gateway still counts {open?.ToString(CultureInfo.InvariantCulture) ?? "unknown"} connections after 60 s; storming anyway" });
        }
    }

    /// <summary>Phase c: K broadcasts into the history while nobody listens, one at a time so their order is the publish order.</summary>
    private static async Task PublishAsync(HttpClient http, StormSettings s, string publisherToken, CancellationToken cancellationToken)
    {
        var clock = Stopwatch.StartNew();
        var run = Guid.NewGuid().ToString("N")[..12];
        for (var i = 0; i < s.Events; i++)
        {
            HttpStatusCode status = 0;
            for (var attempt = 1; attempt <= 5; attempt++)
            {
                using var request = new HttpRequestMessage(HttpMethod.Post, new Uri(s.Url, "sse/broadcast"));
                request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", publisherToken);
                // A retry of a publish whose answer got lost must not store it twice.
                request.Headers.Add("Idempotency-Key", $"{s.UserPrefix}-{run}-{i}");
                request.Content = new StringContent("{\"eventType\":\"" + EventType + "\",\"data\":{\"i\":" + i.ToString(CultureInfo.InvariantCulture) + "}}", null, "application/json");
                try
                {
                    using var response = await http.SendAsync(request, cancellationToken);
                    status = response.StatusCode;
                }
                catch (HttpRequestException)
                {
                    status = 0;
                }

                if (status == HttpStatusCode.Accepted || !((int)status is 0 or 429 or >= 500))
                {
                    break;
                }

                await Task.Delay(RawSse.Backoff(attempt), cancellationToken);
            }

            if (status != HttpStatusCode.Accepted)
            {
                throw new SetupException($"POST /sse/broadcast of event {i} answered {(int)status}, not 202");
            }
        }

        Report.Line(new() { ["phase"] = "published", ["events"] = s.Events, ["seconds"] = Math.Round(clock.Elapsed.TotalSeconds, 2) });
    }

    /// <summary>A welcomed stream: its socket, the reader positioned after <c>welcome</c>, and the welcome's <c>id:</c>.</summary>
    private sealed record Attempt(Socket? Socket, SseResponseReader? Reader, string? Position, string? Failure);

    /// <summary>A reader whose answer reached <c>welcome</c>, and that event.</summary>
    private sealed record Welcomed(SseResponseReader Reader, SseEvent Welcome);

    /// <summary>Opens streams with the idle mode's retries (until the deadline); counts what it retried, by reason.</summary>
    private sealed class Connector(StormSettings s, IPEndPoint target, IPAddress[]? sources, string[] tokens)
    {
        private static readonly TimeSpan AttemptTimeout = TimeSpan.FromSeconds(30);
        private ConcurrentDictionary<string, int> _retries = new(StringComparer.Ordinal);

        /// <summary>Counts one refusal: an <c>event: close</c> or a status other than 200.</summary>
        public Action<string>? OnRefused { get; set; }

        public JsonObject TakeRetries() => Report.Counts(Interlocked.Exchange(ref _retries, new(StringComparer.Ordinal)));

        /// <summary>
        /// Opens stream <paramref name="index"/> (resuming from <paramref name="lastEventId"/> when given) until it is
        /// welcomed or the deadline passes. The caller owns the socket and reader of a welcomed attempt.
        /// </summary>
        public async Task<Attempt> OpenAsync(int index, string? lastEventId, CancellationToken deadline)
        {
            var request = RawSse.ConnectRequest(s.Url, $"{s.UserPrefix}-{index}", tokens[index % tokens.Length], lastEventId);
            var (socket, welcomed, failure) = await RawSse.OpenAsync(
                target,
                sources?[index % sources.Length],
                request,
                AttemptTimeout,
                int.MaxValue,
                HandshakeAsync,
                reason => _retries.AddOrUpdate(reason, 1, (_, n) => n + 1),
                deadline);
            return new Attempt(socket, welcomed?.Reader, welcomed?.Welcome.Id, failure);
        }

        /// <summary>Reads the head and the events up to <c>welcome</c>; refusals are counted here.</summary>
        private async Task<Handshake<Welcomed>> HandshakeAsync(Socket socket, CancellationToken cancellationToken)
        {
            var reader = new SseResponseReader(socket);
            var kept = false;
            try
            {
                if (!await reader.ReadHeadAsync(cancellationToken))
                {
                    return new(null, "eof-before-headers", true);
                }

                if (reader.Status != 200)
                {
                    var reason = $"status-{reader.Status}";
                    OnRefused?.Invoke(reason);
                    return new(null, reason, RawSse.IsRetryable(reader.Status));
                }

                while (await reader.ReadEventAsync(cancellationToken) is { } first)
                {
                    if (first.Type == "welcome")
                    {
                        kept = true;
                        return new(new Welcomed(reader, first), "welcome", true);
                    }

                    if (first.Type == "close")
                    {
                        var (reconnect, why) = RawSse.Close(first.Data);
                        OnRefused?.Invoke("close-" + why);
                        return new(null, "close-" + why, reconnect);
                    }
                }

                return new(null, "eof-before-welcome", true);
            }
            finally
            {
                if (!kept)
                {
                    reader.Dispose();
                }
            }
        }
    }

    /// <summary>Phase d and e: every stream resumes at once and reads until it has its K events.</summary>
    private sealed class Storm
    {
        private readonly StormSettings _s;
        private readonly Connector _connector;
        private readonly string[] _positions;
        private readonly double[] _completeMs;
        private readonly ConcurrentDictionary<string, int> _refused = new(StringComparer.Ordinal);
        private readonly ConcurrentDictionary<string, int> _failures = new(StringComparer.Ordinal);
        private readonly Stopwatch _clock = new();
        private JsonObject _retries = new();
        private int _next = -1;
        private int _inFlight;
        private int _completed;
        private int _failed;
        private long _lost;
        private long _duplicated;
        private long _outOfOrder;
        private long _resets;
        private long _lastCompleteTicks;

        public Storm(StormSettings s, Connector connector, string[] positions)
        {
            _s = s;
            _connector = connector;
            _positions = positions;
            _completeMs = new double[s.Connections];
            connector.OnRefused = reason => _refused.AddOrUpdate(reason, 1, (_, n) => n + 1);
        }

        public async Task RunAsync(CancellationToken cancellationToken)
        {
            using var deadline = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
            deadline.CancelAfter(TimeSpan.FromSeconds(_s.TimeoutSeconds));
            Report.Line(new() { ["phase"] = "storm-start", ["connections"] = _s.Connections, ["events"] = _s.Events, ["stormConcurrency"] = _s.StormConcurrency });
            using var progressStop = new CancellationTokenSource();
            var progress = Report.ProgressAsync(() => new() { ["phase"] = "storm", ["completed"] = _completed, ["inFlight"] = _inFlight, ["failed"] = _failed, ["refused"] = _refused.Values.Sum(), ["elapsedS"] = Math.Round(_clock.Elapsed.TotalSeconds, 1) }, progressStop.Token);
            _clock.Start();
            var workers = Enumerable.Range(0, Math.Min(_s.StormConcurrency, _s.Connections)).Select(_ => WorkerAsync(deadline.Token)).ToArray();
            await Task.WhenAll(workers);
            await progressStop.CancelAsync();
            await progress;
            _retries = _connector.TakeRetries();

            var unreached = _s.Connections - Math.Min(_s.Connections, Volatile.Read(ref _next) + 1);
            if (unreached > 0)
            {
                Fail("timeout-not-attempted", _s.Events, unreached);
            }
        }

        private async Task WorkerAsync(CancellationToken deadline)
        {
            int i;
            while (!deadline.IsCancellationRequested && (i = Interlocked.Increment(ref _next)) < _s.Connections)
            {
                Interlocked.Increment(ref _inFlight);
                try
                {
                    await ResumeAsync(i, deadline);
                }
                finally
                {
                    Interlocked.Decrement(ref _inFlight);
                }
            }
        }

        /// <summary>
        /// Resumes stream <paramref name="index"/> and reads its storm events. The stream stops reading once it holds K
        /// of them or the last one (i = K−1): the gateway replays in order, so anything missing then is lost. A stream
        /// cut midway resumes from the last id it read, as a browser would.
        /// </summary>
        private async Task ResumeAsync(int index, CancellationToken deadline)
        {
            var started = Stopwatch.GetTimestamp();
            var seen = new bool[_s.Events];
            var distinct = 0;
            var highest = -1;
            var position = _positions[index];
            while (true)
            {
                var attempt = await _connector.OpenAsync(index, position, deadline);
                if (attempt.Failure is not null)
                {
                    Fail(attempt.Failure, _s.Events - distinct);
                    return;
                }

                using var socket = attempt.Socket!;
                using var reader = attempt.Reader!;
                position = attempt.Position ?? position;
                string? cut = null;
                try
                {
                    while (distinct < _s.Events && highest < _s.Events - 1)
                    {
                        var e = await reader.ReadEventAsync(deadline);
                        if (e is null)
                        {
                            cut = "eof-mid-stream";
                            break;
                        }

                        position = e.Id ?? position;
                        if (e.Type == "reset")
                        {
                            Interlocked.Increment(ref _resets);
                            Fail("reset", _s.Events - distinct); // the stream goes live from now: what it missed will not come
                            return;
                        }

                        if (e.Type != EventType)
                        {
                            continue;
                        }

                        var n = Number(e.Data);
                        if (n < 0 || n >= _s.Events)
                        {
                            Fail("foreign-data", _s.Events - distinct);
                            return;
                        }

                        if (seen[n])
                        {
                            Interlocked.Increment(ref _duplicated);
                            continue;
                        }

                        if (n < highest)
                        {
                            Interlocked.Increment(ref _outOfOrder);
                        }

                        seen[n] = true;
                        distinct++;
                        highest = Math.Max(highest, n);
                    }
                }
                catch (OperationCanceledException)
                {
                    Fail("timeout-mid-stream", _s.Events - distinct);
                    return;
                }
                catch (Exception ex) when (ex is SocketException or InvalidDataException)
                {
                    cut = ex is SocketException se ? "socket-" + se.SocketErrorCode : "malformed-answer";
                }

                if (cut is null)
                {
                    Complete(index, started, _s.Events - distinct);
                    return;
                }

                _failures.AddOrUpdate("retried-" + cut, 1, (_, n) => n + 1);
            }
        }

        /// <summary>The n of <c>{"i":n}</c>; −1 for anything else.</summary>
        private static int Number(string data) =>
            data.StartsWith("{\"i\":", StringComparison.Ordinal) && data.EndsWith('}')
            && int.TryParse(data.AsSpan(5, data.Length - 6), NumberStyles.None, CultureInfo.InvariantCulture, out var n) ? n : -1;

        private void Complete(int index, long started, int lost)
        {
            _completeMs[index] = Stopwatch.GetElapsedTime(started).TotalMilliseconds;
            Interlocked.Exchange(ref _lastCompleteTicks, _clock.ElapsedTicks);
            Interlocked.Increment(ref _completed);
            Interlocked.Add(ref _lost, lost);
        }

        private void Fail(string reason, int lost, int streams = 1)
        {
            _failures.AddOrUpdate(reason, streams, (_, n) => n + streams);
            Interlocked.Add(ref _failed, streams);
            Interlocked.Add(ref _lost, (long)lost * streams);
        }

        /// <summary>Prints the summary line; 0 when every stream got exactly its K events, once, in order.</summary>
        public int Summarize(int sourceIps, Dictionary<string, double?> before, Dictionary<string, double?> after)
        {
            var stormSeconds = Interlocked.Read(ref _lastCompleteTicks) / (double)Stopwatch.Frequency;
            var completeMs = _completeMs.Where(ms => ms > 0).Order().ToArray();
            var formatted = Delta(FramesFormatted);
            var refused = _refused.Values.Sum();
            Report.Line(new()
            {
                ["phase"] = "summary",
                ["mode"] = "storm",
                ["connections"] = _s.Connections,
                ["users"] = _s.Users,
                ["events"] = _s.Events,
                ["source_ips"] = sourceIps,
                ["storm_concurrency"] = _s.StormConcurrency,
                ["completed"] = _completed,
                ["storm_seconds"] = _completed > 0 ? Math.Round(stormSeconds, 3) : null,
                ["reconnects_per_s"] = _completed > 0 && stormSeconds > 0 ? Math.Round(_completed / stormSeconds, 1) : null,
                ["complete_ms_p50"] = Report.Number(Report.Percentile(completeMs, 50)),
                ["complete_ms_p99"] = Report.Number(Report.Percentile(completeMs, 99)),
                ["complete_ms_max"] = Report.Number(Report.Percentile(completeMs, 100)),
                ["refused"] = refused,
                ["refused_by_reason"] = Report.Counts(_refused),
                ["retries"] = _retries,
                ["failed"] = _failed,
                ["failures"] = Report.Counts(_failures),
                ["lost"] = _lost,
                ["duplicated"] = _duplicated,
                ["out_of_order"] = _outOfOrder,
                ["resets"] = _resets,
                ["store_reads"] = Delta(StoreReads),
                ["frames_formatted"] = formatted,
                ["replayed_events"] = Delta(Replayed),
                ["frames_formatted_per_connection"] = formatted is { } f ? Math.Round(f / _s.Connections, 3) : null,
            });
            return _completed == _s.Connections && _failed == 0 && _lost == 0 && _duplicated == 0 && _outOfOrder == 0 ? 0 : 1;

            // A counter the gateway does not export is null; one it exports but had not yet counted before is 0 then.
            double? Delta(string name) => after[name] is { } a ? a - (before[name] ?? 0) : null;
        }
    }
}

/// <summary>Values from the gateway's Prometheus <c>/metrics</c>.</summary>
internal static class Metrics
{
    /// <summary>Each name's value, summed over its labelled series; null for a name the exposition does not have.</summary>
    public static async Task<Dictionary<string, double?>> ReadAsync(HttpClient http, Uri url, string[] names, CancellationToken cancellationToken)
    {
        string text;
        try
        {
            text = await http.GetStringAsync(new Uri(url, "metrics"), cancellationToken);
        }
        catch (HttpRequestException ex)
        {
            throw new SetupException($"GET {url}metrics failed: {ex.Message}");
        }

        var values = names.ToDictionary(n => n, _ => (double?)null, StringComparer.Ordinal);
        foreach (var line in text.Split('\n'))
        {
            if (line.Length == 0 || line[0] == '#')
            {
                continue;
            }

            // "name{labels} value [timestamp]"
            var nameEnd = line.IndexOfAny([' ', '{']);
            if (nameEnd <= 0 || !values.TryGetValue(line[..nameEnd], out var sum))
            {
                continue;
            }

            var labelsEnd = line[nameEnd] == '{' ? line.IndexOf('}', nameEnd) + 1 : nameEnd;
            var number = labelsEnd <= 0 ? "" : line[labelsEnd..].Trim().Split(' ')[0];
            if (double.TryParse(number, NumberStyles.Float, CultureInfo.InvariantCulture, out var value))
            {
                values[line[..nameEnd]] = (sum ?? 0) + value;
            }
        }

        return values;
    }
}
