using System.Threading.RateLimiting;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Options;
using SseCluster.Gateway.Auth;

namespace SseCluster.Gateway.Api;

/// <summary>Authenticates an API call, checks its role and stores the caller in <c>HttpContext.Items</c>.</summary>
internal abstract class CallerGate(CallerAuthenticator authenticator) : IEndpointFilter
{
    public static Caller CallerOf(HttpContext context) => (Caller)context.Items[typeof(Caller)]!;

    public async ValueTask<object?> InvokeAsync(EndpointFilterInvocationContext context, EndpointFilterDelegate next)
    {
        var http = context.HttpContext;
        var auth = await authenticator.AuthenticateApiAsync(http);
        if (auth.Caller is not { } caller)
        {
            return auth.Unavailable ? Problems.Unavailable(auth.Failure!) : Problems.Unauthorized(auth);
        }

        if (Check(caller, http) is { } refused)
        {
            return refused;
        }

        http.Items[typeof(Caller)] = caller;
        return await next(context);
    }

    protected abstract IResult? Check(Caller caller, HttpContext context);
}

/// <summary>Publishers (role <c>publisher</c> or <c>admin</c>, or an API key), limited to <c>PublishPerSecond</c> per caller with a burst of twice that.</summary>
internal sealed class PublisherGate(CallerAuthenticator authenticator, PublishRateLimiter limiter) : CallerGate(authenticator)
{
    protected override IResult? Check(Caller caller, HttpContext context)
    {
        if (!caller.IsPublisher)
        {
            return Problems.Forbidden("publishing needs the 'publisher' or 'admin' role, or an API key");
        }

        using var lease = limiter.Limiter.AttemptAcquire(caller.RateKey);
        if (lease.IsAcquired)
        {
            return null;
        }

        var retryAfter = lease.TryGetMetadata(MetadataName.RetryAfter, out var after) ? Math.Max(1, (int)Math.Ceiling(after.TotalSeconds)) : 1;
        context.Response.Headers.RetryAfter = retryAfter.ToString(System.Globalization.CultureInfo.InvariantCulture);
        return Problems.Status(StatusCodes.Status429TooManyRequests, "publish rate limit exceeded (SseCluster:Limits:PublishPerSecond); retry later", "Too many requests");
    }
}

/// <summary>Administrators (role <c>admin</c> or an API key).</summary>
internal sealed class AdminGate(CallerAuthenticator authenticator) : CallerGate(authenticator)
{
    protected override IResult? Check(Caller caller, HttpContext context) =>
        caller.IsAdmin ? null : Problems.Forbidden("this call needs the 'admin' role or an API key");
}

/// <summary>Any authenticated caller; the endpoint decides what it may do.</summary>
internal sealed class AnyCallerGate(CallerAuthenticator authenticator) : CallerGate(authenticator)
{
    protected override IResult? Check(Caller caller, HttpContext context) => null;
}

/// <summary>The per-caller token buckets of publishing (ASP.NET Core's rate limiting primitives).</summary>
internal sealed class PublishRateLimiter(IOptions<LimitsOptions> limits) : IDisposable
{
    public PartitionedRateLimiter<string> Limiter { get; } = PartitionedRateLimiter.Create<string, string>(key =>
        RateLimitPartition.GetTokenBucketLimiter(key, _ => new TokenBucketRateLimiterOptions
        {
            TokenLimit = Math.Max(1, limits.Value.PublishPerSecond * 2),
            TokensPerPeriod = Math.Max(1, limits.Value.PublishPerSecond),
            ReplenishmentPeriod = TimeSpan.FromSeconds(1),
            QueueLimit = 0,
            AutoReplenishment = true,
        }));

    public void Dispose() => Limiter.Dispose();
}
