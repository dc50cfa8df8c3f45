using System.Net;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;
using Orleans.Configuration;
using Orleans.TestingHost;
using SseCluster.Client;
using SseCluster.Contracts;
using SseCluster.Contracts.Routing;
using SseCluster.Grains.Hosting;
using SseCluster.Grains.Storage;
using SseCluster.Grains.Storage.InMemory;
using SseCluster.TestSupport;

namespace SseCluster.Grains.Tests.Support;

/// <summary>
/// An in-process Orleans cluster (TestingHost: in-memory transport, test membership) of real SseCluster grains in
/// which every silo plays a gateway (<see cref="TestGateway"/>). The stores are either one set of in-memory stores
/// shared by every silo (each silo has its own container, so the same instances are registered in each: that is the
/// shared store) or a real redis-server under a prefix of its own. The cluster client publishes through
/// <see cref="ISseEventPublisher"/> (<c>AddSseClusterPublishing</c>) or calls the grains directly.
/// </summary>
public sealed class GatewayCluster : IAsyncDisposable
{
    /// <summary>What the tests run with unless told otherwise: short delivery timeout, short publish attempts.</summary>
    public static readonly IReadOnlyDictionary<string, string?> DefaultSettings = new Dictionary<string, string?>
    {
        ["SseCluster:Routing:DeliveryTimeoutMilliseconds"] = "500",
        ["SseCluster:Publish:AttemptTimeoutMilliseconds"] = "1000",
        ["SseCluster:Publish:RetryForSeconds"] = "20",
    };

    /// <summary>A silo no gateway runs on: detaching it is a harmless call that activates a stream's grain.</summary>
    private static readonly SiloAddress Nowhere = SiloAddress.New(new IPEndPoint(IPAddress.Loopback, 1), 1);

    private GatewayCluster(InProcessTestCluster cluster, string store)
    {
        Cluster = cluster;
        Store = store;
    }

    public InProcessTestCluster Cluster { get; }

    /// <summary>"in-memory" or "redis".</summary>
    public string Store { get; }

    public IClusterClient Client => Cluster.Client;

    public ISseEventPublisher Publisher => Client.ServiceProvider.GetRequiredService<ISseEventPublisher>();

    /// <summary>The silos alive now, in start order.</summary>
    public IReadOnlyList<InProcessSiloHandle> Silos => Cluster.GetActiveSilos().ToList();

    /// <summary>The gateways of the silos alive now, in start order.</summary>
    public IReadOnlyList<TestGateway> Gateways => Silos.Select(GatewayOf).ToList();

    /// <summary>The stores, as the silos see them (the same data whichever live silo is asked).</summary>
    public IStreamHistory History => Services.GetRequiredService<IStreamHistory>();

    public IGatewayAttachments Attachments => Services.GetRequiredService<IGatewayAttachments>();

    public IReconnectBlocks Blocks => Services.GetRequiredService<IReconnectBlocks>();

    private IServiceProvider Services => Silos[0].ServiceProvider;

    /// <param name="silos">How many silos (each one a gateway).</param>
    /// <param name="redis">A redis-server to keep the stores in (under a fresh prefix); null: shared in-memory stores.</param>
    /// <param name="settings">Settings over <see cref="DefaultSettings"/>.</param>
    public static async Task<GatewayCluster> StartAsync(short silos = 3, RedisServer? redis = null, IReadOnlyDictionary<string, string?>? settings = null)
    {
        var values = new Dictionary<string, string?>(DefaultSettings);
        if (redis is not null)
        {
            values[SseClusterIdentity.RedisConfigurationKey] = redis.ConnectionString;
            values["SseCluster:Redis:Prefix"] = "gt-" + Guid.NewGuid().ToString("N")[..12];
        }

        foreach (var (key, value) in settings ?? new Dictionary<string, string?>())
        {
            values[key] = value;
        }

        var configuration = new ConfigurationBuilder().AddInMemoryCollection(values).Build();
        var shared = redis is null ? new SharedMemoryStores(configuration) : null;

        var builder = new InProcessTestClusterBuilder(silos);
        builder.Options.ConfigureFileLogging = false;
        builder.ConfigureSiloHost((silo, host) =>
        {
            shared?.AddTo(host.Services);
            host.Services.AddSseClusterStores(configuration, clustered: redis is not null, silo.SiloName);
            host.Services.AddSingleton<TestGateway>();
            host.Services.AddSingleton<ILifecycleParticipant<ISiloLifecycle>>(sp => sp.GetRequiredService<TestGateway>());
        });
        builder.ConfigureSilo((_, silo) => silo.Configure<ClusterMembershipOptions>(FastFailureDetection));
        builder.ConfigureClientHost(host => host.Services.AddSseClusterPublishing(configuration));

        var cluster = builder.Build();
        var started = new GatewayCluster(cluster, redis is null ? "in-memory" : "redis");
        try
        {
            await cluster.DeployAsync();
            await Task.WhenAll(started.Gateways.Select(g => g.Registered)).WaitAsync(TimeSpan.FromSeconds(30));
        }
        catch
        {
            await started.DisposeAsync();
            throw;
        }

        return started;
    }

