using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Orleans.Dashboard;
using SseCluster.Client;
using SseCluster.Contracts;
using SseCluster.Contracts.Routing;
using SseCluster.Gateway.Answers;
using SseCluster.Gateway.Api;
using SseCluster.Gateway.Auth;
using SseCluster.Gateway.Observability;
using SseCluster.Gateway.Routing;
using SseCluster.Gateway.Streaming;
using SseCluster.Grains;
using SseCluster.Grains.Hosting;
using SseCluster.Grains.Storage.Redis;
using SseCluster.Grains.Streams;

namespace SseCluster.Gateway.Hosting;

/// <summary>Hosts the gateway in any ASP.NET Core app: <c>services.AddSseClusterGateway(configuration)</c> then <c>app.MapSseClusterGateway()</c>.</summary>
public static class GatewayServiceCollectionExtensions
{
    public const string CorsPolicy = "SseCluster";

    /// <summary>
    /// Registers the gateway: options from <c>SseCluster:*</c> (validated at start); a co-hosted Orleans silo with
    /// SseCluster's grains — one node with in-memory stores, or a member of the cluster whose membership and stores are
    /// in the Redis named by <c>SseCluster:Redis:Configuration</c>; streaming, auth, limits, metrics and graceful shutdown.
    /// </summary>
    public static IServiceCollection AddSseClusterGateway(this IServiceCollection services, IConfiguration configuration)
    {
        ArgumentNullException.ThrowIfNull(configuration);
        BindOptions(services, configuration);
        var identity = new GatewayIdentity(
            configuration["SseCluster:GatewayId"] is { Length: > 0 } id ? id : GatewayIdentity.DefaultName(),
            DateTimeOffset.UtcNow,
            SseClusterSiloBuilderExtensions.DescribeMode(configuration));
        services.AddSingleton(identity);

        // The silo first: hosted services start in order, and everything below needs it. It starts in the background,
        // so the gateway answers /healthz and /readyz while it joins.
        // Read raw, not through the validated options: a bad value is reported by ValidateSseClusterOptions with the rest.
        var orleansDashboard = !bool.TryParse(configuration["SseCluster:Metrics:OrleansDashboard"], out var dashboard) || dashboard;
        services.AddOrleans(silo =>
        {
            silo.AddSseCluster(configuration, identity.Name);
            if (orleansDashboard)
            {
                // Its live log stream stays off: logs name users and streams, which the dashboard's pages do not.
                silo.AddDashboard(o => o.HideTrace = true);
            }
        });
        SiloStartup.Replace(services);
        services.AddSseClusterPublishing(configuration);
        services.AddOptions<GatewayRoutingOptions>().Bind(configuration.GetSection(GatewayRoutingOptions.Section))
            .Validate(o => o.RegistrationSeconds is >= 0.1 and <= 60, "SseCluster:Routing:RegistrationSeconds must be between 0.1 and 60")
            .Validate(o => o.TailCheckSeconds is >= 0.1 and <= 3600, "SseCluster:Routing:TailCheckSeconds must be between 0.1 and 3600")
            .Validate(o => o.CallTimeoutMilliseconds is >= 50 and <= 60_000, "SseCluster:Routing:CallTimeoutMilliseconds must be between 50 and 60000")
            .ValidateOnStart();
        services.AddSingleton<LocalGateway>();
        services.AddSingleton<RoutingCalls>();
        services.AddSingleton<LiveStreams>();
        services.AddSingleton<GatewayEndpoint>();
        services.AddSingleton<ClusterDirectory>();
        services.AddHostedService<GatewayRegistrar>();

        // Stream URLs carry tickets (and, if enabled, access tokens): the request-start line that logs full URLs stays
        // off whatever the app's log levels are. This rule is more specific than "Microsoft.AspNetCore", so it wins.
        services.AddLogging(logging => logging.AddFilter("Microsoft.AspNetCore.Hosting.Diagnostics", LogLevel.Warning));
        services.AddProblemDetails();
        services.AddSingleton<GatewayMetrics>();
        services.AddSseClusterTelemetry(configuration, identity.Name);
        services.AddSingleton<ConnectionAdmission>();
        services.AddSingleton<StreamAttachments>();
        services.AddSingleton<ConnectionRegistry>();
        services.AddSingleton<ReplayReader>();
        services.AddSingleton<ConnectionWriter>();
        services.AddSingleton<LocalDispatcher>();
        services.AddSingleton<StreamConnectHandler>();
        services.AddGatewayBearer();
        services.AddSingleton<StreamSessionCookie>();
        services.AddSingleton<CallerAuthenticator>();
        services.AddSingleton<PublishRateLimiter>();
        services.AddSingleton<PublisherGate>();
        services.AddSingleton<AdminGate>();
        services.AddSingleton<AnyCallerGate>();
        services.AddSingleton<StreamTailCheck>();
        services.AddHostedService(sp => sp.GetRequiredService<StreamTailCheck>());
        services.AddHostedService<ConnectionSweeper>();
        services.AddSingleton<ShutdownDrain>();
        services.AddHostedService(sp => sp.GetRequiredService<ShutdownDrain>());
        services.AddSingleton<DevTokenPolicy>();
        services.AddHostedService<StartupReport>();
        services.AddSseClusterAnswers(configuration);

        var drainSeconds = int.TryParse(configuration["SseCluster:Shutdown:DrainSeconds"], out var drain) ? drain : 10;
        services.Configure<HostOptions>(o => o.ShutdownTimeout = TimeSpan.FromSeconds(Math.Max(drainSeconds, 0) + 10));
        // Read raw, not through the validated options: a bad value is reported by ValidateSseClusterOptions with the rest.
        var capacity = ConnectionAdmission.CapacityFor(int.TryParse(configuration["SseCluster:Limits:MaxConnections"], out var max) ? Math.Max(0, max) : 0);
        services.Configure<KestrelServerOptions>(kestrel =>
        {
            // Refused streams still cost a socket for a moment; past this margin Kestrel refuses at accept, so the
            // process never runs out of descriptors.
            kestrel.Limits.MaxConcurrentConnections = capacity + 512;
            kestrel.AddServerHeader = false;
        });

        var origins = configuration.GetSection("SseCluster:Cors:AllowedOrigins").Get<string[]>() ?? [];
        services.AddCors(cors => cors.AddPolicy(CorsPolicy, policy =>
        {
            if (origins.Length > 0)
            {
                // Listed origins only: credentials are never allowed for a wildcard.
                policy.WithOrigins(origins).AllowCredentials().AllowAnyHeader().AllowAnyMethod()
                    .WithExposedHeaders("Retry-After", "WWW-Authenticate");
            }
        }));
        return services;
    }

