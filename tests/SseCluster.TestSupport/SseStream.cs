using System.Net;
using System.Net.ServerSentEvents;
using System.Text.Json;
using System.Threading.Channels;

namespace SseCluster.TestSupport;

/// <summary>One received event, as System.Net.ServerSentEvents' parser (not ours) read it.</summary>
public sealed record ReceivedEvent(string EventType, string Data, string? Id)
{
    /// <summary>When the reader parsed it (not when a test looked at it).</summary>
    public DateTime ReceivedAt { get; init; } = DateTime.UtcNow;

    public JsonElement Json => JsonDocument.Parse(Data).RootElement;
}

/// <summary>
/// An open <c>/sse/connect</c> response read in the background with <see cref="SseParser"/>. Tests wait on events with
/// timeouts that fail saying what did not arrive.
/// </summary>
public sealed class SseStream : IAsyncDisposable
{
    private readonly Channel<ReceivedEvent> _events = Channel.CreateUnbounded<ReceivedEvent>();
    private readonly CancellationTokenSource _stop = new();
    private readonly HttpResponseMessage _response;
    private readonly Task _reader;
    private int _disposed;

    private readonly bool _retain;

    private SseStream(HttpResponseMessage response, Stream body, bool retain)
    {
        _response = response;
        _retain = retain;
        _reader = Task.Run(() => ReadAsync(body));
    }

    public HttpResponseMessage Response => _response;

    /// <summary>Completes when the server ends the stream (or it breaks).</summary>
    public Task Ended => _reader;

    public string? LastEventId { get; private set; }

    public List<ReceivedEvent> Received { get; } = [];

    /// <param name="retain">Keep every event in <see cref="Received"/>; off for bulk tests that measure memory.</param>
    public static async Task<SseStream> OpenAsync(HttpClient client, string url, string? lastEventId = null, TimeSpan? timeout = null, bool retain = true)
    {
        var (response, stream) = await TryOpenAsync(client, url, lastEventId, timeout, retain);
        if (stream is null)
        {
            throw new Xunit.Sdk.XunitException($"GET {url} answered {(int)response.StatusCode}: {await response.Content.ReadAsStringAsync()}");
        }

        return stream;
    }

    /// <summary>Opens a stream, or returns the non-200 response.</summary>
    public static async Task<(HttpResponseMessage Response, SseStream? Stream)> TryOpenAsync(HttpClient client, string url, string? lastEventId = null, TimeSpan? timeout = null, bool retain = true)
    {
        var request = new HttpRequestMessage(HttpMethod.Get, url);
        request.Headers.Accept.ParseAdd("text/event-stream");
        if (lastEventId is not null)
        {
            request.Headers.TryAddWithoutValidation("Last-Event-ID", lastEventId);
        }

        using var cts = new CancellationTokenSource(timeout ?? TimeSpan.FromSeconds(15));
        var response = await client.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, cts.Token);
        if (response.StatusCode != HttpStatusCode.OK)
        {
            return (response, null);
        }

