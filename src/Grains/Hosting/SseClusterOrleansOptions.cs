using SseCluster.Contracts.Routing;

namespace SseCluster.Grains.Hosting;

/// <summary>The gateway's silo (<c>SseCluster:Orleans</c>).</summary>
public sealed class SseClusterOrleansOptions
{
    public const string Section = "SseCluster:Orleans";

    /// <summary>The cluster every gateway and publisher joins (Orleans' ClusterId). Default <c>ssecluster</c>.</summary>
    public string ClusterId { get; set; } = SseClusterIdentity.DefaultClusterId;

    /// <summary>The service (Orleans' ServiceId); its membership table lives under it in Redis. Default <c>ssecluster</c>.</summary>
    public string ServiceId { get; set; } = SseClusterIdentity.DefaultServiceId;

    /// <summary>Port silos talk to each other on. Default 11111; each gateway on one machine needs its own.</summary>
    public int SiloPort { get; set; } = 11111;

    /// <summary>Port publisher services (Orleans clients) connect to; 0 opens none. Default 30000.</summary>
    public int GatewayPort { get; set; } = 30000;

    /// <summary>
    /// The address other silos and publishers reach this one at. Default: 127.0.0.1 on a single node; in a cluster, the
    /// host's first non-loopback address. Set it to 127.0.0.1 to run several gateways on one machine.
    /// </summary>
    public string? AdvertisedAddress { get; set; }

    /// <summary>
    /// Run the silo as a Kubernetes pod (Orleans' Kubernetes hosting; cluster mode only): the silo is named after the pod
    /// (<c>POD_NAME</c>), advertises the pod's address (<c>POD_IP</c>) unless <see cref="AdvertisedAddress"/> is set,
    /// labels its pod <c>orleans/clusterId</c> and <c>orleans/serviceId</c>, and declares the silo of a deleted pod dead
    /// at once. Needs <c>get</c>, <c>list</c>, <c>watch</c> and <c>patch</c> on pods in its namespace
    /// (<c>deploy/k8s/rbac.yaml</c>). Off by default: only the manifests that grant that turn it on.
    /// </summary>
    public bool Kubernetes { get; set; }

    /// <summary>How fast a gateway that stopped answering is declared dead.</summary>
    public MembershipTimingOptions Membership { get; set; } = new();
}

/// <summary>
/// Failure detection (<c>SseCluster:Orleans:Membership</c>). Silos probe each other; a silo that misses
/// <see cref="MissedProbesLimit"/> probes of <see cref="ProbeTimeoutSeconds"/> each is voted dead. The defaults are
/// Orleans' own (a killed gateway is declared dead in about 10-15 s), safe on machines starved of CPU. With
/// <c>ProbeTimeoutSeconds = 1</c> and <c>MissedProbesLimit = 2</c> a killed gateway is declared dead in 1-3 s:
/// recommended in production when the gateways are not CPU-starved.
/// </summary>
public sealed class MembershipTimingOptions
{
    /// <summary>Seconds a probe may take (and the probing period). Default 5.</summary>
    public double ProbeTimeoutSeconds { get; set; } = 5;

    /// <summary>Probes a silo may miss before it is suspected. Default 3.</summary>
    public int MissedProbesLimit { get; set; } = 3;

    /// <summary>Suspicions needed to declare a silo dead (never more than half the live silos). Default 2.</summary>
    public int VotesForDeathDeclaration { get; set; } = 2;

    /// <summary>
    /// How often each silo writes "I am alive" into the membership table, in seconds. A silo that missed two of these
    /// can be declared dead by a single suspicion: that is how gateways started after every earlier one died (a whole
    /// cluster restarted) clear the old rows and join. Default 5 (Orleans' own is 30, which makes such a restart wait
    /// over a minute).
    /// </summary>
    public double IAmAliveSeconds { get; set; } = 5;
}
