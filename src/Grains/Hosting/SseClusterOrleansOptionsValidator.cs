using System.Net;
using Microsoft.Extensions.Options;

namespace SseCluster.Grains.Hosting;

/// <summary>Checks <c>SseCluster:Orleans</c> at start; each message names the key and the bad value.</summary>
internal sealed class SseClusterOrleansOptionsValidator : IValidateOptions<SseClusterOrleansOptions>
{
    public ValidateOptionsResult Validate(string? name, SseClusterOrleansOptions options)
    {
        var errors = new List<string>();
        if (string.IsNullOrWhiteSpace(options.ClusterId))
        {
            errors.Add("SseCluster:Orleans:ClusterId must not be empty");
        }

        if (string.IsNullOrWhiteSpace(options.ServiceId))
        {
            errors.Add("SseCluster:Orleans:ServiceId must not be empty");
        }

        if (options.SiloPort is < 1 or > 65535)
        {
            errors.Add($"SseCluster:Orleans:SiloPort must be between 1 and 65535 (it is {options.SiloPort})");
        }

        if (options.GatewayPort is < 0 or > 65535)
        {
            errors.Add($"SseCluster:Orleans:GatewayPort must be between 0 (none) and 65535 (it is {options.GatewayPort})");
        }

        if (options.GatewayPort != 0 && options.GatewayPort == options.SiloPort)
        {
            errors.Add($"SseCluster:Orleans:GatewayPort must differ from SseCluster:Orleans:SiloPort (both are {options.SiloPort})");
        }

        if (!string.IsNullOrWhiteSpace(options.AdvertisedAddress) && !IPAddress.TryParse(options.AdvertisedAddress, out _))
        {
            errors.Add($"SseCluster:Orleans:AdvertisedAddress must be an IP address (it is '{options.AdvertisedAddress}')");
        }

        var membership = options.Membership;
        if (membership.ProbeTimeoutSeconds is < 0.1 or > 60)
        {
            errors.Add($"SseCluster:Orleans:Membership:ProbeTimeoutSeconds must be between 0.1 and 60 (it is {membership.ProbeTimeoutSeconds})");
        }

        if (membership.MissedProbesLimit is < 1 or > 10)
        {
            errors.Add($"SseCluster:Orleans:Membership:MissedProbesLimit must be between 1 and 10 (it is {membership.MissedProbesLimit})");
        }

        if (membership.VotesForDeathDeclaration is < 1 or > 10)
        {
            errors.Add($"SseCluster:Orleans:Membership:VotesForDeathDeclaration must be between 1 and 10 (it is {membership.VotesForDeathDeclaration})");
        }

        if (membership.IAmAliveSeconds is < 1 or > 300)
        {
            errors.Add($"SseCluster:Orleans:Membership:IAmAliveSeconds must be between 1 and 300 (it is {membership.IAmAliveSeconds})");
        }

        return errors.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(errors);
    }
}
