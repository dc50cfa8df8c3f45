using System.Diagnostics;
using System.Net;
using System.Net.Http.Headers;
using System.Net.ServerSentEvents;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace SseCluster.LoadClient;

internal sealed record LatencySettings(
    Uri Url,
    Uri? Url2,
    int Users,
    int Events,
    int Rate,
    int Warmup,
    int MaxInFlight,
    int DrainSeconds,
    int ConnectTimeoutSeconds,
    string UserPrefix)
{
    public static LatencySettings From(Arguments a)
    {
        var settings = new LatencySettings(
            a.Url("url"),
            a.OptionalUrl("url2"),
            a.Int("users", 200, 1, 10_000),
            a.Int("events", 5000, 1, 10_000_000),
            a.Int("rate", 500, 1, 100_000),
            a.Int("warmup", 200, 0, 1_000_000),
            a.Int("max-in-flight", 64, 1, 4096),
            a.Int("drain-seconds", 10, 0, 600),
            a.Int("connect-timeout-seconds", 30, 1, 600),
            a.String("user-prefix", "lat"));
        a.RejectUnknown();
        return settings;
    }
}

/// <summary>
/// Publish-to-delivery latency: one stream per user (read from <c>--url2</c> when given, so a second node delivers),
/// <c>sendToUser</c> publishes at a fixed rate to <c>--url</c>, round-robin over the users, each carrying its sequence
/// number, its user and a <see cref="Stopwatch"/> timestamp taken just before the POST. Publisher and readers share
/// this process, so the clocks agree; the figure includes the publish HTTP call, routing, queueing, the write and the
/// client's parse.
/// </summary>
internal static class LatencyMode
{
    private const string EventType = "bench";

    private readonly record struct Delivery(string Type, long Seq, int User, long SentAt, long ReceivedAt);

    public static async Task<int> RunAsync(LatencySettings s, CancellationToken cancellationToken)
    {
        var deliveryUrl = s.Url2 ?? s.Url;
        var total = s.Warmup + s.Events;
        using var setupHttp = new HttpClient { Timeout = TimeSpan.FromSeconds(30) };
        var userIds = Enumerable.Range(0, s.Users).Select(u => $"{s.UserPrefix}-{u}").ToArray();
        var tokens = await DevTokens.FetchAsync(setupHttp, s.Url, userIds, [], cancellationToken);
        var publisherToken = (await DevTokens.FetchAsync(setupHttp, s.Url, [$"{s.UserPrefix}-publisher"], ["publisher", "admin"], cancellationToken))[0];

        // Per sequence number: the first arrival's latency and how many arrivals.
        var latencyTicks = new long[total];
        var arrivals = new int[total];
        var ackTicks = new long[total];
        var accepted = new bool[total];
        var counters = new Counters();

        using var streamHttp = new HttpClient(new SocketsHttpHandler
        {
            MaxConnectionsPerServer = int.MaxValue,
            PooledConnectionLifetime = Timeout.InfiniteTimeSpan,
            ConnectTimeout = TimeSpan.FromSeconds(s.ConnectTimeoutSeconds),
        })
        { Timeout = Timeout.InfiniteTimeSpan };
        using var stopStreams = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        var welcomed = Enumerable.Range(0, s.Users).Select(_ => new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously)).ToArray();

        void OnDelivery(int reader, Delivery d)
        {
            if (d.Type == "welcome")
            {
                welcomed[reader].TrySetResult();
                return;
            }

            if (d.Type != EventType)
            {
                counters.Other(d.Type);
                return;
            }

            if (d.Seq < 0 || d.Seq >= total)
            {
                Interlocked.Increment(ref counters.Foreign);
                return;
            }

            if (d.User != reader)
            {
                Interlocked.Increment(ref counters.Misrouted);
            }

            if (Interlocked.Increment(ref arrivals[d.Seq]) == 1)
            {
                // The send timestamp travelled in the event's data; same process, same Stopwatch.
                Volatile.Write(ref latencyTicks[d.Seq], d.ReceivedAt - d.SentAt);
            }
        }

        var readers = Enumerable.Range(0, s.Users)
            .Select(u => ReadStreamAsync(streamHttp, deliveryUrl, tokens[u], u, OnDelivery, welcomed[u], counters, stopStreams.Token))
            .ToArray();

        var connectClock = Stopwatch.StartNew();
        var allWelcomed = Task.WhenAll(welcomed.Select(w => w.Task));
        await Task.WhenAny(allWelcomed, Task.Delay(TimeSpan.FromSeconds(s.ConnectTimeoutSeconds), cancellationToken));
        if (!allWelcomed.IsCompletedSuccessfully)
        {
            var missing = welcomed.Count(w => !w.Task.IsCompletedSuccessfully);
            await stopStreams.CancelAsync();
            throw new SetupException($"{missing} of {s.Users} streams did not get their welcome within {s.ConnectTimeoutSeconds}s ({counters.Describe()})");
        }