        return (response, new SseStream(response, await response.Content.ReadAsStreamAsync(cts.Token), retain));
    }

    /// <summary>Sends <paramref name="request"/> (a POST that answers with a stream, say) and reads its stream, or returns the non-200 response.</summary>
    public static async Task<(HttpResponseMessage Response, SseStream? Stream)> TrySendAsync(HttpClient client, HttpRequestMessage request, TimeSpan? timeout = null)
    {
        request.Headers.Accept.ParseAdd("text/event-stream");
        using var cts = new CancellationTokenSource(timeout ?? TimeSpan.FromSeconds(15));
        var response = await client.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, cts.Token);
        if (response.StatusCode != HttpStatusCode.OK)
        {
            return (response, null);
        }

        return (response, new SseStream(response, await response.Content.ReadAsStreamAsync(cts.Token), retain: true));
    }

    /// <summary>Waits for the next event matching <paramref name="match"/> (others are kept in <see cref="Received"/>).</summary>
    public async Task<ReceivedEvent> WaitForAsync(Func<ReceivedEvent, bool> match, string what, TimeSpan? timeout = null)
    {
        using var cts = new CancellationTokenSource(timeout ?? TimeSpan.FromSeconds(10));
        try
        {
            while (await _events.Reader.WaitToReadAsync(cts.Token))
            {
                while (_events.Reader.TryRead(out var e))
                {
                    if (match(e))
                    {
                        return e;
                    }
                }
            }
        }
        catch (OperationCanceledException)
        {
        }

        throw new Xunit.Sdk.XunitException($"timed out waiting for {what}; received: [{string.Join(", ", Received.Select(e => $"{e.EventType}:{Shorten(e.Data)}"))}]");
    }

    public Task<ReceivedEvent> WaitForAsync(string eventType, TimeSpan? timeout = null) =>
        WaitForAsync(e => e.EventType == eventType, $"event '{eventType}'", timeout);

    /// <summary>Collects the next <paramref name="count"/> events of <paramref name="eventType"/>.</summary>
    public async Task<List<ReceivedEvent>> CollectAsync(string eventType, int count, TimeSpan? timeout = null)
    {
        var result = new List<ReceivedEvent>();
        var deadline = DateTime.UtcNow + (timeout ?? TimeSpan.FromSeconds(15));
        while (result.Count < count)
        {
            var left = deadline - DateTime.UtcNow;
            if (left <= TimeSpan.Zero)
            {
                throw new Xunit.Sdk.XunitException($"got {result.Count} of {count} '{eventType}' events");
            }

            result.Add(await WaitForAsync(e => e.EventType == eventType, $"'{eventType}' #{result.Count + 1} of {count}", left));
        }

        return result;
    }

    /// <summary>Waits for <paramref name="count"/> events of <paramref name="eventType"/> without keeping them.</summary>
    public async Task<int> CountAsync(string eventType, int count, TimeSpan? timeout = null)
    {
        var deadline = DateTime.UtcNow + (timeout ?? TimeSpan.FromSeconds(15));
        for (var seen = 0; seen < count; seen++)
        {
            var left = deadline - DateTime.UtcNow;
            if (left <= TimeSpan.Zero)
            {
                throw new Xunit.Sdk.XunitException($"got {seen} of {count} '{eventType}' events");
            }

            await WaitForAsync(e => e.EventType == eventType, $"'{eventType}' #{seen + 1} of {count}", left);
        }

        return count;
    }

    /// <summary>True if an event matching <paramref name="match"/> arrives within <paramref name="window"/>.</summary>
    public async Task<bool> ReceivesWithinAsync(Func<ReceivedEvent, bool> match, TimeSpan window)
    {
        try
        {
            await WaitForAsync(match, "probe", window);
            return true;
        }
        catch (Xunit.Sdk.XunitException)
        {
            return false;
        }
    }

    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) == 1)
        {
            return;
        }

        await _stop.CancelAsync();
        _response.Dispose();
        try
        {
            await _reader.WaitAsync(TimeSpan.FromSeconds(5));
        }
        catch (Exception ex) when (ex is OperationCanceledException or TimeoutException or IOException or HttpRequestException or ObjectDisposedException)
        {
        }

        _stop.Dispose();
    }

    private async Task ReadAsync(Stream body)
    {
        try
        {
            var parser = SseParser.Create(body);
            await foreach (var item in parser.EnumerateAsync(_stop.Token))
            {
                LastEventId = parser.LastEventId;
                var e = new ReceivedEvent(item.EventType, item.Data, parser.LastEventId);
                if (_retain)
                {
                    lock (Received)
                    {
                        Received.Add(e);
                    }
                }

                _events.Writer.TryWrite(e);
            }
        }
        catch (Exception ex) when (ex is OperationCanceledException or IOException or HttpRequestException or ObjectDisposedException)
        {
        }
        finally
        {
            _events.Writer.TryComplete();
        }
    }

    private static string Shorten(string s) => s.Length > 60 ? s[..60] + "…" : s;
}