    /// <summary>
    /// Maps <c>/sse/*</c>, <c>/healthz</c>, <c>/readyz</c>, <c>/metrics</c>, <c>/orleans</c> (the Orleans Dashboard, admins
    /// only), and <c>/dev/token</c> when dev tokens are on (Development, loopback addresses only), and makes every error on
    /// the API's paths <c>application/problem+json</c> (an exception handler and status code pages at this point of the
    /// pipeline, for those paths only).
    /// Call after <c>UseCors</c> if the app has its own pipeline.
    /// </summary>
    public static RouteGroupBuilder MapSseClusterGateway(this WebApplication app)
    {
        ArgumentNullException.ThrowIfNull(app);
        app.UseApiProblems();
        var metrics = app.Services.GetRequiredService<GatewayMetrics>();
        var registry = app.Services.GetRequiredService<ConnectionRegistry>();
        metrics.ObserveConnections(() => registry.Count);

        app.MapHealthEndpoints();
        if (app.Services.GetRequiredService<IOptions<MetricsOptions>>().Value.OrleansDashboard)
        {
            app.MapOrleansDashboard(routePrefix: StreamSessionCookie.DashboardPath).RequireAdminCaller(acceptDashboardCookie: true);
        }

        var sse = app.MapGroup("/sse").RequireCors(CorsPolicy);
        if (app.Services.GetRequiredService<IOptions<MetricsOptions>>().Value.OrleansDashboard)
        {
            // A browser tab cannot send the token with the dashboard's own requests: an admin trades it for an HttpOnly,
            // SameSite=Strict cookie scoped to /orleans, valid an hour at most (less if the token expires sooner).
            sse.MapPost("/orleans-session", (HttpContext context, StreamSessionCookie cookies) =>
            {
                var expires = cookies.AppendDashboard(context, CallerGate.CallerOf(context));
                return Results.Json(new DashboardSession($"{StreamSessionCookie.DashboardPath}/", expires), SseJsonContext.Default.DashboardSession);
            }).AddEndpointFilter<AdminGate>();
        }

        sse.MapGet("/connect", (HttpContext context, StreamConnectHandler handler) => handler.HandleAsync(context));
        sse.MapPublishEndpoints();
        sse.MapAdminEndpoints();
        sse.MapTicketEndpoints();
        sse.MapAnswerEndpoints();

        if (app.Services.GetRequiredService<DevTokenPolicy>().IsOn)
        {
            // The start was refused if a configured address is not loopback; this also covers listeners a host app
            // adds in code: a request that did not arrive on a loopback address never gets a token.
            app.MapDevTokenEndpoint().RequireCors(CorsPolicy).AddEndpointFilter((context, next) =>
                ListenAddresses.IsLoopback(context.HttpContext.Connection.LocalIpAddress) ? next(context) : ValueTask.FromResult<object?>(Results.NotFound()));
        }

        return sse;
    }

