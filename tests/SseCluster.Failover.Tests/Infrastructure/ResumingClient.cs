using System.Diagnostics;
using System.Net;
using System.Net.Http.Headers;
using System.Net.ServerSentEvents;
using System.Text.Json;

namespace SseCluster.Failover.Tests.Infrastructure;

/// <summary>One event a client received (everything but <c>welcome</c>), with the gateway that sent it.</summary>
internal sealed record Delivery(string EventType, string Data, string? Id, string GatewayId, long Timestamp);

/// <summary>One stream a client held: the gateway that welcomed it, when, and how it ended.</summary>
internal sealed class StreamSession(string gatewayId, long welcomedAt)
{
    public string GatewayId { get; } = gatewayId;

    public long WelcomedAt { get; } = welcomedAt;

    public long? EndedAt { get; set; }

    public string? EndReason { get; set; }

    /// <summary>The reason of the <c>event: close</c> that ended the stream, if one did.</summary>
    public string? CloseReason { get; set; }
}

/// <summary>One answer to a stream request: the node asked, its status code, and when the headers came.</summary>
internal sealed record StreamResponse(string GatewayId, int Status, long Timestamp);

/// <summary>
/// A client that keeps one SSE stream open, as a browser's EventSource does: it reads with
/// <see cref="SseParser"/>, remembers the last event id, and when the stream breaks reconnects after a short jittered
/// pause through the <see cref="LoadBalancer"/> with <c>Last-Event-ID</c>. It never deduplicates or reorders: what it
/// records is exactly what the gateways sent.
/// </summary>
internal sealed class ResumingClient(int index, string userId, string token, HttpClient http, LoadBalancer balancer)
{
    private readonly Lock _lock = new();
    private readonly List<Delivery> _deliveries = [];
    private readonly List<StreamSession> _sessions = [];
    private readonly List<string> _errors = [];
    private readonly List<StreamResponse> _responses = [];
    private readonly List<string> _turnedAway = [];
    private readonly TaskCompletionSource _welcomed = new(TaskCreationOptions.RunContinuationsAsynchronously);

    public int Index { get; } = index;

    public string UserId { get; } = userId;

    public string? LastEventId { get; private set; }

    /// <summary>Connection attempts a node refused (dead) before another accepted.</summary>
    public int RefusedAttempts { get; private set; }

    /// <summary>Completes with the first <c>welcome</c>.</summary>
    public Task Welcomed => _welcomed.Task;

    public IReadOnlyList<Delivery> Deliveries
    {
        get
        {
            lock (_lock)
            {
                return [.. _deliveries];
            }
        }
    }

    public IReadOnlyList<StreamSession> Sessions
    {
        get
        {
            lock (_lock)
            {
                return [.. _sessions];
            }
        }
    }

    /// <summary>Every answer a node gave to a stream request, in order (refused connections are not answers).</summary>
    public IReadOnlyList<StreamResponse> Responses
    {
        get
        {
            lock (_lock)
            {
                return [.. _responses];
            }
        }
    }

    /// <summary>
    /// The reasons of the <c>event: close</c> answers (200) that turned a stream request away before any welcome: a
    /// draining, full or store-less node's way of saying "retry elsewhere". Not errors: the client retries.
    /// </summary>
    public IReadOnlyList<string> TurnedAway
    {
        get
        {
            lock (_lock)
            {
                return [.. _turnedAway];
            }
        }
    }

    public IReadOnlyList<string> Errors
    {
        get
        {
            lock (_lock)
            {
                return [.. _errors];
            }
        }
    }

    public int DeliveryCount
    {
        get
        {
            lock (_lock)
            {
                return _deliveries.Count;
            }
        }
    }

    /// <summary>Streams from <paramref name="first"/>, then from whatever node the balancer gives, until <paramref name="stop"/>.</summary>
    public async Task RunAsync(GatewayProcess first, CancellationToken stop)
    {
        var node = first;
        var refusedInARow = 0;
        while (!stop.IsCancellationRequested)
        {
            var refused = await StreamOnceAsync(node, stop);
            if (stop.IsCancellationRequested)
            {
                return;
            }

            if (refused)
            {
                // A balancer tries the next server at once; only when every one refused does it wait.
                RefusedAttempts++;
                refusedInARow++;
                if (refusedInARow >= balancer.Nodes.Count)
                {
                    refusedInARow = 0;
                    await Delay(200, stop);
                }
            }
            else
            {
                refusedInARow = 0;
                // EventSource waits its retry interval; jitter spreads the reconnects.
                await Delay(Random.Shared.Next(50, 300), stop);
            }

            node = balancer.Next();
        }
    }

