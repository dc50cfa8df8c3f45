using System.Globalization;
using System.Net;
using System.Net.Sockets;
using Orleans.Configuration;

namespace SseCluster.Gateway.Routing;

/// <summary>
/// Finds a silo port that another process listens on already. Orleans listens with <c>SO_REUSEPORT</c>, so a second
/// gateway on the same host and port binds it too, without an error; the kernel then hands each incoming connection to
/// either process, and each silo gets some of the other's messages: a cluster that never forms right and loses live
/// deliveries silently. A probe bind with <c>SO_REUSEADDR</c> alone fails against any listener, yet not against
/// connections of an earlier run still in <c>TIME_WAIT</c>, so a quick restart on the same port still starts.
/// </summary>
internal static class SiloPortGuard
{
    private const int SolSocket = 1;
    private const int SoReuseAddr = 2;

    /// <summary>Describes the first listening endpoint of <paramref name="endpoints"/> in use, with the setting that chose it; null when all are free.</summary>
    public static string? FindPortInUse(EndpointOptions endpoints)
    {
        ArgumentNullException.ThrowIfNull(endpoints);
        var address = endpoints.AdvertisedIPAddress ?? IPAddress.Any;
        if (IsInUse(endpoints.SiloListeningEndpoint ?? new IPEndPoint(address, endpoints.SiloPort)) is { } silo)
        {
            return Describe("SseCluster:Orleans:SiloPort", silo);
        }

        if (endpoints.GatewayPort > 0 && IsInUse(endpoints.GatewayListeningEndpoint ?? new IPEndPoint(address, endpoints.GatewayPort)) is { } gateway)
        {
            return Describe("SseCluster:Orleans:GatewayPort", gateway);
        }

        return null;
    }

    private static string Describe(string setting, IPEndPoint endpoint) => string.Create(
        CultureInfo.InvariantCulture,
        $"{setting} {endpoint.Port}: another process listens on {endpoint} already (another gateway on this host?). Give each gateway on a host ports of its own.");

    private static IPEndPoint? IsInUse(IPEndPoint endpoint)
    {
        using var probe = new Socket(endpoint.AddressFamily, SocketType.Stream, ProtocolType.Tcp);
        if (OperatingSystem.IsLinux())
        {
            // Not Socket.ReuseAddress: on Linux .NET sets SO_REUSEPORT with it, which would share the port as Orleans does.
            probe.SetRawSocketOption(SolSocket, SoReuseAddr, BitConverter.GetBytes(1));
        }

        try
        {
            probe.Bind(endpoint);
            return null;
        }
        catch (SocketException ex) when (ex.SocketErrorCode == SocketError.AddressAlreadyInUse)
        {
            return endpoint;
        }
        catch (SocketException)
        {
            return null; // not an address of this host (behind NAT, say): the silo's own bind says what is wrong
        }
    }
}

/// <summary>A silo or Orleans gateway port of this gateway is taken by another process; the message names the setting.</summary>
internal sealed class SiloPortInUseException(string message) : IOException(message);
