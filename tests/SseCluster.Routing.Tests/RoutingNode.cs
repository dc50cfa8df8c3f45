using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using SseCluster.Contracts;
using SseCluster.Grains;
using Xunit.Abstractions;

namespace SseCluster.Routing.Tests;

/// <summary>One gateway's view of the routing layer, built through the same DI registration a gateway uses.</summary>
public sealed class RoutingNode : IAsyncDisposable
{
    private IAsyncDisposable? _inboxRegistration;

    private RoutingNode(ServiceProvider services)
    {
        Services = services;
    }

    public ServiceProvider Services { get; }

    public IStreamRouter Router => Services.GetRequiredService<IStreamRouter>();

    public IControlBus Control => Services.GetRequiredService<IControlBus>();

    public IConnectionDirectory Directory => Services.GetRequiredService<IConnectionDirectory>();

    public ITicketStore Tickets => Services.GetRequiredService<ITicketStore>();

    public IRoutingHealth Health => Services.GetRequiredService<IRoutingHealth>();

    public ISseEventPublisher Publisher => Services.GetRequiredService<ISseEventPublisher>();

    public GatewayIdentity Gateway => Services.GetRequiredService<GatewayIdentity>();

    public string GatewayId => Gateway.GatewayId;

    public RecordingInbox? Inbox { get; private set; }

    /// <summary>
    /// Builds a node: <paramref name="register"/> is the routing registration under test, <paramref name="settings"/> its
    /// configuration. Runs the start-time options validation, as a host would.
    /// </summary>
    public static RoutingNode Create(
        Action<IServiceCollection, IConfiguration> register,
        IReadOnlyDictionary<string, string?> settings,
        ITestOutputHelper? output = null)
    {
        var configuration = new ConfigurationBuilder().AddInMemoryCollection(settings).Build();
        var services = new ServiceCollection();
        services.AddSingleton(new TestLogSink(output, settings.GetValueOrDefault("SseCluster:GatewayId") ?? "node"));
        services.AddSingleton(typeof(ILogger<>), typeof(TestLogger<>));
        register(services, configuration);
        var provider = services.BuildServiceProvider(new ServiceProviderOptions { ValidateOnBuild = true, ValidateScopes = true });
        provider.GetService<IStartupValidator>()?.Validate();
        return new RoutingNode(provider);
    }

    /// <summary>Opens this node's inbox with a new <see cref="RecordingInbox"/>.</summary>
    public async Task<RecordingInbox> OpenInboxAsync()
    {
        var inbox = new RecordingInbox();
        _inboxRegistration = await Router.OpenInboxAsync(inbox);
        Inbox = inbox;
        return inbox;
    }

    public async Task CloseInboxAsync()
    {
        if (_inboxRegistration is { } registration)
        {
            _inboxRegistration = null;
            await registration.DisposeAsync();
        }
    }

    /// <summary>A connection record of this node.</summary>
    public ConnectionInfoDto Connection(string connectionId, string? userId, params string[] topics) =>
        new(connectionId, GatewayId, userId, "client-" + connectionId, topics, DateTimeOffset.UtcNow, "127.0.0.1", "tests");

    public async ValueTask DisposeAsync()
    {
        await CloseInboxAsync();
        await Services.DisposeAsync();
    }
}
