using System.Collections.Concurrent;
using System.Security.Claims;
using System.Text.Json;
using Microsoft.AspNetCore.Authentication.JwtBearer;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using Microsoft.IdentityModel.JsonWebTokens;
using Microsoft.IdentityModel.Protocols;
using Microsoft.IdentityModel.Protocols.OpenIdConnect;
using Microsoft.IdentityModel.Tokens;

namespace SseCluster.Gateway.Auth;

/// <summary>
/// Validates bearer JWTs: HS256 with the configured secret; RS256 or ES256 with a static public key or the keys an
/// identity provider publishes (OIDC discovery and JWKS, see <see cref="GatewayBearer"/>); issuer, audience and
/// lifetime checked; unsigned tokens (<c>alg: none</c>), other algorithms and tokens naming critical header extensions
/// (<c>crit</c>, none of which the gateway implements) refused.
/// <para>
/// A token naming a <c>kid</c> no known key has asks the provider's metadata to be read again — at most once per
/// <c>MetadataRefreshSeconds</c> — and waits for it, so the first token signed with a rotated key is accepted rather
/// than answered 401, which would end a browser's EventSource.
/// </para>
/// <para>
/// A token that validated is remembered until it expires: a service publishing with one token sends it with every
/// request, and checking its signature and claims again each time was the largest cost of a publish. Only valid
/// tokens are remembered (a flood of bad ones costs what it always did), and at most <see cref="MaxRemembered"/>.
/// A key the provider withdraws therefore stops tokens the gateway has not seen yet, not those it already accepted.
/// </para>
/// </summary>
internal sealed partial class TokenValidator
{
    /// <summary>Valid tokens remembered at most; past that the memory starts over.</summary>
    public const int MaxRemembered = 4096;

    private const int MaxRememberedLength = 4096;

    // How long a token with an unknown kid waits for the provider's keys to be read again.
    private static readonly TimeSpan RefreshWait = TimeSpan.FromSeconds(5);

    private readonly JsonWebTokenHandler _handler = new() { MapInboundClaims = false };
    private readonly ConcurrentDictionary<string, Caller> _valid = new(StringComparer.Ordinal);
    private readonly TimeProvider _time;
    private readonly AuthOptions _options;
    private readonly TokenValidationParameters _parameters;
    private readonly IConfigurationManager<OpenIdConnectConfiguration>? _metadata;
    private readonly string? _metadataAddress;
    private readonly TimeSpan _refreshInterval;
    private readonly ILogger _logger;
    private readonly Lock _refreshLock = new();
    private DateTimeOffset _lastRefresh = DateTimeOffset.MinValue;
    private Task<OpenIdConnectConfiguration?>? _refreshing;
    private ParametersWithMetadata? _withMetadata;
    private int _metadataFailing;

    /// <summary>Creates a validator; <paramref name="bearer"/> (post-configured, see <see cref="GatewayBearer"/>) brings the provider's configuration manager.</summary>
    public TokenValidator(IOptions<AuthOptions> options, TimeProvider time, JwtBearerOptions? bearer = null, ILogger<TokenValidator>? logger = null)
    {
        _options = options.Value;
        _time = time;
        _logger = logger ?? NullLogger<TokenValidator>.Instance;
        if (bearer is null)
        {
            bearer = new JwtBearerOptions();
            GatewayBearer.Configure(bearer, _options);
        }

        _parameters = bearer.TokenValidationParameters;
        _metadata = bearer.ConfigurationManager;
        _metadataAddress = bearer.MetadataAddress;
        _refreshInterval = bearer.RefreshInterval;
    }

