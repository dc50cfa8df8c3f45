using System.Net;
using System.Net.Http.Headers;
using System.Text;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using SseCluster.Client;
using SseCluster.Contracts;

namespace SseCluster.PublishBench;

/// <summary><c>POST /sse/send</c> with one publisher token; loop k publishes to URL k % count, over its own connection.</summary>
internal sealed class HttpTarget : IPublishTarget
{
    private static readonly MediaTypeHeaderValue Json = new("application/json");
    private readonly HttpClient _http;
    private readonly Uri[] _sendUrls;
    private readonly AuthenticationHeaderValue _auth;
    private readonly TimeSpan _timeout;

    private HttpTarget(HttpClient http, Uri[] sendUrls, string token, TimeSpan timeout)
    {
        _http = http;
        _sendUrls = sendUrls;
        _auth = new AuthenticationHeaderValue("Bearer", token);
        _timeout = timeout;
    }

    public string Describe => "POST " + string.Join(" and ", _sendUrls.Select(u => u.ToString()));

    public static async Task<IPublishTarget> CreateAsync(Options options, CancellationToken cancellationToken)
    {
        var http = new HttpClient(new SocketsHttpHandler
        {
            UseCookies = false,
            AutomaticDecompression = DecompressionMethods.None,
            PooledConnectionLifetime = Timeout.InfiniteTimeSpan,
            PooledConnectionIdleTimeout = TimeSpan.FromMinutes(5),
            MaxConnectionsPerServer = int.MaxValue,
        })
        {
            Timeout = Timeout.InfiniteTimeSpan, // per call, below
        };
        try
        {
            var token = await DevTokens.FetchAsync(http, options.Urls[0], "bench-pub", ["publisher"], cancellationToken);
            return new HttpTarget(http, options.Urls.Select(u => new Uri(u, "sse/send")).ToArray(), token, TimeSpan.FromSeconds(options.TimeoutSeconds));
        }
        catch
        {
            http.Dispose();
            throw;
        }
    }

    public async Task<string?> SendAsync(int loop, string userId, string json, CancellationToken cancellationToken)
    {
        var body = Encoding.UTF8.GetBytes($"{{\"userId\":\"{userId}\",\"eventType\":\"bench\",\"data\":{json}}}");
        using var request = new HttpRequestMessage(HttpMethod.Post, _sendUrls[loop % _sendUrls.Length])
        {
            Content = new ByteArrayContent(body) { Headers = { ContentType = Json } },
            Headers = { Authorization = _auth },
        };
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(_timeout);
        using var response = await _http.SendAsync(request, HttpCompletionOption.ResponseContentRead, timeout.Token);
        return response.StatusCode == HttpStatusCode.Accepted ? null : ((int)response.StatusCode).ToString(System.Globalization.CultureInfo.InvariantCulture);
    }

    public ValueTask DisposeAsync()
    {
        _http.Dispose();
        return ValueTask.CompletedTask;
    }
}

/// <summary>
/// The publisher library of the checkout this tool was built against: <c>AddSseClusterPublisher(configuration)</c>
/// inside a generic host that is started before the run (an Orleans client connects to the cluster on start; a library
/// that writes straight to Redis has nothing to start).
/// </summary>
internal sealed class LibraryTarget : IPublishTarget
{
    private readonly IHost _host;
    private readonly ISseEventPublisher _publisher;
    private readonly TimeSpan _timeout;

    private LibraryTarget(IHost host, TimeSpan timeout, string redis)
    {
        _host = host;
        _publisher = host.Services.GetRequiredService<ISseEventPublisher>();
        _timeout = timeout;
        Describe = $"{_publisher.GetType().FullName} ({typeof(SseClusterPublisherServiceCollectionExtensions).Assembly.Location}) via Redis {redis}";
    }

    public string Describe { get; }

    public static async Task<IPublishTarget> CreateAsync(Options options, CancellationToken cancellationToken)
    {
        var builder = Host.CreateApplicationBuilder(new HostApplicationBuilderSettings { Args = [] });
        var settings = new Dictionary<string, string?> { ["SseCluster:Redis:Configuration"] = options.Redis };
        if (options.ClusterId is not null)
        {
            settings["SseCluster:Orleans:ClusterId"] = options.ClusterId;
        }

        builder.Configuration.AddInMemoryCollection(settings);
        // stdout carries the one result line; logs (warnings and up) go to stderr.
        builder.Logging.SetMinimumLevel(LogLevel.Warning);
        builder.Logging.AddConsole(o => o.LogToStandardErrorThreshold = LogLevel.Trace);
        builder.Logging.AddFilter("Microsoft.Extensions.Hosting.Internal.Host", LogLevel.None); // a failed start is reported below
        builder.Services.Configure<ConsoleLifetimeOptions>(o => o.SuppressStatusMessages = true);
        builder.Services.AddSseClusterPublisher(builder.Configuration);
        var host = builder.Build();
        using var connect = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        connect.CancelAfter(TimeSpan.FromSeconds(options.ConnectTimeoutSeconds));
        try
        {
            Bench.Progress($"starting the publisher library (Redis {options.Redis})");
            await host.StartAsync(connect.Token);
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            host.Dispose();
            throw new SetupException($"the publisher library did not start within {options.ConnectTimeoutSeconds} s (no gateway of the cluster on Redis {options.Redis}?)");
        }
        catch (Exception ex) when (ex is not OperationCanceledException)
        {
            host.Dispose();
            throw new SetupException($"the publisher library did not start: {ex.GetType().Name}: {ex.Message}");
        }

        return new LibraryTarget(host, TimeSpan.FromSeconds(options.TimeoutSeconds), options.Redis!);
    }

    public async Task<string?> SendAsync(int loop, string userId, string json, CancellationToken cancellationToken)
    {
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(_timeout);
        await _publisher.SendToUserAsync(userId, OutgoingEvent.FromJson("bench", json), timeout.Token);
        return null;
    }

    public async ValueTask DisposeAsync()
    {
        try
        {
            using var stop = new CancellationTokenSource(TimeSpan.FromSeconds(10));
            await _host.StopAsync(stop.Token);
        }
        catch (OperationCanceledException)
        {
            // a slow stop does not change the result
        }

        _host.Dispose();
    }
}
