using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using SseCluster.Client;
using SseCluster.Contracts;
using SseCluster.TestSupport;

namespace SseCluster.Cluster.Tests.Support;

/// <summary>
/// Several real gateways (Kestrel on loopback, each with its co-hosted silo, in this process) forming one Orleans
/// cluster on one Redis, under a cluster id and key prefix of their own, so clusters started by different tests on
/// the same Redis never see each other. Node <c>i</c> is named <c>&lt;prefix&gt;-a</c>, <c>-b</c>, <c>-c</c>…
/// (<c>SseCluster:GatewayId</c>).
/// </summary>
public sealed class GatewayCluster : IAsyncDisposable
{
    private readonly List<GatewayHost> _nodes = [];

    private GatewayCluster(string redisConfiguration, string prefix, IReadOnlyDictionary<string, string?> settings)
    {
        RedisConfiguration = redisConfiguration;
        Prefix = prefix;
        Settings = settings;
    }

    public string RedisConfiguration { get; }

    /// <summary><c>SseCluster:Redis:Prefix</c> (and Orleans cluster id) of every node: keys of this cluster start with it.</summary>
    public string Prefix { get; }

    /// <summary>The settings every node was started with (before its own <c>GatewayId</c>).</summary>
    public IReadOnlyDictionary<string, string?> Settings { get; }

    public IReadOnlyList<GatewayHost> Nodes => _nodes;

    public GatewayHost this[int index] => _nodes[index];

    public static string NewPrefix() => "c" + Guid.NewGuid().ToString("N")[..10];

    /// <summary>Starts <paramref name="nodes"/> gateways; <paramref name="settings"/> add to or override the cluster defaults.</summary>
    public static async Task<GatewayCluster> StartAsync(string redisConfiguration, int nodes, IDictionary<string, string?>? settings = null)
    {
        var all = new Dictionary<string, string?>
        {
            ["SseCluster:Redis:Configuration"] = redisConfiguration,
            ["SseCluster:Redis:Prefix"] = NewPrefix(),
        };
        all["SseCluster:Orleans:ClusterId"] = all["SseCluster:Redis:Prefix"];
        foreach (var (key, value) in settings ?? new Dictionary<string, string?>())
        {
            all[key] = value;
        }

        var cluster = new GatewayCluster(redisConfiguration, all["SseCluster:Redis:Prefix"]!, all);
        try
        {
            for (var i = 0; i < nodes; i++)
            {
                await cluster.AddNodeAsync();
            }
        }
        catch
        {
            await cluster.DisposeAsync();
            throw;
        }

        return cluster;
    }

    /// <summary>The gateway id of node <paramref name="index"/>.</summary>
    public string GatewayId(int index) => $"{Prefix}-{(char)('a' + index)}";

    /// <summary>Starts another node and waits until it has joined the cluster (<c>/readyz</c>).</summary>
    public async Task<GatewayHost> AddNodeAsync()
    {
        var settings = new Dictionary<string, string?>(Settings)
        {
            ["SseCluster:GatewayId"] = GatewayId(_nodes.Count),

            // Publisher services (Orleans clients) reach the cluster through the silos' gateway ports.
            ["SseCluster:Orleans:GatewayPort"] = FreePorts.Next().ToString(System.Globalization.CultureInfo.InvariantCulture),
        };
        var node = await GatewayHost.StartAsync(settings);
        _nodes.Add(node);
        using var client = node.CreateClient();
        await Eventually.TrueAsync(
            async () => (await client.GetAsync("/readyz")).IsSuccessStatusCode,
            $"{GatewayId(_nodes.Count - 1)} to join the cluster",
            TimeSpan.FromSeconds(30));
        return node;
    }

    /// <summary>
    /// The publisher library (<c>AddSseClusterPublisher</c>) pointed at this cluster's Redis and prefix, as a service
    /// would use it: no HTTP hop.
    /// </summary>
    public async Task<LibraryPublisher> CreateLibraryPublisherAsync()
    {
        var builder = Host.CreateApplicationBuilder(new HostApplicationBuilderSettings { DisableDefaults = true });
        builder.Services.AddSseClusterPublisher(options =>
        {
            options.RedisConfiguration = RedisConfiguration;
            options.ClusterId = Prefix;
        });
        var host = builder.Build();
        using var started = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        await host.StartAsync(started.Token);
        return new LibraryPublisher(host, host.Services.GetRequiredService<ISseEventPublisher>(), host.Services.GetRequiredService<ISseAnswerWriter>());
    }

    public async ValueTask DisposeAsync()
    {
        // In parallel: each drains for up to SseCluster:Shutdown:DrainSeconds.
        await Task.WhenAll(_nodes.Select(n => n.DisposeAsync().AsTask()));
        _nodes.Clear();
    }
}

/// <summary>An <see cref="ISseEventPublisher"/> and <see cref="ISseAnswerWriter"/> from the client library, with the host that runs its Orleans client.</summary>
public sealed class LibraryPublisher(IHost host, ISseEventPublisher publisher, ISseAnswerWriter answers) : IAsyncDisposable
{
    public ISseEventPublisher Publisher { get; } = publisher;

    public ISseAnswerWriter Answers { get; } = answers;

    public async ValueTask DisposeAsync()
    {
        using var stop = new CancellationTokenSource(TimeSpan.FromSeconds(10));
        await host.StopAsync(stop.Token);
        host.Dispose();
    }
}
