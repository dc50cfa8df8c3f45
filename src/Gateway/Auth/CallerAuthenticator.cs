using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Options;
using SseCluster.Contracts;
using SseCluster.Grains.Storage;

namespace SseCluster.Gateway.Auth;

/// <summary>Finds and checks a request's credentials: for streams, and for the publish and admin API.</summary>
internal sealed class CallerAuthenticator(
    TokenValidator tokens,
    StreamSessionCookie session,
    ITicketStore tickets,
    IStreamHistory store,
    TimeProvider time,
    IOptions<AuthOptions> options)
{
    private readonly AuthOptions _options = options.Value;
    private readonly byte[][] _apiKeyHashes = options.Value.ApiKeys
        .Where(k => !string.IsNullOrEmpty(k))
        .Select(k => SHA256.HashData(Encoding.UTF8.GetBytes(k)))
        .ToArray();

    /// <summary>Stream credentials, first match wins: bearer header, ticket, session cookie, access_token (if enabled), anonymous (if enabled).</summary>
    public async Task<AuthResult> AuthenticateStreamAsync(HttpContext context, CancellationToken cancellationToken)
    {
        if (BearerToken(context.Request) is { } bearer)
        {
            return await tokens.ValidateAsync(bearer, CallerKind.Token, cancellationToken);
        }

        if (context.Request.Query["ticket"] is [{ Length: > 0 } ticket])
        {
            // Every store of a node shares one Redis connection: while the stream store knows it is down, a redeem
            // would only wait out the command timeout (seconds) to fail the same way, so it is not tried.
            string? grant = null;
            var checkable = store.IsAvailable;
            if (checkable)
            {
                try
                {
                    grant = ticket.Length <= 128 ? await tickets.RedeemAsync(ticket, cancellationToken) : null;
                }
                catch (RoutingUnavailableException)
                {
                    checkable = false;
                }
            }

            if (!checkable)
            {
                // The ticket cannot be checked now. A session cookie needs no store; otherwise the client retries later
                // (200 + retry + close), never an error status EventSource would give up on.
                if (context.Request.Cookies[session.Name] is { Length: > 0 } fallback && session.Validate(fallback) is { Caller: not null } byCookie)
                {
                    return byCookie;
                }

                return AuthResult.TryLater("tickets cannot be checked right now");
            }

            if (grant is not null && JsonSerializer.Deserialize(grant, SessionJsonContext.Default.SessionGrant) is { } g)
            {
                if (DateTimeOffset.FromUnixTimeSeconds(g.Exp) <= time.GetUtcNow())
                {
                    return AuthResult.Fail("the credentials the ticket was issued for have expired");
                }

                return AuthResult.Ok(new Caller(CallerKind.Ticket, g.Sub, g.Roles, g.Topics, DateTimeOffset.FromUnixTimeSeconds(g.Exp), "user:" + g.Sub));
            }

            // A spent ticket on a browser's own reconnect: the session cookie, if any, still lets it in.
            if (context.Request.Cookies[session.Name] is not { Length: > 0 })
            {
                return AuthResult.Fail("the ticket is unknown, expired or already used");
            }
        }

        if (context.Request.Cookies[session.Name] is { Length: > 0 } cookie)
        {
            var result = session.Validate(cookie);
            if (result.Caller is not null || !_options.AllowAnonymous)
            {
                return result;
            }
        }

        if (_options.AllowAccessTokenQuery && context.Request.Query["access_token"] is [{ Length: > 0 } accessToken])
        {
            return await tokens.ValidateAsync(accessToken, CallerKind.Token, cancellationToken);
        }

        if (_options.AllowAnonymous)
        {
            var address = context.Connection.RemoteIpAddress?.ToString() ?? "unknown";
            return AuthResult.Ok(new Caller(CallerKind.Anonymous, null, [], [], null, "anonymous:" + address));
        }

        return AuthResult.Fail("credentials are required: an Authorization bearer token, a ticket or a session cookie");
    }

    /// <summary>API credentials: <c>X-Api-Key</c> or a bearer token.</summary>
    public async Task<AuthResult> AuthenticateApiAsync(HttpContext context)
    {
        if (context.Request.Headers["X-Api-Key"] is [{ Length: > 0 } apiKey])
        {
            var hash = SHA256.HashData(Encoding.UTF8.GetBytes(apiKey));
            for (var i = 0; i < _apiKeyHashes.Length; i++)
            {
                if (CryptographicOperations.FixedTimeEquals(hash, _apiKeyHashes[i]))
                {
                    return AuthResult.Ok(new Caller(CallerKind.ApiKey, null, [Caller.AdminRole, Caller.PublisherRole], ["*"], null, "apikey:" + i));
                }
            }

            return AuthResult.Fail("the API key is not valid");
        }

        if (BearerToken(context.Request) is { } bearer)
        {
            return await tokens.ValidateAsync(bearer, CallerKind.Token, context.RequestAborted);
        }

        return AuthResult.Fail("credentials are required: an Authorization bearer token or an X-Api-Key header");
    }

    public static string? BearerToken(HttpRequest request)
    {
        var header = request.Headers.Authorization.ToString();
        return header.StartsWith("Bearer ", StringComparison.OrdinalIgnoreCase) && header.Length > 7 ? header[7..].Trim() : null;
    }
}