        Report.Line(new() { ["phase"] = "connected", ["streams"] = s.Users, ["deliveryUrl"] = deliveryUrl.ToString(), ["seconds"] = Math.Round(connectClock.Elapsed.TotalSeconds, 2) });

        using var publishHttp = new HttpClient(new SocketsHttpHandler
        {
            MaxConnectionsPerServer = s.MaxInFlight,
            PooledConnectionLifetime = Timeout.InfiniteTimeSpan,
        })
        { Timeout = TimeSpan.FromSeconds(30) };
        publishHttp.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", publisherToken);
        var sendUri = new Uri(s.Url, "sse/send");

        // Fixed-rate schedule: event i is due at start + i/rate; a late publisher catches up instead of drifting.
        using var inFlight = new SemaphoreSlim(s.MaxInFlight);
        var publishes = new List<Task>(total);
        var statusCounts = new Dictionary<string, int>(StringComparer.Ordinal);
        var statusLock = new Lock();
        var publishClock = Stopwatch.StartNew();
        var start = Stopwatch.GetTimestamp();
        var publishDeadline = TimeSpan.FromSeconds(total / (double)s.Rate * 3 + 60);
        Report.Line(new() { ["phase"] = "publishing", ["events"] = s.Events, ["warmup"] = s.Warmup, ["rate"] = s.Rate, ["publishUrl"] = s.Url.ToString() });
        for (var i = 0; i < total; i++)
        {
            if (publishClock.Elapsed > publishDeadline)
            {
                Report.Line(new() { ["phase"] = "warning", ["message"] = $"publishing stopped at event {i}: over the {publishDeadline.TotalSeconds:F0}s budget" });
                break;
            }

            var due = start + (long)(i * (double)Stopwatch.Frequency / s.Rate);
            var wait = Stopwatch.GetElapsedTime(Stopwatch.GetTimestamp(), due);
            if (wait > TimeSpan.FromMilliseconds(1))
            {
                await Task.Delay(wait, cancellationToken);
            }

            await inFlight.WaitAsync(cancellationToken);
            var seq = i;
            publishes.Add(Task.Run(async () =>
            {
                try
                {
                    var user = seq % s.Users;
                    var sentAt = Stopwatch.GetTimestamp();
                    var body = $$$"""{"userId":"{{{userIds[user]}}}","eventType":"{{{EventType}}}","data":{"seq":{{{seq}}},"u":{{{user}}},"ts":{{{sentAt}}}}}""";
                    using var content = new StringContent(body, Encoding.UTF8, "application/json");
                    string status;
                    try
                    {
                        using var response = await publishHttp.PostAsync(sendUri, content, cancellationToken);
                        ackTicks[seq] = Stopwatch.GetTimestamp() - sentAt;
                        accepted[seq] = response.StatusCode == HttpStatusCode.Accepted;
                        status = ((int)response.StatusCode).ToString(System.Globalization.CultureInfo.InvariantCulture);
                    }
                    catch (Exception ex) when (ex is HttpRequestException or TaskCanceledException)
                    {
                        status = ex.GetType().Name;
                    }

                    lock (statusLock)
                    {
                        statusCounts[status] = statusCounts.GetValueOrDefault(status) + 1;
                    }
                }
                finally
                {
                    inFlight.Release();
                }
            }, CancellationToken.None));

            if (i > 0 && i % Math.Max(s.Rate * 2, 1) == 0)
            {
                Report.Line(new() { ["phase"] = "progress", ["published"] = i, ["delivered"] = arrivals.Count(a => a > 0), ["elapsedS"] = Math.Round(publishClock.Elapsed.TotalSeconds, 1) });
            }
        }

        await Task.WhenAll(publishes);
        var publishSeconds = publishClock.Elapsed.TotalSeconds;
        var published = publishes.Count;

        // Wait (bounded) for every accepted event to arrive.
        var drainClock = Stopwatch.StartNew();
        while (drainClock.Elapsed.TotalSeconds < s.DrainSeconds && Enumerable.Range(0, published).Any(i => accepted[i] && Volatile.Read(ref arrivals[i]) == 0))
        {
            await Task.Delay(50, cancellationToken);
        }

        // Late duplicates show up shortly after the last event, if at all.
        await Task.Delay(500, cancellationToken);
        await stopStreams.CancelAsync();
        await Task.WhenAll(readers);

        var measured = Enumerable.Range(s.Warmup, Math.Max(0, published - s.Warmup)).ToArray();
        var acceptedMeasured = measured.Where(i => accepted[i]).ToArray();
        var latencies = acceptedMeasured.Where(i => arrivals[i] > 0).Select(i => Report.Ms(latencyTicks[i])).Order().ToArray();
        var acks = acceptedMeasured.Select(i => Report.Ms(ackTicks[i])).Order().ToArray();
        var lost = acceptedMeasured.Count(i => arrivals[i] == 0);
        var duplicated = measured.Count(i => arrivals[i] > 1);
        var rejected = measured.Length - acceptedMeasured.Length;

