using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using SseCluster.Grains.Hosting;
using SseCluster.Grains.Storage;
using SseCluster.TestSupport;
using Xunit.Abstractions;

namespace SseCluster.Routing.Tests;

/// <summary>
/// One silo's view of the stores, built through the registration a silo and a gateway use
/// (<see cref="SseClusterSiloBuilderExtensions.AddSseClusterStores"/>) from the same configuration keys, with the
/// options validated as a host validates them when it starts.
/// </summary>
public sealed class StoreNode : IAsyncDisposable
{
    private StoreNode(ServiceProvider services)
    {
        Services = services;
    }

    public ServiceProvider Services { get; }

    public IStreamHistory History => Services.GetRequiredService<IStreamHistory>();

    public IGatewayAttachments Attachments => Services.GetRequiredService<IGatewayAttachments>();

    public IReconnectBlocks Blocks => Services.GetRequiredService<IReconnectBlocks>();

    public ITicketStore Tickets => Services.GetRequiredService<ITicketStore>();

    /// <param name="settings">The configuration, as a gateway reads it (<c>SseCluster:Redis:*</c>, <c>SseCluster:History:*</c>).</param>
    /// <param name="clustered">Redis stores (cluster mode) rather than in-memory ones.</param>
    /// <param name="name">The node's name: its Redis client name and its prefix in the test output.</param>
    /// <param name="time">The clock, registered before the stores so it replaces <see cref="TimeProvider.System"/>; null for the system clock.</param>
    /// <param name="output">Where the stores' logs go.</param>
    /// <exception cref="OptionsValidationException">A setting is invalid (what a host's start would report).</exception>
    public static StoreNode Create(IReadOnlyDictionary<string, string?> settings, bool clustered, string name, TimeProvider? time, ITestOutputHelper? output)
    {
        var configuration = new ConfigurationBuilder().AddInMemoryCollection(settings).Build();
        var services = new ServiceCollection();
        services.AddLogging(logging => logging.AddProvider(TestLoggerProvider.ToOutput(output, name)).SetMinimumLevel(LogLevel.Debug));
        if (time is not null)
        {
            services.AddSingleton(time);
        }

        services.AddSseClusterStores(configuration, clustered, name);
        var provider = services.BuildServiceProvider(new ServiceProviderOptions { ValidateOnBuild = true, ValidateScopes = true });
        try
        {
            provider.GetService<IStartupValidator>()?.Validate();
        }
        catch
        {
            provider.Dispose();
            throw;
        }

        return new StoreNode(provider);
    }

    public ValueTask DisposeAsync() => Services.DisposeAsync();
}
