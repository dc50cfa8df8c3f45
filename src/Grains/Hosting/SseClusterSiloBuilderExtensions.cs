using System.Net;
using System.Net.Sockets;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Options;
using Orleans.Configuration;
using SseCluster.Contracts.Routing;
using SseCluster.Grains.Storage;
using SseCluster.Grains.Storage.InMemory;
using SseCluster.Grains.Storage.Redis;
using SseCluster.Grains.Streams;
using StackExchange.Redis;

namespace SseCluster.Grains.Hosting;

/// <summary>Configures a silo to host SseCluster's grains: <c>silo.AddSseCluster(configuration)</c>.</summary>
public static class SseClusterSiloBuilderExtensions
{
    /// <summary>
    /// One node (no <c>SseCluster:Redis:Configuration</c>): localhost clustering and in-memory stores — nothing to
    /// install. Cluster: membership, stream history, attachments, reconnect blocks and tickets in that Redis
    /// (standalone or Redis Cluster); with <c>SseCluster:Orleans:Kubernetes</c> also Orleans' Kubernetes hosting (the silo
    /// named after its pod, the pod's address advertised). Reads <c>SseCluster:Orleans</c> (<see cref="SseClusterOrleansOptions"/>),
    /// <c>SseCluster:History</c>, <c>SseCluster:Routing</c> and <c>SseCluster:Redis</c>.
    /// </summary>
    public static ISiloBuilder AddSseCluster(this ISiloBuilder silo, IConfiguration configuration, string? nodeName = null)
    {
        ArgumentNullException.ThrowIfNull(silo);
        ArgumentNullException.ThrowIfNull(configuration);
        var orleans = ReadOrleansOptions(configuration);
        var redis = configuration[SseClusterIdentity.RedisConfigurationKey];
        var clustered = !string.IsNullOrWhiteSpace(redis);

        silo.Configure<ClusterOptions>(o =>
        {
            o.ClusterId = orleans.ClusterId;
            o.ServiceId = orleans.ServiceId;
        });
        var kubernetes = clustered && orleans.Kubernetes;
        if (clustered)
        {
            silo.UseRedisClustering(o => o.ConfigurationOptions = RedisClusteringConfiguration(redis!));
            silo.Configure<EndpointOptions>(o =>
            {
                // In a pod, Kubernetes hosting advertises POD_IP when nothing else was chosen (it looks for the unset
                // default): the address the other pods reach this one at, even where a pod has several interfaces.
                if (!kubernetes || !string.IsNullOrWhiteSpace(orleans.AdvertisedAddress))
                {
                    o.AdvertisedIPAddress = AdvertisedAddress(orleans.AdvertisedAddress);
                }

                o.SiloPort = orleans.SiloPort;
                o.GatewayPort = orleans.GatewayPort;
            });
        }
        else
        {
            silo.UseLocalhostClustering(orleans.SiloPort, orleans.GatewayPort, serviceId: orleans.ServiceId, clusterId: orleans.ClusterId);
        }

        silo.Configure<ClusterMembershipOptions>(o =>
        {
            o.ProbeTimeout = TimeSpan.FromSeconds(orleans.Membership.ProbeTimeoutSeconds);
            o.NumMissedProbesLimit = orleans.Membership.MissedProbesLimit;
            o.NumVotesForDeathDeclaration = orleans.Membership.VotesForDeathDeclaration;
            o.IAmAliveTablePublishTimeout = TimeSpan.FromSeconds(orleans.Membership.IAmAliveSeconds);

            // Each silo also reads the whole table this often (Orleans' default is a minute): a silo that was frozen
            // past failure detection learns it was declared dead, and exits, within seconds of waking.
            o.TableRefreshTimeout = TimeSpan.FromSeconds(orleans.Membership.IAmAliveSeconds * 2);
        });
        if (!string.IsNullOrEmpty(nodeName) && !kubernetes)
        {
            // In Kubernetes the silo is named after its pod instead: that is how a deleted pod's silo is found.
            silo.Configure<SiloOptions>(o => o.SiloName = nodeName);
        }

        if (kubernetes)
        {
            silo.UseKubernetesHosting();

            // Kubernetes hosting would take ORLEANS_CLUSTER_ID / ORLEANS_SERVICE_ID from the environment; the cluster's
            // identity comes from SseCluster:Orleans only, the same settings publishers and the Redis keys use.
            silo.Configure<ClusterOptions>(o =>
            {
                o.ClusterId = orleans.ClusterId;
                o.ServiceId = orleans.ServiceId;
            });
        }

        // Kubernetes hosting stands beside a membership table (Redis here); one node has none. Outside a pod its
        // Kubernetes client cannot be built and the silo's construction would crash the process: refuse at start.
        silo.Services.AddOptions<SseClusterOrleansOptions>()
            .Validate(
                o => !o.Kubernetes || clustered,
                "SseCluster:Orleans:Kubernetes needs cluster mode: set SseCluster:Redis:Configuration, or turn Kubernetes off")
            .Validate(
                o => !o.Kubernetes || !clustered || k8s.KubernetesClientConfiguration.IsInCluster(),
                "SseCluster:Orleans:Kubernetes is on, but this process is not in a Kubernetes pod with a service account token " +
                "(KUBERNETES_SERVICE_HOST, KUBERNETES_SERVICE_PORT, /var/run/secrets/kubernetes.io/serviceaccount): turn it off " +
                "outside Kubernetes, or mount the token (automountServiceAccountToken: true)");

        // Grain calls carry the caller's trace context (W3C traceparent in the RequestContext): a publish's HTTP request,
        // its grain call and the deliveries to the gateways form one trace. Spans are only made when a tracer listens.
        silo.AddActivityPropagation();

        AddSseClusterStores(silo.Services, configuration, clustered, nodeName ?? "silo");
        return silo;
    }

