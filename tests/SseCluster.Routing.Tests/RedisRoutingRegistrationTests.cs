using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;
using SseCluster.Grains;

namespace SseCluster.Routing.Tests;

/// <summary>What <c>AddSseClusterRedisRouting</c> registers, and how it refuses bad settings at start.</summary>
public sealed class RedisRoutingRegistrationTests
{
    [Fact]
    public void MissingConfiguration_FailsAtStart_NamingTheKey()
    {
        var failure = Assert.Throws<OptionsValidationException>(() => Build(new() { ["SseCluster:GatewayId"] = "gw" }));

        Assert.Contains("SseCluster:Redis:Configuration", failure.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("SseCluster:Redis:Prefix", "my{prefix}")]
    [InlineData("SseCluster:Redis:PresenceRefreshSeconds", "0")]
    [InlineData("SseCluster:GatewayId", "gw {1}")]
    public void InvalidSetting_FailsAtStart_NamingTheKeyAndValue(string key, string value)
    {
        var settings = new Dictionary<string, string?>
        {
            ["SseCluster:GatewayId"] = "gw",
            ["SseCluster:Redis:Configuration"] = "127.0.0.1:1",
            [key] = value,
        };

        var failure = Assert.Throws<OptionsValidationException>(() => Build(settings));

        Assert.Contains(key, failure.Message, StringComparison.Ordinal);
        Assert.Contains(value, failure.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Registration_ReplacesInMemoryRouting_ForEveryRoutingInterface()
    {
        await using var node = RoutingNode.Create(
            (services, configuration) =>
            {
                services.AddSseClusterInMemoryRouting(configuration);
                services.AddSseClusterRedisRouting(configuration);
            },
            new Dictionary<string, string?> { ["SseCluster:GatewayId"] = "gw", ["SseCluster:Redis:Configuration"] = "127.0.0.1:1" });

        Assert.All(
            new object[] { node.Router, node.Control, node.Directory, node.Tickets, node.Health },
            service => Assert.Equal("SseCluster.Grains.Redis", service.GetType().Namespace?.Replace(".Internal", "", StringComparison.Ordinal)));
    }

    private static RoutingNode Build(Dictionary<string, string?> settings) =>
        RoutingNode.Create((services, configuration) => services.AddSseClusterRedisRouting(configuration), settings);
}
