namespace SseCluster.Gateway.Routing;

/// <summary>How this gateway takes part in routing (<c>SseCluster:Routing</c>).</summary>
public sealed class GatewayRoutingOptions
{
    public const string Section = "SseCluster:Routing";

    /// <summary>
    /// How often the gateway registers again with the gateway registry, in seconds (a registry that moved to another
    /// silo is whole again after one interval). Default 2.
    /// </summary>
    public double RegistrationSeconds { get; set; } = 2;

    /// <summary>
    /// How often the gateway compares the streams its clients read with the store, in seconds. A stream that stayed
    /// behind its store for a whole interval (a delivery that never came: a frozen gateway, a grain that moved) is
    /// filled from history and attached again. Default 2.
    /// </summary>
    public double TailCheckSeconds { get; set; } = 2;

    /// <summary>How long a call to a grain on a connect or an admin request may take, in milliseconds. Default 5,000.</summary>
    public int CallTimeoutMilliseconds { get; set; } = 5000;

    public TimeSpan RegistrationInterval => TimeSpan.FromSeconds(RegistrationSeconds);

    public TimeSpan TailCheckInterval => TimeSpan.FromSeconds(TailCheckSeconds);

    public TimeSpan CallTimeout => TimeSpan.FromMilliseconds(CallTimeoutMilliseconds);
}
