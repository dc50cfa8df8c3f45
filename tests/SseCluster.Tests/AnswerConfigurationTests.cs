using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using SseCluster.Gateway.Hosting;
using SseCluster.TestSupport;

namespace SseCluster.Tests;

/// <summary>Every bad <c>SseCluster:Answers</c> setting is reported at start, naming its key.</summary>
public sealed class AnswerConfigurationTests
{
    [Theory]
    [InlineData("BackendUrl", "not a url")]
    [InlineData("BackendUrl", "ftp://backend.example/answer")]
    [InlineData("BackendSecret", "short")]
    [InlineData("TimeoutSeconds", "0")]
    [InlineData("MaxRequestBytes", "1")]
    [InlineData("MaxChunkBytes", "0")]
    [InlineData("MaxChunksPerAnswer", "0")]
    [InlineData("MaxBytesPerAnswer", "0")]
    [InlineData("MaxOpenAnswersPerUser", "0")]
    [InlineData("RetentionSeconds", "0")]
    public void BadAnswerSetting_IsReportedNamingTheKey(string name, string value)
    {
        var configuration = new ConfigurationBuilder().AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["SseCluster:Auth:SigningKey"] = GatewayHost.SigningKey,
            ["SseCluster:Answers:" + name] = value,
        }).Build();
        var services = new ServiceCollection();
        services.AddSingleton<IConfiguration>(configuration);
        services.AddSseClusterGateway(configuration);
        using var provider = services.BuildServiceProvider();

        var failures = provider.ValidateSseClusterOptions();

        Assert.Contains(failures, f => f.Contains("SseCluster:Answers:" + name, StringComparison.Ordinal));
    }
}