    /// <summary>
    /// The silos are in one process on an in-memory transport: a silo that stops answering is not a CPU-starved one, so
    /// it is declared dead after two missed 1 s probes by one vote (two silos survive a kill in a three-silo cluster).
    /// </summary>
    public static void FastFailureDetection(ClusterMembershipOptions options)
    {
        options.ProbeTimeout = TimeSpan.FromSeconds(1);
        options.NumMissedProbesLimit = 2;
        options.NumVotesForDeathDeclaration = 1;
        options.TableRefreshTimeout = TimeSpan.FromSeconds(2);
        options.IAmAliveTablePublishTimeout = TimeSpan.FromSeconds(2);
        options.DeathVoteExpirationTimeout = TimeSpan.FromSeconds(10);
    }

    public static string Unique(string prefix) => $"{prefix}-{Guid.NewGuid():N}"[..(prefix.Length + 13)];

    public static OutgoingEvent Json(string json, string? type = null) => OutgoingEvent.FromJson(type, json);

    public static EventPayload Payload(string json) => new(null, json, DateTimeOffset.UtcNow.ToUnixTimeMilliseconds());

    public TestGateway GatewayOf(InProcessSiloHandle silo) => silo.ServiceProvider.GetRequiredService<TestGateway>();

    public InProcessSiloHandle SiloOf(TestGateway gateway) => Silos.Single(s => s.SiloAddress.Equals(gateway.Address));

    public IStreamGrain Grain(StreamKey stream) => Client.GetGrain<IStreamGrain>(stream.GrainKey);

    /// <summary>Attaches each gateway to <paramref name="stream"/>, as a gateway does for its first local reader.</summary>
    public async Task AttachAsync(StreamKey stream, params TestGateway[] gateways)
    {
        foreach (var gateway in gateways)
        {
            await Grain(stream).Attach(gateway.Address, gateway.Reference);
        }
    }

    /// <summary>Activates the grain of <paramref name="stream"/> (a harmless detach) and returns the silo hosting it.</summary>
    public async Task<InProcessSiloHandle> HostOfAsync(StreamKey stream)
    {
        var grain = Grain(stream);
        await grain.Detach(Nowhere);
        return HostOf(grain);
    }

    /// <summary>The live silo holding the activation of <paramref name="grain"/>.</summary>
    public InProcessSiloHandle HostOf(IAddressable grain)
    {
        if (!Cluster.TryGetGrainContext(grain.GetGrainId(), out var context))
        {
            throw new Xunit.Sdk.XunitException($"no live silo holds an activation of {grain.GetGrainId()}");
        }

        return Silos.Single(s => s.SiloAddress.Equals(context.Address.SiloAddress));
    }

    /// <summary>The whole history of <paramref name="stream"/> as the store holds it now.</summary>
    public async Task<IReadOnlyList<StreamEvent>> ReadHistoryAsync(StreamKey stream)
    {
        var read = await History.ReadAsync(stream, 0, 100_000);
        return read.Events;
    }

    /// <summary>Kills a silo (no graceful stop) and waits until every other silo's membership says it is dead.</summary>
    /// <returns>How long after the kill started the last survivor saw it dead.</returns>
    public async Task<TimeSpan> KillAsync(InProcessSiloHandle silo, TimeSpan? timeout = null)
    {
        var clock = System.Diagnostics.Stopwatch.StartNew();
        var address = silo.SiloAddress;
        var survivors = Silos.Where(s => !s.SiloAddress.Equals(address)).ToList();
        await Cluster.KillSiloAsync(silo);
        await Task.WhenAll(survivors.Select(s => WaitUntilDeadAsync(s, address, timeout ?? TimeSpan.FromSeconds(20))));
        return clock.Elapsed;
    }

    public async ValueTask DisposeAsync()
    {
        foreach (var gateway in Gateways)
        {
            gateway.Endpoint.Answer(); // hung calls answer, so the silos stop without waiting for them
        }

        await Cluster.StopAllSilosAsync();
        await Cluster.DisposeAsync();
    }

    private static async Task WaitUntilDeadAsync(InProcessSiloHandle observer, SiloAddress dead, TimeSpan timeout)
    {
        var membership = observer.ServiceProvider.GetRequiredService<IClusterMembershipService>();
        using var cancel = new CancellationTokenSource(timeout);
        try
        {
            await foreach (var snapshot in membership.MembershipUpdates.WithCancellation(cancel.Token))
            {
                if (snapshot.GetSiloStatus(dead) == SiloStatus.Dead)
                {
                    return;
                }
            }
        }
        catch (OperationCanceledException)
        {
        }

        throw new Xunit.Sdk.XunitException(
            $"silo {observer.SiloAddress} still saw {dead} as {membership.CurrentSnapshot.GetSiloStatus(dead)} {timeout.TotalSeconds:0.#} s after it was killed");
    }

    /// <summary>One set of in-memory stores, registered as the same instances in every silo's container.</summary>
    private sealed class SharedMemoryStores(IConfiguration configuration)
    {
        private readonly InMemoryStreamHistory _history = new(
            Options.Create(configuration.GetSection(HistoryOptions.Section).Get<HistoryOptions>() ?? new HistoryOptions()),
            TimeProvider.System);

        private readonly InMemoryGatewayAttachments _attachments = new();
        private readonly InMemoryReconnectBlocks _blocks = new(TimeProvider.System);
        private readonly InMemoryTicketStore _tickets = new(TimeProvider.System);

        public void AddTo(IServiceCollection services)
        {
            // Before AddSseClusterStores, whose TryAdd registrations then leave these in place.
            services.AddSingleton(_history);
            services.AddSingleton<IStreamHistory>(_history);
            services.AddSingleton<IGatewayAttachments>(_attachments);
            services.AddSingleton<IReconnectBlocks>(_blocks);
            services.AddSingleton<ITicketStore>(_tickets);
        }
    }
}
