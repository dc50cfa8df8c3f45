using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.IdentityModel.JsonWebTokens;
using Microsoft.IdentityModel.Tokens;

namespace SseCluster.TestSupport;

/// <summary>
/// A small OpenID Connect provider on a loopback port (real Kestrel): <c>/.well-known/openid-configuration</c> and a
/// JWKS whose keys a test adds and removes while gateways run. It signs tokens with any key it made, published or not.
/// </summary>
public sealed class OidcTestServer : IAsyncDisposable
{
    private readonly WebApplication _app;
    private readonly Dictionary<string, SecurityKey> _keys = [];
    private readonly List<string> _published = [];
    private readonly Lock _lock = new();
    private int _jwksRequests;

    private OidcTestServer(WebApplication app, string issuer)
    {
        _app = app;
        Issuer = issuer;
    }

    /// <summary>The issuer, which is also the authority: <c>http://127.0.0.1:PORT/realms/test</c>.</summary>
    public string Issuer { get; }

    /// <summary>How many times the JWKS was read.</summary>
    public int JwksRequests => Volatile.Read(ref _jwksRequests);

    public static async Task<OidcTestServer> StartAsync()
    {
        var builder = WebApplication.CreateSlimBuilder(new WebApplicationOptions { Args = [] });
        builder.Logging.ClearProviders();
        builder.WebHost.UseUrls("http://127.0.0.1:0");
        var app = builder.Build();
        OidcTestServer? server = null;
        app.MapGet("/realms/test/.well-known/openid-configuration", () => Results.Text(server!.Discovery(), "application/json"));
        app.MapGet("/realms/test/protocol/openid-connect/certs", () =>
        {
            Interlocked.Increment(ref server!._jwksRequests);
            return Results.Text(server.Jwks(), "application/json");
        });
        await app.StartAsync();
        var address = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First().TrimEnd('/');
        server = new OidcTestServer(app, address + "/realms/test");
        return server;
    }

    /// <summary>Makes an RS256 key named <paramref name="kid"/>; <paramref name="publish"/> puts it in the JWKS.</summary>
    public void AddRsaKey(string kid, bool publish = true) => Add(kid, new RsaSecurityKey(RSA.Create(2048)) { KeyId = kid }, publish);

    /// <summary>Makes an ES256 (P-256) key named <paramref name="kid"/>; <paramref name="publish"/> puts it in the JWKS.</summary>
    public void AddEcKey(string kid, bool publish = true) => Add(kid, new ECDsaSecurityKey(ECDsa.Create(ECCurve.NamedCurves.nistP256)) { KeyId = kid }, publish);

    /// <summary>Takes the key out of the JWKS; it can still sign.</summary>
    public void Unpublish(string kid)
    {
        lock (_lock)
        {
            _published.Remove(kid);
        }
    }

    /// <summary>The public key of <paramref name="kid"/> as PEM (SubjectPublicKeyInfo).</summary>
    public string PublicKeyPem(string kid) => Key(kid) switch
    {
        RsaSecurityKey rsa => rsa.Rsa.ExportSubjectPublicKeyInfoPem(),
        ECDsaSecurityKey ec => ec.ECDsa.ExportSubjectPublicKeyInfoPem(),
        _ => throw new InvalidOperationException(kid),
    };

    /// <summary>
    /// A token signed with <paramref name="kid"/>: issuer <see cref="Issuer"/> unless given, the claims as given (no
    /// <c>sub</c> or <c>topics</c> unless in <paramref name="claims"/>), extra header parameters if any.
    /// </summary>
    public string Token(
        string kid,
        IDictionary<string, object> claims,
        string audience = "sse-cluster",
        string? issuer = null,
        TimeSpan? lifetime = null,
        IDictionary<string, object>? header = null)
    {
        var key = Key(kid);
        var now = DateTime.UtcNow;
        var expires = now + (lifetime ?? TimeSpan.FromHours(1));
        var issued = expires > now ? now.AddSeconds(-1) : expires.AddMinutes(-5);
        return new JsonWebTokenHandler().CreateToken(new SecurityTokenDescriptor
        {
            Issuer = issuer ?? Issuer,
            Audience = audience,
            Claims = claims,
            IssuedAt = issued,
            NotBefore = issued,
            Expires = expires,
            AdditionalHeaderClaims = header,
            SigningCredentials = new SigningCredentials(key, key is RsaSecurityKey ? SecurityAlgorithms.RsaSha256 : SecurityAlgorithms.EcdsaSha256),
        });
    }

    public async ValueTask DisposeAsync()
    {
        await _app.StopAsync();
        await _app.DisposeAsync();
    }

    private void Add(string kid, SecurityKey key, bool publish)
    {
        lock (_lock)
        {
            _keys[kid] = key;
            if (publish)
            {
                _published.Add(kid);
            }
        }
    }

    private SecurityKey Key(string kid)
    {
        lock (_lock)
        {
            return _keys[kid];
        }
    }

    private string Discovery() => JsonSerializer.Serialize(new Dictionary<string, object>
    {
        ["issuer"] = Issuer,
        ["jwks_uri"] = Issuer + "/protocol/openid-connect/certs",
        ["authorization_endpoint"] = Issuer + "/protocol/openid-connect/auth",
        ["token_endpoint"] = Issuer + "/protocol/openid-connect/token",
        ["id_token_signing_alg_values_supported"] = new[] { "RS256", "ES256" },
        ["response_types_supported"] = new[] { "code" },
        ["subject_types_supported"] = new[] { "public" },
    });

    private string Jwks()
    {
        var keys = new List<Dictionary<string, string>>();
        lock (_lock)
        {
            foreach (var kid in _published)
            {
                switch (_keys[kid])
                {
                    case RsaSecurityKey rsa:
                        var p = rsa.Rsa.ExportParameters(false);
                        keys.Add(new() { ["kty"] = "RSA", ["use"] = "sig", ["alg"] = "RS256", ["kid"] = kid, ["n"] = B64(p.Modulus!), ["e"] = B64(p.Exponent!) });
                        break;
                    case ECDsaSecurityKey ec:
                        var q = ec.ECDsa.ExportParameters(false).Q;
                        keys.Add(new() { ["kty"] = "EC", ["use"] = "sig", ["alg"] = "ES256", ["crv"] = "P-256", ["kid"] = kid, ["x"] = B64(q.X!), ["y"] = B64(q.Y!) });
                        break;
                }
            }
        }

        return JsonSerializer.Serialize(new { keys });
    }

    private static string B64(byte[] bytes) => Convert.ToBase64String(bytes).TrimEnd('=').Replace('+', '-').Replace('/', '_');

    /// <summary>A token with header <c>alg: none</c> and no signature, claiming what the caller wants.</summary>
    public string Unsigned(IDictionary<string, object> claims)
    {
        static string Part(object value) => B64(Encoding.UTF8.GetBytes(JsonSerializer.Serialize(value)));
        var payload = new Dictionary<string, object>(claims)
        {
            ["iss"] = Issuer,
            ["aud"] = "sse-cluster",
            ["exp"] = DateTimeOffset.UtcNow.AddHours(1).ToUnixTimeSeconds(),
        };
        return Part(new Dictionary<string, string> { ["alg"] = "none", ["typ"] = "JWT", ["kid"] = "none" }) + "." + Part(payload) + ".";
    }
}
