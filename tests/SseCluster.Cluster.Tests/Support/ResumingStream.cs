using System.Net;
using SseCluster.TestSupport;

namespace SseCluster.Cluster.Tests.Support;

/// <summary>
/// What a well-behaved client does: keeps one stream open and, whenever the server ends it, reconnects with its last
/// event id (after a short pause, as <c>retry:</c> asks). Everything every one of its streams received is kept, in order.
/// One node, in process, each stream an <see cref="SseStream"/> a test can hold on to (was it ever replaced?); the
/// failover tests' <c>ResumingClient</c> instead moves between gateway processes through a load balancer and records
/// which gateway sent what.
/// </summary>
public sealed class ResumingStream : IAsyncDisposable
{
    private readonly HttpClient _client;
    private readonly string _url;
    private readonly CancellationTokenSource _stop = new();
    private readonly List<SseStream> _ended = [];
    private readonly object _gate = new();
    private SseStream? _current;
    private Task _loop = Task.CompletedTask;

    private ResumingStream(HttpClient client, string url)
    {
        _client = client;
        _url = url;
    }

    /// <summary>How many times a stream ended and the client connected again.</summary>
    public int Reconnects { get; private set; }

    /// <summary>The stream open now (the first one until the server ends it).</summary>
    public SseStream Current
    {
        get
        {
            lock (_gate)
            {
                return _current!;
            }
        }
    }

    /// <summary>Opens the first stream (and waits for its welcome), then keeps it open.</summary>
    public static async Task<ResumingStream> StartAsync(HttpClient client, string url)
    {
        var resuming = new ResumingStream(client, url);
        var first = await SseStream.OpenAsync(client, url);
        await first.WaitForAsync("welcome");
        resuming._current = first;
        resuming._loop = Task.Run(resuming.RunAsync);
        return resuming;
    }

    /// <summary>Every event received so far, over all streams, in arrival order.</summary>
    public List<ReceivedEvent> Snapshot()
    {
        var all = new List<ReceivedEvent>();
        lock (_gate)
        {
            foreach (var stream in _ended.Append(_current!))
            {
                lock (stream.Received)
                {
                    all.AddRange(stream.Received);
                }
            }
        }

        return all;
    }

    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync();
        try
        {
            await _loop.WaitAsync(TimeSpan.FromSeconds(10));
        }
        catch (TimeoutException)
        {
        }

        foreach (var stream in _ended.Append(_current))
        {
            if (stream is not null)
            {
                await stream.DisposeAsync();
            }
        }

        _client.Dispose();
        _stop.Dispose();
    }

    private async Task RunAsync()
    {
        var token = _stop.Token;
        string? lastId = null;
        while (!token.IsCancellationRequested)
        {
            var current = Current;
            try
            {
                await current.Ended.WaitAsync(token);
            }
            catch (OperationCanceledException)
            {
                return;
            }

            lastId = current.LastEventId ?? lastId;
            while (!token.IsCancellationRequested)
            {
                try
                {
                    await Task.Delay(200, token);
                    var (response, next) = await SseStream.TryOpenAsync(_client, _url, lastId);
                    if (next is null)
                    {
                        response.Dispose();
                        if (response.StatusCode is not (HttpStatusCode.ServiceUnavailable or HttpStatusCode.BadGateway))
                        {
                            return; // 401, 403, 204…: a browser would stop too
                        }

                        continue;
                    }

                    lock (_gate)
                    {
                        _ended.Add(current);
                        _current = next;
                        Reconnects++;
                    }

                    break;
                }
                catch (OperationCanceledException)
                {
                    return;
                }
                catch (HttpRequestException)
                {
                    // Node unreachable for a moment: try again.
                }
            }
        }
    }
}
