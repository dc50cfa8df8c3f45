using System.Collections.Concurrent;
using System.Net;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;

namespace SseCluster.Failover.Tests.Infrastructure;

/// <summary>
/// A publish the gateway answered 202: its nonce (in the data), the stream and the sequence it was stored at, and when
/// it was sent and answered (<see cref="System.Diagnostics.Stopwatch"/> timestamps).
/// </summary>
internal sealed record AcceptedPublish(long Nonce, string Stream, long Sequence, string? UserId, string Via, long SentAt, long AnsweredAt);

/// <summary>
/// Publishes through a gateway's HTTP API and records every answer. Each event's data carries a unique nonce
/// (<c>{"p":n,"u":user}</c> for a send, <c>{"b":n}</c> for a broadcast), so a received event can be matched to its
/// publish; only 202 answers count as published.
/// </summary>
internal sealed class PublishLedger(HttpClient http)
{
    private readonly ConcurrentDictionary<long, AcceptedPublish> _accepted = new();
    private readonly ConcurrentDictionary<long, string> _refused = new();
    private long _nonce;

    public IReadOnlyCollection<AcceptedPublish> Accepted => [.. _accepted.Values];

    /// <summary>Publishes not answered 202 (status or exception), by nonce.</summary>
    public IReadOnlyDictionary<long, string> Refused => _refused;

    public AcceptedPublish? Find(long nonce) => _accepted.TryGetValue(nonce, out var published) ? published : null;

    public Task SendAsync(GatewayProcess via, string token, string userId)
    {
        var nonce = Interlocked.Increment(ref _nonce);
        var user = JsonSerializer.Serialize(userId);
        var body = $$$"""{"userId":{{{user}}},"eventType":"step","data":{"p":{{{nonce}}},"u":{{{user}}}}}""";
        return PostAsync(via, token, "/sse/send", body, nonce, $"u:{userId}", userId);
    }

    public Task BroadcastAsync(GatewayProcess via, string token)
    {
        var nonce = Interlocked.Increment(ref _nonce);
        var body = $$$"""{"eventType":"notice","data":{"b":{{{nonce}}}}}""";
        return PostAsync(via, token, "/sse/broadcast", body, nonce, "b", null);
    }

    private async Task PostAsync(GatewayProcess via, string token, string path, string json, long nonce, string stream, string? userId)
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, new Uri(via.BaseAddress, path))
        {
            Content = new StringContent(json, Encoding.UTF8, "application/json"),
        };
        request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", token);
        var sentAt = System.Diagnostics.Stopwatch.GetTimestamp();
        try
        {
            // Not cancelled when publishing stops: the answer decides whether the event counts.
            using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(10));
            using var response = await http.SendAsync(request, timeout.Token);
            var answer = await response.Content.ReadAsStringAsync(timeout.Token);
            if (response.StatusCode != HttpStatusCode.Accepted)
            {
                _refused[nonce] = $"{(int)response.StatusCode} from {via.GatewayId}: {answer}";
                return;
            }

            var sequence = JsonDocument.Parse(answer).RootElement.GetProperty("events").EnumerateArray()
                .Single(e => e.GetProperty("stream").GetString() == stream)
                .GetProperty("sequence").GetInt64();
            _accepted[nonce] = new AcceptedPublish(nonce, stream, sequence, userId, via.GatewayId, sentAt, System.Diagnostics.Stopwatch.GetTimestamp());
        }
        catch (Exception ex) when (ex is HttpRequestException or OperationCanceledException)
        {
            _refused[nonce] = $"{ex.GetType().Name} from {via.GatewayId}: {ex.Message}";
        }
    }
}