    /// <summary>
    /// Resolves every SseCluster option so that all configuration mistakes surface together, before the host starts.
    /// </summary>
    /// <returns>The failures, each naming its key; empty when the configuration is valid.</returns>
    public static IReadOnlyList<string> ValidateSseClusterOptions(this IServiceProvider services)
    {
        ArgumentNullException.ThrowIfNull(services);
        var failures = new List<string>();
        void Check<T>()
            where T : class
        {
            try
            {
                _ = services.GetRequiredService<IOptions<T>>().Value;
            }
            catch (OptionsValidationException ex)
            {
                failures.AddRange(ex.Failures);
            }
            catch (InvalidOperationException ex)
            {
                // The binder's message names the key and the value it could not convert.
                failures.Add(ex.Message);
            }
        }

        Check<StreamOptions>();
        Check<HeartbeatOptions>();
        Check<LimitsOptions>();
        Check<AuthOptions>();
        Check<ShutdownOptions>();
        Check<MetricsOptions>();
        Check<HistoryOptions>();
        Check<PublisherOptions>();
        Check<GatewayRoutingOptions>();
        Check<StreamGrainOptions>();
        Check<SseClusterOrleansOptions>();
        Check<AnswerOptions>();
        if (services.GetRequiredService<IConfiguration>()[SseClusterIdentity.RedisConfigurationKey] is { Length: > 0 })
        {
            Check<RedisStoreOptions>();
        }

        return failures;
    }

    private static void BindOptions(IServiceCollection services, IConfiguration configuration)
    {
        services.AddOptions<StreamOptions>().Bind(configuration.GetSection("SseCluster:Stream"))
            .Validate(o => o.RetryMilliseconds is >= 100 and <= 600_000, "SseCluster:Stream:RetryMilliseconds must be between 100 and 600000")
            .ValidateOnStart();
        services.AddOptions<HeartbeatOptions>().Bind(configuration.GetSection("SseCluster:Heartbeat"))
            .Validate(o => o.IntervalSeconds is >= 1 and <= 3600, "SseCluster:Heartbeat:IntervalSeconds must be between 1 and 3600")
            .ValidateOnStart();
        services.AddOptions<LimitsOptions>().Bind(configuration.GetSection("SseCluster:Limits"))
            .Validate(o => o.MaxConnections >= 0, "SseCluster:Limits:MaxConnections must be 0 (automatic) or positive")
            .Validate(o => o.MaxConnectionsPerUser >= 1, "SseCluster:Limits:MaxConnectionsPerUser must be at least 1")
            .Validate(o => o.MaxTopicsPerConnection is >= 0 and <= 32, "SseCluster:Limits:MaxTopicsPerConnection must be between 0 and 32")
            .Validate(o => o.MaxPayloadBytes is >= 256 and <= 16 * 1024 * 1024, "SseCluster:Limits:MaxPayloadBytes must be between 256 and 16777216")
            .Validate(o => o.PublishPerSecond >= 1, "SseCluster:Limits:PublishPerSecond must be at least 1")
            .Validate(o => o.ConnectionQueueCapacity is >= 8 and <= 1_000_000, "SseCluster:Limits:ConnectionQueueCapacity must be between 8 and 1000000")
            .ValidateOnStart();
        services.AddOptions<AuthOptions>().Bind(configuration.GetSection("SseCluster:Auth")).ValidateOnStart();
        services.AddSingleton<IValidateOptions<AuthOptions>, AuthOptionsValidator>();
        services.AddSingleton<IPostConfigureOptions<AuthOptions>, DevelopmentKeyFallback>();
        services.AddSingleton<IValidateOptions<AuthOptions>, StartupSafetyValidator>();
        services.AddOptions<MetricsOptions>().Bind(configuration.GetSection("SseCluster:Metrics")).ValidateOnStart();
        services.AddOptions<ShutdownOptions>().Bind(configuration.GetSection("SseCluster:Shutdown"))
            .Validate(o => o.DrainSeconds is >= 0 and <= 600, "SseCluster:Shutdown:DrainSeconds must be between 0 and 600")
            .Validate(o => o.Waves is >= 1 and <= 1000, "SseCluster:Shutdown:Waves must be between 1 and 1000")
            .ValidateOnStart();
    }
}