    /// <summary>
    /// Checks <paramref name="token"/>. A refused token's result has <see cref="AuthResult.TokenRefused"/> set; when the
    /// provider's keys cannot be read and the token needs them, the result is <see cref="AuthResult.Unavailable"/>.
    /// </summary>
    public async Task<AuthResult> ValidateAsync(string token, CallerKind kind, CancellationToken cancellationToken = default)
    {
        if (token.Length > 8192)
        {
            return AuthResult.Refused("the token is too long");
        }

        if (_valid.TryGetValue(token, out var known))
        {
            if (known.ExpiresAt > _time.GetUtcNow())
            {
                return AuthResult.Ok(known.Kind == kind ? known : known with { Kind = kind });
            }

            _valid.TryRemove(token, out _); // expired: validated again below, which says so
        }

        JsonWebToken jwt;
        try
        {
            jwt = _handler.ReadJsonWebToken(token);
        }
        catch (Exception ex) when (ex is ArgumentException or SecurityTokenException)
        {
            return AuthResult.Refused("the token is malformed");
        }

        // RFC 7515 §4.1.11: a recipient that does not understand every extension listed in crit must refuse the token.
        if (jwt.TryGetHeaderValue<object>("crit", out _))
        {
            return AuthResult.Refused("the token names critical header extensions (crit) the gateway does not implement");
        }

        if (jwt.IsEncrypted)
        {
            return AuthResult.Refused("encrypted tokens (JWE) are not accepted");
        }

        if (string.Equals(jwt.Alg, "none", StringComparison.OrdinalIgnoreCase) || string.IsNullOrEmpty(jwt.EncodedSignature))
        {
            return AuthResult.Refused("unsigned tokens (alg none) are not accepted");
        }

        var configuration = await MetadataAsync(cancellationToken);
        var result = await _handler.ValidateTokenAsync(jwt, ParametersFor(configuration));
        if (!result.IsValid && result.Exception is SecurityTokenSignatureKeyNotFoundException && _metadata is not null && !string.IsNullOrEmpty(jwt.Kid)
            && await RefreshAsync(configuration, cancellationToken) is { } refreshed && !ReferenceEquals(refreshed, configuration))
        {
            configuration = refreshed;
            result = await _handler.ValidateTokenAsync(jwt, ParametersFor(configuration));
        }

        if (!result.IsValid)
        {
            if (configuration is null && _metadata is not null && !string.Equals(jwt.Alg, SecurityAlgorithms.HmacSha256, StringComparison.Ordinal))
            {
                return AuthResult.TryLater("the identity provider's signing keys cannot be read right now");
            }

            return AuthResult.Refused(Describe(result.Exception, jwt));
        }

        var identity = result.ClaimsIdentity;
        var userId = identity.FindFirst(_options.UserIdClaim)?.Value;
        if (string.IsNullOrEmpty(userId) || !Contracts.Identifiers.IsValidUserId(userId))
        {
            return AuthResult.Refused($"the token has no valid '{_options.UserIdClaim}' claim");
        }

        var roles = _options.EffectiveRoleClaims.SelectMany(claim => Values(jwt, identity, claim) ?? []).Distinct(StringComparer.Ordinal).ToList();
        IReadOnlyList<string> topics = Values(jwt, identity, _options.TopicsClaim)?.ToList() ?? _options.DefaultTopics;
        var expires = new DateTimeOffset(jwt.ValidTo, TimeSpan.Zero);
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

    private static string Describe(Exception? exception, JsonWebToken jwt) => exception switch
    {
        SecurityTokenExpiredException => "the token has expired",
        SecurityTokenNotYetValidException => "the token is not valid yet",
        SecurityTokenNoExpirationException => "the token has no expiry (exp)",
        SecurityTokenInvalidAudienceException => "the token's audience is not accepted",
        SecurityTokenInvalidIssuerException => "the token's issuer is not accepted",
        SecurityTokenInvalidAlgorithmException => "the token's algorithm is not accepted",
        SecurityTokenSignatureKeyNotFoundException when !string.IsNullOrEmpty(jwt.Kid) => "the token's signing key (kid) is not known",
        SecurityTokenSignatureKeyNotFoundException or SecurityTokenInvalidSignatureException => "the token's signature is invalid",
        _ => "the token is invalid",
    };

    /// <summary>The provider's current configuration; null without a provider or while it cannot be read (logged once, and its recovery once).</summary>
    private async Task<OpenIdConnectConfiguration?> MetadataAsync(CancellationToken cancellationToken)
    {
        if (_metadata is null)
        {
            return null;
        }

        try
        {
            var configuration = await _metadata.GetConfigurationAsync(cancellationToken);
            if (Interlocked.Exchange(ref _metadataFailing, 0) == 1)
            {
                Log.MetadataRecovered(_logger, _metadataAddress);
            }

            return configuration;
        }
        catch (Exception ex) when (ex is InvalidOperationException or HttpRequestException or IOException)
        {
            if (Interlocked.Exchange(ref _metadataFailing, 1) == 0)
            {
                Log.MetadataUnavailable(_logger, _metadataAddress, ex.Message);
            }

            return null;
        }
    }

    /// <summary>
    /// Asks for the provider's metadata to be read again, unless that was asked less than the refresh interval ago, and
    /// waits (at most <see cref="RefreshWait"/>) for a configuration other than <paramref name="seen"/>. Concurrent
    /// callers share one wait. Null when rate-limited.
    /// </summary>
    private async Task<OpenIdConnectConfiguration?> RefreshAsync(OpenIdConnectConfiguration? seen, CancellationToken cancellationToken)
    {
        Task<OpenIdConnectConfiguration?> refreshing;
        lock (_refreshLock)
        {
            if (_refreshing is not { IsCompleted: false })
            {
                if (_time.GetUtcNow() < _lastRefresh + _refreshInterval)
                {
                    return null;
                }

                _metadata!.RequestRefresh();
                // Taken after the manager's own clock reading, so this gate never opens before the manager's does.
                _lastRefresh = _time.GetUtcNow();
                _refreshing = WaitForNewConfigurationAsync(seen);
            }

            refreshing = _refreshing;
        }

        return await refreshing.WaitAsync(cancellationToken);
    }

    // Shared by every waiting request, so no single request's token cancels it. The manager may refresh in the
    // background (IdentityModel's default), which is why this polls rather than awaiting one call.
    private async Task<OpenIdConnectConfiguration?> WaitForNewConfigurationAsync(OpenIdConnectConfiguration? seen)
    {
        var deadline = _time.GetUtcNow() + RefreshWait;
        while (true)
        {
            var current = await MetadataAsync(CancellationToken.None);
            if (current is not null && !ReferenceEquals(current, seen))
            {
                Log.KeysRefreshed(_logger, _metadataAddress, current.SigningKeys.Count);
                return current;
            }

            if (_time.GetUtcNow() >= deadline)
            {
                return current;
            }

            await Task.Delay(TimeSpan.FromMilliseconds(20), _time);
        }
    }

    /// <summary>The static parameters, plus the provider's keys and issuer when there is a configuration (built once per configuration).</summary>
    private TokenValidationParameters ParametersFor(OpenIdConnectConfiguration? configuration)
    {
        if (configuration is null)
        {
            return _parameters;
        }

        if (_withMetadata is { } cached && ReferenceEquals(cached.Configuration, configuration))
        {
            return cached.Parameters;
        }

        var parameters = _parameters.Clone();
        parameters.IssuerSigningKeys = [.. _parameters.IssuerSigningKeys ?? [], .. configuration.SigningKeys];
        if (!string.IsNullOrEmpty(configuration.Issuer))
        {
            parameters.ValidIssuers = [.. _parameters.ValidIssuer is { Length: > 0 } issuer ? [issuer] : Array.Empty<string>(), configuration.Issuer];
            parameters.ValidIssuer = null;
        }

        _withMetadata = new ParametersWithMetadata(configuration, parameters);
        return parameters;
    }

    /// <summary>
    /// A claim's values, or null when the token does not have the claim. A value may be repeated, a JSON array, or one
    /// string of space- or comma-separated values; a dotted name (<c>realm_access.roles</c>) reads into a JSON object
    /// when the token has no claim of that exact name.
    /// </summary>
    private static IEnumerable<string>? Values(JsonWebToken jwt, ClaimsIdentity identity, string type)
    {
        if (jwt.TryGetPayloadValue<object>(type, out _))
        {
            return Split(identity.FindAll(type).Where(c => c.ValueType != JsonClaimValueTypes.Json).Select(c => c.Value));
        }

        var dot = type.IndexOf('.', StringComparison.Ordinal);
        if (dot <= 0)
        {
            return null;
        }

        List<string>? found = null;
        foreach (var claim in identity.FindAll(type[..dot]).Where(c => c.ValueType == JsonClaimValueTypes.Json))
        {
            try
            {
                using var document = JsonDocument.Parse(claim.Value);
                if (Walk(document.RootElement, type[(dot + 1)..]) is { } element)
                {
                    found ??= [];
                    found.AddRange(element.ValueKind == JsonValueKind.Array
                        ? element.EnumerateArray().Where(e => e.ValueKind == JsonValueKind.String).Select(e => e.GetString()!)
                        : element.ValueKind == JsonValueKind.String ? [element.GetString()!] : []);
                }
            }
            catch (JsonException)
            {
                // Not an object this path can read: as if absent.
            }
        }

        return found is null ? null : Split(found);
    }

    private static JsonElement? Walk(JsonElement element, string path)
    {
        foreach (var segment in path.Split('.'))
        {
            if (element.ValueKind != JsonValueKind.Object || !element.TryGetProperty(segment, out element))
            {
                return null;
            }
        }

        return element;
    }

    private static IEnumerable<string> Split(IEnumerable<string> values) =>
        values.SelectMany(v => v.Split([' ', ','], StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries));

    private sealed record ParametersWithMetadata(OpenIdConnectConfiguration Configuration, TokenValidationParameters Parameters);

    private static partial class Log
    {
        [LoggerMessage(90, LogLevel.Warning, "The identity provider's metadata at {MetadataAddress} cannot be read ({Reason}); tokens signed with its keys are refused until it can")]
        public static partial void MetadataUnavailable(ILogger logger, string? metadataAddress, string reason);

        [LoggerMessage(91, LogLevel.Information, "The identity provider's metadata at {MetadataAddress} can be read again")]
        public static partial void MetadataRecovered(ILogger logger, string? metadataAddress);

        [LoggerMessage(92, LogLevel.Information, "A token named an unknown signing key: the identity provider's metadata at {MetadataAddress} was read again ({KeyCount} keys)")]
        public static partial void KeysRefreshed(ILogger logger, string? metadataAddress, int keyCount);
    }
}
