using System.Security.Claims;
using System.Security.Cryptography;
using System.Text;
using Microsoft.Extensions.Options;
using Microsoft.IdentityModel.JsonWebTokens;
using Microsoft.IdentityModel.Tokens;

namespace SseCluster.Gateway.Auth;

/// <summary>
/// Validates bearer JWTs: HS256 with the configured secret or RS256 with the configured public key; issuer, audience
/// and lifetime checked; unsigned tokens (<c>alg: none</c>) and any other algorithm refused.
/// <para>
/// A token that validated is remembered until it expires: a service publishing with one token sends it with every
/// request, and checking its signature and claims again each time was the largest cost of a publish. Only valid
/// tokens are remembered (a flood of bad ones costs what it always did), and at most <see cref="MaxRemembered"/>.
/// </para>
/// </summary>
internal sealed class TokenValidator
{
    /// <summary>Valid tokens remembered at most; past that the memory starts over.</summary>
    public const int MaxRemembered = 4096;

    private const int MaxRememberedLength = 4096;

    private readonly JsonWebTokenHandler _handler = new() { MapInboundClaims = false };
    private readonly System.Collections.Concurrent.ConcurrentDictionary<string, Caller> _valid = new(StringComparer.Ordinal);
    private readonly TimeProvider _time;
    private readonly TokenValidationParameters _parameters;
    private readonly AuthOptions _options;

    public TokenValidator(IOptions<AuthOptions> options, TimeProvider time)
    {
        _options = options.Value;
        _time = time;
        var keys = new List<SecurityKey>();
        var algorithms = new List<string>();
        if (!string.IsNullOrEmpty(_options.SigningKey))
        {
            keys.Add(new SymmetricSecurityKey(Encoding.UTF8.GetBytes(_options.SigningKey)));
            algorithms.Add(SecurityAlgorithms.HmacSha256);
        }

        if (!string.IsNullOrEmpty(_options.PublicKeyPem))
        {
            var rsa = RSA.Create();
            rsa.ImportFromPem(_options.PublicKeyPem);
            keys.Add(new RsaSecurityKey(rsa));
            algorithms.Add(SecurityAlgorithms.RsaSha256);
        }

        _parameters = new TokenValidationParameters
        {
            IssuerSigningKeys = keys,
            ValidAlgorithms = algorithms,
            ValidateIssuerSigningKey = true,
            RequireSignedTokens = true,
            RequireExpirationTime = true,
            ValidateLifetime = true,
            ClockSkew = TimeSpan.FromSeconds(_options.ClockSkewSeconds),
            ValidateIssuer = !string.IsNullOrEmpty(_options.Issuer),
            ValidIssuer = _options.Issuer,
            ValidateAudience = !string.IsNullOrEmpty(_options.Audience),
            ValidAudience = _options.Audience,
            NameClaimType = "sub",
            RoleClaimType = "role",
        };
    }

    public async Task<AuthResult> ValidateAsync(string token, CallerKind kind)
    {
        if (token.Length > 8192)
        {
            return AuthResult.Fail("the token is too long");
        }

        if (_valid.TryGetValue(token, out var known))
        {
            if (known.ExpiresAt > _time.GetUtcNow())
            {
                return AuthResult.Ok(known.Kind == kind ? known : known with { Kind = kind });
            }

            _valid.TryRemove(token, out _); // expired: validated again below, which says so
        }

        var result = await _handler.ValidateTokenAsync(token, _parameters);
        if (!result.IsValid)
        {
            return AuthResult.Fail(result.Exception switch
            {
                SecurityTokenExpiredException => "the token has expired",
                SecurityTokenInvalidAudienceException => "the token's audience is not accepted",
                SecurityTokenInvalidIssuerException => "the token's issuer is not accepted",
                SecurityTokenInvalidAlgorithmException => "the token's algorithm is not accepted",
                SecurityTokenSignatureKeyNotFoundException or SecurityTokenInvalidSignatureException => "the token's signature is invalid",
                _ => "the token is invalid",
            });
        }

        var identity = result.ClaimsIdentity;
        var userId = identity.FindFirst("sub")?.Value;
        if (string.IsNullOrEmpty(userId) || !Contracts.Identifiers.IsValidUserId(userId))
        {
            return AuthResult.Fail("the token has no valid 'sub' claim");
        }

        var roles = Values(identity, "role").Concat(Values(identity, "roles")).Distinct(StringComparer.Ordinal).ToList();
        var topics = Values(identity, _options.TopicsClaim).ToList();
        var expires = result.SecurityToken is JsonWebToken jwt ? new DateTimeOffset(jwt.ValidTo, TimeSpan.Zero) : (DateTimeOffset?)null;
        var caller = new Caller(kind, userId, roles, topics, expires, "user:" + userId);
        if (expires > _time.GetUtcNow() && token.Length <= MaxRememberedLength)
        {
            if (_valid.Count >= MaxRemembered)
            {
                _valid.Clear();
            }

            _valid[token] = caller;
        }

        return AuthResult.Ok(caller);
    }

    // A claim may be repeated, a JSON array, or one string of space- or comma-separated values.
    private static IEnumerable<string> Values(ClaimsIdentity identity, string type) =>
        identity.FindAll(type).SelectMany(c => c.Value.Split([' ', ','], StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries));
}
