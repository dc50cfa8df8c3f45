using System.Text;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.Options;
using Microsoft.IdentityModel.JsonWebTokens;
using Microsoft.IdentityModel.Tokens;
using SseCluster.Contracts;

namespace SseCluster.Gateway.Api;

/// <summary>
/// <c>POST /dev/token</c>: signs a token for any user, so a new user can try everything without an identity provider.
/// Mapped only in Development or with <c>SseCluster:Auth:DevTokens</c>.
/// </summary>
internal static class DevTokenEndpoints
{
    public static IEndpointConventionBuilder MapDevTokenEndpoint(this IEndpointRouteBuilder endpoints) =>
        endpoints.MapPost("/dev/token", IssueAsync);

    private static async Task<IResult> IssueAsync(HttpContext context, IOptions<AuthOptions> options, IOptions<LimitsOptions> limits, TimeProvider time)
    {
        var (body, problem) = await JsonBody.ReadAsync(context, SseJsonContext.Default.DevTokenRequest, limits.Value.MaxPayloadBytes);
        if (problem is not null)
        {
            return problem;
        }

        if (!Identifiers.IsValidUserId(body!.UserId))
        {
            return Problems.Field("userId", Identifiers.UserIdRule);
        }

        if (body.LifetimeSeconds is < 1 or > 86_400)
        {
            return Problems.Field("lifetimeSeconds", "must be between 1 and 86400");
        }

        var auth = options.Value;
        var now = time.GetUtcNow();
        var expires = now.AddSeconds(body.LifetimeSeconds ?? 3600);
        var claims = new Dictionary<string, object>
        {
            ["sub"] = body.UserId!,
            ["role"] = (body.Roles ?? []).ToArray(),
            [auth.TopicsClaim] = (body.Topics ?? ["*"]).ToArray(),
        };
        var token = new JsonWebTokenHandler().CreateToken(new SecurityTokenDescriptor
        {
            Issuer = auth.Issuer,
            Audience = auth.Audience,
            Claims = claims,
            IssuedAt = now.UtcDateTime,
            NotBefore = now.UtcDateTime,
            Expires = expires.UtcDateTime,
            SigningCredentials = new SigningCredentials(new SymmetricSecurityKey(Encoding.UTF8.GetBytes(auth.SigningKey!)), SecurityAlgorithms.HmacSha256),
        });
        return Results.Json(new DevTokenResponse(token, expires), SseJsonContext.Default.DevTokenResponse);
    }
}
