using System.Security.Cryptography;
using System.Text.Json;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.Options;
using SseCluster.Contracts;
using SseCluster.Gateway.Auth;
using SseCluster.Grains.Storage;

namespace SseCluster.Gateway.Api;

/// <summary>
/// <c>POST /sse/tickets</c>: trades a bearer token for a single-use ticket a page can put in an EventSource URL, so
/// long-lived tokens never travel in URLs.
/// </summary>
internal static class TicketEndpoints
{
    public static RouteGroupBuilder MapTicketEndpoints(this RouteGroupBuilder group)
    {
        group.MapPost("/tickets", IssueAsync);
        return group;
    }

    private static async Task<IResult> IssueAsync(HttpContext context, TokenValidator tokens, ITicketStore store, TimeProvider time, IOptions<AuthOptions> options)
    {
        if (CallerAuthenticator.BearerToken(context.Request) is not { } token)
        {
            return Problems.Unauthorized("a ticket needs an Authorization bearer token");
        }

        var auth = await tokens.ValidateAsync(token, CallerKind.Token, context.RequestAborted);
        if (auth.Caller is not { UserId: { } userId, ExpiresAt: { } expires } caller)
        {
            return auth.Unavailable ? Problems.Unavailable(auth.Failure!) : Problems.Unauthorized(auth);
        }

        var ticket = Convert.ToBase64String(RandomNumberGenerator.GetBytes(32)).TrimEnd('=').Replace('+', '-').Replace('/', '_');
        var grant = JsonSerializer.Serialize(new SessionGrant(userId, caller.Roles, caller.Topics, expires.ToUnixTimeSeconds()), SessionJsonContext.Default.SessionGrant);
        // A ticket never outlives the token it stands for.
        var lifetime = TimeSpan.FromSeconds(options.Value.TicketSeconds);
        if (expires - time.GetUtcNow() < lifetime)
        {
            lifetime = expires - time.GetUtcNow();
        }

        if (lifetime <= TimeSpan.Zero)
        {
            return Problems.Unauthorized("the token has expired", tokenRefused: true);
        }

        try
        {
            await store.StoreAsync(ticket, grant, lifetime, context.RequestAborted);
        }
        catch (RoutingUnavailableException ex)
        {
            return Problems.Unavailable(ex.Message);
        }

        return Results.Json(new TicketResponse(ticket, time.GetUtcNow() + lifetime), SseJsonContext.Default.TicketResponse, statusCode: StatusCodes.Status201Created);
    }
}
