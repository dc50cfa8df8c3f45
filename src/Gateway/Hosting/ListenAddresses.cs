using System.Net;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Configuration;

namespace SseCluster.Gateway.Hosting;

/// <summary>The addresses Kestrel is configured to listen on, read before it binds, and whether each is loopback.</summary>
internal static class ListenAddresses
{
    /// <summary>Kestrel's address when nothing is configured.</summary>
    public const string KestrelDefault = "http://localhost:5000";

    /// <summary>
    /// Every address the configuration asks for: <c>urls</c> (<c>--urls</c>, <c>ASPNETCORE_URLS</c>, a launch profile's
    /// <c>applicationUrl</c>), <c>http_ports</c>/<c>https_ports</c> (all interfaces) and <c>Kestrel:Endpoints:*:Url</c>.
    /// All of them, though Kestrel's own endpoints replace the others: a check on the union errs on the safe side.
    /// </summary>
    public static IReadOnlyList<string> Configured(IConfiguration configuration)
    {
        ArgumentNullException.ThrowIfNull(configuration);
        var addresses = new List<string>();
        addresses.AddRange(Split(configuration["urls"]));
        addresses.AddRange(Split(configuration["http_ports"]).Select(port => $"http://*:{port}"));
        addresses.AddRange(Split(configuration["https_ports"]).Select(port => $"https://*:{port}"));
        addresses.AddRange(configuration.GetSection("Kestrel:Endpoints").GetChildren()
            .Select(endpoint => endpoint["Url"]).OfType<string>().Where(url => url.Length > 0));
        return addresses.Count > 0 ? addresses : [KestrelDefault];
    }

    /// <summary>
    /// True for <c>localhost</c> and loopback IPs (<c>127.0.0.0/8</c>, <c>::1</c>). Wildcards, other names (Kestrel binds
    /// them to every interface), other IPs and Unix sockets are not.
    /// </summary>
    public static bool IsLoopback(string address)
    {
        BindingAddress binding;
        try
        {
            binding = BindingAddress.Parse(address);
        }
        catch (FormatException)
        {
            return false;
        }

        if (binding.IsUnixPipe || binding.IsNamedPipe)
        {
            return false;
        }

        var host = binding.Host.Trim('[', ']');
        return string.Equals(host, "localhost", StringComparison.OrdinalIgnoreCase)
            || (IPAddress.TryParse(host, out var ip) && IsLoopback(ip));
    }

    /// <summary>True for a loopback IP, an IPv4 one mapped to IPv6 included.</summary>
    public static bool IsLoopback(IPAddress? address) =>
        address is not null && IPAddress.IsLoopback(address.IsIPv4MappedToIPv6 ? address.MapToIPv4() : address);

    private static IEnumerable<string> Split(string? value) =>
        (value ?? "").Split(';', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
}
