using System.Diagnostics;
using System.Net;
using System.Net.Http.Headers;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.Options;
using Microsoft.IdentityModel.JsonWebTokens;
using Microsoft.IdentityModel.Tokens;
using SseCluster.Gateway.Hosting;
using SseCluster.TestSupport;

namespace SseCluster.Tests;

/// <summary>
/// No start hands an outsider a valid token: dev tokens only in Development on loopback addresses, signed with a key
/// made on this machine; development keys and dev tokens refused outside Development. Real processes where the
/// environment and the files matter, each with a HOME of its own so the developer's key is never touched.
/// </summary>
public sealed class StartupSafetyTests : IDisposable
{
    private const string TestKey = "a-signing-key-long-enough-0123456789-abcdef";

    private readonly string _home = GatewayDllProcess.TemporaryHome();

    private string KeyFile => Path.Combine(_home, "data", "SseCluster", "dev-signing-key");

    public void Dispose() => Directory.Delete(_home, recursive: true);

    [Fact]
    public async Task Production_WithoutKeys_ExitsWithCode2_NamingTheKey_AndMakesNoDevelopmentKey()
    {
        var (exitCode, output) = await GatewayDllProcess.RunToExitAsync(_home, new Dictionary<string, string> { ["ASPNETCORE_ENVIRONMENT"] = "Production" });

        Assert.Equal(2, exitCode);
        Assert.Contains("environment 'Production'", output);
        Assert.Contains("SseCluster:Auth:SigningKey", output);
        Assert.False(File.Exists(KeyFile), "a development key was made outside Development");
    }

    [Fact]
    public async Task DevTokensForcedOn_ListeningOnAllInterfaces_ExitsWithCode2()
    {
        var (exitCode, output) = await GatewayDllProcess.RunToExitAsync(
            _home,
            new Dictionary<string, string>
            {
                ["ASPNETCORE_ENVIRONMENT"] = "Production",
                ["SseCluster__Auth__SigningKey"] = TestKey,
                ["SseCluster__Auth__DevTokens"] = "true",
            },
            $"http://0.0.0.0:{FreePorts.Next()}");

        Assert.Equal(2, exitCode);
        Assert.Contains("SseCluster:Auth:DevTokens", output);
        Assert.Contains("0.0.0.0", output);
        Assert.Contains("not loopback", output);
        Assert.Contains("Development only", output);
    }

    [Fact]
    public async Task Development_ListeningOnAllInterfaces_ExitsWithCode2_UnlessDevTokensAreOff()
    {
        var url = $"http://0.0.0.0:{FreePorts.Next()}";
        var (exitCode, output) = await GatewayDllProcess.RunToExitAsync(
            _home,
            new Dictionary<string, string> { ["ASPNETCORE_ENVIRONMENT"] = "Development", ["SseCluster__Auth__SigningKey"] = TestKey },
            url);

        Assert.Equal(2, exitCode);
        Assert.Contains("SseCluster:Auth:DevTokens", output);
        Assert.Contains(url, output);

        await using var gateway = GatewayDllProcess.Start(
            _home,
            new Dictionary<string, string>
            {
                ["ASPNETCORE_ENVIRONMENT"] = "Development",
                ["SseCluster__Auth__SigningKey"] = TestKey,
                ["SseCluster__Auth__DevTokens"] = "false",
            },
            url);
        await gateway.WaitReadyAsync();
        using var http = new HttpClient { BaseAddress = gateway.BaseAddress };
        using var response = await http.PostAsync("/dev/token", Json("""{"userId":"mallory","roles":["admin"]}"""));
        Assert.Equal(HttpStatusCode.NotFound, response.StatusCode);
    }

    [Theory]
    [InlineData("Production")]
    [InlineData("Staging")]
    public async Task FormerlyCommittedKey_OutsideDevelopment_ExitsWithCode2(string environment)
    {
        var (exitCode, output) = await GatewayDllProcess.RunToExitAsync(_home, new Dictionary<string, string>
        {
            ["ASPNETCORE_ENVIRONMENT"] = environment,
            ["SseCluster__Auth__SigningKey"] = "development-only-signing-key-change-me-0123456789",
        });

        Assert.Equal(2, exitCode);
        Assert.Contains("SseCluster:Auth:SigningKey is a development key", output);
        Assert.Contains($"'{environment}'", output);
    }

