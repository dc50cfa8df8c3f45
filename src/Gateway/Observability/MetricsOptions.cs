namespace SseCluster.Gateway;

/// <summary><c>/metrics</c> and <c>/orleans</c> (<c>SseCluster:Metrics</c>).</summary>
public sealed class MetricsOptions
{
    /// <summary>
    /// Answer <c>/metrics</c> only to an admin token or an API key (401 without credentials, 403 without the role).
    /// Default false: the metrics are counts and timings without user ids, topics or payloads, and Prometheus scrapes
    /// without credentials unless told otherwise; keep <c>/metrics</c> off the public proxy, or turn this on.
    /// </summary>
    public bool RequireAdmin { get; set; }

    /// <summary>
    /// Serve the Orleans Dashboard (grains, silos, call rates and latencies of the whole cluster) at <c>/orleans</c>,
    /// to admins only whatever <see cref="RequireAdmin"/> says. Default true; false leaves out its per-call profiling.
    /// </summary>
    public bool OrleansDashboard { get; set; } = true;
}
