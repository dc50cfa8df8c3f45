using System.Security.Cryptography;
using Microsoft.Extensions.Options;
using Microsoft.IdentityModel.JsonWebTokens;
using Microsoft.IdentityModel.Tokens;
using SseCluster.Gateway;
using SseCluster.Gateway.Auth;
using SseCluster.TestSupport;

namespace SseCluster.Tests;

/// <summary>The validator remembers tokens that validated; what it remembers must never outlive the token.</summary>
public sealed class TokenValidatorTests
{
    private static TokenValidator Validator(int clockSkewSeconds = 0) => new(
        Options.Create(new AuthOptions { SigningKey = GatewayHost.SigningKey, ClockSkewSeconds = clockSkewSeconds }),
        TimeProvider.System);

    [Fact]
    public async Task RememberedToken_IsRefusedOnceItExpires()
    {
        var validator = Validator();
        var token = Tokens.For("short-lived", roles: ["publisher"], lifetime: TimeSpan.FromSeconds(2));

        var first = await validator.ValidateAsync(token, CallerKind.Token);
        var second = await validator.ValidateAsync(token, CallerKind.Token);
        Assert.Equal("short-lived", first.Caller?.UserId);
        Assert.Equal(first.Caller, second.Caller);

        await Task.Delay(TimeSpan.FromSeconds(3));
        var late = await validator.ValidateAsync(token, CallerKind.Token);
        Assert.Null(late.Caller);
        Assert.Equal("the token has expired", late.Failure);
    }

    [Fact]
    public async Task RememberedToken_KeepsTheKindItIsPresentedAs()
    {
        var validator = Validator();
        var token = Tokens.For("kinds");
        Assert.Equal(CallerKind.Token, (await validator.ValidateAsync(token, CallerKind.Token)).Caller?.Kind);
        Assert.Equal(CallerKind.SessionCookie, (await validator.ValidateAsync(token, CallerKind.SessionCookie)).Caller?.Kind);
    }

    [Fact]
    public async Task BadToken_IsRefusedEveryTime()
    {
        var validator = Validator();
        var forged = Tokens.For("mallory", key: "another-signing-key-0123456789-0123456789-xyz");
        for (var i = 0; i < 3; i++)
        {
            var result = await validator.ValidateAsync(forged, CallerKind.Token);
            Assert.Null(result.Caller);
            Assert.Equal("the token's signature is invalid", result.Failure);
        }
    }

    [Theory]
    [InlineData("RSA")]
    [InlineData("EC")]
    public async Task StaticPublicKeyPem_RsaOrEc_VerifiesTokens_OtherKeysDoNot(string kind)
    {
        var (key, algorithm, pem) = NewKey(kind);
        var (other, _, _) = NewKey(kind);
        var validator = new TokenValidator(Options.Create(new AuthOptions { PublicKeyPem = pem, ClockSkewSeconds = 0 }), TimeProvider.System);

        var good = await validator.ValidateAsync(Sign(key, algorithm, new() { ["sub"] = "pem-" + kind }), CallerKind.Token);
        Assert.Equal("pem-" + kind, good.Caller?.UserId);

        var forged = await validator.ValidateAsync(Sign(other, algorithm, new() { ["sub"] = "forger" }), CallerKind.Token);
        Assert.Null(forged.Caller);
        Assert.True(forged.TokenRefused);
    }

    [Fact]
    public async Task CritHeader_IsRefused_ThoughTheSignatureIsGood()
    {
        var (key, algorithm, pem) = NewKey("EC");
        var validator = new TokenValidator(Options.Create(new AuthOptions { PublicKeyPem = pem }), TimeProvider.System);
        var token = Sign(key, algorithm, new() { ["sub"] = "critic" }, new Dictionary<string, object> { ["crit"] = new[] { "exp" } });

        var result = await validator.ValidateAsync(token, CallerKind.Token);
        Assert.Null(result.Caller);
        Assert.True(result.TokenRefused);
        Assert.Contains("crit", result.Failure, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Claims_ArraysRepeatedSeparatedAndNested_AreRead_MissingTopicsGetDefaults()
    {
        var validator = new TokenValidator(
            Options.Create(new AuthOptions
            {
                SigningKey = GatewayHost.SigningKey,
                RoleClaims = ["role", "resource_access.sse.roles"],
                DefaultTopics = ["public"],
            }),
            TimeProvider.System);
        var token = Tokens.For("claims-user", roles: ["publisher"], topics: ["a", "b"]);
        Assert.Equal(["a", "b"], (await validator.ValidateAsync(token, CallerKind.Token)).Caller!.Topics);

        var descriptor = new SecurityTokenDescriptor
        {
            Issuer = "sse-cluster",
            Audience = "sse-cluster",
            Expires = DateTime.UtcNow.AddHours(1),
            Claims = new Dictionary<string, object>
            {
                ["sub"] = "nested-user",
                ["role"] = "reader, publisher",
                ["resource_access"] = new Dictionary<string, object> { ["sse"] = new Dictionary<string, object> { ["roles"] = new[] { "admin" } } },
            },
            SigningCredentials = new SigningCredentials(new SymmetricSecurityKey(System.Text.Encoding.UTF8.GetBytes(GatewayHost.SigningKey)), SecurityAlgorithms.HmacSha256),
        };
        var caller = (await validator.ValidateAsync(new JsonWebTokenHandler().CreateToken(descriptor), CallerKind.Token)).Caller!;
        Assert.Equal(["reader", "publisher", "admin"], caller.Roles);
        Assert.Equal(["public"], caller.Topics);
    }

    private static (SecurityKey Key, string Algorithm, string Pem) NewKey(string kind)
    {
        if (kind == "RSA")
        {
            var rsa = RSA.Create(2048);
            return (new RsaSecurityKey(rsa) { KeyId = "rsa" }, SecurityAlgorithms.RsaSha256, rsa.ExportSubjectPublicKeyInfoPem());
        }

        var ec = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        return (new ECDsaSecurityKey(ec) { KeyId = "ec" }, SecurityAlgorithms.EcdsaSha256, ec.ExportSubjectPublicKeyInfoPem());
    }

    private static string Sign(SecurityKey key, string algorithm, Dictionary<string, object> claims, IDictionary<string, object>? header = null) =>
        new JsonWebTokenHandler().CreateToken(new SecurityTokenDescriptor
        {
            Issuer = "sse-cluster",
            Audience = "sse-cluster",
            Expires = DateTime.UtcNow.AddHours(1),
            Claims = claims,
            AdditionalHeaderClaims = header,
            SigningCredentials = new SigningCredentials(key, algorithm),
        });
}
