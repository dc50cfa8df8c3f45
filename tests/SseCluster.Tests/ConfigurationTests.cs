using System.Diagnostics;
using SseCluster.TestSupport;

namespace SseCluster.Tests;

/// <summary>Configuration mistakes stop the gateway process with a message naming each bad key, not a stack trace.</summary>
public sealed class ConfigurationTests
{
    [Fact]
    public async Task BadValues_ExitWithCode2_NamingEveryBadKey_WithoutStackTrace()
    {
        var (exitCode, output) = await RunGatewayAsync(new Dictionary<string, string>
        {
            ["SseCluster__Auth__SigningKey"] = "too-short",
            ["SseCluster__Limits__MaxPayloadBytes"] = "-1",
            ["SseCluster__Heartbeat__IntervalSeconds"] = "0",
        });

        Assert.Equal(2, exitCode);
        Assert.Contains("SseCluster:Auth:SigningKey", output);
        Assert.Contains("SseCluster:Limits:MaxPayloadBytes", output);
        Assert.Contains("SseCluster:Heartbeat:IntervalSeconds", output);
        Assert.DoesNotContain("   at ", output);
    }

    [Fact]
    public async Task NonNumericValue_ExitsWithCode2_NamingTheKey()
    {
        var (exitCode, output) = await RunGatewayAsync(new Dictionary<string, string>
        {
            ["SseCluster__Auth__SigningKey"] = "a-signing-key-long-enough-0123456789-abcdef",
            ["SseCluster__Limits__MaxConnections"] = "lots",
        });

        Assert.Equal(2, exitCode);
        Assert.Contains("SseCluster:Limits:MaxConnections", output);
        Assert.DoesNotContain("   at ", output);
    }

    [Fact]
    public async Task MissingSigningKeyOutsideDevelopment_ExitsNamingTheKeys()
    {
        var (exitCode, output) = await RunGatewayAsync(new Dictionary<string, string>());
        Assert.Equal(2, exitCode);
        Assert.Contains("SseCluster:Auth:SigningKey", output);
        Assert.Contains("SseCluster:Auth:PublicKeyPem", output);
    }

    [Theory]
    [InlineData("SseCluster__Auth__Authority", "not a url", "SseCluster:Auth:Authority")]
    [InlineData("SseCluster__Auth__Authority", "http://idp.example/realms/app", "SseCluster:Auth:Authority")]
    [InlineData("SseCluster__Auth__MetadataAddress", "ftp://idp.example/.well-known/openid-configuration", "SseCluster:Auth:MetadataAddress")]
    [InlineData("SseCluster__Auth__PublicKeyPem", "-----BEGIN PUBLIC KEY-----\nnot a key\n-----END PUBLIC KEY-----", "SseCluster:Auth:PublicKeyPem")]
    [InlineData("SseCluster__Auth__MetadataRefreshSeconds", "0", "SseCluster:Auth:MetadataRefreshSeconds")]
    [InlineData("SseCluster__Auth__UserIdClaim", " ", "SseCluster:Auth:UserIdClaim")]
    [InlineData("SseCluster__Auth__DefaultTopics__0", "no spaces allowed", "SseCluster:Auth:DefaultTopics")]
    public async Task BadIdentityProviderSetting_ExitsWithCode2_NamingTheKey(string variable, string value, string key)
    {
        var (exitCode, output) = await RunGatewayAsync(new Dictionary<string, string>
        {
            ["SseCluster__Auth__Authority"] = "https://idp.example/realms/app",
            [variable] = value,
        });

        Assert.Equal(2, exitCode);
        Assert.Contains(key, output);
        Assert.DoesNotContain("   at ", output);
    }

    [Fact]
    public async Task NeitherKeyNorAuthority_ExitsNamingAllThree()
    {
        var (exitCode, output) = await RunGatewayAsync(new Dictionary<string, string> { ["SseCluster__Auth__Audience"] = "api" });
        Assert.Equal(2, exitCode);
        Assert.Contains("SseCluster:Auth:SigningKey", output);
        Assert.Contains("SseCluster:Auth:PublicKeyPem", output);
        Assert.Contains("SseCluster:Auth:Authority", output);
    }

    private static async Task<(int ExitCode, string Output)> RunGatewayAsync(Dictionary<string, string> environment)
    {
        var start = new ProcessStartInfo("dotnet", [Path.Combine(AppContext.BaseDirectory, "SseCluster.Gateway.dll"), "--urls", $"http://127.0.0.1:{FreePorts.Next()}"])
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            WorkingDirectory = AppContext.BaseDirectory,
        };
        start.Environment["ASPNETCORE_ENVIRONMENT"] = "Production";
        foreach (var (key, value) in environment)
        {
            start.Environment[key] = value;
        }

        using var process = Process.Start(start)!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        try
        {
            await process.WaitForExitAsync(timeout.Token);
        }
        finally
        {
            if (!process.HasExited)
            {
                process.Kill();
            }
        }

        return (process.ExitCode, await stdout + await stderr);
    }
}
