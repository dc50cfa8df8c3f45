using System.Diagnostics;
using System.Globalization;
using SseCluster.TestSupport;

namespace SseCluster.Failover.Tests.Infrastructure;

/// <summary>
/// One gateway as its own process: <c>dotnet SseCluster.Gateway.dll --urls http://127.0.0.1:&lt;port&gt;</c> from this
/// test's output directory, in the Production environment, a silo of the cluster whose membership is in the given
/// Redis. <see cref="Kill"/> is a crash (SIGKILL): no drain, no goodbye to the cluster.
/// </summary>
internal sealed class GatewayProcess : IAsyncDisposable
{
    private readonly OwnedProcess _owned;
    private readonly Process _process;

    private GatewayProcess(string gatewayId, int port, OwnedProcess process)
    {
        GatewayId = gatewayId;
        Port = port;
        BaseAddress = new Uri($"http://127.0.0.1:{port}");
        _owned = process;
        _process = process.Process;
        Pid = process.Id;
    }

    public string GatewayId { get; }

    public int Port { get; }

    public Uri BaseAddress { get; }

    /// <summary>The process id, also after the process was disposed.</summary>
    public int Pid { get; }

    public bool HasExited => _process.HasExited;

    /// <summary>The last lines the process wrote, for failure messages.</summary>
    public string RecentOutput => _owned.RecentOutput;

    public static string DllPath => Path.Combine(AppContext.BaseDirectory, "SseCluster.Gateway.dll");

    /// <summary>
    /// Starts a gateway on <paramref name="port"/> (a free one when null) and waits until its <c>/readyz</c> answers 200.
    /// </summary>
    public static async Task<GatewayProcess> StartAsync(string gatewayId, string redisConfiguration, IDictionary<string, string>? settings = null, int? port = null)
    {
        Exception? last = null;
        for (var attempt = 0; attempt < 3; attempt++)
        {
            // The port is free when chosen; another process may take it before the gateway binds it: then try another
            // (a given port is tried again: it is the address a balancer knows).
            var gateway = Launch(gatewayId, port ?? FreePorts.Next(), redisConfiguration, settings);
            try
            {
                await gateway.WaitReadyAsync(TimeSpan.FromSeconds(45));
                return gateway;
            }
            catch (Exception ex) when (ex is InvalidOperationException or TimeoutException)
            {
                last = ex;
                await gateway.DisposeAsync();
            }
        }

        throw new InvalidOperationException($"gateway {gatewayId} did not start", last);
    }

    /// <summary>SIGKILL, like a crash: the kernel closes its sockets, nothing is drained or cleaned up in Redis.</summary>
    public void Kill()
    {
        _process.Kill();
        _process.WaitForExit(10_000);
    }

    /// <summary>SIGTERM, as an orchestrator stops a node: the gateway drains its streams, its silo leaves, it exits.</summary>
    public void Terminate()
    {
        if (!Posix.Signal(_process.Id, Posix.SigTerm))
        {
            throw new InvalidOperationException($"SIGTERM not delivered to gateway {GatewayId} (pid {_process.Id})");
        }
    }

    /// <summary>Waits until the process has exited and returns its exit code.</summary>
    /// <exception cref="TimeoutException">It still runs after <paramref name="limit"/>.</exception>
    public async Task<int> WaitForExitAsync(TimeSpan limit)
    {
        try
        {
            await _process.WaitForExitAsync().WaitAsync(limit);
        }
        catch (TimeoutException)
        {
            throw new TimeoutException($"gateway {GatewayId} (pid {_process.Id}) still runs {limit.TotalSeconds} s after SIGTERM:\n{RecentOutput}");
        }

        return _process.ExitCode;
    }

    public ValueTask DisposeAsync() => _owned.DisposeAsync();

    private static GatewayProcess Launch(string gatewayId, int port, string redisConfiguration, IDictionary<string, string>? settings)
    {
        var start = new ProcessStartInfo("dotnet") { WorkingDirectory = AppContext.BaseDirectory };
        start.ArgumentList.Add(DllPath);
        start.ArgumentList.Add("--urls");
        start.ArgumentList.Add($"http://127.0.0.1:{port.ToString(CultureInfo.InvariantCulture)}");

        // Nothing from the test runner's environment may change the gateway's configuration.
        foreach (var key in start.Environment.Keys.Where(k => k.StartsWith("SseCluster__", StringComparison.OrdinalIgnoreCase)
                     || k.StartsWith("ASPNETCORE_", StringComparison.OrdinalIgnoreCase) || k.StartsWith("DOTNET_URLS", StringComparison.OrdinalIgnoreCase)).ToList())
        {
            start.Environment.Remove(key);
        }

        var environment = new Dictionary<string, string>
        {
            ["ASPNETCORE_ENVIRONMENT"] = "Production",
            ["DOTNET_NOLOGO"] = "1",
            ["Logging__LogLevel__Default"] = "Warning",
            ["SseCluster__GatewayId"] = gatewayId,
            ["SseCluster__Auth__SigningKey"] = GatewayHost.SigningKey,
            ["SseCluster__Redis__Configuration"] = redisConfiguration,
            ["SseCluster__Shutdown__DrainSeconds"] = "1",

            // Each process its own silo and client-gateway ports, on loopback, and the fast failure detection the
            // README recommends for production: a killed gateway is declared dead within seconds.
            ["SseCluster__Orleans__SiloPort"] = FreePorts.Next().ToString(CultureInfo.InvariantCulture),
            ["SseCluster__Orleans__GatewayPort"] = FreePorts.Next().ToString(CultureInfo.InvariantCulture),
            ["SseCluster__Orleans__AdvertisedAddress"] = "127.0.0.1",
            ["SseCluster__Orleans__Membership__ProbeTimeoutSeconds"] = "1",
            ["SseCluster__Orleans__Membership__MissedProbesLimit"] = "2",
        };
        foreach (var (key, value) in settings ?? new Dictionary<string, string>())
        {
            environment[key] = value;
        }

        foreach (var (key, value) in environment)
        {
            start.Environment[key] = value;
        }

        return new GatewayProcess(gatewayId, port, OwnedProcess.Start(start));
    }

    private Task WaitReadyAsync(TimeSpan timeout) =>
        Readiness.WaitAsync(BaseAddress, timeout, $"gateway {GatewayId}", () => _owned.ExitCodeIfExited, () => RecentOutput);
}
