using System.Text;
using Microsoft.IdentityModel.JsonWebTokens;
using Microsoft.IdentityModel.Tokens;

namespace SseCluster.TestSupport;

/// <summary>Mints tokens for tests, good and bad.</summary>
public static class Tokens
{
    public static string For(
        string userId,
        string[]? roles = null,
        string[]? topics = null,
        TimeSpan? lifetime = null,
        string key = GatewayHost.SigningKey,
        string audience = "sse-cluster",
        string issuer = "sse-cluster",
        DateTimeOffset? now = null)
    {
        var issued = now ?? DateTimeOffset.UtcNow;
        var claims = new Dictionary<string, object> { ["sub"] = userId, ["topics"] = topics ?? ["*"] };
        if (roles is { Length: > 0 })
        {
            claims["role"] = roles;
        }

        var expires = issued + (lifetime ?? TimeSpan.FromHours(1));
        return new JsonWebTokenHandler().CreateToken(new SecurityTokenDescriptor
        {
            Issuer = issuer,
            Audience = audience,
            Claims = claims,
            IssuedAt = issued.UtcDateTime.AddSeconds(-1) < expires.UtcDateTime ? issued.UtcDateTime.AddSeconds(-1) : expires.UtcDateTime.AddSeconds(-2),
            NotBefore = issued.UtcDateTime.AddSeconds(-1) < expires.UtcDateTime ? issued.UtcDateTime.AddSeconds(-1) : expires.UtcDateTime.AddSeconds(-2),
            Expires = expires.UtcDateTime,
            SigningCredentials = new SigningCredentials(new SymmetricSecurityKey(Encoding.UTF8.GetBytes(key)), SecurityAlgorithms.HmacSha256),
        });
    }

    public static string Publisher(string userId = "publisher-svc") => For(userId, roles: ["publisher"]);

    public static string Admin(string userId = "admin") => For(userId, roles: ["admin", "publisher"]);

    /// <summary>An unsigned token (<c>alg: none</c>) that claims to be <paramref name="userId"/>.</summary>
    public static string Unsigned(string userId)
    {
        static string B64(string json) => Convert.ToBase64String(Encoding.UTF8.GetBytes(json)).TrimEnd('=').Replace('+', '-').Replace('/', '_');
        var exp = DateTimeOffset.UtcNow.AddHours(1).ToUnixTimeSeconds();
        return B64("{\"alg\":\"none\",\"typ\":\"JWT\"}") + "." + B64($"{{\"sub\":\"{userId}\",\"aud\":\"sse-cluster\",\"iss\":\"sse-cluster\",\"exp\":{exp},\"topics\":[\"*\"],\"role\":[\"admin\"]}}") + ".";
    }
}
