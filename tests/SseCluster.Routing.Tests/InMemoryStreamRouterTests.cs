using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using SseCluster.Grains;
using Xunit.Abstractions;

namespace SseCluster.Routing.Tests;

/// <summary>The specification against the in-memory routing layer (one gateway).</summary>
public sealed class InMemoryStreamRouterTests(ITestOutputHelper output) : StreamRouterSpecification(output)
{
    protected override void Register(IServiceCollection services, IConfiguration configuration) =>
        services.AddSseClusterInMemoryRouting(configuration);
}
