using Microsoft.Extensions.Options;
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
}