    [Fact]
    public async Task ThisMachinesDevelopmentKey_OutsideDevelopment_ExitsWithCode2()
    {
        Directory.CreateDirectory(Path.GetDirectoryName(KeyFile)!);
        var machineKey = Convert.ToHexString(RandomNumberGenerator.GetBytes(32));
        await File.WriteAllTextAsync(KeyFile, machineKey + "\n");

        var (exitCode, output) = await GatewayDllProcess.RunToExitAsync(_home, new Dictionary<string, string>
        {
            ["ASPNETCORE_ENVIRONMENT"] = "Production",
            ["SseCluster__Auth__SigningKey"] = machineKey,
        });

        Assert.Equal(2, exitCode);
        Assert.Contains("SseCluster:Auth:SigningKey is a development key", output);
        Assert.Contains(KeyFile, output);
    }

    [Fact]
    public async Task Development_OnLoopback_DevTokensAreSignedWithAKeyMadeOnThisMachine_OwnerOnly_AndReusedNextStart()
    {
        var development = new Dictionary<string, string> { ["ASPNETCORE_ENVIRONMENT"] = "Development" };
        string token;
        await using (var first = GatewayDllProcess.Start(_home, development))
        {
            await first.WaitReadyAsync();
            token = await DevTokenAsync(first.BaseAddress);
            Assert.Contains("this machine's development key", first.Output);
            Assert.Contains("dev tokens: on", first.Output);
        }

        Assert.True(File.Exists(KeyFile), $"no key at {KeyFile}");
        if (!OperatingSystem.IsWindows())
        {
            Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(KeyFile));
            Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute, File.GetUnixFileMode(Path.GetDirectoryName(KeyFile)!));
        }

        var key = (await File.ReadAllTextAsync(KeyFile)).Trim();
        Assert.True(Encoding.UTF8.GetByteCount(key) >= 32, "the key is shorter than 256 bits");
        var validation = await new JsonWebTokenHandler().ValidateTokenAsync(token, new TokenValidationParameters
        {
            IssuerSigningKey = new SymmetricSecurityKey(Encoding.UTF8.GetBytes(key)),
            ValidateIssuer = false,
            ValidateAudience = false,
        });
        Assert.True(validation.IsValid, $"the dev token is not signed with the key in {KeyFile}: {validation.Exception?.Message}");

        await using (var second = GatewayDllProcess.Start(_home, development))
        {
            await second.WaitReadyAsync();
            using var http = new HttpClient { BaseAddress = second.BaseAddress };
            http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", token);
            using var stats = await http.GetAsync("/sse/stats");
            Assert.True(stats.StatusCode == HttpStatusCode.OK, $"the first start's token on the second start: {(int)stats.StatusCode}\n{second.Output}");
        }

        Assert.Equal(key, (await File.ReadAllTextAsync(KeyFile)).Trim());
    }

    [Fact]
    public async Task ASecondGateway_OnTheSameSiloPort_ExitsWithCode1_NamingTheSetting_AndTheFirstKeepsServing()
    {
        // Orleans would share the port with the first silo (SO_REUSEPORT) and both would get each other's messages.
        var siloPort = FreePorts.Next().ToString(System.Globalization.CultureInfo.InvariantCulture);
        var environment = new Dictionary<string, string> { ["ASPNETCORE_ENVIRONMENT"] = "Development", ["SseCluster__Orleans__SiloPort"] = siloPort };
        await using var first = GatewayDllProcess.Start(_home, environment);
        await first.WaitReadyAsync();

        var (exitCode, output) = await GatewayDllProcess.RunToExitAsync(_home, environment);

        Assert.Equal(1, exitCode);
        Assert.Contains($"SseCluster:Orleans:SiloPort {siloPort}: another process listens on", output);
        using var http = new HttpClient { BaseAddress = first.BaseAddress };
        using var ready = await http.GetAsync("/readyz");
        Assert.Equal(HttpStatusCode.OK, ready.StatusCode);
    }

    [Fact]
    public void CommittedSettings_HoldNoKeys()
    {
        var root = AppContext.BaseDirectory;
        while (!File.Exists(Path.Combine(root, "SseCluster.sln")))
        {
            root = Path.GetDirectoryName(root) ?? throw new InvalidOperationException("SseCluster.sln not found above the test's directory");
        }

        var files = TrackedFiles(root).Where(f => Path.GetFileName(f) is var name
            && ((name.StartsWith("appsettings", StringComparison.Ordinal) && name.EndsWith(".json", StringComparison.Ordinal)) || name == "launchSettings.json")).ToList();
        Assert.Contains(files, f => f.EndsWith("src/Gateway/appsettings.json", StringComparison.Ordinal));
        Assert.Contains(files, f => f.EndsWith("src/Gateway/appsettings.Development.json", StringComparison.Ordinal));
        foreach (var file in files)
        {
            var text = File.ReadAllText(Path.Combine(root, file));
            Assert.DoesNotContain(DevelopmentSigningKey.FormerlyCommitted, text);
            using var json = JsonDocument.Parse(text, new JsonDocumentOptions { CommentHandling = JsonCommentHandling.Skip, AllowTrailingCommas = true });
            foreach (var (path, value) in Leaves(json.RootElement, ""))
            {
                Assert.False(
                    value.Length > 0 && (path.EndsWith(":SigningKey", StringComparison.OrdinalIgnoreCase) || path.EndsWith(":SessionKey", StringComparison.OrdinalIgnoreCase)
                                         || path.Contains(":ApiKeys", StringComparison.OrdinalIgnoreCase) || path.Contains("SigningKey", StringComparison.OrdinalIgnoreCase)),
                    $"{file} sets {path}");
            }
        }
    }

    [Fact]
    public async Task InProcess_DevTokens_OnlyInDevelopment_AndOffWhenSetFalse()
    {
        await using (var development = await GatewayHost.StartAsync())
        {
            using var client = development.CreateClient();
            using var response = await client.PostAsync("/dev/token", Json("""{"userId":"alice","roles":["admin"]}"""));
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        }

        await using (var off = await GatewayHost.StartAsync(new Dictionary<string, string?> { ["SseCluster:Auth:DevTokens"] = "false" }))
        {
            using var client = off.CreateClient();
            using var response = await client.PostAsync("/dev/token", Json("""{"userId":"alice"}"""));
            Assert.Equal(HttpStatusCode.NotFound, response.StatusCode);
        }

        await using (var production = await GatewayHost.StartAsync(environment: "Production"))
        {
            using var client = production.CreateClient();
            using var response = await client.PostAsync("/dev/token", Json("""{"userId":"alice"}"""));
            Assert.Equal(HttpStatusCode.NotFound, response.StatusCode);
        }
    }

    [Fact]
    public async Task InProcess_HostAppListeningOnAllInterfacesInDevelopment_DoesNotStart()
    {
        var failure = await Assert.ThrowsAsync<OptionsValidationException>(() => GatewayHost.StartAsync(
            configure: builder => builder.WebHost.UseUrls("http://[::]:0")));
        Assert.Contains("SseCluster:Auth:DevTokens", failure.Message);
    }

    [Theory]
    [InlineData("http://127.0.0.1:5080", true)]
    [InlineData("http://127.0.0.2:5080", true)]
    [InlineData("http://localhost:5080", true)]
    [InlineData("https://[::1]:5443", true)]
    [InlineData("http://0.0.0.0:5080", false)]
    [InlineData("http://[::]:5080", false)]
    [InlineData("http://*:5080", false)]
    [InlineData("http://+:5080", false)]
    [InlineData("http://example.com:5080", false)]
    [InlineData("http://10.1.2.3:5080", false)]
    [InlineData("http://unix:/tmp/gateway.sock", false)]
    public void ListenAddress_IsLoopback_OnlyForLoopbackIpsAndLocalhost(string address, bool loopback) =>
        Assert.Equal(loopback, ListenAddresses.IsLoopback(address));

    [Fact]
    public void ListenAddresses_ComeFromUrlsPortsAndKestrelEndpoints_DefaultingToKestrels()
    {
        Assert.Equal([ListenAddresses.KestrelDefault], ListenAddresses.Configured(Configuration()));
        Assert.Equal(
            ["http://127.0.0.1:1", "http://localhost:2", "http://*:8080", "https://*:8443", "http://0.0.0.0:3"],
            ListenAddresses.Configured(Configuration(
                ("urls", "http://127.0.0.1:1; http://localhost:2"),
                ("http_ports", "8080"),
                ("https_ports", "8443"),
                ("Kestrel:Endpoints:Public:Url", "http://0.0.0.0:3"))));
    }

    [Theory]
    [InlineData(null, null, null, null, null)] // not from the launch profile: the host decides
    [InlineData("Development", null, null, null, "Development")] // dotnet run --project src/Gateway
    [InlineData("Development", "Production", null, null, null)] // ASPNETCORE_ENVIRONMENT=Production dotnet run ...
    [InlineData("Development", null, "Production", null, null)] // DOTNET_ENVIRONMENT=Production dotnet run ...
    [InlineData("Development", null, null, "--environment=Production", null)] // dotnet run ... -- --environment Production
    [InlineData("Development", null, null, "swallowed", "Production")] // dotnet run ... --environment Production
    public void LaunchProfile_Development_GivesWayToAnExplicitEnvironment(string? profile, string? aspnetcore, string? dotnet, string? arg, string? expected)
    {
        var variables = new Dictionary<string, string?>
        {
            [LaunchEnvironment.Variable] = profile,
            ["ASPNETCORE_ENVIRONMENT"] = aspnetcore,
            ["DOTNET_ENVIRONMENT"] = dotnet,
        };
        if (arg == "swallowed")
        {
            variables["Production"] = ""; // what dotnet run's own --environment leaves
        }

        string[] args = arg is null or "swallowed" ? [] : [arg];
        Assert.Equal(expected, LaunchEnvironment.Choose(args, name => variables.GetValueOrDefault(name)));
    }

    private static async Task<string> DevTokenAsync(Uri baseAddress)
    {
        using var http = new HttpClient { BaseAddress = baseAddress };
        using var response = await http.PostAsync("/dev/token", Json("""{"userId":"alice","roles":["admin"]}"""));
        var body = await response.Content.ReadAsStringAsync();
        Assert.True(response.StatusCode == HttpStatusCode.OK, $"POST /dev/token answered {(int)response.StatusCode}: {body}");
        return JsonDocument.Parse(body).RootElement.GetProperty("token").GetString()!;
    }

    private static StringContent Json(string body) => new(body, Encoding.UTF8, "application/json");

    private static IConfiguration Configuration(params (string Key, string Value)[] settings) =>
        new ConfigurationBuilder()
            .AddInMemoryCollection(settings.Select(s => new KeyValuePair<string, string?>(s.Key, s.Value)))
            .Build();

    private static IEnumerable<string> TrackedFiles(string root)
    {
        try
        {
            var start = new ProcessStartInfo("git", ["-C", root, "ls-files"]) { RedirectStandardOutput = true, RedirectStandardError = true };
            using var git = Process.Start(start)!;
            var output = git.StandardOutput.ReadToEnd();
            git.WaitForExit();
            if (git.ExitCode == 0)
            {
                return output.Split('\n', StringSplitOptions.RemoveEmptyEntries);
            }
        }
        catch (System.ComponentModel.Win32Exception)
        {
            // no git: every file of the tree outside build output instead
        }

        return Directory.EnumerateFiles(root, "*.json", SearchOption.AllDirectories)
            .Select(f => Path.GetRelativePath(root, f).Replace('\\', '/'))
            .Where(f => !f.Split('/').Any(part => part is "bin" or "obj" or "node_modules" or ".git"));
    }

    private static IEnumerable<(string Path, string Value)> Leaves(JsonElement element, string path) => element.ValueKind switch
    {
        JsonValueKind.Object => element.EnumerateObject().SelectMany(p => Leaves(p.Value, path.Length == 0 ? p.Name : $"{path}:{p.Name}")),
        JsonValueKind.Array => element.EnumerateArray().SelectMany((e, i) => Leaves(e, $"{path}:{i}")),
        _ => [(path, element.ToString())],
    };
}