    /// <returns>True when the node refused the connection.</returns>
    private async Task<bool> StreamOnceAsync(GatewayProcess node, CancellationToken stop)
    {
        using var request = new HttpRequestMessage(HttpMethod.Get, new Uri(node.BaseAddress, $"/sse/connect?clientId=c{Index}"));
        request.Headers.Accept.ParseAdd("text/event-stream");
        request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", token);
        if (LastEventId is { } lastEventId)
        {
            request.Headers.TryAddWithoutValidation("Last-Event-ID", lastEventId);
        }

        HttpResponseMessage response;
        using (var headers = CancellationTokenSource.CreateLinkedTokenSource(stop))
        {
            headers.CancelAfter(TimeSpan.FromSeconds(10));
            try
            {
                response = await http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, headers.Token);
            }
            catch (HttpRequestException ex) when (ex.HttpRequestError == HttpRequestError.ConnectionError)
            {
                return true;
            }
            catch (Exception ex) when (!stop.IsCancellationRequested && ex is HttpRequestException or OperationCanceledException)
            {
                Error($"connect to {node.GatewayId}: {ex.GetType().Name}: {ex.Message}");
                return false;
            }
            catch (OperationCanceledException)
            {
                return false;
            }
        }

        using (response)
        {
            lock (_lock)
            {
                _responses.Add(new StreamResponse(node.GatewayId, (int)response.StatusCode, Stopwatch.GetTimestamp()));
            }

            if (response.StatusCode != HttpStatusCode.OK)
            {
                Error($"{node.GatewayId} answered {(int)response.StatusCode}: {await response.Content.ReadAsStringAsync(CancellationToken.None)}");
                return false;
            }

            StreamSession? session = null;
            string? closedBefore = null;
            string reason = "ended";
            try
            {
                await using var body = await response.Content.ReadAsStreamAsync(stop);
                var parser = SseParser.Create(body);
                await foreach (var item in parser.EnumerateAsync(stop))
                {
                    var now = Stopwatch.GetTimestamp();
                    // As EventSource: the last event id survives a response that sets none (a refusal's retry + close).
                    if (parser.LastEventId.Length > 0)
                    {
                        LastEventId = parser.LastEventId;
                    }

                    if (item.EventType == "welcome")
                    {
                        var gatewayId = JsonDocument.Parse(item.Data).RootElement.GetProperty("gatewayId").GetString() ?? "?";
                        session = new StreamSession(gatewayId, now);
                        lock (_lock)
                        {
                            _sessions.Add(session);
                        }

                        _welcomed.TrySetResult();
                        continue;
                    }

                    lock (_lock)
                    {
                        _deliveries.Add(new Delivery(item.EventType, item.Data, LastEventId, session?.GatewayId ?? node.GatewayId, now));
                    }

                    if (item.EventType == "close")
                    {
                        var closeReason = CloseReasonOf(item.Data);
                        if (session is not null)
                        {
                            session.CloseReason ??= closeReason;
                        }
                        else
                        {
                            closedBefore ??= closeReason;
                        }
                    }
                }
            }
            catch (OperationCanceledException) when (stop.IsCancellationRequested)
            {
                reason = "stopped";
            }
            catch (Exception ex) when (ex is IOException or HttpRequestException or ObjectDisposedException or OperationCanceledException)
            {
                reason = ex.GetType().Name;
            }

            if (session is not null)
            {
                session.EndedAt = Stopwatch.GetTimestamp();
                session.EndReason = reason;
            }
            else if (closedBefore is not null)
            {
                lock (_lock)
                {
                    _turnedAway.Add($"{node.GatewayId}: {closedBefore}");
                }
            }
            else if (!stop.IsCancellationRequested)
            {
                Error($"{node.GatewayId}: stream ended before its welcome ({reason})");
            }

            return false;
        }
    }

    private static string CloseReasonOf(string data)
    {
        try
        {
            return JsonDocument.Parse(data).RootElement.GetProperty("reason").GetString() ?? "?";
        }
        catch (Exception ex) when (ex is JsonException or KeyNotFoundException or InvalidOperationException)
        {
            return $"unreadable: {data}";
        }
    }

    private void Error(string message)
    {
        lock (_lock)
        {
            _errors.Add(message);
        }
    }

    private static async Task Delay(int milliseconds, CancellationToken stop)
    {
        try
        {
            await Task.Delay(milliseconds, stop);
        }
        catch (OperationCanceledException)
        {
        }
    }
}
