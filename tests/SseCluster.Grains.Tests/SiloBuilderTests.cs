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
        // Kubernetes hosting reads these when its options are resolved; no other test of this assembly does, and the
        // assembly runs its tests one at a time.
        var environment = new Dictionary<string, string?>
        {
            ["POD_NAME"] = "ssecluster-gateway-7d9f-abcde",
            ["POD_NAMESPACE"] = "sse",
            ["POD_IP"] = "10.244.1.17",
            ["ORLEANS_CLUSTER_ID"] = "from-environment",
            ["ORLEANS_SERVICE_ID"] = "from-environment",
        };
        var saved = environment.Keys.ToDictionary(k => k, Environment.GetEnvironmentVariable);
        try
        {
            foreach (var (key, value) in environment)
            {
                Environment.SetEnvironmentVariable(key, value);
            }

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
            _ = services.GetRequiredService<IOptions<SseClusterOrleansOptions>>().Value;
        }
        finally
        {
            foreach (var (key, value) in saved)
            {
                Environment.SetEnvironmentVariable(key, value);
            }
        }
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

    private sealed class Silo(IServiceCollection services, IConfiguration configuration) : ISiloBuilder
    {
        public IServiceCollection Services { get; } = services;

        public IConfiguration Configuration { get; } = configuration;
    }
}
