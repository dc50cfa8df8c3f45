using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Options;

namespace SseCluster.Gateway.Hosting;

/// <summary>
/// Whether <c>POST /dev/token</c> is served: in the Development environment only (unless
/// <c>SseCluster:Auth:DevTokens</c> is false), with an HS256 key to sign with. Where it may not be on at all,
/// <see cref="StartupSafetyValidator"/> stops the start instead.
/// </summary>
internal sealed class DevTokenPolicy(IHostEnvironment environment, IOptions<AuthOptions> auth)
{
    public bool IsOn => IsRequested(environment, auth.Value) && auth.Value.SigningKey is { Length: > 0 };

    /// <summary>Asked for explicitly, or by default in Development.</summary>
    public static bool IsRequested(IHostEnvironment environment, AuthOptions auth) =>
        auth.DevTokens ?? environment.IsDevelopment();
}

/// <summary>
/// In Development without a configured key (neither <c>SigningKey</c> nor <c>PublicKeyPem</c>), signs with this
/// machine's development key, made on first use (<see cref="DevelopmentSigningKey"/>). Never outside Development.
/// </summary>
internal sealed class DevelopmentKeyFallback(IHostEnvironment environment) : IPostConfigureOptions<AuthOptions>
{
    public void PostConfigure(string? name, AuthOptions options)
    {
        if (environment.IsDevelopment() && string.IsNullOrEmpty(options.SigningKey) && string.IsNullOrEmpty(options.PublicKeyPem))
        {
            options.SigningKey = DevelopmentSigningKey.LoadOrCreate();
        }
    }
}

/// <summary>
/// Refuses a start that could hand an outsider a valid token: dev tokens outside Development or on a listen address
/// that is not loopback, and a development key (public or made on a developer's machine) outside Development.
/// </summary>
internal sealed class StartupSafetyValidator(IHostEnvironment environment, IConfiguration configuration) : IValidateOptions<AuthOptions>
{
    public ValidateOptionsResult Validate(string? name, AuthOptions options)
    {
        var errors = new List<string>();
        var development = environment.IsDevelopment();
        if (options.DevTokens == true && !development)
        {
            errors.Add($"SseCluster:Auth:DevTokens is true in the '{environment.EnvironmentName}' environment: POST /dev/token signs a token " +
                       "for any user and role, so it is served in Development only; remove the setting");
        }

        if (DevTokenPolicy.IsRequested(environment, options))
        {
            var exposed = ListenAddresses.Configured(configuration).Where(a => !ListenAddresses.IsLoopback(a)).ToList();
            if (exposed.Count > 0)
            {
                errors.Add($"SseCluster:Auth:DevTokens: dev tokens are on{(development && options.DevTokens is null ? " (the Development default)" : "")} " +
                           $"and the gateway would listen on {string.Join(", ", exposed)}, which is not loopback; anyone who reaches it could " +
                           "mint an admin token. Listen on 127.0.0.1, [::1] or localhost only, or set SseCluster:Auth:DevTokens=false");
            }

            if (options.DevTokens == true && string.IsNullOrEmpty(options.SigningKey))
            {
                errors.Add("SseCluster:Auth:DevTokens needs SseCluster:Auth:SigningKey (dev tokens are signed with HS256)");
            }
        }

        if (!development)
        {
            foreach (var (key, value) in new[] { ("SigningKey", options.SigningKey), ("SessionKey", options.SessionKey) })
            {
                if (DevelopmentSigningKey.IsKnown(value))
                {
                    errors.Add($"SseCluster:Auth:{key} is a development key ({(value == DevelopmentSigningKey.FormerlyCommitted ? "the one once published in appsettings.Development.json" : $"this machine's, from {DevelopmentSigningKey.FilePath}")}) " +
                               $"in the '{environment.EnvironmentName}' environment: anyone who has it can sign tokens. Set a secret of your own (at least 32 random bytes, from a secret store)");
                }
            }
        }

        return errors.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(errors);
    }
}