        var statuses = new JsonObject();
        foreach (var (status, count) in statusCounts.OrderBy(p => p.Key, StringComparer.Ordinal))
        {
            statuses[status] = count;
        }

        var summary = new JsonObject
        {
            ["phase"] = "summary",
            ["mode"] = "latency",
            ["cluster"] = s.Url2 is not null,
            ["publishUrl"] = s.Url.ToString(),
            ["deliveryUrl"] = deliveryUrl.ToString(),
            ["users"] = s.Users,
            ["rate"] = s.Rate,
            ["achievedRate"] = Math.Round(published / publishSeconds, 1),
            ["warmup"] = s.Warmup,
            ["events"] = measured.Length,
            ["accepted"] = acceptedMeasured.Length,
            ["rejected"] = rejected,
            ["delivered"] = latencies.Length,
            ["lost"] = lost,
            ["duplicated"] = duplicated,
            ["misrouted"] = counters.Misrouted,
            ["p50Ms"] = Report.Number(Report.Percentile(latencies, 50)),
            ["p90Ms"] = Report.Number(Report.Percentile(latencies, 90)),
            ["p99Ms"] = Report.Number(Report.Percentile(latencies, 99)),
            ["maxMs"] = Report.Number(Report.Percentile(latencies, 100)),
            ["ackP50Ms"] = Report.Number(Report.Percentile(acks, 50)),
            ["ackP99Ms"] = Report.Number(Report.Percentile(acks, 99)),
            ["publishStatuses"] = statuses,
            ["otherEvents"] = counters.Describe(),
        };
        Report.Line(summary);
        return lost == 0 && duplicated == 0 && rejected == 0 && counters.Misrouted == 0 && measured.Length == s.Events ? 0 : 1;
    }

    private static async Task ReadStreamAsync(
        HttpClient http,
        Uri baseUrl,
        string token,
        int reader,
        Action<int, Delivery> onDelivery,
        TaskCompletionSource welcomed,
        Counters counters,
        CancellationToken cancellationToken)
    {
        try
        {
            using var request = new HttpRequestMessage(HttpMethod.Get, new Uri(baseUrl, $"sse/connect?clientId=latency-{reader}"));
            request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", token);
            request.Headers.Accept.Add(new MediaTypeWithQualityHeaderValue("text/event-stream"));
            using var response = await http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, cancellationToken);
            if (response.StatusCode != HttpStatusCode.OK)
            {
                counters.Other($"status-{(int)response.StatusCode}");
                welcomed.TrySetException(new SetupException($"stream {reader}: {(int)response.StatusCode}"));
                return;
            }

            await using var stream = await response.Content.ReadAsStreamAsync(cancellationToken);
            var parser = SseParser.Create(stream, Parse);
            await foreach (var item in parser.EnumerateAsync(cancellationToken))
            {
                onDelivery(reader, item.Data);
            }

            if (!cancellationToken.IsCancellationRequested)
            {
                counters.Other("stream-ended");
            }
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            // the run is over
        }
        catch (Exception ex) when (ex is HttpRequestException or IOException)
        {
            if (!cancellationToken.IsCancellationRequested)
            {
                counters.Other("stream-error");
            }
        }
    }

    // Called by SseParser at each event's blank line: the arrival timestamp is taken here, before any queueing.
    private static Delivery Parse(string eventType, ReadOnlySpan<byte> data)
    {
        var now = Stopwatch.GetTimestamp();
        if (eventType != EventType)
        {
            return new Delivery(eventType, -1, -1, 0, now);
        }

        long seq = -1, ts = 0;
        var user = -1;
        var json = new Utf8JsonReader(data);
        while (json.Read())
        {
            if (json.TokenType != JsonTokenType.PropertyName || json.CurrentDepth != 1)
            {
                continue;
            }

            if (json.ValueTextEquals("seq"u8) && json.Read())
            {
                seq = json.GetInt64();
            }
            else if (json.ValueTextEquals("u"u8) && json.Read())
            {
                user = json.GetInt32();
            }
            else if (json.ValueTextEquals("ts"u8) && json.Read())
            {
                ts = json.GetInt64();
            }
        }

        return new Delivery(eventType, seq, user, ts, now);
    }

    private sealed class Counters
    {
        public int Misrouted;
        public int Foreign;
        private readonly Dictionary<string, int> _other = new(StringComparer.Ordinal);
        private readonly Lock _gate = new();

        public void Other(string type)
        {
            lock (_gate)
            {
                _other[type] = _other.GetValueOrDefault(type) + 1;
            }
        }

        public string Describe()
        {
            lock (_gate)
            {
                var parts = _other.OrderBy(p => p.Key, StringComparer.Ordinal).Select(p => $"{p.Key}={p.Value}").ToList();
                if (Foreign > 0)
                {
                    parts.Add($"foreign-seq={Foreign}");
                }

                return parts.Count == 0 ? "none" : string.Join(" ", parts);
            }
        }
    }
}
