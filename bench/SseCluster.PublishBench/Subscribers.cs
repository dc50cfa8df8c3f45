using System.Net;
using System.Net.Http.Headers;

namespace SseCluster.PublishBench;

/// <summary>
/// <c>--subscribers 1</c>: one SSE stream per user (user i on URL i % count), open before the publishing starts and held
/// to the end; counts the <c>event: bench</c> frames they receive. Each user has exactly one stream, so every accepted
/// publish should arrive exactly once.
/// </summary>
internal sealed class Subscribers : IAsyncDisposable
{
    private readonly HttpClient _http;
    private readonly CancellationTokenSource _stop = new();
    private readonly List<Task> _readers = [];
    private long _delivered;
    private long _dropped;
    private int _welcomed;

    private Subscribers(HttpClient http) => _http = http;

    public long Delivered => Interlocked.Read(ref _delivered);

    public long Dropped => Interlocked.Read(ref _dropped);

    public int Open => Volatile.Read(ref _welcomed);

    public static async Task<Subscribers> OpenAsync(IReadOnlyList<Uri> urls, string[] users, int timeoutSeconds, CancellationToken cancellationToken)
    {
        var http = new HttpClient(new SocketsHttpHandler
        {
            UseCookies = false,
            AutomaticDecompression = DecompressionMethods.None,
            PooledConnectionLifetime = Timeout.InfiniteTimeSpan,
            MaxConnectionsPerServer = int.MaxValue,
        })
        {
            Timeout = Timeout.InfiniteTimeSpan,
        };
        var subscribers = new Subscribers(http);
        Bench.Progress($"fetching {users.Length} user tokens");
        var tokens = new string[users.Length];
        var next = -1;
        await Task.WhenAll(Enumerable.Range(0, Math.Min(16, users.Length)).Select(async _ =>
        {
            int i;
            while ((i = Interlocked.Increment(ref next)) < users.Length)
            {
                tokens[i] = await DevTokens.FetchAsync(http, urls[i % urls.Count], users[i], [], cancellationToken);
            }
        }));

        Bench.Progress($"opening {users.Length} streams");
        var welcomed = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var failures = 0;
        string? firstFailure = null;
        var gate = new SemaphoreSlim(32);
        for (var i = 0; i < users.Length; i++)
        {
            await gate.WaitAsync(cancellationToken);
            var url = new Uri(urls[i % urls.Count], "sse/connect");
            var token = tokens[i];
            subscribers._readers.Add(Task.Run(() => subscribers.ReadAsync(url, token, gate, welcomed, users.Length, error =>
            {
                Interlocked.Increment(ref failures);
                Interlocked.CompareExchange(ref firstFailure, error, null);
                welcomed.TrySetResult();
            }), CancellationToken.None));
        }

        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(TimeSpan.FromSeconds(timeoutSeconds + users.Length / 100));
        try
        {
            await welcomed.Task.WaitAsync(timeout.Token);
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            await subscribers.DisposeAsync();
            throw new SetupException($"only {subscribers.Open} of {users.Length} streams opened in time");
        }

        if (Volatile.Read(ref failures) > 0)
        {
            await subscribers.DisposeAsync();
            throw new SetupException($"a stream did not open: {firstFailure}");
        }

        return subscribers;
    }

    private async Task ReadAsync(Uri url, string token, SemaphoreSlim gate, TaskCompletionSource welcomed, int total, Action<string> failed)
    {
        var released = false;
        void Release()
        {
            if (!released)
            {
                released = true;
                gate.Release();
            }
        }

        var isWelcomed = false;
        try
        {
            using var request = new HttpRequestMessage(HttpMethod.Get, url);
            request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", token);
            request.Headers.Accept.Add(new MediaTypeWithQualityHeaderValue("text/event-stream"));
            using var response = await _http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, _stop.Token);
            if (response.StatusCode != HttpStatusCode.OK)
            {
                failed($"GET {url}: {(int)response.StatusCode}");
                return;
            }

            await using var body = await response.Content.ReadAsStreamAsync(_stop.Token);
            using var reader = new StreamReader(body);
            while (await reader.ReadLineAsync(_stop.Token) is { } line)
            {
                if (!line.StartsWith("event: ", StringComparison.Ordinal))
                {
                    continue;
                }

                if (line.AsSpan(7).SequenceEqual("bench"))
                {
                    Interlocked.Increment(ref _delivered);
                }
                else if (!isWelcomed && line.AsSpan(7).SequenceEqual("welcome"))
                {
                    isWelcomed = true;
                    Release();
                    if (Interlocked.Increment(ref _welcomed) == total)
                    {
                        welcomed.TrySetResult();
                    }
                }
            }

            if (!_stop.IsCancellationRequested)
            {
                Interlocked.Increment(ref _dropped); // the server ended the stream
                if (!isWelcomed)
                {
                    failed($"GET {url}: the stream ended before its welcome");
                }
            }
        }
        catch (OperationCanceledException) when (_stop.IsCancellationRequested)
        {
        }
        catch (Exception ex) when (ex is HttpRequestException or IOException)
        {
            if (!_stop.IsCancellationRequested)
            {
                Interlocked.Increment(ref _dropped);
                failed($"GET {url}: {ex.GetType().Name}: {ex.Message}");
            }
        }
        finally
        {
            Release();
        }
    }

    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync();
        try
        {
            await Task.WhenAll(_readers).WaitAsync(TimeSpan.FromSeconds(10));
        }
        catch (TimeoutException)
        {
        }

        _http.Dispose();
        _stop.Dispose();
    }
}
