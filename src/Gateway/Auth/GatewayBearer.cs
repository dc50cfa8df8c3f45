using System.Security.Cryptography;
using System.Text;
using Microsoft.AspNetCore.Authentication.JwtBearer;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Microsoft.IdentityModel.Tokens;

namespace SseCluster.Gateway.Auth;

/// <summary>
/// The bearer-token setup: <see cref="JwtBearerOptions"/> named <see cref="Scheme"/>, built from <see cref="AuthOptions"/>.
/// <para>
/// JwtBearer owns the identity provider's options and its <c>ConfigurationManager</c> (OIDC discovery, JWKS, refresh
/// intervals, the HTTPS rule for metadata), so a host app can adjust them the usual way, e.g. a proxy's
/// <c>BackchannelHttpHandler</c> with <c>services.PostConfigure&lt;JwtBearerOptions&gt;("SseCluster", …)</c>, or use the
/// same named options in its own <c>AddJwtBearer("SseCluster")</c>. The gateway registers no authentication scheme and
/// does not run the JwtBearer handler: a registered scheme would become the app's default, and ASP.NET Core would then
/// add its authentication middleware and validate every request's header a second time. <see cref="TokenValidator"/>
/// validates with these options' parameters and configuration manager instead, because tokens also arrive in the
/// <c>access_token</c> query and at <c>/sse/tickets</c>, a validated token is remembered until it expires (the main cost
/// of a publish), and a token naming a new <c>kid</c> waits for the refreshed keys rather than failing once — a 401 ends
/// a browser's EventSource for good.
/// </para>
/// </summary>
internal static class GatewayBearer
{
    /// <summary>The name of the gateway's <see cref="JwtBearerOptions"/>.</summary>
    public const string Scheme = "SseCluster";

    public static IServiceCollection AddGatewayBearer(this IServiceCollection services)
    {
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IPostConfigureOptions<JwtBearerOptions>, JwtBearerPostConfigureOptions>());
        services.AddOptions<JwtBearerOptions>(Scheme).Configure<IOptions<AuthOptions>>((bearer, auth) => Configure(bearer, auth.Value));
        services.AddSingleton(sp => new TokenValidator(
            sp.GetRequiredService<IOptions<AuthOptions>>(),
            sp.GetRequiredService<TimeProvider>(),
            sp.GetRequiredService<IOptionsMonitor<JwtBearerOptions>>().Get(Scheme),
            sp.GetRequiredService<ILogger<TokenValidator>>()));
        return services;
    }

    /// <summary>Fills <paramref name="bearer"/> from <paramref name="auth"/>; JwtBearer's post-configuration then creates the configuration manager.</summary>
    public static void Configure(JwtBearerOptions bearer, AuthOptions auth)
    {
        bearer.Authority = NullIfEmpty(auth.Authority);
        bearer.MetadataAddress = NullIfEmpty(auth.MetadataAddress)!;
        bearer.RequireHttpsMetadata = auth.RequireHttpsMetadata;
        bearer.RefreshInterval = TimeSpan.FromSeconds(Math.Max(1, auth.MetadataRefreshSeconds));
        bearer.RefreshOnIssuerKeyNotFound = true;
        bearer.MapInboundClaims = false;
        bearer.Audience = NullIfEmpty(auth.Audience);
        bearer.TokenValidationParameters = Parameters(auth);
    }

    /// <summary>The checks every token passes; keys from the provider's metadata are added per configuration.</summary>
    public static TokenValidationParameters Parameters(AuthOptions auth)
    {
        var keys = new List<SecurityKey>();
        var algorithms = new List<string>();
        if (!string.IsNullOrEmpty(auth.SigningKey))
        {
            keys.Add(new SymmetricSecurityKey(Encoding.UTF8.GetBytes(auth.SigningKey)));
            algorithms.Add(SecurityAlgorithms.HmacSha256);
        }

        if (!string.IsNullOrEmpty(auth.PublicKeyPem))
        {
            keys.Add(LoadPublicKey(auth.PublicKeyPem));
        }

        if (!string.IsNullOrEmpty(auth.PublicKeyPem) || HasMetadata(auth))
        {
            algorithms.Add(SecurityAlgorithms.RsaSha256);
            algorithms.Add(SecurityAlgorithms.EcdsaSha256);
        }

        return new TokenValidationParameters
        {
            IssuerSigningKeys = keys,
            ValidAlgorithms = algorithms,
            ValidateIssuerSigningKey = true,
            RequireSignedTokens = true,
            RequireExpirationTime = true,
            ValidateLifetime = true,
            ClockSkew = TimeSpan.FromSeconds(auth.ClockSkewSeconds),
            ValidateIssuer = !string.IsNullOrEmpty(auth.Issuer) || HasMetadata(auth),
            ValidIssuer = NullIfEmpty(auth.Issuer),
            ValidateAudience = !string.IsNullOrEmpty(auth.Audience),
            ValidAudience = NullIfEmpty(auth.Audience),
            NameClaimType = auth.UserIdClaim,
            RoleClaimType = auth.EffectiveRoleClaims[0],
        };
    }

    public static bool HasMetadata(AuthOptions auth) => !string.IsNullOrEmpty(auth.Authority) || !string.IsNullOrEmpty(auth.MetadataAddress);

    /// <summary>An RSA (RS256) or EC (ES256) public key from PEM; both kinds use the label <c>PUBLIC KEY</c>, so RSA is tried first.</summary>
    /// <exception cref="ArgumentException">The text holds no PEM key.</exception>
    /// <exception cref="CryptographicException">The key is neither RSA nor EC.</exception>
    public static SecurityKey LoadPublicKey(string pem)
    {
        var rsa = RSA.Create();
        try
        {
            rsa.ImportFromPem(pem);
            return new RsaSecurityKey(rsa);
        }
        catch (Exception ex) when (ex is CryptographicException or ArgumentException)
        {
            rsa.Dispose(); // not RSA: EC, or no key at all (then ECDsa says so)
        }

        var ec = ECDsa.Create();
        try
        {
            ec.ImportFromPem(pem);
            return new ECDsaSecurityKey(ec);
        }
        catch
        {
            ec.Dispose();
            throw;
        }
    }

    private static string? NullIfEmpty(string? value) => string.IsNullOrEmpty(value) ? null : value;
}