    /// <summary>
    /// Registers what the grains and gateways read and write besides each other: options, and the stream history,
    /// attachments, reconnect blocks and tickets — in memory, or in the cluster's Redis.
    /// </summary>
    public static IServiceCollection AddSseClusterStores(this IServiceCollection services, IConfiguration configuration, bool clustered, string clientName)
    {
        services.TryAddSingleton(TimeProvider.System);
        services.TryAddSingleton<Streams.CoHostedGateway>();
        services.AddOptions<SseClusterOrleansOptions>().Bind(configuration.GetSection(SseClusterOrleansOptions.Section)).ValidateOnStart();
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IValidateOptions<SseClusterOrleansOptions>, SseClusterOrleansOptionsValidator>());
        services.AddOptions<HistoryOptions>()
            .Bind(configuration.GetSection(HistoryOptions.Section))
            .Validate(o => o.MaxEventsPerStream is >= 1 and <= 1_000_000, "SseCluster:History:MaxEventsPerStream must be between 1 and 1000000")
            .Validate(o => o.MaxAgeSeconds is >= 1 and <= 30 * 24 * 3600, "SseCluster:History:MaxAgeSeconds must be between 1 and 2592000")
            .Validate(o => o.IdempotencyWindowSeconds is >= 1 and <= 24 * 3600, "SseCluster:History:IdempotencyWindowSeconds must be between 1 and 86400")
            .ValidateOnStart();
        services.AddOptions<StreamGrainOptions>()
            .Bind(configuration.GetSection(StreamGrainOptions.Section))
            .Validate(o => o.DeliveryTimeoutMilliseconds is >= 10 and <= 60_000, "SseCluster:Routing:DeliveryTimeoutMilliseconds must be between 10 and 60000")
            .Validate(o => o.MaxBatch is >= 1 and <= 10_000, "SseCluster:Routing:MaxBatch must be between 1 and 10000")
            .ValidateOnStart();
        if (clustered)
        {
            services.AddSseClusterRedisStore(configuration, clientName);
        }
        else
        {
            services.TryAddSingleton<InMemoryStreamHistory>();
            services.TryAddSingleton<IStreamHistory>(sp => sp.GetRequiredService<InMemoryStreamHistory>());
            services.TryAddSingleton<IGatewayAttachments, InMemoryGatewayAttachments>();
            services.TryAddSingleton<IReconnectBlocks, InMemoryReconnectBlocks>();
            services.TryAddSingleton<ITicketStore, InMemoryTicketStore>();
        }

        return services;
    }

    /// <summary>
    /// What this configuration runs, for the startup log: one node in memory, or a cluster member and where its Redis
    /// is (endpoints only: never a password).
    /// </summary>
    public static string DescribeMode(IConfiguration configuration)
    {
        ArgumentNullException.ThrowIfNull(configuration);
        var orleans = ReadOrleansOptions(configuration);
        var redis = configuration[SseClusterIdentity.RedisConfigurationKey];
        if (string.IsNullOrWhiteSpace(redis))
        {
            return $"single node, in-memory stores (silo port {orleans.SiloPort})";
        }

        string endpoints;
        try
        {
            endpoints = string.Join(",", ConfigurationOptions.Parse(redis).EndPoints.Select(e => e.ToString()));
        }
        catch (ArgumentException)
        {
            endpoints = "(invalid configuration)";
        }

        return $"cluster '{orleans.ClusterId}' (service '{orleans.ServiceId}') on Redis {endpoints}, silo port {orleans.SiloPort}, " +
               $"gateway port {orleans.GatewayPort}, advertised {orleans.AdvertisedAddress ?? (orleans.Kubernetes ? "pod address" : "host address")}" +
               (orleans.Kubernetes ? ", Kubernetes hosting" : "");
    }

    /// <summary>The silo's options as configured, without the container (they shape the silo's own registration).</summary>
    public static SseClusterOrleansOptions ReadOrleansOptions(IConfiguration configuration)
    {
        ArgumentNullException.ThrowIfNull(configuration);
        var options = new SseClusterOrleansOptions();
        try
        {
            configuration.GetSection(SseClusterOrleansOptions.Section).Bind(options);
        }
        catch (InvalidOperationException)
        {
            // A value that does not convert: the validated options report it by key before the host starts.
        }

        return options;
    }

    private static ConfigurationOptions RedisClusteringConfiguration(string text)
    {
        var options = ConfigurationOptions.Parse(text);
        options.AbortOnConnectFail = false;
        return options;
    }

    private static IPAddress AdvertisedAddress(string? configured)
    {
        if (!string.IsNullOrWhiteSpace(configured) && IPAddress.TryParse(configured, out var address))
        {
            return address;
        }

        // The first IPv4 address of an interface that is up and not loopback; loopback when there is none.
        var candidates = System.Net.NetworkInformation.NetworkInterface.GetAllNetworkInterfaces()
            .Where(n => n.OperationalStatus == System.Net.NetworkInformation.OperationalStatus.Up
                && n.NetworkInterfaceType != System.Net.NetworkInformation.NetworkInterfaceType.Loopback)
            .SelectMany(n => n.GetIPProperties().UnicastAddresses)
            .Select(a => a.Address)
            .Where(a => a.AddressFamily == AddressFamily.InterNetwork);
        return candidates.FirstOrDefault() ?? IPAddress.Loopback;
    }
}
