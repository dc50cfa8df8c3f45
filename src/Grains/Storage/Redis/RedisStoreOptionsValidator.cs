using System.Text.RegularExpressions;
using Microsoft.Extensions.Options;
using StackExchange.Redis;

namespace SseCluster.Grains.Storage.Redis;

/// <summary>Checks <c>SseCluster:Redis</c> when the host starts; each message names the key and the value at fault.</summary>
internal sealed partial class RedisStoreOptionsValidator : IValidateOptions<RedisStoreOptions>
{
    public ValidateOptionsResult Validate(string? name, RedisStoreOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        var failures = new List<string>();
        ValidateConfiguration(options.Configuration, failures);
        if (!RedisKeys.IsSafeName(options.Prefix, RedisStoreOptions.MaxPrefixLength))
        {
            failures.Add(
                $"{RedisStoreOptions.Section}:Prefix '{options.Prefix}' must be 1-{RedisStoreOptions.MaxPrefixLength} characters without braces, " +
                "whitespace or control characters (braces would break the Redis Cluster hash tags of the keys).");
        }

        return failures.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(failures);
    }

    private static void ValidateConfiguration(string? configuration, List<string> failures)
    {
        const string Key = RedisStoreOptions.Section + ":Configuration";
        if (string.IsNullOrWhiteSpace(configuration))
        {
            failures.Add(
                $"{Key} is required for the Redis store: one endpoint ('127.0.0.1:6379') or the endpoints of a Redis Cluster " +
                $"('10.0.0.1:6379,10.0.0.2:6379,10.0.0.3:6379'); it is '{configuration}'.");
            return;
        }

        // The value is echoed so the operator sees what was read, but never a password it may carry.
        var shown = Redact(configuration);
        try
        {
            if (ConfigurationOptions.Parse(configuration).EndPoints.Count == 0)
            {
                failures.Add($"{Key} '{shown}' names no endpoint; give at least one host:port.");
            }
        }
        catch (Exception ex) when (ex is ArgumentException or FormatException or OverflowException or NotSupportedException)
        {
            failures.Add($"{Key} '{shown}' is not a valid StackExchange.Redis configuration string: {Redact(ex.Message)}");
        }
    }

    private static string Redact(string text) => Secret().Replace(text, "$1=***");

    [GeneratedRegex(@"\b((?:sentinel)?password)\s*=\s*[^,]*", RegexOptions.IgnoreCase | RegexOptions.CultureInvariant)]
    private static partial Regex Secret();
}
