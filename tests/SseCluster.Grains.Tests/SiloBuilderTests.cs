using System.Net;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;
using Orleans.Configuration;
using Orleans.Hosting.Kubernetes;
using SseCluster.Grains.Hosting;

namespace SseCluster.Grains.Tests;

/// <summary>
/// What <c>AddSseCluster</c> configures: Orleans' Kubernetes hosting only when <c>SseCluster:Orleans:Kubernetes</c> is on
/// in cluster mode, and then with the cluster's identity still from <c>SseCluster:Orleans</c>. Nothing is started:
/// the options the silo would run with are resolved from the registrations.
/// </summary>
public sealed class SiloBuilderTests
{
    private const string Redis = "127.0.0.1:1";

    [Fact]
    public void ClusterModeWithoutTheSetting_NamesTheSiloAfterTheGateway_WithoutKubernetesHosting()
    {
        using var services = Build(new() { ["SseCluster:Redis:Configuration"] = Redis, ["SseCluster:Orleans:AdvertisedAddress"] = "10.1.2.3" });

        Assert.False(UsesKubernetesHosting(services));
        Assert.Equal("gw-test", services.GetRequiredService<IOptions<SiloOptions>>().Value.SiloName);
        Assert.Equal(IPAddress.Parse("10.1.2.3"), services.GetRequiredService<IOptions<EndpointOptions>>().Value.AdvertisedIPAddress);
    }

    [Fact]
    public void SingleNode_NeverUsesKubernetesHosting_AndRefusesTheSetting()
    {
        using var plain = Build([]);
        Assert.False(UsesKubernetesHosting(plain));
        _ = plain.GetRequiredService<IOptions<SseClusterOrleansOptions>>().Value;

        using var asked = Build(new() { ["SseCluster:Orleans:Kubernetes"] = "true" });
        Assert.False(UsesKubernetesHosting(asked));
        var failure = Assert.Throws<OptionsValidationException>(() => asked.GetRequiredService<IOptions<SseClusterOrleansOptions>>().Value);
        Assert.Contains("SseCluster:Orleans:Kubernetes", failure.Message);
        Assert.Contains("SseCluster:Redis:Configuration", failure.Message);
    }

    [Fact]
    public void KubernetesSetting_UsesThePodsNameAndAddress_AndKeepsTheClusterIdentityFromSettings()
    {
        using var environment = new EnvironmentVariables(new()
        {
            ["POD_NAME"] = "ssecluster-gateway-7d9f-abcde",
            ["POD_NAMESPACE"] = "sse",
            ["POD_IP"] = "10.244.1.17",
            ["ORLEANS_CLUSTER_ID"] = "from-environment",
            ["ORLEANS_SERVICE_ID"] = "from-environment",
        });
        using var services = Build(new()
        {
            ["SseCluster:Redis:Configuration"] = Redis,
            ["SseCluster:Orleans:Kubernetes"] = "true",
            ["SseCluster:Orleans:ClusterId"] = "prod",
            ["SseCluster:Orleans:ServiceId"] = "sse",
        });

        Assert.True(UsesKubernetesHosting(services));
        Assert.Equal("ssecluster-gateway-7d9f-abcde", services.GetRequiredService<IOptions<SiloOptions>>().Value.SiloName);
        Assert.Equal(IPAddress.Parse("10.244.1.17"), services.GetRequiredService<IOptions<EndpointOptions>>().Value.AdvertisedIPAddress);
        var cluster = services.GetRequiredService<IOptions<ClusterOptions>>().Value;
        Assert.Equal("prod", cluster.ClusterId);
        Assert.Equal("sse", cluster.ServiceId);

        // Orleans' own check of the hosting options (namespace, pod name, silo name = pod name) passes.
        _ = services.GetRequiredService<IOptions<KubernetesHostingOptions>>().Value;
    }

    [Fact]
    public void KubernetesSettingOutsideAPod_IsRefusedAtStart_NamingTheSetting()
    {
        // Not in a pod, whatever machine runs the tests: the Kubernetes client needs these to reach the API server.
        using var environment = new EnvironmentVariables(new() { ["KUBERNETES_SERVICE_HOST"] = null, ["KUBERNETES_SERVICE_PORT"] = null });
        using var services = Build(new() { ["SseCluster:Redis:Configuration"] = Redis, ["SseCluster:Orleans:Kubernetes"] = "true" });

        var failure = Assert.Throws<OptionsValidationException>(() => services.GetRequiredService<IOptions<SseClusterOrleansOptions>>().Value);
        Assert.Contains("SseCluster:Orleans:Kubernetes", failure.Message);
        Assert.Contains("KUBERNETES_SERVICE_HOST", failure.Message);
    }

    private static ServiceProvider Build(Dictionary<string, string?> settings)
    {
        var configuration = new ConfigurationBuilder().AddInMemoryCollection(settings).Build();
        var services = new ServiceCollection();
        services.AddLogging();
        new Silo(services, configuration).AddSseCluster(configuration, "gw-test");
        return services.BuildServiceProvider();
    }

    private static bool UsesKubernetesHosting(ServiceProvider services) =>
        services.GetServices<IValidateOptions<KubernetesHostingOptions>>().Any();

    /// <summary>
    /// Sets environment variables (null removes one) until disposed, then restores them. Kubernetes hosting reads them
    /// when its options are resolved; no other test of this assembly does, and the assembly runs one test at a time.
    /// </summary>
    private sealed class EnvironmentVariables : IDisposable
    {
        private readonly Dictionary<string, string?> _saved;

        public EnvironmentVariables(Dictionary<string, string?> values)
        {
            _saved = values.Keys.ToDictionary(k => k, Environment.GetEnvironmentVariable);
            foreach (var (key, value) in values)
            {
                Environment.SetEnvironmentVariable(key, value);
            }
        }

        public void Dispose()
        {
            foreach (var (key, value) in _saved)
            {
                Environment.SetEnvironmentVariable(key, value);
            }
        }
    }

    private sealed class Silo(IServiceCollection services, IConfiguration configuration) : ISiloBuilder
    {
        public IServiceCollection Services { get; } = services;

        public IConfiguration Configuration { get; } = configuration;
    }
}
