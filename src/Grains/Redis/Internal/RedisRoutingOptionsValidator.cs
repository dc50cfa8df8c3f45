using Microsoft.Extensions.Options;
using StackExchange.Redis;

namespace SseCluster.Grains.Redis.Internal;

/// <summary>Checks <c>SseCluster:Redis</c> and the gateway id (part of key names) when the host starts.</summary>
internal sealed class RedisRoutingOptionsValidator(GatewayIdentity gateway) : IValidateOptions<RedisRoutingOptions>
{
    public ValidateOptionsResult Validate(string? name, RedisRoutingOptions options)
    {
        var failures = new List<string>();
        if (string.IsNullOrWhiteSpace(options.Configuration))
        {
            failures.Add($"{RedisRoutingOptions.Section}:Configuration is required for Redis routing, e.g. '127.0.0.1:6379' or the endpoints of a Redis Cluster ('10.0.0.1:6379,10.0.0.2:6379').");
        }
        else
        {
            try
            {
                var parsed = ConfigurationOptions.Parse(options.Configuration);
                if (parsed.EndPoints.Count == 0)
                {
                    failures.Add($"{RedisRoutingOptions.Section}:Configuration '{options.Configuration}' names no endpoint; give host:port.");
                }
            }
            catch (ArgumentException ex)
            {
                failures.Add($"{RedisRoutingOptions.Section}:Configuration '{options.Configuration}' is not a valid StackExchange.Redis configuration: {ex.Message}");
            }
        }

        if (!RedisKeys.IsSafeName(options.Prefix, 64))
        {
            failures.Add($"{RedisRoutingOptions.Section}:Prefix '{options.Prefix}' must be 1-64 characters without braces, whitespace or control characters (braces would break Redis Cluster hash tags).");
        }

        if (options.PresenceRefreshSeconds is < 0.05 or > 300 || double.IsNaN(options.PresenceRefreshSeconds))
        {
            failures.Add($"{RedisRoutingOptions.Section}:PresenceRefreshSeconds '{options.PresenceRefreshSeconds}' must be between 0.05 and 300.");
        }

        if (!RedisKeys.IsSafeName(gateway.GatewayId, 200))
        {
            failures.Add($"SseCluster:GatewayId '{gateway.GatewayId}' must be 1-200 characters without braces, whitespace or control characters: it is part of Redis key and channel names.");
        }

        return failures.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(failures);
    }
}
