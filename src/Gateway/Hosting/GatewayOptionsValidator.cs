using System.Security.Cryptography;
using System.Text;
using Microsoft.Extensions.Options;

namespace SseCluster.Gateway.Hosting;

/// <summary>Cross-field checks of the gateway's options at start; each message names the key and the bad value.</summary>
internal sealed class AuthOptionsValidator : IValidateOptions<AuthOptions>
{
    public ValidateOptionsResult Validate(string? name, AuthOptions options)
    {
        var errors = new List<string>();
        if (string.IsNullOrEmpty(options.SigningKey) && string.IsNullOrEmpty(options.PublicKeyPem) && !Auth.GatewayBearer.HasMetadata(options))
        {
            errors.Add("SseCluster:Auth:SigningKey (HS256 secret), SseCluster:Auth:PublicKeyPem (RS256/ES256 public key) or SseCluster:Auth:Authority (OpenID Connect identity provider) is required");
        }

        CheckMetadataUrl(errors, "SseCluster:Auth:Authority", options.Authority, options.RequireHttpsMetadata);
        CheckMetadataUrl(errors, "SseCluster:Auth:MetadataAddress", options.MetadataAddress, options.RequireHttpsMetadata);
        if (options.MetadataRefreshSeconds is < 1 or > 86_400)
        {
            errors.Add($"SseCluster:Auth:MetadataRefreshSeconds must be between 1 and 86400 (it is {options.MetadataRefreshSeconds})");
        }

        if (string.IsNullOrWhiteSpace(options.UserIdClaim))
        {
            errors.Add("SseCluster:Auth:UserIdClaim must name a claim (default 'sub')");
        }

        if (string.IsNullOrWhiteSpace(options.TopicsClaim))
        {
            errors.Add("SseCluster:Auth:TopicsClaim must name a claim (default 'topics')");
        }

        if (options.RoleClaims.Any(string.IsNullOrWhiteSpace))
        {
            errors.Add("SseCluster:Auth:RoleClaims entries must name claims");
        }

        if (options.DefaultTopics.FirstOrDefault(t => t != "*" && !Contracts.Identifiers.IsValidTopic(t)) is { } badTopic)
        {
            errors.Add($"SseCluster:Auth:DefaultTopics entry '{badTopic}' is not '*' or a valid topic: {Contracts.Identifiers.TopicRule}");
        }

        if (options.SigningKey is { Length: > 0 } key && Encoding.UTF8.GetByteCount(key) < 32)
        {
            errors.Add($"SseCluster:Auth:SigningKey must be at least 32 bytes (it has {Encoding.UTF8.GetByteCount(key)})");
        }

        if (options.PublicKeyPem is { Length: > 0 } pem)
        {
            try
            {
                _ = Auth.GatewayBearer.LoadPublicKey(pem);
            }
            catch (Exception ex) when (ex is ArgumentException or CryptographicException)
            {
                errors.Add($"SseCluster:Auth:PublicKeyPem is not a PEM RSA or EC public key: {ex.Message}");
            }
        }

        if (options.TicketSeconds is < 1 or > 600)
        {
            errors.Add($"SseCluster:Auth:TicketSeconds must be between 1 and 600 (it is {options.TicketSeconds})");
        }

        if (options.ClockSkewSeconds is < 0 or > 600)
        {
            errors.Add($"SseCluster:Auth:ClockSkewSeconds must be between 0 and 600 (it is {options.ClockSkewSeconds})");
        }

        if (!Enum.TryParse<Microsoft.AspNetCore.Http.SameSiteMode>(options.SessionCookieSameSite, ignoreCase: true, out _))
        {
            errors.Add($"SseCluster:Auth:SessionCookieSameSite must be Strict, Lax or None (it is '{options.SessionCookieSameSite}')");
        }

        if (string.IsNullOrWhiteSpace(options.SessionCookieName) || options.SessionCookieName.Any(c => c is ';' or '=' or ',' || char.IsWhiteSpace(c)))
        {
            errors.Add($"SseCluster:Auth:SessionCookieName '{options.SessionCookieName}' is not a valid cookie name");
        }

        if (options.ApiKeys.Any(k => k.Length is > 0 and < 16))
        {
            errors.Add("SseCluster:Auth:ApiKeys entries must be at least 16 characters");
        }

        return errors.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(errors);
    }

    private static void CheckMetadataUrl(List<string> errors, string key, string? value, bool requireHttps)
    {
        if (string.IsNullOrEmpty(value))
        {
            return;
        }

        if (!Uri.TryCreate(value, UriKind.Absolute, out var uri) || uri.Scheme is not ("https" or "http") || !string.IsNullOrEmpty(uri.Query) || !string.IsNullOrEmpty(uri.Fragment))
        {
            errors.Add($"{key} must be an absolute https URL without query or fragment (it is '{value}')");
        }
        else if (requireHttps && uri.Scheme != "https")
        {
            errors.Add($"{key} must use https (it is '{value}'); set SseCluster:Auth:RequireHttpsMetadata to false only for a provider on this machine");
        }
    }
}
