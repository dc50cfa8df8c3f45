using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.Configuration;

namespace SseCluster.Gateway.Hosting;

/// <summary>
/// The environment of a <c>dotnet run</c> start. The launch profile (Properties/launchSettings.json) asks for
/// Development through <see cref="Variable"/>, a default that anything explicit overrides: <c>--environment</c> on the
/// gateway's command line, <c>ASPNETCORE_ENVIRONMENT</c>, <c>DOTNET_ENVIRONMENT</c>. A profile that set
/// <c>ASPNETCORE_ENVIRONMENT</c> itself would replace the caller's (dotnet run sets profile variables over the
/// shell's), and one that set <c>DOTNET_ENVIRONMENT</c> would beat the caller's <c>ASPNETCORE_ENVIRONMENT</c> (the host
/// reads <c>DOTNET_</c> variables last).
/// </summary>
internal static class LaunchEnvironment
{
    /// <summary>Set by the launch profile only.</summary>
    public const string Variable = "SSECLUSTER_LAUNCH_ENVIRONMENT";

    // `dotnet run --environment Production` never reaches the app: dotnet run's own -e/--environment NAME=VALUE sets an
    // environment variable, here "Production" with an empty value. That is read as the environment the caller meant;
    // it can only move a start away from Development.
    private static readonly string[] MeantByDotnetRun = ["Production", "Staging"];

    public static WebApplicationOptions Options(string[] args)
    {
        ArgumentNullException.ThrowIfNull(args);
        return new WebApplicationOptions { Args = args, EnvironmentName = Choose(args, Environment.GetEnvironmentVariable) };
    }

    /// <summary>The environment to impose, or null to let the host choose as usual.</summary>
    public static string? Choose(string[] args, Func<string, string?> variable)
    {
        ArgumentNullException.ThrowIfNull(variable);
        if (variable(Variable) is not { Length: > 0 } fallback)
        {
            return null; // not started from the launch profile
        }

        var explicitly = new ConfigurationBuilder().AddCommandLine(args).Build()["environment"] is { Length: > 0 }
            || variable("ASPNETCORE_ENVIRONMENT") is { Length: > 0 }
            || variable("DOTNET_ENVIRONMENT") is { Length: > 0 };
        if (explicitly)
        {
            return null;
        }

        return MeantByDotnetRun.FirstOrDefault(name => variable(name) is { Length: 0 }) ?? fallback;
    }
}
