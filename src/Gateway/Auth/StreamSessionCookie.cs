using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using System.Text.Json.Serialization;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Options;

namespace SseCluster.Gateway.Auth;

/// <summary>
/// The stream session cookie: set on every successful stream response (HttpOnly, scoped to the stream path), valid
/// until the credentials the stream was opened with expire. A browser's own EventSource reconnect — same URL, spent
/// ticket, <c>Last-Event-ID</c> — presents it, so a page with plain <c>new EventSource(url)</c> survives a dropped
/// connection. It is an HMAC-signed grant, so any node with the same key accepts it.
/// </summary>
internal sealed class StreamSessionCookie
{
    public const string StreamPath = "/sse/connect";

    /// <summary>Where the Orleans Dashboard's admin cookie is sent: the dashboard's pages and data only.</summary>
    public const string DashboardPath = "/orleans";

    /// <summary>How long a dashboard cookie lasts at most (less when the token it came from expires sooner).</summary>
    public static readonly TimeSpan DashboardLifetime = TimeSpan.FromHours(1);

    private readonly byte[] _key;
    private readonly byte[] _dashboardKey;
    private readonly AuthOptions _options;
    private readonly TimeProvider _time;

    public StreamSessionCookie(IOptions<AuthOptions> options, TimeProvider time)
    {
        _options = options.Value;
        _time = time;
        _key = _options.SessionKey is { Length: > 0 } sessionKey
            ? Encoding.UTF8.GetBytes(sessionKey)
            : _options.SigningKey is { Length: > 0 } signingKey
                ? HMACSHA256.HashData(Encoding.UTF8.GetBytes(signingKey), "sse-cluster stream session"u8)
                : RandomNumberGenerator.GetBytes(32); // RS256-only single node; a cluster configures SessionKey

        // A key of its own, so a stream cookie can never pass as a dashboard cookie or the other way round.
        _dashboardKey = HMACSHA256.HashData(_key, "sse-cluster orleans dashboard"u8);
    }

    public string Name => _options.SessionCookieName;

    /// <summary>The admin cookie that lets a browser tab open the Orleans Dashboard, whose own requests carry no token.</summary>
    public string DashboardName => _options.SessionCookieName + "_orleans";

    public void Append(HttpContext context, Caller caller)
    {
        if (caller.UserId is null || caller.ExpiresAt is not { } expires)
        {
            return;
        }

        var sameSite = Enum.TryParse<SameSiteMode>(_options.SessionCookieSameSite, ignoreCase: true, out var mode) ? mode : SameSiteMode.Strict;
        Append(context, Name, StreamPath, _key, new SessionGrant(caller.UserId, caller.Roles, caller.Topics, expires.ToUnixTimeSeconds()), sameSite);
    }

    /// <summary>Sets the dashboard cookie for an admin caller (an API key's grant is named <c>api-key</c>); always SameSite=Strict.</summary>
    public DateTimeOffset AppendDashboard(HttpContext context, Caller caller)
    {
        var expires = _time.GetUtcNow() + DashboardLifetime;
        if (caller.ExpiresAt is { } tokenExpires && tokenExpires < expires)
        {
            expires = tokenExpires;
        }

        var grant = new SessionGrant(caller.UserId ?? "api-key", [Caller.AdminRole], [], expires.ToUnixTimeSeconds());
        Append(context, DashboardName, DashboardPath, _dashboardKey, grant, SameSiteMode.Strict);
        return expires;
    }

    public AuthResult Validate(string value) => Validate(value, _key);

    /// <summary>Checks a dashboard cookie: valid only if signed with the dashboard key, unexpired, and granting admin.</summary>
    public bool IsValidDashboard(string value) => Validate(value, _dashboardKey).Caller is { IsAdmin: true };

    private void Append(HttpContext context, string name, string path, byte[] key, SessionGrant grant, SameSiteMode sameSite)
    {
        var payload = JsonSerializer.SerializeToUtf8Bytes(grant, SessionJsonContext.Default.SessionGrant);
        var value = Base64Url(payload) + "." + Base64Url(HMACSHA256.HashData(key, payload));
        context.Response.Cookies.Append(name, value, new CookieOptions
        {
            HttpOnly = true,
            Path = path,
            SameSite = sameSite,
            Secure = context.Request.IsHttps || sameSite == SameSiteMode.None,
            Expires = DateTimeOffset.FromUnixTimeSeconds(grant.Exp),
            IsEssential = true,
        });
    }

    private AuthResult Validate(string value, byte[] key)
    {
        var dot = value.IndexOf('.', StringComparison.Ordinal);
        if (dot <= 0 || value.Length > 8192)
        {
            return AuthResult.Fail("the session cookie is malformed");
        }

        byte[] payload;
        byte[] signature;
        try
        {
            payload = Convert.FromBase64String(Pad(value[..dot]));
            signature = Convert.FromBase64String(Pad(value[(dot + 1)..]));
        }
        catch (FormatException)
        {
            return AuthResult.Fail("the session cookie is malformed");
        }

        if (!CryptographicOperations.FixedTimeEquals(signature, HMACSHA256.HashData(key, payload)))
        {
            return AuthResult.Fail("the session cookie's signature is invalid");
        }

        var grant = JsonSerializer.Deserialize(payload, SessionJsonContext.Default.SessionGrant);
        if (grant is null || DateTimeOffset.FromUnixTimeSeconds(grant.Exp) <= _time.GetUtcNow())
        {
            return AuthResult.Fail("the session has expired");
        }

        return AuthResult.Ok(new Caller(CallerKind.SessionCookie, grant.Sub, grant.Roles, grant.Topics, DateTimeOffset.FromUnixTimeSeconds(grant.Exp), "user:" + grant.Sub));
    }

    private static string Base64Url(byte[] bytes) => Convert.ToBase64String(bytes).TrimEnd('=').Replace('+', '-').Replace('/', '_');

    private static string Pad(string base64Url)
    {
        var s = base64Url.Replace('-', '+').Replace('_', '/');
        return s.PadRight(s.Length + (4 - s.Length % 4) % 4, '=');
    }
}

/// <summary>What a session cookie or a ticket grants: the user, roles, topics and expiry of the original token.</summary>
internal sealed record SessionGrant(string Sub, IReadOnlyList<string> Roles, IReadOnlyList<string> Topics, long Exp);

[JsonSerializable(typeof(SessionGrant))]
internal sealed partial class SessionJsonContext : JsonSerializerContext;
