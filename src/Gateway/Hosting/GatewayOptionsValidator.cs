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
        if (string.IsNullOrEmpty(options.SigningKey) && string.IsNullOrEmpty(options.PublicKeyPem))
        {
            errors.Add("SseCluster:Auth:SigningKey (HS256 secret) or SseCluster:Auth:PublicKeyPem (RS256 public key) is required");
        }

        if (options.SigningKey is { Length: > 0 } key && Encoding.UTF8.GetByteCount(key) < 32)
        {
            errors.Add($"SseCluster:Auth:SigningKey must be at least 32 bytes (it has {Encoding.UTF8.GetByteCount(key)})");
        }

        if (options.PublicKeyPem is { Length: > 0 } pem)
        {
            try
            {
                using var rsa = RSA.Create();
                rsa.ImportFromPem(pem);
            }
            catch (Exception ex) when (ex is ArgumentException or CryptographicException)
            {
                errors.Add($"SseCluster:Auth:PublicKeyPem is not a PEM RSA public key: {ex.Message}");
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
}
